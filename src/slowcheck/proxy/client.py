"""The application's side of the traffic: what it submits, how it polls, whether it repeats a refused write, and
the figures per client (a key's fingerprint)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from slowcheck import api
from slowcheck.proxy.recording import Relayed
from slowcheck.proxy.tally import Tally
from slowcheck.schemas import schema_set

__all__ = ["ClientFigures", "Clients", "PollTiming"]

_REQUEST_SCHEMA = {"chat": "chat-completion-request", "text": "completion-request", "embedding": "embedding-request"}
_HINT_SLACK = 0.05
"""A poll this much earlier than the hint (a share of it) still counts as on time: clocks and timers jitter."""
_REFUSALS_KEPT = 1000
"""Refused writes remembered per client, the oldest forgotten first."""


@dataclass(slots=True)
class PollTiming:
    """When a generation may be polled again, as the server said, and whether it was seen terminal."""

    due: float = 0.0
    """When the server's hint allows the next poll (0: no hint)."""
    wait: float = 0.0
    """The hint's length, in seconds."""
    terminal_at: float | None = None
    state: str | None = None

    def hinted(self, relayed: Relayed, hint: float | None) -> None:
        self.due, self.wait = (relayed.ended + hint, hint) if hint is not None else (0.0, 0.0)


@dataclass
class ClientFigures:
    polls: int = 0
    completions: int = 0
    early_polls: int = 0
    late_polls: int = 0
    refused: dict[tuple[str, str, bytes], int] = field(default_factory=dict)


class Clients:
    """The client-side checks, and per client what they need and what the report shows."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.clients: dict[str, ClientFigures] = {}
        self._schemas = schema_set()

    def of(self, relayed: Relayed) -> ClientFigures:
        return self.clients.setdefault(relayed.client, ClientFigures())

    def submission(self, relayed: Relayed, kind: api.Kind, body: Any) -> None:
        self.tally.checked("CLIENT-REQUEST-SCHEMA")
        self.tally.checked("CLIENT-NO-STREAM")
        schema = _REQUEST_SCHEMA[kind]
        if isinstance(body, dict) and body.get("stream") is True:
            self.tally.find("CLIENT-NO-STREAM", f"stream: true sent to {relayed.path}, which never streams", relayed)
        elif not isinstance(body, dict):
            self.tally.find("CLIENT-REQUEST-SCHEMA", f"the body sent to {relayed.path} is not a JSON object", relayed)
        elif not self._schemas.is_valid(schema, body):  # the compiled validator; the readable one to explain
            errors = self._schemas.errors(schema, body)
            self.tally.find("CLIENT-REQUEST-SCHEMA", f"{schema}: {errors[0] if errors else 'invalid'}", relayed)

    def group_submission(self, relayed: Relayed, body: Any) -> None:
        self.tally.checked("CLIENT-REQUEST-SCHEMA")
        errors = self._schemas.errors("group-request", body) if isinstance(body, dict) else ["not a JSON object"]
        if errors:
            self.tally.find("CLIENT-REQUEST-SCHEMA", f"group-request: {errors[0]}", relayed)

    def refused(self, relayed: Relayed) -> None:
        # A read asked again is no waste: a generation's 404 before it is visible is documented, and polling on
        # is right. Only a refused write (a body the API already said no to) fails the same way twice.
        if relayed.method in ("GET", "HEAD", "OPTIONS") or relayed.status in (408, 409, 429) or relayed.status >= 500:
            return
        self.tally.checked("CLIENT-RETRY-4XX")
        client = self.of(relayed)
        key = (relayed.method, relayed.path, relayed.request_body)
        if key in client.refused:
            self.tally.find("CLIENT-RETRY-4XX", f"{relayed.method} {relayed.path} sent again unchanged after its "
                            f"{relayed.status} (it fails the same way)", relayed)  # fmt: skip
        client.refused[key] = relayed.status
        if len(client.refused) > _REFUSALS_KEPT:
            client.refused.pop(next(iter(client.refused)))

    def poll(self, relayed: Relayed, timing: PollTiming | None) -> None:
        """A poll of a generation, too early or too late for what was known of it (None: nothing was)."""
        client = self.of(relayed)
        client.polls += 1
        if timing is None:
            return
        self.tally.checked("CLIENT-POLL-AFTER-TERMINAL")
        if timing.terminal_at is not None:
            client.late_polls += 1
            self.tally.find("CLIENT-POLL-AFTER-TERMINAL", f"{relayed.path} polled again after its {timing.state} "
                            "record was read", relayed)  # fmt: skip
            return
        if timing.due:
            self.tally.checked("CLIENT-POLL-HINT")
            early = timing.due - relayed.started
            if early > max(0.02, _HINT_SLACK * timing.wait):
                client.early_polls += 1
                self.tally.find("CLIENT-POLL-HINT", f"{relayed.path} polled {early:.3f} s before the server's hint",
                                relayed)  # fmt: skip

    def figures(self) -> dict[str, Any]:
        """Per client: polls, completions seen, polls per completion, early and late polls."""
        return {
            name: {
                "polls": c.polls,
                "completions": c.completions,
                "polls_per_completion": round(c.polls / c.completions, 3) if c.completions else None,
                "polls_before_hint": c.early_polls,
                "polls_after_terminal": c.late_polls,
            }
            for name, c in sorted(self.clients.items())
        }
