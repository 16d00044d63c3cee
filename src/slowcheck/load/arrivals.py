"""When the ``jobs`` scenario's arrivals are due: constant, Poisson, gamma bursts, all at once, or a replayed trace.

The serving benchmarks (vLLM's ``bench serve``, guidellm) describe offered load the same way: a rate, and an
inter-arrival distribution (exponential for Poisson; gamma with shape ``burstiness`` for bursts, where 1 is
Poisson and less is burstier, at the same mean rate). Every process draws the same sequence from ``seed`` and
keeps its own share of it (every ``of``-th arrival), so N processes together offer exactly the plan.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from slowcheck import _json
from slowcheck.errors import ConfigError
from slowcheck.load.offered import Stage, parse_stages
from slowcheck.timestamps import epoch_seconds

__all__ = ["PROCESSES", "Arrivals", "parse", "read_trace"]

PROCESSES = ("constant", "poisson", "gamma")


@dataclass(frozen=True, slots=True)
class Arrivals:
    """A plan of arrival offsets (seconds from the start)."""

    process: str
    stages: tuple[Stage, ...] = ()
    """Rate stages; empty for ``--rate inf`` and for a trace."""
    burstiness: float = 1.0
    limit: int | None = None
    """At most this many arrivals in all (``--jobs``)."""
    trace: tuple[float, ...] = ()
    seed: int = 0

    def offsets(self, *, share: int = 0, of: int = 1) -> Iterator[tuple[int, float]]:
        """This process's arrivals, ``(index in the plan, offset)``: every ``of``-th, from the ``share``-th."""
        for index, offset in enumerate(self._all()):
            if self.limit is not None and index >= self.limit:
                return
            if index % of == share:
                yield index, offset

    def count(self) -> int | None:
        """How many arrivals the plan holds, when that is known without drawing them (not for random ones)."""
        if self.trace:
            return min(len(self.trace), self.limit or len(self.trace))
        if not self.stages:
            return self.limit
        if self.process == "constant":
            total = sum(math.ceil(s.seconds * s.rate - 1e-9) for s in self.stages)
            return min(total, self.limit) if self.limit is not None else total
        return None

    def _all(self) -> Iterator[float]:
        if self.trace:
            yield from self.trace
            return
        if not self.stages:  # --rate inf: everything at once
            while True:
                yield 0.0
        rng = random.Random(self.seed)
        begin = 0.0
        for stage in self.stages:
            end = begin + stage.seconds
            if self.process == "constant":
                count = math.ceil(stage.seconds * stage.rate - 1e-9)
                for j in range(count):
                    yield begin + j / stage.rate
            else:
                shape = 1.0 if self.process == "poisson" else self.burstiness
                at = begin
                while True:
                    # Gamma with shape k and scale 1/(k x rate) has mean 1/rate; k = 1 is the exponential.
                    at += rng.gammavariate(shape, 1.0 / (shape * stage.rate))
                    if at >= end:
                        break
                    yield at
            begin = end


def parse(
    rate: str, duration: float, *, process: str = "constant", burstiness: float = 1.0, jobs: int | None = None,
    trace: Path | None = None, seed: int = 0,
) -> Arrivals:  # fmt: skip
    """The plan of ``--rate``, ``--duration``, ``--arrival``, ``--burstiness``, ``--jobs`` and ``--trace``."""
    if process not in PROCESSES:
        raise ConfigError(f"--arrival: expected one of {', '.join(PROCESSES)}, got {process!r}")
    if not (burstiness > 0 and math.isfinite(burstiness)):
        raise ConfigError(f"--burstiness: expected a number > 0, got {burstiness:g}")
    if process != "gamma" and burstiness != 1.0:
        raise ConfigError("--burstiness shapes gamma arrivals: add --arrival gamma")
    if jobs is not None and jobs < 1:
        raise ConfigError(f"--jobs: expected 1 or more, got {jobs}")
    if trace is not None:
        return Arrivals("trace", limit=jobs, trace=read_trace(trace), seed=seed)
    if str(rate).strip().lower() in ("inf", "infinity"):
        if jobs is None:
            raise ConfigError("--rate inf sends everything at once: say how much with --jobs N")
        return Arrivals(process, limit=jobs, seed=seed)
    stages = tuple(parse_stages(rate, duration))
    return Arrivals(process, stages, burstiness, jobs, seed=seed)


def read_trace(path: Path) -> tuple[float, ...]:
    """Arrival offsets from a trace: one JSON value a line, a number of seconds or an object with ``timestamp``
    (seconds, or ISO-8601); offsets count from the earliest, in the file's order of time."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"--trace {path}: {exc.strerror or exc}") from None
    times: list[float] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = _json.loads(line)
        except ValueError:
            raise ConfigError(f"--trace {path}:{number}: not JSON: {line[:60]!r}") from None
        stamp = value.get("timestamp") if isinstance(value, dict) else value
        seconds = epoch_seconds(stamp) if isinstance(stamp, str) else stamp
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
            raise ConfigError(f'--trace {path}:{number}: expected seconds or {{"timestamp": ...}}, got {line[:60]!r}')
        times.append(float(seconds))
    if not times:
        raise ConfigError(f"--trace {path}: no arrivals in it")
    first = min(times)
    return tuple(sorted(t - first for t in times))
