"""Judging traffic: what the application sends and what the API answers, exchange by exchange, and across the
exchanges of one generation (its ack, its polls, its webhook).

The checks are in ``catalogue``: the client side's (``client``), each generation's life (``generations``, with
the contract suite's own checks of ``slowcheck.checks``), and here the API's answers as such: every request
answered, JSON declared, the error envelope, the ack, the group and Batch API schemas.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slowcheck import api
from slowcheck.checks import acks, criterion
from slowcheck.findings import Result
from slowcheck.live import Feed
from slowcheck.proxy.client import Clients
from slowcheck.proxy.generations import FollowedGenerations
from slowcheck.proxy.recording import Relayed
from slowcheck.proxy.tally import Finding, Tally
from slowcheck.schemas import schema_set

__all__ = ["Judge", "path_is_raw"]

_ACK = criterion(acks.ack_shape).id


class Judge:
    """Feed it exchanges in order; it keeps what it found, what it exercised, and per-client figures."""

    def __init__(self, on_finding: Callable[[Finding], None] | None = None, *, examples: int = 5) -> None:
        self.tally = Tally(on_finding, examples=examples)
        self.findings, self.counts, self.exercised = self.tally.findings, self.tally.counts, self.tally.exercised
        self.exchanges = 0
        self.clients = Clients(self.tally)
        self.live = Feed()
        """The live figures (``--metrics-port``): submissions, polls, completions, jobs in flight."""
        self.generations = FollowedGenerations(self.tally, self.clients, self.live)
        self.live.watch(self.generations.in_flight)
        self._schemas = schema_set()

    def judge(self, relayed: Relayed) -> list[Finding]:
        """The findings of one exchange (kept in the tally too)."""
        self.exchanges += 1
        self.tally.latest = []
        if relayed.kind == "webhook":
            self.generations.delivered(relayed)
        else:
            self._api(relayed)
        self.generations.forget(relayed.ended)
        return self.tally.latest

    def results(self) -> list[Result]:
        return self.tally.results()

    def by_side(self) -> dict[str, int]:
        return self.tally.by_side()

    def figures(self) -> dict[str, Any]:
        """Per client (key fingerprint): polls, completions seen, polls per completion, early and late polls."""
        return {"exchanges": self.exchanges, "findings": dict(self.counts), "clients": self.clients.figures()}

    def _api(self, relayed: Relayed) -> None:
        self.tally.checked("API-ANSWERED")
        where = api.route(relayed.path)
        self._count(relayed, where)
        if relayed.failure is not None or relayed.status == 0:
            path = relayed.path.split("?", 1)[0]
            self.tally.find("API-ANSWERED", f"{relayed.method} {path}: {relayed.failure or 'no answer'}", relayed)
            return
        self._labelled(relayed)
        if relayed.status >= 400:
            self.tally.checked("API-ERROR-ENVELOPE")
            if not self._schemas.is_valid("error", relayed.response_json()):
                self.tally.find("API-ERROR-ENVELOPE", f"HTTP {relayed.status} without the OpenAI error envelope",
                                relayed)  # fmt: skip
            self.clients.refused(relayed)
        if where is None:
            self._batch_api(relayed)
        elif relayed.method == "POST" and where.surface == "submit" and where.kind is not None:
            self._submission(relayed, where.kind)
        elif relayed.method == "POST" and where.surface == "group":
            self.clients.group_submission(relayed, relayed.request_json())
            if 200 <= relayed.status < 300:
                self._schema("API-GROUP", "group-ack", relayed, "the group ack")
        elif relayed.method == "GET" and where.surface == "poll" and where.subject is not None:
            self.generations.polled(relayed, where.subject)
        elif relayed.method == "GET" and where.surface == "listing" and relayed.status == 200:
            self._schema("API-GROUP", "group-listing", relayed, "the group listing")

    def _count(self, relayed: Relayed, where: api.Route | None) -> None:
        """The live figures' submissions (single and group) and polls."""
        if where is None:
            return
        status = relayed.status if relayed.failure is None else 0
        if relayed.method == "POST" and where.surface in ("submit", "group"):
            self.live.offered()
            ack = relayed.response_json() if 200 <= status < 300 else None
            acked = isinstance(ack, dict) and isinstance(ack.get("id"), str)
            self.live.answered("submit", status, accepted=int(acked))
        elif relayed.method == "GET" and where.surface == "poll":
            self.live.answered("poll", status)

    def _labelled(self, relayed: Relayed) -> None:
        if not relayed.response_body:
            return
        self.tally.checked("API-CONTENT-TYPE")
        declared = relayed.response_headers.get("content-type")
        if not path_is_raw(relayed.path) and not api.is_json_media(declared):
            self.tally.find("API-CONTENT-TYPE", f"HTTP {relayed.status} to {relayed.path} labelled {declared!r}",
                            relayed)  # fmt: skip

    def _submission(self, relayed: Relayed, kind: api.Kind) -> None:
        body = relayed.request_json()
        self.clients.submission(relayed, kind, body)
        if not 200 <= relayed.status < 300:
            return
        ack = relayed.response_json()
        self.tally.checked(_ACK)
        self.tally.add(_ACK, acks.ack_shape(ack, kind), relayed)
        self.generations.submitted(relayed, kind, body, ack)

    def _batch_api(self, relayed: Relayed) -> None:
        path = relayed.path.split("?", 1)[0]
        if not 200 <= relayed.status < 300 or path_is_raw(path):
            return
        if _under(path, api.FILES):
            one = path != api.FILES  # a file's own path, not the listing
            if (one and relayed.method != "DELETE") or (not one and relayed.method == "POST"):
                self._schema("API-BATCH", "file", relayed, "the file")
        elif path == api.BATCHES and relayed.method == "GET":
            self._schema("API-BATCH", "batch-list", relayed, "the batch listing")
        elif _under(path, api.BATCHES):
            self._schema("API-BATCH", "batch", relayed, "the batch")

    def _schema(self, check: str, kind: str, relayed: Relayed, what: str) -> None:
        self.tally.checked(check)
        document = relayed.response_json()
        if not self._schemas.is_valid(kind, document):
            errors = self._schemas.errors(kind, document)
            message = f"{what} is not valid against {kind}: {errors[0] if errors else 'not JSON'}"
            self.tally.find(check, message, relayed)


def path_is_raw(path: str) -> bool:
    """A file's content: the JSON Lines of a batch, served as the file holds them (not one JSON document)."""
    return path.split("?", 1)[0].endswith("/content")


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root + "/")
