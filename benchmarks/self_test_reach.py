"""How much of the catalogue the contract's self-test runs per breakage (tests/contract/test_rules.py).

Each breakage of the default mock runs only the rules it can reach, read from one clean run's footprint; before,
each ran the whole catalogue, so the self-test grew with the square of the rules. This prints, for one clean
footprint, the rules each breakage reaches, their total against the whole catalogue's, and the wall time of the
footprint and of the breakage runs both ways (median of ``--runs`` over a sample of breakages).

python benchmarks/self_test_reach.py [--runs 3] [--sample 8]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's tests package

from tests.contract import test_rules as self_test


def _footprint() -> tuple[Any, float]:
    started = time.perf_counter()
    footprint = self_test.footprint.__wrapped__()  # type: ignore[attr-defined]
    return footprint, time.perf_counter() - started


def _timed(mutate: Any, only: set[str] | None) -> float:
    with pytest.MonkeyPatch.context():
        fixture = self_test.serve.__wrapped__()  # type: ignore[attr-defined]
        start = next(fixture)
        try:
            target = start(mutate, None, **self_test.SMALL)
            began = time.perf_counter()
            self_test.catalogue_against(target, only)
            return time.perf_counter() - began
        finally:
            next(fixture, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sample", type=int, default=8, help="breakages timed both ways")
    args = parser.parse_args()
    footprint, seconds = _footprint()
    breakages = [p.values for p in self_test.BREAKAGES if p.values[2] is None]
    reach = {rule_id: footprint.reach(rule_id, mutate) for rule_id, mutate, _ in breakages}
    whole = len(self_test.RULES)
    sizes = sorted(len(r) for r in reach.values())
    print(f"clean footprint: {len(footprint.exchanges)} exchanges in {seconds:.1f} s")
    print(f"{len(breakages)} breakages of the default mock: rules reached median {statistics.median(sizes)}, "
          f"max {sizes[-1]}, total {sum(sizes)} against {len(breakages) * whole} for the whole catalogue each "
          f"({sum(sizes) / (len(breakages) * whole):.0%})")  # fmt: skip
    step = max(1, len(breakages) // args.sample)
    reduced, full = [], []
    for rule_id, mutate, _ in breakages[::step][: args.sample]:
        reduced.append(statistics.median(_timed(mutate, reach[rule_id]) for _ in range(args.runs)))
        full.append(statistics.median(_timed(mutate, None) for _ in range(args.runs)))
    print(
        f"{len(reduced)} breakages timed, median of {args.runs}: reached rules {sum(reduced):.1f} s, "
        f"whole catalogue {sum(full):.1f} s, ratio {sum(full) / sum(reduced):.1f}x"
    )
    print("python benchmarks/self_test_reach.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
