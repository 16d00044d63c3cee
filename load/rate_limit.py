"""Rate-limit probe: the burst allowance, sustained rate and window of the limit one key meets.

From idle it submits at ``--rate`` (50/s by default, under inference.net's gateway of 100/s) until the first
429; then it waits as each 429 says and takes what comes back, until it has watched two windows of the limit
(see :mod:`slowcheck.load.probe`). It stops by itself; ``--duration`` only caps it, and a run capped before
two windows gives no figure but the reason (exit 3).

    slowcheck load rate-limit --base-url https://api.inference.net/v1
    SLOWCHECK_API_KEY=... locust -f load/rate_limit.py --headless -u 1 --host http://127.0.0.1:8080 --rate 50
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import gevent
from gevent.event import Event
from gevent.pool import Group

from slowcheck.load import harness, offered, workload
from slowcheck.load.probe import probe
from slowcheck.load.probe_answer import ProbeAnswer, answer_from

harness.install("rate-limit")
log = logging.getLogger("slowcheck.load")


class Prober(harness.SlowUser):
    def run_once(self) -> None:
        self.samples.started = time.time()
        if self.share != 0:  # the probe needs one clock: only the first user runs it
            return
        pace = offered.parse_pace(self.plan.rate)
        reading = probe(self.wire(), ceiling=pace, deadline=self.samples.started + self.plan.duration)
        log.info("rate-limit: %s", reading.reason or f"burst {reading.burst}, {reading.sustained_per_s:.3g}/s")
        self.samples.reading = reading.to_dict()
        self.samples.ended = time.time()

    def wire(self) -> _Wire:
        return _Wire(self)


class _Wire:
    """The probe's sending, open loop on greenlets: answers land while the next submissions go out."""

    def __init__(self, user: Prober) -> None:
        self.user = user
        self.kind, self.body = workload.bodies(user.plan.model)[0]

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        gevent.sleep(seconds)

    def send_until(
        self, rate: Callable[[], float], stop: Callable[[ProbeAnswer], bool], deadline: float
    ) -> list[ProbeAnswer]:
        answers: list[ProbeAnswer] = []
        done = Event()
        flying = Group()
        cap = self.user.plan.max_inflight

        def one(at: float) -> None:
            self.user.inflight += 1
            try:
                offer = self.user.submit(self.kind, self.body, at)
            finally:
                self.user.inflight -= 1
            answer = answer_from(offer.sent_at, time.time(), offer.status, offer.headers)
            answers.append(answer)
            if stop(answer):
                done.set()

        due = time.time()
        while not done.is_set() and due < deadline:
            if len(flying) >= cap:  # the target is slower than the pace: wait for a slot rather than pile up
                done.wait(0.01)
                due = max(due, time.time())  # and then keep the pace, not catch up in a burst
                continue
            flying.spawn(one, due)
            due += 1 / rate()
            if (pause := min(due, deadline) - time.time()) > 0:
                done.wait(pause)  # wakes at once when an answer says stop
        flying.join(timeout=self.user.network_timeout)
        return sorted(answers, key=lambda a: a.sent)
