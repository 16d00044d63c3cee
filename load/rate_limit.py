"""Rate-limit probe: where do 429s start, do they follow the contract, and how fast does the API recover?

1. **Climb**: steps of ``--step-seconds`` at ``--rate START``, x1.5 per step (never above MAX), until at least
   1 % of a step's submissions are answered 429. That step's rate is the first 429 rate.
2. **Recover**: stop, wait as ``Retry-After`` says, resubmit; time until the API accepts again.
3. **Settle**: descend from overload (x0.95, or to just above what the server accepted in the last step), so
   the bucket stays drained and a burst allowance cannot flatter the result, until a step has < 1 % 429s:
   that step's rate is the sustainable rate.

It runs in one user (one clock); a per-minute limit needs ``--step-seconds 60``.

    slowcheck load rate-limit --rate 10..2000
    SLOWCHECK_API_KEY=... locust -f load/rate_limit.py --headless -u 1 --host http://127.0.0.1:8080 --rate 10
"""

from __future__ import annotations

import logging
import time
from typing import Any

import gevent

from slowcheck.hints import hint_seconds
from slowcheck.load import harness, plan, workload
from slowcheck.load.summary import SUSTAINABLE_RATIO

harness.install("rate-limit")
log = logging.getLogger("slowcheck.load")


class Prober(harness.SlowUser):
    climb = 1.5
    descend = 0.95

    def run_once(self) -> None:
        self.samples.started = time.time()
        if self.share != 0:  # the probe needs one clock: only the first user runs it
            return
        ladder = plan.parse_ladder(self.options.rate)
        deadline = self.samples.started + self.options.duration
        rate = ladder.start
        while True:
            step = self.step(rate, "climb")
            if _limited(step) or rate >= ladder.ceiling or time.time() + self.options.step_seconds > deadline:
                break
            rate = min(rate * self.climb, ladder.ceiling)
        if _limited(step):
            self.recover(deadline)
            while time.time() + self.options.step_seconds <= deadline:
                rate = min(rate * self.descend, step["ok_per_s"] * 1.05)
                step = self.step(rate, "settle")
                if not _limited(step):
                    break
        self.samples.ended = time.time()

    def step(self, rate: float, phase: str) -> dict[str, Any]:
        first = len(self.samples.submits)
        start = time.time()
        seconds = self.options.step_seconds
        requests = workload.bodies(self.options.model)

        def fire(index: int, at: float) -> None:
            kind, body = requests[index % len(requests)]
            self.submit(kind, body, at)

        self.offer(enumerate(plan.arrivals([plan.Stage(rate, seconds)])), start, fire)
        rows = self.samples.submits[first:]
        ok = sum(1 for *_, status in rows if 200 <= status < 300)
        limited = sum(1 for *_, status in rows if status == 429)
        step = {
            "phase": phase,
            "rate": round(rate, 3),
            "start": round(start - self.samples.started, 3),
            "seconds": seconds,
            "sent": len(rows),
            "ok": ok,
            "rate_limited": limited,
            "errors": len(rows) - ok - limited,
            "ok_per_s": round(ok / seconds, 3),
        }
        self.samples.steps.append(step)
        log.info("rate-limit %s %.1f/s: %d of %d answered 429", phase, rate, limited, len(rows))
        return step

    def recover(self, deadline: float) -> None:
        """After overload: submit, and while answered 429 wait exactly as Retry-After says and submit again.

        ``cleared`` says whether the first submission after honouring a hint was accepted (None when no
        submission was refused, so there was nothing to honour); ``recovery_s`` runs from the end of the
        overload to the first acceptance.
        """
        began = time.time()
        kind, body = workload.bodies(self.options.model)[0]
        offer = self.submit(kind, body, time.time())
        attempts, cleared, hint = 1, None, None
        while not 200 <= offer.status < 300 and attempts < 30:
            hint = hint_seconds(offer.headers)
            wait = hint if hint is not None else 1.0
            if time.time() + wait > deadline:
                break
            gevent.sleep(wait)
            offer = self.submit(kind, body, time.time())
            attempts += 1
            cleared = (200 <= offer.status < 300) if cleared is None else cleared
        accepted = 200 <= offer.status < 300
        self.samples.recovery = {
            "retry_after_s": hint,
            "attempts": attempts,
            "cleared": cleared,
            "recovery_s": round(time.time() - began, 3) if accepted else None,
        }


def _limited(step: dict[str, Any]) -> bool:
    return bool(step["rate_limited"] / max(1, step["sent"]) >= SUSTAINABLE_RATIO)
