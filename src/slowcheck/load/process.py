"""A checked plan run in locust's own process: its locustfile, the plan handed over in ``run.json`` (``--plan``),
the API key in the environment (never on the command line), and the summary it wrote read back, redacted.

locust patches the standard library on import, so it never runs in this process.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from slowcheck import api
from slowcheck.embedded import Endpoint
from slowcheck.errors import ConfigError
from slowcheck.load.options import write_run
from slowcheck.load.validation import Checked
from slowcheck.network import CLIENT_CERT_ENV, CLIENT_KEY_ENV, HEADERS_ENV, Network
from slowcheck.redaction import redact_folder

__all__ = ["SCENARIOS", "run_scenario", "scenario_file"]

SCENARIOS = {"submit": "submit.py", "rate-limit": "rate_limit.py", "poll": "poll.py", "jobs": "jobs.py"}
"""The locustfile of each scenario (``batch`` runs in this process)."""
_GRACE_S = 30
"""Seconds locust may run past the plan (and the drain) before it is stopped."""
_LAST_WORDS_S = 60
"""How long a stopped locust may take to stop its users and write what they had (its master waits 30 s for
them), before it is killed."""


def run_scenario(
    checked: Checked,
    endpoint: Endpoint,
    report_dir: Path,
    *,
    network: Network | None = None,
    progress: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """The plan against ``endpoint``, reached as ``network`` says; its summary (the files are in ``report_dir``,
    keys and header values redacted). ``progress`` is told the seconds elapsed, about once a second."""
    network = network or Network()
    plan = checked.plan
    report_dir.mkdir(parents=True, exist_ok=True)
    if plan.scenario == "jobs" and plan.resume is None:  # the master clears an earlier run's journal
        plan = replace(plan, run_id=plan.run_id or secrets.token_hex(3))
    # The URL only (the key stays in the environment); the embedded mock keeps nothing to come back to.
    plan_file = write_run(report_dir, plan, None if endpoint.embedded else endpoint.root)
    command = [
        sys.executable, "-m", "locust", "-f", str(scenario_file(plan.scenario)), "--headless",
        "-u", str(plan.processes), "-r", str(plan.processes), "--host", endpoint.root,
        "--run-time", f"{int(checked.span + (plan.drain if plan.scenario in ('poll', 'jobs') else 0) + _GRACE_S)}s",
        "--stop-timeout", "5", "--csv", str(report_dir / "locust"), "--report-dir", str(report_dir),
        "--target-label", endpoint.label, "--plan", str(plan_file),
    ]  # fmt: skip
    if plan.processes > 1:
        # Locust's master otherwise binds port 5557 on every interface: loopback only, and a free port, so two
        # runs at once do not collide.
        port = str(_free_port())
        command += ["--processes", str(plan.processes), "--master-bind-host", "127.0.0.1", "--master-bind-port",
                    port, "--master-host", "127.0.0.1", "--master-port", port]  # fmt: skip
    try:
        code = _run(command, endpoint.key, report_dir, network, progress)
    finally:  # stopped (Ctrl-C, SIGTERM) too: what locust wrote before it stopped is redacted as well
        redact_folder(report_dir, [*endpoint.keys, *network.secrets()], announce="slowcheck load")
    summary_path = report_dir / "summary.json"
    if not summary_path.exists():
        raise ConfigError(f"the load run wrote no summary (locust exit {code}): {_last_line(report_dir)}")
    summary: dict[str, Any] = json.loads(summary_path.read_text(encoding="utf-8"))
    return summary


def scenario_file(name: str) -> Path:
    """The locustfile of a scenario: the checkout's ``load/`` or the copy inside the wheel."""
    file_name = SCENARIOS[name]
    package = Path(__file__).resolve().parent.parent
    for folder in (package / "_load", package.parent.parent / "load"):
        if (folder / file_name).is_file():
            return folder / file_name
    raise ConfigError(f"the {name!r} scenario's locustfile is missing from this installation")


def _run(command: list[str], key: str, out: Path, network: Network, progress: Callable[[float], None] | None) -> int:
    # The key travels in the environment, under the first name the harness looks for, and only there; so do the
    # headers and the trust of --header, --ca-bundle and --client-cert (slowcheck.network).
    own = {*api.KEY_ENV, HEADERS_ENV, CLIENT_CERT_ENV, CLIENT_KEY_ENV}
    env = {k: v for k, v in os.environ.items() if k not in own} | {api.KEY_ENV[0]: key, "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    with network.environment() as reach, (out / "locust.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env | reach)
        try:
            while process.poll() is None:
                try:
                    process.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    if progress is not None:
                        progress(time.monotonic() - started)
        finally:
            if process.poll() is None:  # stopped: locust stops its users, writes their rows and its summary
                process.terminate()
                try:
                    process.wait(timeout=_LAST_WORDS_S)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    return process.returncode


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _last_line(folder: Path) -> str:
    log = folder / "locust.log"
    lines = [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "locust printed nothing"
