"""Submission throughput under an open model.

Submissions arrive at ``--rate`` (``50``, or stages ``20@10,50@10,100``) whatever the answers take, so a
slow target cannot slow the offered load down (no coordinated omission); ack latency counts from each
planned arrival. Every ``--validate-every``-th ack is checked against ``schemas/submit-ack.schema.json``.

    slowcheck load submit --rate 50 --duration 30
    SLOWCHECK_API_KEY=... locust -f load/submit.py --headless -u 1 --host http://127.0.0.1:8080 --rate 50
"""

from __future__ import annotations

import time

from slowcheck.load import harness, offered, workload

harness.install("submit")


class Submitter(harness.SlowUser):
    def run_once(self) -> None:
        stages = offered.parse_stages(self.plan.rate, self.plan.duration)
        requests = workload.bodies(self.plan.model)
        self.samples.started = time.time()

        def fire(index: int, at: float) -> None:
            kind, body = requests[index % len(requests)]
            self.submit(kind, body, at)

        self.offer(enumerate(offered.arrivals(stages, share=self.share, of=self.of)), self.samples.started, fire)
        self.samples.ended = time.time()
