"""The mock's memory over a soak: RSS against generations stored, under wrk's durable submissions.

The mock runs in its own process (a durable store in a temporary folder); wrk offers submissions for the
whole run; every few seconds the mock's RSS (from /proc) is sampled with what it holds.

- Default: generations finish at once; RSS against generations stored. What matters is the shape: flat after
  warm-up, whatever is stored.
- ``--backlog``: 16 workers and a capacity so low that none finishes (the backlog of a cluster far slower
  than the offered load); RSS against pending generations, and what each one costs between two points. With
  ``--queue-time 0..60`` the queue times are drawn instead and the workers run for a day: generations fall due
  out of order of arrival. Each run ends with a restart on what it left: how soon the mock answers, and its RSS.

    python benchmarks/mock_soak.py [--seconds 120] [--connections 32] [--cache-size 10000]
    python benchmarks/mock_soak.py --backlog [--until 360000] [--runs 3] [--queue-time 0..60]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from mock_throughput import KEY, scripts, server

AUTH = {"Authorization": f"Bearer {KEY}"}
PORT = 8903
Sample = tuple[float, int, float]
"""Seconds since the load began, generations counted (stored, or pending with --backlog), RSS in MB."""


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def counted(url: str, backlog: bool) -> int:
    if not backlog:
        return int(httpx.get(url + "/health", timeout=60).json()["generations"])
    states = httpx.get(url + "/_mock/stats", headers=AUTH, timeout=60).json()["generations"]
    return int(states.get("Queued", 0) + states.get("In Progress", 0))


def mock_command(args: argparse.Namespace, db: Path) -> list[str]:
    timing = ["--queue-time", "0", "--run-time", "0", "--workers", "64"]
    if args.backlog:
        drawn = ["--queue-time", args.queue_time, "--run-time", "86400"] if args.queue_time else ["--capacity", "0.01"]
        timing = ["--workers", "16", *drawn]
    return [sys.executable, "-m", "slowcheck", "mock", "--port", str(PORT), "--db", str(db), "--api-key", KEY,
            *timing, "--cache-size", str(args.cache_size)]  # fmt: skip


def mock_pid() -> int:
    return int(subprocess.run(["pgrep", "-f", "--newest", f"slowcheck mock --port {PORT}"], capture_output=True,
                              text=True, check=True).stdout.split()[0])  # fmt: skip


def soak(args: argparse.Namespace, folder: Path, db: Path) -> tuple[list[Sample], float]:
    """One run: the samples, and the database's size with its WAL in MB."""
    samples: list[Sample] = []
    with server(mock_command(args, db), f"http://127.0.0.1:{PORT}") as url:
        pid = mock_pid()
        post, _ = scripts(folder, "unused")
        wrk = subprocess.Popen(["wrk", "-t2", f"-c{args.connections}", f"-d{args.seconds}s", "-s", str(post), url],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        started = time.monotonic()
        try:
            while wrk.poll() is None:
                samples.append((time.monotonic() - started, counted(url, args.backlog), rss_mb(pid)))
                if args.backlog and samples[-1][1] >= args.until:
                    break
                time.sleep(args.every)
        finally:
            wrk.terminate()
            wrk.wait()
        time.sleep(1.0)  # answers in flight settle
        samples.append((time.monotonic() - started, counted(url, args.backlog), rss_mb(pid)))
        size = sum(f.stat().st_size for f in folder.glob(db.name + "*")) / 2**20
    return samples, size


def restarted(args: argparse.Namespace, db: Path) -> tuple[float, int, float]:
    """The mock started again on what a run left: seconds until it answers, pending generations, RSS in MB."""
    started = time.monotonic()
    with server(mock_command(args, db), f"http://127.0.0.1:{PORT}") as url:
        ready = time.monotonic() - started
        return ready, counted(url, True), rss_mb(mock_pid())


def rss_at(samples: list[Sample], count: int) -> float | None:
    """RSS where the count passed this figure, interpolated between the two samples around it."""
    for (_, n0, r0), (_, n1, r1) in zip(samples, samples[1:], strict=False):
        if n0 <= count <= n1 and n1 > n0:
            return r0 + (r1 - r0) * (count - n0) / (n1 - n0)
    return None


def report_backlog(runs: list[list[Sample]], restarts: list[tuple[float, int, float]]) -> None:
    low, high = 150_000, 350_000
    at_low = [r for r in (rss_at(s, low) for s in runs) if r is not None]
    at_high = [r for r in (rss_at(s, high) for s in runs) if r is not None]
    if not at_low or not at_high:
        raise SystemExit(f"no run reached {high} pending generations: raise --seconds or --connections")
    per = [(h - lo) * 2**20 / (high - low) for lo, h in zip(at_low, at_high, strict=False)]
    print(f"RSS at {low // 1000}k pending: median {statistics.median(at_low):.1f} MB "
          f"(runs: {', '.join(f'{r:.1f}' for r in at_low)})")  # fmt: skip
    print(f"RSS at {high // 1000}k pending: median {statistics.median(at_high):.1f} MB "
          f"(runs: {', '.join(f'{r:.1f}' for r in at_high)})")  # fmt: skip
    growth = statistics.median(h / lo - 1 for lo, h in zip(at_low, at_high, strict=False))
    print(
        f"between them: median {statistics.median(per):.0f} bytes per pending generation "
        f"(runs: {', '.join(f'{p:.0f}' for p in per)}); RSS grew {growth:.1%} (targets: <= 300 bytes, <= 15 %)"
    )
    ready, _, rss = (statistics.median(r[i] for r in restarts) for i in range(3))
    print(f"restarted on what each run left: ready in a median {ready:.1f} s, RSS {rss:.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", action="store_true", help="nothing finishes: RSS against pending generations")
    parser.add_argument("--seconds", type=int, help="longest load per run (default: 120; 300 with --backlog)")
    parser.add_argument("--until", type=int, default=360_000, help="--backlog: stop at this many pending")
    parser.add_argument("--queue-time", help="--backlog: drawn queue times (0..60) instead of the capacity model")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--cache-size", type=int, default=10_000)
    parser.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    args = parser.parse_args()
    args.seconds = args.seconds or (300 if args.backlog else 120)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    runs: list[list[Sample]] = []
    restarts: list[tuple[float, int, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.runs):
            db = Path(tmp) / f"soak-{time.monotonic_ns()}.sqlite3"
            samples, size = soak(args, Path(tmp), db)
            runs.append(samples)
            what = "pending" if args.backlog else "stored"
            backlog = f"--queue-time {args.queue_time} --run-time 86400" if args.queue_time else "--capacity 0.01"
            print(f"wrk -c{args.connections} durable submissions, --cache-size {args.cache_size}"
                  f"{f', a backlog (--workers 16 {backlog})' if args.backlog else ''}")  # fmt: skip
            print(f"{'seconds':>8} {what:>10} {'RSS MB':>8}")
            for at, count, rss in samples:
                print(f"{at:8.0f} {count:10d} {rss:8.1f}")
            end = samples[-1]
            print(f"database with its WAL: {size:.0f} MB; {end[1] / end[0]:.0f} submissions/s")
            if not args.backlog:
                found = [rss_at(samples, n) for n in (100_000, 500_000)]
                print("RSS at 100k: {}, at 500k: {}, at the end ({} stored): {:.1f} MB".format(
                    *(f"{r:.1f} MB" if r is not None else "not reached" for r in found), end[1], end[2]))  # fmt: skip
            else:
                restarts.append(restarted(args, db))
                print("restarted: ready in {:.1f} s with {} pending, RSS {:.1f} MB".format(*restarts[-1]))
    if args.backlog:
        report_backlog(runs, restarts)
    flags = f"--backlog --until {args.until} --runs {args.runs} " if args.backlog else f"--runs {args.runs} "
    flags += f"--queue-time {args.queue_time} " if args.backlog and args.queue_time else ""
    print(f"reproduce: python benchmarks/mock_soak.py {flags}--seconds {args.seconds} --connections {args.connections} "
          f"--cache-size {args.cache_size}")  # fmt: skip


if __name__ == "__main__":
    main()
