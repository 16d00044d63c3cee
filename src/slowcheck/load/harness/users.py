"""The user base class of every scenario: one share of its arrivals, sent open-loop; its samples reported.

Each simulated user runs one whole scenario (its share of the arrivals), records ``Samples``, and sends them to
the master when it is done (see :mod:`.collector`).
"""

from __future__ import annotations

import itertools
import logging
import os
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gevent
from locust import FastHttpUser, task
from locust.env import Environment
from locust.runners import WorkerRunner

from slowcheck import api
from slowcheck.load import answers, journal
from slowcheck.load.harness.collector import JOURNAL, MESSAGE
from slowcheck.load.harness.progress import FEED, drain_to_master
from slowcheck.load.harness.receiver import HookReceiver
from slowcheck.load.harness.wiring import plan_in
from slowcheck.load.limits import Gate, named
from slowcheck.load.samples import STATUS_TRANSPORT_ERROR, Samples
from slowcheck.network import Network, environment_proxy

if TYPE_CHECKING:
    from slowcheck.load.harness.tracker import Tracker

__all__ = ["Offer", "SlowUser", "error_name", "headers_of", "said"]

log = logging.getLogger("slowcheck.load")

_TIMER_RESOLUTION = 0.001
"""gevent's timers fire in whole milliseconds: a shorter sleep costs a loop turn and gains nothing."""
_LAST_ANSWER_S = 2.0
"""How long a user stopped early waits for the submissions it has in flight to be answered."""
_LATE = 0.010
"""A sender still busy this long after an arrival's time, with no other free to take it: the arrival is dropped
(timer and scheduling jitter are less)."""


@dataclass
class Offer:
    """What a submission came back with."""

    status: int
    generation_id: str | None
    headers: dict[str, str]
    sent_at: float
    content: bytes | None = None
    """The answer's body, as it came."""


