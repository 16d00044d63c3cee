"""The queued generations, compactly: a backlog of a million holds ids and times, not records.

A queued generation is a slot, numbered in order of arrival: its id (21 bytes in one ``bytearray``), a byte
saying whether it is still queued and when it expires (8 bytes in an ``array``), plus one int in a heap of
due times (``due_us << 40 | slot``: ties leave in order of arrival). About 80 bytes each, where a record with
its parsed request took 1.5 KB; the records stay in the store and are read back when a worker takes one.

Expiry reads the slots from the oldest: arrival order is expiry order. Slots that left are trimmed from the
front once they are half the arrays; one still queued at the front keeps the slots behind it (30 bytes each)
until it leaves, at the latest when it expires. Heap entries of slots that left some other way (expired,
withdrawn) are dropped when they outnumber the queued ones.
"""

from __future__ import annotations

import heapq
import math
import sys
from array import array

__all__ = ["Schedule"]

ID_BYTES = 21
"""Every id slowcheck.mock.ids makes; another (a database of an older mock) is kept aside, by its slot."""
_SLOT_BITS = 40
_SLOT_MASK = (1 << _SLOT_BITS) - 1
_QUEUED = 1
_LEFT = 0
_SLACK = 4096
"""Slots, or heap entries, that may be dead before the arrays are trimmed or the heap is rebuilt."""


class Schedule:
    """Queued generation ids by due time (for the workers) and by arrival (for expiry)."""

    def __init__(self) -> None:
        self._ids = bytearray()
        self._odd: dict[int, str] = {}
        self._state = bytearray()
        self._expires = array("d")
        self._base = 0
        """The slot at index 0 of the arrays."""
        self._head = 0
        """Index of the oldest slot that may still be queued."""
        self._due: list[int] = []
        self.queued = 0
        """How many are queued."""

    def __len__(self) -> int:
        return self.queued

    def add(self, generation_id: str, eligible_at: float, expires_at: float) -> None:
        slot = self._base + len(self._state)
        encoded = generation_id.encode()
        if len(encoded) == ID_BYTES:
            self._ids += encoded
        else:
            self._ids += bytes(ID_BYTES)
            self._odd[slot] = generation_id
        self._state.append(_QUEUED)
        self._expires.append(expires_at)
        # Microseconds, rounded up: never taken before its time.
        heapq.heappush(self._due, math.ceil(eligible_at * 1e6) << _SLOT_BITS | slot)
        self.queued += 1

    def next_due(self) -> float | None:
        """When the earliest entry falls due (perhaps one that has left: popping it then drops it)."""
        return (self._due[0] >> _SLOT_BITS) / 1e6 if self._due else None

    def pop_due(self, now: float) -> str | None:
        """The next queued generation due by ``now``, taken off the schedule; None when none is due."""
        bound = (math.floor(now * 1e6) + 1) << _SLOT_BITS
        due = self._due
        while due and due[0] < bound:
            slot = heapq.heappop(due) & _SLOT_MASK
            if self._leave(slot):
                return self._id(slot)
        return None

    def next_expiry(self) -> float | None:
        """When the oldest queued generation expires."""
        self._advance()
        return self._expires[self._head] if self._head < len(self._state) else None

    def pop_expired(self, now: float) -> str | None:
        """The oldest queued generation if it has expired by ``now``, taken off the schedule."""
        expires_at = self.next_expiry()
        if expires_at is None or expires_at > now:
            return None
        slot = self._base + self._head
        self._leave(slot)
        self._maybe_rebuild()
        return self._id(slot)

    def take(self, generation_id: str) -> bool:
        """Take a queued generation off the schedule (it was withdrawn); False if it is not queued."""
        slot = self._find(generation_id)
        if slot is None or not self._leave(slot):
            return False
        self._maybe_rebuild()
        return True

    def footprint(self) -> int:
        """Bytes held, as ``sys.getsizeof`` counts them: the arrays, the heap and its ints."""
        held = sum(sys.getsizeof(part) for part in (self._ids, self._state, self._expires, self._due, self._odd))
        return held + sum(sys.getsizeof(key) for key in self._due)

    # -- slots ------------------------------------------------------------------------------------

    def _id(self, slot: int) -> str:
        odd = self._odd.get(slot) if self._odd else None
        if odd is not None:
            return odd
        at = (slot - self._base) * ID_BYTES
        return self._ids[at : at + ID_BYTES].decode()

    def _leave(self, slot: int) -> bool:
        """Mark a slot as no longer queued; False if it already was not."""
        index = slot - self._base
        if index < 0 or self._state[index] != _QUEUED:
            return False
        self._state[index] = _LEFT
        self.queued -= 1
        return True

    def _find(self, generation_id: str) -> int | None:
        """A queued-or-left slot by id: searched from the newest (a withdrawn line is a recent one)."""
        if self._odd:
            for slot, odd in self._odd.items():
                if odd == generation_id:
                    return slot
        encoded = generation_id.encode()
        if len(encoded) != ID_BYTES:
            return None
        start, end = self._head * ID_BYTES, len(self._ids)
        while (at := self._ids.rfind(encoded, start, end)) >= 0:
            if at % ID_BYTES == 0:
                return self._base + at // ID_BYTES
            end = at + ID_BYTES - 1  # a match across two ids: look before it
        return None

    def _advance(self) -> None:
        """Move the head past slots that left; trim them once they are half the arrays."""
        head = self._state.find(_QUEUED, self._head)
        self._head = head if head >= 0 else len(self._state)
        if self._head > _SLACK and self._head * 2 > len(self._state):
            cut = self._head
            del self._ids[: cut * ID_BYTES]
            del self._state[:cut]
            del self._expires[:cut]
            self._base += cut
            self._head = 0
            if self._odd:
                self._odd = {slot: odd for slot, odd in self._odd.items() if slot >= self._base}

    def _maybe_rebuild(self) -> None:
        """Drop heap entries of slots that left, once they outnumber the queued ones."""
        if len(self._due) <= 2 * self.queued + _SLACK:
            return
        base, state = self._base, self._state
        self._due = [key for key in self._due if (i := (key & _SLOT_MASK) - base) >= 0 and state[i] == _QUEUED]
        heapq.heapify(self._due)
