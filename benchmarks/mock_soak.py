"""The mock's memory over a soak: RSS against generations stored, under wrk's durable submissions.

The mock runs in its own process (a durable store in a temporary folder, generations finishing at once);
wrk offers submissions for the whole run; every few seconds the mock's RSS (from /proc) and the number of
stored generations are sampled. What matters is the shape: RSS flat after warm-up, whatever is stored.

    python benchmarks/mock_soak.py [--seconds 120] [--connections 32] [--cache-size 10000]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from mock_throughput import KEY, scripts, server


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--cache-size", type=int, default=10_000)
    parser.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    samples: list[tuple[float, int, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = folder / "soak.sqlite3"
        command = [sys.executable, "-m", "slowcheck", "mock", "--port", "8903", "--db", str(db), "--api-key", KEY,
                   "--queue-time", "0", "--run-time", "0", "--workers", "64",
                   "--cache-size", str(args.cache_size)]  # fmt: skip
        with server(command, "http://127.0.0.1:8903") as url:
            pid = int(subprocess.run(["pgrep", "-f", "--newest", "slowcheck mock --port 8903"], capture_output=True,
                                     text=True, check=True).stdout.split()[0])  # fmt: skip
            post, _ = scripts(folder, "unused")
            load = threading.Thread(
                target=subprocess.run,
                args=(["wrk", "-t2", f"-c{args.connections}", f"-d{args.seconds}s", "-s", str(post), url],),
                kwargs={"capture_output": True, "check": False},
            )
            started = time.monotonic()
            load.start()
            while load.is_alive():
                stored = int(httpx.get(url + "/health", timeout=30).json()["generations"])
                samples.append((time.monotonic() - started, stored, rss_mb(pid)))
                load.join(timeout=args.every)
            stored = int(httpx.get(url + "/health", timeout=60).json()["generations"])
            samples.append((time.monotonic() - started, stored, rss_mb(pid)))
            size = sum(f.stat().st_size for f in folder.glob("soak.sqlite3*")) / 2**20
    print(f"{args.seconds} s of wrk -c{args.connections} durable submissions, --cache-size {args.cache_size}")
    print(f"{'seconds':>8} {'stored':>10} {'RSS MB':>8}")
    for at, count, rss in samples:
        print(f"{at:8.0f} {count:10d} {rss:8.1f}")

    def rss_at(count: int) -> str:
        found = next((rss for _, n, rss in samples if n >= count), None)
        return f"{found:.1f} MB" if found is not None else "not reached"

    end = samples[-1]
    print(f"RSS at 100k: {rss_at(100_000)}, at 500k: {rss_at(500_000)}, at the end ({end[1]} stored): {end[2]:.1f} MB")
    print(f"database with its WAL: {size:.0f} MB; {end[1] / end[0]:.0f} submissions/s")
    print(f"reproduce: python benchmarks/mock_soak.py --seconds {args.seconds} --connections {args.connections} "
          f"--cache-size {args.cache_size}")  # fmt: skip


if __name__ == "__main__":
    main()