class SlowUser(FastHttpUser):
    """One share of a scenario: it runs the whole scenario once, then reports its samples and idles."""

    abstract = True
    concurrency = 256
    network_timeout = 30.0
    connection_timeout = 10.0

    def __init__(self, environment: Environment) -> None:
        # The target is reached as every other client of slowcheck reaches it (``Network.environment`` in the
        # command's process): its certificate verified against the same trust (locust's default verifies
        # nothing), the client certificate presented, --header's headers on every request, the environment's
        # proxy (geventhttpclient reads none itself).
        reach = Network.from_environment(os.environ)
        self.insecure = False
        self.ssl_context_factory = _context_factory(reach)
        self.default_headers = dict(reach.headers)
        proxy = environment_proxy(environment.host or "")
        if proxy is not None:
            self.proxy_host, self.proxy_port = proxy
        super().__init__(environment)
        options = environment.parsed_options
        assert options is not None
        self.plan = plan_in(options)
        self.samples = Samples()
        self.reported = False
        self.journal: journal.Shipment | None = None
        """A jobs run's rows, on their way to the master's journal."""
        self.halts: list[Callable[[], None]] = []
        """What stops this user's own greenlets (senders, poller pools) when it is stopped early."""
        self.acks = 0
        key = api.api_key(None) or ""
        self.auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.inflight = 0
        self.share, self.of = _share(environment)
        room = self.plan.budget().poll_room(self.plan.peak_rate())
        # One gate per process: every strategy's pollers share the key's room at the gateway.
        self.gate = Gate(room / self.of) if room is not None else None

    def run_once(self) -> None:
        """The scenario, for this user's share of the arrivals; :meth:`scenario` reports the samples after it."""
        raise NotImplementedError

    @task
    def scenario(self) -> None:
        if not self.reported:
            self.run_once()
            self.report()
        gevent.sleep(1)  # done: wait for the master to stop the run

    def on_stop(self) -> None:
        # Stopped before its share was done (Ctrl-C, SIGTERM, --run-time): its senders and pollers are greenlets
        # of their own, which would go on sending after the report; they stop first.
        for halt in reversed(self.halts):  # the senders first: what they send still reaches a tracker
            halt()
        self.report()

    def report(self) -> None:
        if self.reported:
            return
        self.reported = True
        self.samples.unfinished += self.inflight
        self.samples.ended = self.samples.ended or time.time()
        if self.journal is not None:
            self.journal.close()  # its last rows go before the samples, so the master has them when it writes
        drain_to_master(self.environment)
        runner = self.environment.runner
        assert runner is not None
        runner.send_message(MESSAGE, self.samples.to_dict())

    def ship_journal(self) -> journal.Shipment:
        """This share's journal rows, shipped to the master (or the only process), which writes the journal."""
        runner = self.environment.runner
        assert runner is not None
        shipment = self.journal = journal.Shipment(lambda batch: runner.send_message(JOURNAL, batch), self.share)

        def timer() -> None:  # a lull (a long drain) must not hold rows back
            while not shipment.closed:
                gevent.sleep(journal.FLUSH_SECONDS)
                if not shipment.closed:
                    shipment.flush()

        gevent.spawn(timer)
        return shipment

    # -- submissions

    def offer(
        self,
        arrivals: Iterable[tuple[int, float]],
        start: float,
        fire: Callable[[int, float], None],
        dropped: Callable[[int, float], None] | None = None,
        unanswered: Callable[[int, float], None] | None = None,
    ) -> None:
        """Fire each ``(index, offset)`` arrival at its time, never waiting for answers (open model); then let the
        last ones land.

        Like k6's arrival-rate executors: ``--max-inflight`` senders take the next planned arrival when they
        are free and wait for its time. An arrival nobody was free to send on time is dropped and counted (and
        told to ``dropped``); a sender that was free but woke late (timer jitter, a busy machine) still sends,
        and its latency shows it. Stopped early, a submission still unanswered after a moment is counted as
        unfinished and told to ``unanswered``: the API may have taken it.
        """
        schedule = iter(arrivals)
        samples = self.samples
        sending: dict[gevent.Greenlet, tuple[int, float]] = {}
        stopping = False

        def sender() -> None:
            free_since = start
            for index, offset in schedule:  # shared: each arrival goes to exactly one sender
                at = start + offset
                delay = at - time.time()
                if delay > _TIMER_RESOLUTION:
                    gevent.sleep(delay)
                    if stopping:  # taken, never sent: not journaled, so a resume sends it
                        return
                elif free_since > at + _LATE:
                    # Busy with the one before at this one's time, and nobody else took it: every sender was
                    # busy. Lateness alone is no reason (a busy machine stalls the loop, and the first arrivals
                    # of a run were picked up late by senders free all along).
                    FEED.offered(dropped=True)
                    samples.dropped += 1
                    if dropped is not None:
                        dropped(index, at)
                    continue
                self.inflight += 1
                sending[gevent.getcurrent()] = (index, at)
                try:
                    fire(index, min(at, time.time()))
                except Exception as exc:  # a sender that died would silently take its share of the plan with it
                    samples.errors[f"harness error: {type(exc).__name__}: {exc}"] += 1
                    log.exception("slowcheck: arrival %d failed in the harness", index)
                finally:
                    self.inflight -= 1
                    sending.pop(gevent.getcurrent(), None)
                    free_since = time.time()
                if stopping:
                    return

        def halt() -> None:
            """Stopped early: the waiting senders go at once, those mid-request get a moment to journal the
            answer (a submission the API took, with no row, would be sent again by a resume). What is still
            unanswered then is unfinished: sent, perhaps taken, its id never read."""
            nonlocal stopping
            stopping = True
            gevent.killall([g for g in senders if g not in sending], block=False)
            gevent.joinall(list(sending), timeout=_LAST_ANSWER_S)
            cut_off = list(sending.values())
            try:
                gevent.killall(senders, timeout=_LAST_ANSWER_S)  # their inflight counts go: these are counted here
            except gevent.Timeout:  # a sender deaf to the kill: counted here all the same, not again at the report
                self.inflight -= sum(1 for g in senders if not g.dead)
            samples.unfinished += len(cut_off)
            if unanswered is not None:
                for index, at in cut_off:
                    unanswered(index, at)

        senders = [gevent.spawn(sender) for _ in range(self.plan.max_inflight)]
        self.halts.append(halt)
        gevent.joinall(senders, timeout=None)

    def submit(self, kind: api.Kind, body: bytes, at: float) -> Offer:
        FEED.offered()  # every scenario's submissions pass here (the dropped ones are counted where they drop)
        sent_at = time.time()
        with self.client.post(
            api.SUBMIT.get(kind, api.EMBEDDINGS),
            data=body,  # type: ignore[arg-type]  # bytes, encoded once; geventhttpclient sends them as they are
            headers=self.auth,
            name=f"submit {kind}",
            catch_response=True,
        ) as response:
            status = int(response.status_code or STATUS_TRANSPORT_ERROR)
            self.samples.sent(sent_at, "submit", status, said(status, response.content))
            if 200 <= status < 300:
                self.acks += 1
                # An ack needs only its media type read: the whole header map is built for the rest alone.
                headers = {"content-type": response.headers.get("content-type") or ""}
            else:
                headers = headers_of(response)
            generation_id, failure = answers.submission(
                self.samples,
                at=at,
                done=time.time(),
                status=status,
                content=response.content,
                headers=headers,
                ordinal=self.acks,
                validate_every=self.plan.validate_every,
                error=error_name(response),
            )
            FEED.answered("submit", status, accepted=int(generation_id is not None))
            if failure is None:
                response.success()
            else:
                response.failure(failure)
        return Offer(status, generation_id, headers, sent_at, response.content)

    def hook(self, tracker: Tracker) -> tuple[HookReceiver | None, str | None]:
        """A webhook receiver handing events to ``tracker``, and the id the target sends to it with: the
        ``--webhook-id`` given, or one registered through the mock's ``/_mock/webhooks``. ``(None, None)``, the
        tracker closed, when neither is possible."""
        plan = self.plan
        receiver = HookReceiver(plan.receiver_port if plan.webhook_id else 0, tracker.deliver)
        hook_id = plan.webhook_id or f"slowcheck-load-{id(self):x}"
        if not plan.webhook_id:
            answer = self.client.post(
                "/_mock/webhooks", json={"id": hook_id, "url": receiver.url}, headers=self.auth, name="register webhook"
            )
            if answer.status_code != 200:
                tracker.close()
                receiver.stop()
                return None, None
        return receiver, hook_id


