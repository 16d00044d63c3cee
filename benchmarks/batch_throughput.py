"""A batch of 100,000 lines through `slowcheck mock`: upload, create to completed, and the mock's peak RSS.

The mock runs in its own process (durable store, generations that take no simulated time, 256 workers), so
the figure is the mock's own pipeline: validation, feeding lines to the engine a window at a time, committing
them, running them and writing the result files. `slowcheck load batch`'s runner is the client.

    python benchmarks/batch_throughput.py [--lines 100000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from mock_soak import rss_mb

from slowcheck.load.batch import generated_file, run

KEY = "sk-bench-batch"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = folder / "input.jsonl"
        started = time.monotonic()
        generated_file(source, args.lines, "inference-net/load-test")
        print(f"generated {args.lines:,} lines ({source.stat().st_size / 1e6:.1f} MB) in "
              f"{time.monotonic() - started:.1f} s")  # fmt: skip
        command = [sys.executable, "-m", "slowcheck", "mock", "--port", "8903", "--db", str(folder / "m.sqlite3"),
                   "--api-key", KEY, "--queue-time", "0", "--run-time", "0", "--workers", "256"]  # fmt: skip
        mock = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get("http://127.0.0.1:8903/health", timeout=1)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise SystemExit("the mock did not start") from None
                    time.sleep(0.1)
            before = rss_mb(mock.pid)
            peak = [before]
            done = threading.Event()

            def sample() -> None:
                while not done.wait(0.25):
                    peak.append(rss_mb(mock.pid))

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            summary = run("http://127.0.0.1:8903", "mock", KEY, input_file=source, poll_interval=0.5, timeout=600,
                          thresholds=[], report_dir=folder / "report")  # fmt: skip
            done.set()
            sampler.join()
        finally:
            mock.terminate()
            mock.wait(timeout=30)
    batch = summary["batch"]
    print(f"upload: {batch['upload']['seconds']:.2f} s ({batch['upload']['lines_per_s']:,.0f} lines/s, "
          f"{batch['upload']['mb_per_s']:.1f} MB/s)")  # fmt: skip
    print(f"batch {batch['status']}: create to completed {batch['to_completed_s']} s; "
          f"{batch['completed_per_s'] or 0:,.0f} lines completed/s; answered {batch['answered']}")  # fmt: skip
    print(f"mock RSS: {before:.1f} MB at start, peak {max(peak):.1f} MB")
    print(f"reproduce: python benchmarks/batch_throughput.py --lines {args.lines}")


if __name__ == "__main__":
    main()
