"""Running the matrix: environments, probes in parallel against the target, lab measurements, verdicts."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slowcheck.errors import SlowcheckError
from slowcheck.network import Network
from slowcheck.sdk import envs
from slowcheck.sdk.checks import CHECKS
from slowcheck.sdk.grading import NOT_RUN, cell, not_run_cells
from slowcheck.sdk.lab import ASKED_WAIT_S, Lab, running_lab

__all__ = ["Row", "run_matrix"]

_PROBE_TIMEOUT = 180


@dataclass
class Row:
    language: str
    requested: str
    version: str = ""
    cells: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    cold: bool = False

    @property
    def run(self) -> str:
        return f"{'py' if self.language == 'python' else 'node'}-{self.version or self.requested}"

    def failed_by_api(self) -> list[str]:
        return [check for check, found in self.cells.items() if found["outcome"] == "violated"]

    def to_json(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "requested": self.requested,
            "version": self.version,
            "seconds": round(self.seconds, 2),
            "cold": self.cold,
            "error": self.error,
            "cells": self.cells,
        }


def run_matrix(
    root: str,
    key: str,
    *,
    model: str,
    python: list[str],
    node: list[str],
    cache: Path,
    jobs: int,
    batch: str | None = None,
    network: Network | None = None,
) -> list[Row]:
    """Every row's probe against ``root`` (and the lab in front of it), reached as ``network`` says."""
    network = network or Network()
    rows = [Row("python", v) for v in python] + [Row("node", v) for v in node]
    node_envs = envs.NodeEnvs(cache)
    secrets = [key, *network.secrets()]
    with running_lab(root, network) as (lab, lab_url), network.environment() as reach:

        def one(row: Row) -> Row:
            started = time.monotonic()
            try:
                if row.language == "node" and network.client_cert is not None:
                    raise SlowcheckError("the Node probe presents no client certificate (--client-cert)")
                command = _prepare(row, cache, node_envs)
                run = row.run  # the lab's key for this row: fixed before the probe names its version
                config = {"root": root, "lab": lab_url, "run": run, "model": model, "batch": batch}
                outcome = _probe([*command, json.dumps(config)], key, reach, secrets)
                row.version = str(outcome.get("version") or row.version)
                row.cells = _cells(outcome.get("results", {}), lab, run)
            except (SlowcheckError, OSError) as exc:  # not installed, no interpreter, a broken env: not run
                row.error, row.cold = str(exc), False
                row.cells = not_run_cells(((c.id, c.party) for c in CHECKS), row.error)
            row.seconds = time.monotonic() - started
            return row

        _prepare_node(rows, node_envs)
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            return list(pool.map(one, rows))


def _prepare_node(rows: list[Row], node_envs: envs.NodeEnvs) -> None:
    """npm must not install into one folder twice at once: every Node version in one call, first."""
    wanted = [r for r in rows if r.language == "node"]
    if not wanted:
        return
    from slowcheck.sdk.pins import resolve_node

    try:
        if not node_envs.available():
            raise SlowcheckError("Node.js or npm is not installed")
        for row in wanted:
            row.version = resolve_node(row.requested)
        fresh = [r for r in wanted if not node_envs.installed(r.version)]
        for row in fresh:
            row.cold = True
        node_envs.prepare([r.version for r in wanted])
    except (SlowcheckError, OSError) as exc:
        for row in wanted:
            row.error = str(exc)


def _prepare(row: Row, cache: Path, node_envs: envs.NodeEnvs) -> list[str]:
    if row.error:
        raise SlowcheckError(row.error)
    if row.language == "node":
        return node_envs.command(row.version)
    if row.requested == "installed":  # the openai this slowcheck runs beside: the user's own version
        if importlib.util.find_spec("openai") is None:
            raise SlowcheckError("openai is not installed beside slowcheck: pip install openai, or use --sdk-matrix")
        return [sys.executable, str(envs.PROBES / "probe_openai.py")]
    from slowcheck.sdk.pins import resolve_python

    row.version = resolve_python(row.requested)
    row.cold = not envs.python_env_ready(row.version, cache)
    python = envs.python_env(row.version, cache)
    return [str(python), str(envs.PROBES / "probe_openai.py")]


def _probe(command: list[str], key: str, reach: dict[str, str], secrets: list[str]) -> dict[str, Any]:
    # Only what the SDKs need: the key, and how to reach the target (``Network.environment``: trust, proxies
    # with loopback left out, --header's headers, the client certificate); no other credentials of this process.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", ""), "SLOWCHECK_API_KEY": key} | reach
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=_PROBE_TIMEOUT, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise SlowcheckError(f"the probe did not finish within {_PROBE_TIMEOUT} s") from None
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    try:
        outcome = json.loads(lines[-1]) if done.returncode == 0 and lines else None
    except ValueError:
        outcome = None
    if not isinstance(outcome, dict):
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        said = f"the probe failed (exit {done.returncode}): {last[:300]}"
        for secret in secrets:
            said = said.replace(secret, "***")
        raise SlowcheckError(said)
    return outcome


def _cells(results: dict[str, Any], lab: Lab, run: str) -> dict[str, dict[str, Any]]:
    cells: dict[str, dict[str, Any]] = {}
    for check in CHECKS:
        result = results.get(check.id) or {"status": "not run", "detail": "the probe reported nothing"}
        cells[check.id] = cell(str(result["status"]), str(result.get("by", check.party)), str(result["detail"]))
    cells["retry-429"] = _retry(lab, run, cells["retry-429"])
    cells["idempotency"] = _duplicates(lab, run, cells["idempotency"])
    return cells


def _retry(lab: Lab, run: str, client: dict[str, Any]) -> dict[str, Any]:
    attempts = lab.log(run, "retry-429")
    if not attempts and client["outcome"] == NOT_RUN:  # the probe never got to it: nothing to measure
        return client
    if len(attempts) < 2:
        detail = f"{len(attempts)} attempt(s): the SDK did not retry after the 429; {client['detail']}"
        return cell("failed", "sdk", detail)
    wait = attempts[1].at - attempts[0].at
    honoured = wait >= ASKED_WAIT_S * 0.9
    read = "retry-after-ms" if wait < 0.9 else "Retry-After (retry-after-ms ignored)"
    detail = f"{len(attempts)} attempts; waited {wait:.2f} s, asked {ASKED_WAIT_S:g} s: it followed {read}"
    return cell("passed" if honoured else "failed", "sdk", detail)


def _duplicates(lab: Lab, run: str, client: dict[str, Any]) -> dict[str, Any]:
    attempts = lab.log(run, "lost-ack")
    if not attempts and client["outcome"] == NOT_RUN:
        return client
    enqueued = {a.generation_id for a in attempts if a.generation_id}
    key = "sent" if any(a.idempotency_key for a in attempts) else "not sent"
    detail = f"{len(attempts)} attempts, {len(enqueued)} generations enqueued for one call; Idempotency-Key {key}"
    if len(attempts) < 2:
        detail += f"; {client['detail']}"
    return cell("passed" if len(enqueued) <= 1 else "failed", "sdk", detail)