def _context_factory(reach: Network) -> Callable[..., ssl.SSLContext]:
    def factory(**_: Any) -> ssl.SSLContext:  # geventhttpclient offers certifi's file: the context has it already
        return reach.ssl_context()

    return factory


def _share(environment: Environment) -> tuple[int, int]:
    """This user's slot in the interleaved arrivals, and the number of slots."""
    options = environment.parsed_options
    users = int(getattr(options, "slowcheck_users", 0) or getattr(options, "num_users", 1) or 1)
    workers = int(getattr(options, "slowcheck_workers", 1) or 1)
    runner = environment.runner
    worker = runner.worker_index if isinstance(runner, WorkerRunner) else 0
    local = next(_LOCAL_SLOTS)
    return (worker + local * workers) % users, users


_LOCAL_SLOTS = itertools.count()


def said(status: int, content: bytes | None) -> str:
    """The limit a 429's error message names (``""`` for any other answer, or a message naming none)."""
    if status != 429:
        return ""
    document = answers.load_json(content or b"")
    error = document.get("error") if isinstance(document, dict) else None
    return named(error.get("message") if isinstance(error, dict) else None)


def headers_of(response: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in (response.headers or {}).items()}


def error_name(response: Any) -> str:
    error = getattr(response, "error", None)
    return type(error).__name__ if error is not None else "unknown"
