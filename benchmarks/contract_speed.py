"""Wall time of `slowcheck contract` against the embedded mock with default settings (target: <= 60 s).

python benchmarks/contract_speed.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    times = []
    with tempfile.TemporaryDirectory() as reports:
        for run in range(args.runs):
            started = time.monotonic()
            done = subprocess.run([sys.executable, "-m", "slowcheck", "contract", "--report-dir", f"{reports}/{run}"],
                                  capture_output=True, text=True, check=False)  # fmt: skip
            times.append(time.monotonic() - started)
            if done.returncode != 0:
                raise SystemExit(f"the suite did not pass against the mock:\n{done.stdout}{done.stderr}")
    summary = done.stdout.strip().splitlines()[-1]
    print(
        f"slowcheck contract against the embedded mock, {args.runs} runs: median {statistics.median(times):.2f} s "
        f"(min {min(times):.2f}, max {max(times):.2f}) wall, process start included"
    )
    print(f"last run: {summary}")
    print(f"reproduce: python benchmarks/contract_speed.py --runs {args.runs}")


if __name__ == "__main__":
    main()
