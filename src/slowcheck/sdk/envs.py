"""Isolated, cached environments: one uv virtualenv per Python openai version, one npm folder of aliases.

They live under ``--cache-dir`` (default ``$XDG_CACHE_HOME/slowcheck/sdk``, else ``~/.cache/slowcheck/sdk``)
and are reused until deleted: a warm matrix installs nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from packaging.version import Version

from slowcheck.errors import ConfigError

__all__ = ["PROBES", "NodeEnvs", "alias", "cache_dir", "python_env", "python_env_folder", "python_env_ready"]

PROBES = Path(__file__).resolve().parent / "probes"
_READY = ".slowcheck-ready"
"""Written last into a Python environment: one without it was interrupted and is built again."""
_HTTPX_PIN_BELOW = Version("1.55.3")
"""openai before 1.55.3 passes proxies= to httpx, which httpx 0.28 removed."""


def cache_dir(override: Path | None) -> Path:
    if override is not None:
        return override
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "slowcheck" / "sdk"


def python_env_folder(version: str, cache: Path) -> Path:
    return cache / f"python-py{sys.version_info.major}{sys.version_info.minor}-openai-{version}"


def python_env_ready(version: str, cache: Path) -> bool:
    return (python_env_folder(version, cache) / _READY).exists()


def python_env(version: str, cache: Path, timeout: float) -> Path:
    """The interpreter of an environment holding ``openai==version``; created (once) if missing, each step
    within ``timeout`` seconds."""
    folder = python_env_folder(version, cache)
    python = folder / "bin" / "python"
    if python_env_ready(version, cache):
        return python
    uv = _uv()
    shutil.rmtree(folder, ignore_errors=True)
    _run([uv, "venv", "--quiet", "--python", sys.executable, str(folder)], f"create the env for openai {version}",
         timeout)  # fmt: skip
    extra = ["httpx<0.28"] if Version(version) < _HTTPX_PIN_BELOW else []
    _run(
        [uv, "pip", "install", "--quiet", "--python", str(python), f"openai=={version}", *extra],
        f"install openai {version}",
        timeout,
    )
    (folder / _READY).write_text(version, encoding="utf-8")
    return python


class NodeEnvs:
    """One npm folder with every version as an alias (``openai-4.0.0``), installed in one npm call."""

    def __init__(self, cache: Path, timeout: float) -> None:
        self.folder = cache / "node"
        self.timeout = timeout
        """Seconds the one npm install may take."""
        self._lock = threading.Lock()

    @staticmethod
    def available() -> bool:
        return shutil.which("node") is not None and shutil.which("npm") is not None

    def prepare(self, versions: list[str]) -> None:
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            manifest = self.folder / "package.json"
            if not manifest.exists():
                manifest.write_text(
                    json.dumps({"name": "slowcheck-sdk-matrix", "private": True, "type": "module"}), encoding="utf-8"
                )
            missing = [v for v in versions if not self.installed(v)]
            if missing:
                npm = shutil.which("npm") or "npm"
                specs = [f"{alias(v)}@npm:openai@{v}" for v in missing]
                command = [npm, "install", "--no-audit", "--no-fund", "--silent", *specs]
                _run(command, "npm install", self.timeout, cwd=self.folder)
            shutil.copy(PROBES / "probe_openai.mjs", self.folder / "probe_openai.mjs")

    def installed(self, version: str) -> bool:
        return (self.folder / "node_modules" / alias(version) / "package.json").exists()

    def command(self, version: str) -> list[str]:
        return [shutil.which("node") or "node", str(self.folder / "probe_openai.mjs"), alias(version)]


def alias(version: str) -> str:
    return f"openai-{version}"


def _uv() -> str:
    try:
        from uv import find_uv_bin
    except ImportError:
        found = shutil.which("uv")
        if found is None:
            raise ConfigError("uv is not installed: pip install uv") from None
        return found
    return str(find_uv_bin())


def _run(command: list[str], what: str, timeout: float, cwd: Path | None = None) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False, cwd=cwd)
    except subprocess.TimeoutExpired:
        raise ConfigError(f"could not {what} within {timeout:g} s") from None
    if done.returncode != 0:
        raise ConfigError(f"could not {what}: {_reason(done.stderr.strip() or done.stdout.strip())}")


def _reason(output: str) -> str:
    """One line from an installer's complaint: from its first error line on (uv wraps its reason over several)."""
    lines = output.splitlines()
    first = next((i for i, line in enumerate(lines) if "error" in line.lower() or "×" in line), max(len(lines) - 1, 0))
    return " ".join(" ".join(lines[first:]).split())[:300] or "no output"
