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
import sys
import tempfile
import time
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
    "lax": {"lax": True},
    "strict": {"strict": True},
    "flap": {"flap_every": 3},
}
"""Name -> the habits beside ``completion_delay=1.0``: 3 % transient answers under three seeds, 10 % failed
generations, 2 requests a second as a sliding window (120 a minute) and as a token bucket (2 tokens, 2 a second),
a lax and a strict validator, every third read of a finished record In Progress."""
UNCONFIGURED = {r.id for r in RULES.values() if r.group in ("webhooks", "embeddings")}
"""Skipped in every case: no --webhook-id, no --embedding-model."""


def run_case(name: str) -> dict[str, Any]:
    habits = Habits(completion_delay=1.0, **CASES[name])
    key, other = habits.keys
    api, batch = create_app(habits), create_batch_app(habits)
    output = io.StringIO()
    with tempfile.TemporaryDirectory() as reports, serve_in_background(api, name="docs-shaped API") as url:
        with serve_in_background(batch, name="docs-shaped batch host") as batch_url:
            started = time.monotonic()
            with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
                code = slowcheck(["contract", "--base-url", url + "/v1", "--api-key", key, "--second-api-key", other,
                                  "--batch-base-url", batch_url + "/v1", "--max-requests", "200",
                                  "--completion-timeout", "20", "--report-dir", reports])  # fmt: skip
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
