"""The schedule of queued generations against a plain model of it: the earliest due first (ties in order of
arrival), the oldest expires first, a withdrawn one is never handed out; and its memory stays per entry."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hypothesis import given, settings, strategies as st

from slowcheck.mock.schedule import Schedule


@dataclass
class Entry:
    id: str
    due_us: int
    expires_at: float
    queued: bool = True


class Model:
    def __init__(self) -> None:
        self.entries: list[Entry] = []

    def add(self, generation_id: str, eligible_at: float, expires_at: float) -> None:
        self.entries.append(Entry(generation_id, math.ceil(eligible_at * 1e6), expires_at))

    def pop_due(self, now: float) -> str | None:
        due = [(e.due_us, n) for n, e in enumerate(self.entries) if e.queued and e.due_us <= math.floor(now * 1e6)]
        return self._take(min(due)[1]) if due else None

    def pop_expired(self, now: float) -> str | None:
        oldest = next((n for n, e in enumerate(self.entries) if e.queued), None)
        return self._take(oldest) if oldest is not None and self.entries[oldest].expires_at <= now else None

    def take(self, generation_id: str) -> bool:
        found = [n for n, e in enumerate(self.entries) if e.id == generation_id and e.queued]
        return self._take(found[0]) is not None if found else False

    def _take(self, n: int) -> str:
        self.entries[n].queued = False
        return self.entries[n].id

    def next_expiry(self) -> float | None:
        return next((e.expires_at for e in self.entries if e.queued), None)

    def next_due(self) -> float | None:
        due = [e.due_us for e in self.entries if e.queued]
        return min(due) / 1e6 if due else None


def ident(n: int) -> str:
    """21 characters, as generated ids are; every fifth another length, as an older database's may be."""
    return f"odd-{n}" if n % 5 == 4 else f"T{n:020d}"


operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 50), st.integers(0, 80)),
        st.tuples(st.just("pop_due"), st.integers(0, 60)),
        st.tuples(st.just("pop_expired"), st.integers(0, 90)),
        st.tuples(st.just("take"), st.integers(0, 40)),
    ),
    max_size=120,
)


@settings(max_examples=300, deadline=None)
@given(operations)
def test_the_schedule_hands_out_what_a_plain_model_does(ops: list[tuple[object, ...]]) -> None:
    schedule, model = Schedule(), Model()
    added = 0
    for op in ops:
        if op[0] == "add":
            # Times in tenths of seconds from a real epoch: the line takes the ones that do not go down.
            eligible, expires = 1.7e9 + int(op[1]) / 10, 1.7e9 + int(op[2]) / 10  # type: ignore[call-overload]
            schedule.add(ident(added), eligible, expires)
            model.add(ident(added), eligible, expires)
            added += 1
        elif op[0] == "pop_due":
            now = 1.7e9 + int(op[1]) / 10  # type: ignore[call-overload]
            assert schedule.pop_due(now) == model.pop_due(now)
        elif op[0] == "pop_expired":
            now = 1.7e9 + int(op[1]) / 10  # type: ignore[call-overload]
            assert schedule.pop_expired(now) == model.pop_expired(now)
        else:
            assert schedule.take(ident(int(op[1]))) == model.take(ident(int(op[1])))  # type: ignore[call-overload]
        assert len(schedule) == sum(e.queued for e in model.entries)
        assert schedule.next_expiry() == model.next_expiry()
        soonest, told = model.next_due(), schedule.next_due()
        assert (told is None) == (soonest is None) or soonest is None, "something queued is always due sometime"
        assert told is None or soonest is None or told <= soonest, "never later than the earliest (maybe earlier)"


def test_an_id_is_found_only_where_a_whole_id_is() -> None:
    schedule = Schedule()
    schedule.add("x" * 21, 1.0, 10.0)
    schedule.add("y" * 21, 1.0, 10.0)
    assert schedule.take("x" * 10 + "y" * 11) is False, "the bytes across two ids are no id"
    assert schedule.take("y" * 21) is True
    assert schedule.take("y" * 21) is False, "once"
    assert schedule.pop_due(2.0) == "x" * 21
    assert schedule.pop_due(2.0) is None


def test_a_backlog_costs_under_a_hundred_bytes_an_entry_in_line_or_out_of_it() -> None:
    in_line, shuffled = Schedule(), Schedule()
    for n in range(50_000):
        in_line.add(f"T{n:020d}", 1.7e9 + n / 1000, 1.7e9 + 3600)  # the capacity model: due in order of arrival
        shuffled.add(f"T{n:020d}", 1.7e9 + (n * 7919 % 50_000) / 1000, 1.7e9 + 3600)
    assert in_line.footprint() / len(in_line) <= 45
    assert shuffled.footprint() / len(shuffled) <= 100


def test_slots_that_left_are_trimmed_and_dead_heap_entries_dropped() -> None:
    schedule = Schedule()
    for n in range(50_000):
        schedule.add(f"T{n:020d}", 1.7e9 + (n * 7919 % 50_000) / 1000, 1.7e9 + n / 1000)
    full = schedule.footprint()
    # When all but the newest 100 expire (their heap entries stay until they are due) or are taken
    expired = [schedule.pop_expired(1.7e9 + 49.9) for _ in range(49_900)]
    schedule.next_expiry()
    # Then
    assert None not in expired
    assert len(schedule) == 100
    assert schedule.footprint() < full / 20, "the arrays trimmed, the heap rebuilt"
    taken = 0
    while schedule.pop_due(1.7e9 + 100) is not None:
        taken += 1
    assert taken == 100
