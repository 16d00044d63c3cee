"""The queued generations, compactly: a backlog of a million holds ids and times, not records.

A queued generation is a slot, numbered in order of arrival, in arrays: its id (21 bytes), a state byte, when it
expires and when it falls due (8 bytes each); 38 bytes, where a record with its parsed request took 1.5 KB.
The records stay in the store and are read back when a worker takes one.

Workers take the earliest due, ties in order of arrival. Slots whose due times do not go down (a fixed queue
time, or none: the capacity model, where a backlog is all due and waiting for workers) form a line, taken from
its front at no further cost; a slot due before the line's last one also goes into a heap of ints
(``due_us << 39 | slot``, 56 bytes more). Expiry reads the slots from the oldest: arrival order is expiry order.

Slots that left are trimmed from the front once they are half the arrays; one still queued at the front keeps
the slots behind it until it leaves, at the latest when it expires. Heap entries of slots that left some other
way (expired, withdrawn) are dropped when they outnumber the heap's queued slots.
"""

from __future__ import annotations

import heapq
import math
import sys
from array import array

__all__ = ["Schedule"]

ID_BYTES = 21
"""Every id slowcheck.mock.ids makes; another (a database of an older mock) is kept aside, by its slot."""
_SLOT_BITS = 39
"""With microseconds of epoch time above them, a heap key fits Python's three-digit ints until 2041."""
_SLOT_MASK = (1 << _SLOT_BITS) - 1
_LEFT, _HEAPED, _LINED = 0, 1, 2
"""A slot's state: no longer queued, queued in the heap, queued in the line."""
_SLACK = 4096
"""Slots, or heap entries, that may be dead before the arrays are trimmed or the heap is rebuilt."""


class Schedule:
    """Queued generation ids by due time (for the workers) and by arrival (for expiry)."""

    def __init__(self) -> None:
        self._ids = bytearray()
        self._odd: dict[int, str] = {}
        self._state = bytearray()
        self._expires = array("d")
        self._due_us = array("q")
        self._base = 0
        """The slot at index 0 of the arrays."""
        self._first = [0, 0, 0]
        """Per state, no slot of it is before this index (the line's front is ``_first[_LINED]``)."""
        self._line_end = -(1 << 62)
        """The due time of the line's last slot: one due before it goes to the heap."""
        self._heap: list[int] = []
        self._heaped = 0
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
        due = math.ceil(eligible_at * 1e6)  # microseconds, rounded up: never taken before its time
        if due >= self._line_end or self._front(_LINED) == len(self._state):  # later than the line's end, or none
            self._line_end = due
            self._state.append(_LINED)
        else:
            heapq.heappush(self._heap, due << _SLOT_BITS | slot)
            self._heaped += 1
            self._state.append(_HEAPED)
        self._expires.append(expires_at)
        self._due_us.append(due)
        self.queued += 1

    def next_due(self) -> float | None:
        """When the earliest falls due (perhaps a heap entry that has left: taking it then drops it)."""
        key = self._next_key()
        return (key >> _SLOT_BITS) / 1e6 if key is not None else None

    def pop_due(self, now: float) -> str | None:
        """The next queued generation due by ``now``, taken off the schedule; None when none is due."""
        bound = (math.floor(now * 1e6) + 1) << _SLOT_BITS
        while (key := self._next_key()) is not None and key < bound:
            slot = key & _SLOT_MASK
            if self._heap and key == self._heap[0]:
                heapq.heappop(self._heap)
            if self._leave(slot):
                return self._id(slot)
        return None

    def next_expiry(self) -> float | None:
        """When the oldest queued generation expires (asked on every pass: slots that left are trimmed here)."""
        self._trim()
        index = min(self._front(_HEAPED), self._front(_LINED))
        return self._expires[index] if index < len(self._state) else None

    def pop_expired(self, now: float) -> str | None:
        """The oldest queued generation if it has expired by ``now``, taken off the schedule."""
        index = min(self._front(_HEAPED), self._front(_LINED))
        if index >= len(self._state) or self._expires[index] > now:
            return None
        slot = self._base + index
        self._leave(slot)
        return self._id(slot)

    def take(self, generation_id: str) -> bool:
        """Take a queued generation off the schedule (it was withdrawn); False if it is not queued."""
        slot = self._find(generation_id)
        return slot is not None and self._leave(slot)

    def footprint(self) -> int:
        """Bytes held, as ``sys.getsizeof`` counts them: the arrays, the heap and its ints."""
        parts = (self._ids, self._state, self._expires, self._due_us, self._heap, self._odd)
        return sum(sys.getsizeof(part) for part in parts) + sum(sys.getsizeof(key) for key in self._heap)

    # -- slots ------------------------------------------------------------------------------------

    def _next_key(self) -> int | None:
        """The heap key of the earliest due (the line's front or the heap's top), or None."""
        index = self._front(_LINED)
        line = self._due_us[index] << _SLOT_BITS | (self._base + index) if index < len(self._state) else None
        top = self._heap[0] if self._heap else None
        if line is None or (top is not None and top < line):
            return top
        return line

    def _front(self, state: int) -> int:
        """Index of the first slot in this state (the length when there is none); every pass moves on."""
        found = self._state.find(state, self._first[state])
        self._first[state] = found if found >= 0 else len(self._state)
        return self._first[state]

    def _id(self, slot: int) -> str:
        odd = self._odd.get(slot) if self._odd else None
        if odd is not None:
            return odd
        at = (slot - self._base) * ID_BYTES
        return self._ids[at : at + ID_BYTES].decode()

    def _leave(self, slot: int) -> bool:
        """Mark a slot as no longer queued; False if it already was not."""
        index = slot - self._base
        if index < 0 or self._state[index] == _LEFT:
            return False
        if self._state[index] == _HEAPED:
            self._heaped -= 1
            if len(self._heap) > 2 * self._heaped + _SLACK:
                self._rebuild()
        self._state[index] = _LEFT
        self.queued -= 1
        return True

    def _find(self, generation_id: str) -> int | None:
        """A slot by id: searched from the newest (a withdrawn line of a batch is a recent one)."""
        if self._odd:
            for slot, odd in self._odd.items():
                if odd == generation_id:
                    return slot
        encoded = generation_id.encode()
        if len(encoded) != ID_BYTES:
            return None
        start, end = min(self._first[_HEAPED], self._first[_LINED]) * ID_BYTES, len(self._ids)
        while (at := self._ids.rfind(encoded, start, end)) >= 0:
            if at % ID_BYTES == 0:
                return self._base + at // ID_BYTES
            end = at + ID_BYTES - 1  # a match across two ids: look before it
        return None

    def _trim(self) -> None:
        """Drop the slots before the oldest queued one, once they are half the arrays."""
        cut = min(self._front(_HEAPED), self._front(_LINED))
        if cut <= _SLACK or cut * 2 <= len(self._state):
            return
        del self._ids[: cut * ID_BYTES]
        del self._state[:cut]
        del self._expires[:cut]
        del self._due_us[:cut]
        self._base += cut
        self._first = [max(0, first - cut) for first in self._first]
        if self._odd:
            self._odd = {slot: odd for slot, odd in self._odd.items() if slot >= self._base}

    def _rebuild(self) -> None:
        """Drop heap entries of slots that left."""
        base, state = self._base, self._state
        self._heap = [k for k in self._heap if (i := (k & _SLOT_MASK) - base) >= 0 and state[i] == _HEAPED]
        heapq.heapify(self._heap)
