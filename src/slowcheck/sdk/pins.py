"""Which SDK versions to run: the defaults that cover every known behavioural band, and ``latest``."""

from __future__ import annotations

import re
import shutil
import subprocess

import httpx

from slowcheck.errors import ConfigError

__all__ = ["INSTALLED", "NODE_PINS", "PYTHON_PINS", "parse", "resolve_node", "resolve_python"]

# One pin per band of behaviour (see docs/sdk-matrix.md), plus whatever is newest today.
PYTHON_PINS = ("1.0.0", "1.40.0", "1.109.1", "2.54.0", "latest")
NODE_PINS = ("4.0.0", "4.104.0", "5.23.2", "6.49.0", "latest")
INSTALLED = "installed"
"""The Python version ``slowcheck run`` checks without ``--sdk-matrix``: the openai installed beside slowcheck (no
environment built). Not a pin a user names."""
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")


def parse(text: str, flag: str) -> tuple[str, ...]:
    """``1.40.0,latest`` -> the versions, each once; an empty string means none."""
    versions = [v.strip() for v in text.split(",") if v.strip()]
    for version in versions:
        if version != "latest" and not _VERSION.match(version):
            raise ConfigError(f"{flag}: expected versions like 1.40.0 or 'latest', got {version!r}")
    return tuple(dict.fromkeys(versions))


def resolve_python(version: str) -> str:
    if version != "latest":
        return version
    try:
        answer = httpx.get("https://pypi.org/pypi/openai/json", timeout=20, follow_redirects=True)
        answer.raise_for_status()
        return str(answer.json()["info"]["version"])
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        raise ConfigError(f"--python latest: cannot ask PyPI for the newest openai ({exc})") from None


def resolve_node(version: str) -> str:
    if version != "latest":
        return version
    npm = shutil.which("npm")
    if npm is None:
        raise ConfigError("--node latest: npm is not installed")
    done = subprocess.run([npm, "view", "openai", "version"], capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0 or not _VERSION.match(done.stdout.strip()):
        raise ConfigError(f"--node latest: npm view openai version failed: {done.stderr.strip()[-200:]}")
    return done.stdout.strip()
