"""The end of a very long jobs run: the figures read from a journal of ``--jobs`` jobs, its time and peak memory.

A synthetic journal (a ``sent`` and a ``done`` row per job, as the scenario writes them) is written to a
temporary folder, then `slowcheck.load.jobs.summarize` reads it in a fresh process whose peak RSS (ru_maxrss)
is reported: what the master holds at the end of a run of a million jobs.

    python benchmarks/jobs_summary.py [--jobs 1000000]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MEASURE = """
import resource, sys, time
from pathlib import Path
from slowcheck.load import jobs
began = time.perf_counter()
figures = jobs.summarize(Path(sys.argv[1]), [jobs.parse_slo("e2e_s<=5")], warmup=10, cooldown=10)
seconds = time.perf_counter() - began
print(figures["jobs"]["completed"], figures["jobs"]["latency_s"]["e2e"]["p99"], round(seconds, 2),
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def write_journal(folder: Path, count: int) -> int:
    rng = random.Random(0)
    start = 1_800_000_000.0
    path = folder / "journal-0.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for index in range(count):
            planned = start + index / 200
            created = planned + 0.002
            dispatched = created + rng.uniform(0.2, 1.0)
            finished = dispatched + rng.uniform(0.5, 2.0)
            generation_id = f"TP7j{index:017d}"
            out.write(json.dumps(["sent", index, planned, planned + 0.0005, planned + 0.002, 200, generation_id,
                                  created, "chat", int(index % 50 == 0)]) + "\n")  # fmt: skip
            out.write(json.dumps(["done", index, generation_id, finished + 0.01, "Success", dispatched, finished,
                                  25, 2, [], "correct" if index % 50 == 0 else None]) + "\n")  # fmt: skip
    return path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        size = write_journal(Path(tmp), args.jobs)
        print(f"journal of {args.jobs:,} jobs: {size / 2**20:.0f} MB, written in {time.perf_counter() - began:.1f} s")
        done = subprocess.run([sys.executable, "-c", MEASURE, tmp], capture_output=True, text=True, check=True)
    completed, p99, seconds, peak_mb = done.stdout.split()
    print(f"summarized: {int(completed):,} completed, e2e p99 {p99} s, in {seconds} s; peak RSS {peak_mb} MB")
    print(f"reproduce: python benchmarks/jobs_summary.py --jobs {args.jobs}")


if __name__ == "__main__":
    main()
