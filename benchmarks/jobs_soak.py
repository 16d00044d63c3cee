"""The jobs scenario's memory over a long run: the harness's RSS while it offers jobs and follows each to its end.

A durable `slowcheck mock` runs in its own process (queue 0.2..1 s, run 0.5..2 s, 512 workers: about
400 jobs a second); `slowcheck load
jobs` offers ``--rate`` jobs a second for ``--seconds`` and follows every one (hinted polls, every record
judged, two journal rows a job). Every few seconds the RSS of the locust process is sampled from /proc. The
harness keeps only the jobs in flight: its RSS must stay flat however many jobs the run has done, under
``--ceiling`` MB (exit 1 otherwise).

    python benchmarks/jobs_soak.py [--seconds 600] [--rate 200] [--ceiling 400]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mock_soak import rss_mb
from mock_throughput import KEY, server

ROOT = Path(__file__).resolve().parent.parent


def locust_pid(parent: int) -> int | None:
    """The locust process the command started (its child)."""
    found = subprocess.run(["pgrep", "-P", str(parent), "-f", "locust"], capture_output=True, text=True, check=False)
    pids = found.stdout.split()
    return int(pids[0]) if pids else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--ceiling", type=float, default=400.0, help="MB the harness may reach")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    args = parser.parse_args()
    samples: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        command = [sys.executable, "-m", "slowcheck", "mock", "--port", "8904", "--db", str(folder / "mock.sqlite3"),
                   "--api-key", KEY, "--queue-time", "0.2..1", "--run-time", "0.5..2", "--workers", "512"]  # fmt: skip
        with server(command, "http://127.0.0.1:8904") as url:
            report = folder / "report"
            run = subprocess.Popen(
                [sys.executable, "-m", "slowcheck", "load", "jobs", "--base-url", url, "--rate", f"{args.rate:g}",
                 "--duration", str(args.seconds), "--drain", "60", "--report-dir", str(report)],
                env=dict(os.environ, SLOWCHECK_API_KEY=KEY), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True, cwd=ROOT,
            )  # fmt: skip
            started = time.monotonic()
            pid = None
            while run.poll() is None:
                pid = pid or locust_pid(run.pid)
                if pid is not None and Path(f"/proc/{pid}").exists():
                    samples.append((time.monotonic() - started, rss_mb(pid)))
                    at, mb = samples[-1]
                    print(f"{at:6.0f} s  harness RSS {mb:6.1f} MB", flush=True)
                time.sleep(args.every)
            output = run.stdout.read() if run.stdout else ""
            summary = json.loads((report / "summary.json").read_text())
            journal_mb = sum(p.stat().st_size for p in report.glob("journal-*.jsonl")) / 2**20
    jobs = summary["jobs"]
    peak = max(mb for _, mb in samples)
    early = next((mb for at, mb in samples if at >= 30), samples[0][1])
    print(output.strip())
    dispatch = jobs["dispatch"]
    print(f"jobs: {jobs['accepted']:,} accepted, {jobs['completed']:,} completed, {jobs['open']} open; "
          f"dispatch lag p99 {dispatch['lag_ms']['p99']} ms, {dispatch['dropped']} dropped")  # fmt: skip
    print(f"harness RSS: {early:.0f} MB at 30 s, peak {peak:.0f} MB, last {samples[-1][1]:.0f} MB; "
          f"journal {journal_mb:.1f} MB")  # fmt: skip
    print(f"reproduce: python benchmarks/jobs_soak.py --seconds {args.seconds} --rate {args.rate:g} "
          f"--ceiling {args.ceiling:g}")  # fmt: skip
    if peak > args.ceiling:
        raise SystemExit(f"the harness reached {peak:.0f} MB, over the {args.ceiling:g} MB ceiling")


if __name__ == "__main__":
    main()
