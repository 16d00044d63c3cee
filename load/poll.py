"""Polling strategies side by side on one workload.

Submissions arrive at ``--rate`` (open model) and are dealt in turn to the strategies, so each gets the same
share of the same bodies. Submitters only hand ids to each strategy's pool of pollers; slow generations
never slow submission down. Per strategy: completions, end-to-end latency (submit -> terminal state seen),
detection lag (seen - ``finishedAt``), polls per completion, wasted polls, 429s caused.

- ``fixed``: every ``--poll-interval`` seconds.
- ``backoff``: from a quarter interval, doubling to eight intervals, with jitter.
- ``hinted``: as ``openai-poll-after-ms`` / ``Retry-After`` say; the interval when they say nothing.
- ``webhook``: waits for ``generation.completed`` at the harness's receiver (registered through the mock's
  ``/_mock/webhooks``, or ``--webhook-id`` plus ``--receiver-port`` against a real API); a slow safety-net poll.

After the last submission it waits up to ``--drain`` seconds for the outstanding generations.

    slowcheck load poll --rate 8 --duration 30 --poll-interval 1
    SLOWCHECK_API_KEY=... locust -f load/poll.py --headless -u 1 --host http://127.0.0.1:8080
"""

from __future__ import annotations

import time

from slowcheck.load import harness, offered, workload
from slowcheck.load.policies import POLICIES
from slowcheck.load.samples import StrategySamples

harness.install("poll")


class Poller(harness.SlowUser):
    def run_once(self) -> None:
        names = self.plan.polling_strategies()
        stages = offered.parse_stages(self.plan.rate, self.plan.duration)
        self.samples.started = time.time()
        for name in names:
            self.samples.strategies[name] = StrategySamples()
        trackers = {
            name: harness.Tracker(self, POLICIES[name](self.plan.poll_interval), self.samples.strategies[name])
            for name in names
        }
        receiver, hook_id = self.webhooks(trackers)
        names = [n for n in names if n != "webhook" or hook_id]
        plain = workload.bodies(self.plan.model)[:4]
        hooked = workload.bodies(self.plan.model, {"webhook_id": hook_id})[:4] if hook_id else plain

        def fire(index: int, at: float) -> None:
            name = names[index % len(names)]
            requests = hooked if name == "webhook" else plain
            offer = self.submit("chat", requests[index // len(names) % len(requests)][1], at)
            if offer.generation_id:
                trackers[name].add(offer.generation_id, offer.sent_at)

        if names:
            self.samples.started = time.time()  # the plan starts now, after the webhook registration
            self.offer(enumerate(offered.arrivals(stages, share=self.share, of=self.of)), self.samples.started, fire)
        deadline = time.time() + self.plan.drain
        for tracker in trackers.values():
            tracker.idle.wait(timeout=max(0.0, deadline - time.time()))
        for tracker in trackers.values():
            tracker.close()
        if receiver is not None:
            receiver.stop()
        self.samples.ended = time.time()

    def webhooks(self, trackers: dict[str, harness.Tracker]) -> tuple[harness.HookReceiver | None, str | None]:
        """The receiver and the webhook id the target sends to it with; no id when that cannot be arranged."""
        tracker = trackers.pop("webhook", None)
        if tracker is None:
            return None, None
        receiver, hook_id = self.hook(tracker)
        if hook_id is None:
            tracker.samples.not_run = "no --webhook-id, and the target has no /_mock/webhooks to register one"
            return None, None
        trackers["webhook"] = tracker
        return receiver, hook_id
