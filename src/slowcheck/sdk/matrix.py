"""Running the matrix: a plan against a target (:func:`run_plan`): environments, probes in parallel, the lab's
measurements merged into cells, and the verdict (``slowcheck sdk-matrix`` and ``slowcheck run`` share it)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slowcheck.contract.preflight import check_reachable
from slowcheck.embedded import target_or_mock
from slowcheck.errors import SlowcheckError
from slowcheck.sdk import envs, report
from slowcheck.sdk.checks import CHECKS
from slowcheck.sdk.grading import NOT_RUN, cell, judge, not_run_cells
from slowcheck.sdk.lab import ASKED_WAIT_S, Lab, running_lab
from slowcheck.sdk.pins import INSTALLED, resolve_node, resolve_python
from slowcheck.sdk.plan import SdkPlan
from slowcheck.target_url import api_root
from slowcheck.verdict import Verdict

__all__ = ["Row", "SdkRun", "SdkTarget", "reach", "run_plan"]


@dataclass(frozen=True, slots=True)
class SdkTarget:
    """What the probes talk to."""

    root: str
    """The API root (no ``/v1``)."""
    key: str
    batch: str | None = None
    """The Batch API's root; None: the batch row is n/a."""
    label: str = ""
    """Its name in ``sdk-matrix.json`` (the root when empty)."""


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
        """The row as ``sdk-matrix.json`` holds it."""
        return {
            "language": self.language,
            "requested": self.requested,
            "version": self.version,
            "seconds": round(self.seconds, 2),
            "cold": self.cold,
            "error": self.error,
            "cells": self.cells,
            "failed_by_api": self.failed_by_api(),
        }


@dataclass(frozen=True, slots=True)
class SdkRun:
    """A finished matrix: its rows, the document ``sdk-matrix.json`` holds, and the verdict."""

    rows: tuple[Row, ...]
    document: dict[str, Any]
    verdict: Verdict
    wall: float
    """Seconds the whole matrix took."""

    @property
    def installed(self) -> int:
        """Environments this run installed (a warm cache installs none)."""
        return sum(1 for r in self.rows if r.cold)

    def write(self, folder: Path, *, page: bool = True) -> None:
        report.write(folder, self.document, page=page)


@contextlib.contextmanager
def reach(plan: SdkPlan) -> Iterator[SdkTarget]:
    """The plan's target (the URL and key given, else the embedded mock, whose Batch API is its own), checked by
    the preflight (one-line ``ConfigError``s) before anything is installed."""
    with target_or_mock(plan.base_url, plan.api_key, model=plan.model) as endpoint:
        check_reachable(endpoint.root, endpoint.key, plan.model, plan.network)
        batch = endpoint.root if endpoint.embedded else api_root(plan.batch_base_url) if plan.batch_base_url else None
        yield SdkTarget(endpoint.root, endpoint.key, batch, endpoint.label)


def run_plan(plan: SdkPlan, target: SdkTarget, *, progress: Callable[[Row], None] | None = None) -> SdkRun:
    """Every version of the plan against ``target`` (and the lab in front of it), reached as the plan's network
    says; ``progress`` hears of each version as it finishes (from the pool's threads)."""
    python, node = plan.versions()
    started = time.monotonic()
    rows = _run_rows(plan, target, [Row("python", v) for v in python] + [Row("node", v) for v in node], progress)
    wall = time.monotonic() - started
    document = report.document([r.to_json() for r in rows], target=target.label or target.root, wall=wall)
    return SdkRun(tuple(rows), document, judge(document["rows"]), wall)


def _run_rows(plan: SdkPlan, target: SdkTarget, rows: list[Row], progress: Callable[[Row], None] | None) -> list[Row]:
    network, cache = plan.network, plan.cache_folder()
    node_envs = envs.NodeEnvs(cache, plan.install_timeout)
    secrets = [target.key, *network.secrets()]
    with running_lab(target.root, network) as (lab, lab_url), network.environment() as reached:

        def one(row: Row) -> Row:
            started = time.monotonic()
            try:
                if row.language == "node" and network.client_cert is not None:
                    raise SlowcheckError("the Node probe presents no client certificate (--client-cert)")
                command = _prepare(row, cache, node_envs, plan.install_timeout)
                run = row.run  # the lab's key for this row: fixed before the probe names its version
                config = {"root": target.root, "lab": lab_url, "run": run, "model": plan.model, "batch": target.batch}
                outcome = _probe([*command, json.dumps(config)], target.key, reached, secrets, plan.probe_timeout)
                row.version = str(outcome.get("version") or row.version)
                row.cells = _cells(outcome.get("results", {}), lab, run)
            except (SlowcheckError, OSError) as exc:  # not installed, no interpreter, a broken env: not run
                row.error, row.cold = str(exc), False
                row.cells = not_run_cells(((c.id, c.party) for c in CHECKS), row.error)
            row.seconds = time.monotonic() - started
            if progress is not None:
                progress(row)
            return row

        _prepare_node(rows, node_envs)
        with ThreadPoolExecutor(max_workers=plan.jobs) as pool:
            return list(pool.map(one, rows))


def _prepare_node(rows: list[Row], node_envs: envs.NodeEnvs) -> None:
    """npm must not install into one folder twice at once: every Node version in one call, first."""
    wanted = [r for r in rows if r.language == "node"]
    if not wanted:
        return
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


def _prepare(row: Row, cache: Path, node_envs: envs.NodeEnvs, timeout: float) -> list[str]:
    if row.error:
        raise SlowcheckError(row.error)
    if row.language == "node":
        return node_envs.command(row.version)
    if row.requested == INSTALLED:  # the openai this slowcheck runs beside: the user's own version
        if importlib.util.find_spec("openai") is None:
            raise SlowcheckError("openai is not installed beside slowcheck: pip install openai, or use --sdk-matrix")
        return [sys.executable, str(envs.PROBES / "probe_openai.py")]
    row.version = resolve_python(row.requested)
    row.cold = not envs.python_env_ready(row.version, cache)
    python = envs.python_env(row.version, cache, timeout)
    return [str(python), str(envs.PROBES / "probe_openai.py")]


def _probe(command: list[str], key: str, reach: dict[str, str], secrets: list[str], timeout: float) -> dict[str, Any]:
    # Only what the SDKs need: the key, and how to reach the target (``Network.environment``: trust, proxies
    # with loopback left out, --header's headers, the client certificate); no other credentials of this process.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", ""), "SLOWCHECK_API_KEY": key} | reach
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise SlowcheckError(f"the probe did not finish within {timeout:g} s") from None
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
