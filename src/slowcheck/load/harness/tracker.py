"""A pool of pollers for one strategy: the due polls of its :class:`PollBook` sent on gevent greenlets."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import gevent
import gevent.event
import gevent.pool

from slowcheck import api
from slowcheck.load import answers
from slowcheck.load.harness.progress import FEED
from slowcheck.load.harness.users import error_name, headers_of, said
from slowcheck.load.policies import Policy
from slowcheck.load.pollbook import Completed, Outstanding, PollBook
from slowcheck.load.samples import STATUS_TRANSPORT_ERROR, StrategySamples

if TYPE_CHECKING:
    from slowcheck.load.harness.users import SlowUser

__all__ = ["Tracker"]


class Tracker:
    """A pool of pollers for one strategy over its :class:`PollBook`: each due poll is dispatched to one of at
    most ``pollers`` greenlets, and the book says what the answer meant and when to poll next."""

    def __init__(
        self,
        user: SlowUser,
        policy: Policy,
        samples: StrategySamples,
        pollers: int = 64,
        completed: Completed | None = None,
    ) -> None:
        self.user, self.policy = user, policy
        self.book = PollBook(policy, samples, completed, FEED)
        FEED.watch(self.book.in_flight)
        self.samples = samples
        self.wakeup = gevent.event.Event()
        self.idle = gevent.event.Event()
        self.idle.set()
        self.pool = gevent.pool.Pool(pollers)
        self.loop = gevent.spawn(self._dispatch)
        user.halts.append(self.close)

    def add(self, generation_id: str, submitted_at: float, job: int = -1, created: float | None = None) -> None:
        self.idle.clear()
        self.book.add(generation_id, submitted_at, time.time(), job, created)
        self._changed()

    def deliver(self, generation_id: str, data: dict[str, Any], seen: float) -> None:
        self.book.deliver(generation_id, data, seen)
        self._changed()

    def close(self) -> None:
        self.book.close()
        self.loop.kill(block=False)
        self.pool.kill(block=False)

    def _changed(self) -> None:
        if self.book.idle:
            self.idle.set()
        self.wakeup.set()

    def _dispatch(self) -> None:
        while True:
            now = time.time()
            item = self.book.pop_due(now)
            if item is not None:
                if self.user.gate is not None and (pause := self.user.gate.wait(now)) > 0:
                    gevent.sleep(pause)  # the gateway's room: submissions first, polls in what they leave
                self.pool.wait_available()
                self.pool.spawn(self._poll, item)
                continue
            self.wakeup.clear()
            self.wakeup.wait(timeout=self.book.wait(now))

    def _poll(self, item: Outstanding) -> None:
        self.book.polled(item)
        sent_at = time.time()
        with self.user.client.get(
            api.generation(item.generation_id),
            headers=self.user.auth,
            name=f"poll ({self.policy.name})",
            catch_response=True,
        ) as response:
            status = int(response.status_code or STATUS_TRANSPORT_ERROR)
            self.user.samples.sent(sent_at, "poll", status, said(status, response.content))
            FEED.answered("poll", status)
            record = answers.load_json(response.content) if status == 200 else None
            reading = self.book.answered(item, status, headers_of(response), record, time.time())
            if reading == "limited":
                response.failure("429 rate limited")
            elif reading == "mislabelled":
                response.failure(f"HTTP 200 labelled {response.headers.get('content-type')}")
            elif reading == "error":
                response.failure(f"HTTP {status}" if status else f"no answer: {error_name(response)}")
            else:
                response.success()
        self._changed()
