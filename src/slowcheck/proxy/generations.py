"""The generations the proxy follows, from the ack the application received to the terminal record it read
and the webhook the API delivered: every record and delivery judged by the checks the contract suite runs.

State per generation is kept while it is pending and for a while after it was seen terminal, then dropped, so
a proxy running for days holds only what is in flight.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any

from slowcheck import api
from slowcheck.checks import criterion, records, webhooks
from slowcheck.checks.records import ON_EVERY_READ, Read, Sent
from slowcheck.findings import Violation
from slowcheck.hints import hint_seconds
from slowcheck.live import UNREAD, Feed
from slowcheck.proxy.client import Clients, PollTiming
from slowcheck.proxy.recording import Relayed
from slowcheck.proxy.tally import Tally
from slowcheck.timestamps import number_seconds

__all__ = ["Followed", "FollowedGenerations"]

_KEPT = 100_000
"""Generations followed at once; the least recently seen beyond this are forgotten."""
_LINGER = 300.0
"""Seconds a terminal generation is remembered (to spot polls after it), then forgotten."""
_ON_READ = [(criterion(check), check) for check in ON_EVERY_READ]
_PAYLOAD = criterion(webhooks.payload).id
_HEADERS = criterion(webhooks.headers).id
_SCHEMA = criterion(records.record_schema).id


@dataclass(slots=True)
class Followed:
    """One generation followed: who submitted what, when to poll it, and what is kept for its webhook."""

    client: str
    sent: Sent
    timing: PollTiming = field(default_factory=PollTiming)
    record: dict[str, Any] | None = None
    """The terminal record, for a webhook that comes after it."""
    event: dict[str, Any] | None = None
    """A webhook event that came before the terminal record was read."""


class FollowedGenerations:
    """The generations followed, the least recently seen forgotten beyond ``_KEPT``, a terminal one after
    ``_LINGER`` seconds; their records and deliveries judged as they pass."""

    def __init__(self, tally: Tally, clients: Clients, live: Feed | None = None) -> None:
        self.tally, self.clients, self.live = tally, clients, live
        self.followed: OrderedDict[str, Followed] = OrderedDict()

    def in_flight(self) -> Counter[str]:
        """The generations followed and not seen terminal, by the last state read (:data:`~slowcheck.live.UNREAD`:
        none yet)."""
        # Read from the metrics server's thread: list() copies the values in one step under the GIL, where
        # iterating the dict itself would fail when the proxy's loop changes it meanwhile.
        followed = list(self.followed.values())
        return Counter(f.timing.state or UNREAD for f in followed if f.timing.terminal_at is None)

    def submitted(self, relayed: Relayed, kind: api.Kind, body: Any, ack: Any) -> None:
        """An acknowledged submission (an ack with an id) is followed from now on."""
        if isinstance(ack, dict) and isinstance(ack.get("id"), str):
            self.followed[ack["id"]] = Followed(relayed.client, Sent.of(ack, kind, body, relayed.started * 1000))
            self.followed.move_to_end(ack["id"])
            while len(self.followed) > _KEPT:
                self.followed.popitem(last=False)

    def polled(self, relayed: Relayed, generation_id: str) -> None:
        followed = self.followed.get(generation_id)
        if followed is not None:
            self.followed.move_to_end(generation_id)
        self.clients.poll(relayed, followed.timing if followed is not None else None)
        if relayed.status == 429 and followed is not None:
            followed.timing.hinted(relayed, hint_seconds(relayed.response_headers))
        if relayed.status != 200:
            return
        record = relayed.response_json()
        if not isinstance(record, dict):
            self.tally.checked(_SCHEMA)
            self.tally.add(_SCHEMA, Violation(f"{generation_id}: the record is not a JSON object"), relayed)
            return
        if followed is None:
            self._read(relayed, Read(record), None)
            return
        followed.timing.hinted(relayed, hint_seconds(relayed.response_headers))
        self._read(relayed, Read(record, followed.sent, followed.timing.state), followed)

    def _read(self, relayed: Relayed, read: Read, followed: Followed | None) -> None:
        for found, check in _ON_READ:
            if found.applies(read):
                self.tally.checked(found.id)
                self.tally.add(found.id, check(read), relayed)
        if followed is None:
            return
        timing = followed.timing
        timing.state = read.after
        state = read.record.get("state")
        if not isinstance(state, str) or state not in api.TERMINAL:
            return
        if timing.terminal_at is None:
            timing.terminal_at = relayed.ended
            self.clients.of(relayed).completions += 1
            if self.live is not None:
                # The ack's created, seconds or milliseconds as the API sent it (ACK-CREATED-MS judges which).
                created = number_seconds(followed.sent.created_ms) or relayed.started
                self.live.finished_record(read.record, created)
        followed.record = read.record
        if followed.event is not None:
            self.tally.checked(_PAYLOAD)
            self.tally.add(_PAYLOAD, webhooks.payload(followed.event, followed.record), relayed)
            followed.event = None

    def delivered(self, relayed: Relayed) -> None:
        """A webhook delivery: its headers and payload now, its data against the record once both are seen."""
        if relayed.method != "POST":
            return
        event = relayed.request_json()
        self.tally.checked(_HEADERS)
        self.tally.add(_HEADERS, webhooks.headers(event, relayed.request_headers), relayed)
        generation_id = api.event_id(event)
        followed = self.followed.get(generation_id) if generation_id is not None else None
        record = followed.record if followed is not None else None
        self.tally.checked(_PAYLOAD)
        found = webhooks.payload(event, record)
        self.tally.add(_PAYLOAD, found, relayed)
        if found is None and followed is not None and record is None:
            followed.event = event

    def forget(self, now: float) -> None:
        """Drop generations seen terminal more than a while ago (the oldest first; a few per exchange)."""
        for _ in range(4):
            if not self.followed:
                return
            generation_id, oldest = next(iter(self.followed.items()))
            if oldest.timing.terminal_at is None or now - oldest.timing.terminal_at < _LINGER:
                return
            del self.followed[generation_id]
