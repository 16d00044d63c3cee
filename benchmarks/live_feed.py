"""What the live figures cost a job: a Feed told of its submission, one poll and its terminal record, and a Board
read every 10,000 jobs (the master reads it every 5 s), in microseconds a job; median of ``--runs``.

A jobs run at 3,000 jobs a second spends this many microseconds times 3,000 of a core on its live figures.

    python benchmarks/live_feed.py [--jobs 100000] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

from slowcheck.live import Board, Feed
from slowcheck.mock.records import iso

_RECORD = {"state": "Success", "dispatchedAt": iso(1000.5), "finishedAt": iso(1001.0),
           "response": {"usage": {"completion_tokens": 20}}}  # fmt: skip


def one_run(jobs: int) -> float:
    feed, board = Feed(), Board()
    board.pull(feed)
    started = time.perf_counter()
    for index in range(jobs):
        feed.offered()
        feed.answered("submit", 202, accepted=1)
        feed.answered("poll", 200)
        feed.finished_record(_RECORD, 1000.0)
        if index % 10_000 == 0:
            board.figures()
    board.figures()
    return (time.perf_counter() - started) / jobs * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    runs = [one_run(args.jobs) for _ in range(args.runs)]
    print(f"live figures: median {statistics.median(runs):.2f} us a job (runs: {', '.join(f'{r:.2f}' for r in runs)})")
    print(f"at 3,000 jobs/s: {statistics.median(runs) * 3000 / 1e4:.1f} % of a core")
    print(f"reproduce: python benchmarks/live_feed.py --jobs {args.jobs} --runs {args.runs}")


if __name__ == "__main__":
    main()
