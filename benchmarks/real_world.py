"""`slowcheck contract` against the docs-shaped API with a real service's habits, one case at a time (issue 24).

Each case serves `tests/docs_server.py`'s API and its Batch API (their own host) on 127.0.0.1 with one set of
`Habits` (a generation takes 1 s), runs the suite with two keys, a budget of 200 requests and a 20 s completion
timeout, and prints a row: the verdict and exit code, the wall time, the requests each server saw (API+batch),
the 429s and transient answers they gave, the generations (and batch lines) they made fail, and the rules that
did not hold. Rules skipped in every case for want of --webhook-id or --embedding-model are not listed.

    .venv/bin/python benchmarks/real_world.py [CASE...]   (all cases when none is named)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's tests package

from tests.docs_server import Habits, create_app, create_batch_app

from slowcheck.background import serve_in_background
from slowcheck.cli import main as slowcheck
from slowcheck.contract.rules import RULES

CASES: dict[str, dict[str, Any]] = {
    "quiet": {},
    "transient-1": {"transient": 0.03, "seed": 1},
    "transient-2": {"transient": 0.03, "seed": 2},
    "transient-3": {"transient": 0.03, "seed": 3},
    "failed": {"failed": 0.10},
    "sliding": {"rate_limit": 120, "rate_window": 60, "rate_kind": "sliding"},
    "bucket": {"rate_limit": 2, "rate_window": 1, "rate_kind": "bucket"},
    "free-tier": {"rate_limit": 30, "rate_window": 60, "rate_kind": "fixed"},
    "lax": {"lax": True},
    "strict": {"strict": True},
    "flap": {"flap_every": 3},
    "ca-env": {},
    "ca-flag": {},
    "untrusted": {},
}
"""Name -> the habits beside ``completion_delay=1.0``: 3 % transient answers under three seeds, 10 % failed
generations, 2 requests a second as a sliding window (120 a minute) and as a token bucket (2 tokens, 2 a second),
inference.net's free tier (30 a minute, a fixed window), a lax and a strict validator, every third read of a
finished record In Progress; and the quiet API over TLS with a CA of its own."""
TLS = {"ca-env": "SSL_CERT_FILE", "ca-flag": "--ca-bundle", "untrusted": "nothing"}
"""The TLS cases, and how the suite is told to trust their CA (through SSL_CERT_FILE, --ca-bundle, or not)."""
UNCONFIGURED = {r.id for r in RULES.values() if r.group in ("webhooks", "embeddings")}
"""Skipped in every case: no --webhook-id, no --embedding-model."""


def run_case(name: str) -> dict[str, Any]:
    habits = Habits(completion_delay=1.0, **CASES[name])
    key, other = habits.keys
    api, batch = create_app(habits), create_batch_app(habits)
    output = io.StringIO()
    with contextlib.ExitStack() as stack:
        reports = stack.enter_context(tempfile.TemporaryDirectory())
        tls, trust = _tls(name, Path(reports), stack)
        url = stack.enter_context(serve_in_background(api, name="docs-shaped API", **tls))
        batch_url = stack.enter_context(serve_in_background(batch, name="docs-shaped batch host", **tls))
        started = time.monotonic()
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            code = slowcheck(["contract", "--base-url", url + "/v1", "--api-key", key, "--second-api-key", other,
                              "--batch-base-url", batch_url + "/v1", "--max-requests", "200",
                              "--completion-timeout", "20", "--report-dir", reports, *trust])  # fmt: skip
        wall = time.monotonic() - started
        found = Path(reports) / "results.json"
        results = json.loads(found.read_text()) if found.exists() else None
    sent, batch_sent = api.state.sent, batch.state.sent
    not_held: dict[str, list[str]] = {}
    for rule in results["rules"] if results else []:
        if rule["outcome"] != "held" and not (rule["outcome"] == "skipped" and rule["id"] in UNCONFIGURED):
            not_held.setdefault(rule["outcome"], []).append(rule["id"])
    if results is None:  # a usage or reachability error: its one line says why
        not_held["error"] = [output.getvalue().strip().splitlines()[-1] if output.getvalue().strip() else "?"]
    return {
        "case": name,
        "verdict": f"{results['verdict'].upper() if results else 'ERROR'} ({code})",
        "wall": wall,
        "requests": f"{sent['requests']}+{batch_sent['requests']}",
        "429": sent["429"] + batch_sent["429"],
        "transient": sent["transient"] + batch_sent["transient"],
        "failed": sent["failed"] + batch_sent["failed"],
        "not_held": "; ".join(f"{outcome}: {', '.join(ids)}" for outcome, ids in sorted(not_held.items())) or "-",
    }


def _tls(name: str, folder: Path, stack: contextlib.ExitStack) -> tuple[dict[str, str], list[str]]:
    """For a TLS case: the servers' certificate files, and the flags that make the suite trust their CA (or the
    environment variable, set for the case's duration)."""
    if name not in TLS:
        return {}, []
    import trustme  # a test dependency: the dev extra

    ca = trustme.CA()
    ca_file, cert_file = folder / "ca.pem", folder / "server.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    served = {"ssl_certfile": str(cert_file), "ssl_keyfile": str(cert_file)}
    if TLS[name] == "SSL_CERT_FILE":
        stack.enter_context(_environment("SSL_CERT_FILE", str(ca_file)))
    return served, ["--ca-bundle", str(ca_file)] if TLS[name] == "--ca-bundle" else []


@contextlib.contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            del os.environ[name]
        else:
            os.environ[name] = before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", metavar="CASE", help=f"of: {', '.join(CASES)} (default: all)")
    args = parser.parse_args()
    unknown = [c for c in args.cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case {', '.join(unknown)}; the cases: {', '.join(CASES)}")
    chosen = args.cases or list(CASES)
    header = f"{'case':<12} {'verdict':<17} {'wall s':>6} {'requests':>9} {'429s':>5} {'transient':>9} {'failed':>6}"
    print(header + "  rules not held")
    for name in chosen:
        row = run_case(name)
        print(f"{row['case']:<12} {row['verdict']:<17} {row['wall']:>6.1f} {row['requests']:>9} {row['429']:>5} "
              f"{row['transient']:>9} {row['failed']:>6}  {row['not_held']}", flush=True)  # fmt: skip
    print("requests: what the API and the batch host saw (API+batch); 429s, transient answers and failed generations"
          " (batch lines included): both hosts")  # fmt: skip
    print(f"reproduce: .venv/bin/python benchmarks/real_world.py {' '.join(args.cases)}".rstrip())


if __name__ == "__main__":
    main()
