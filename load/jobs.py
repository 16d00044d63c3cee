"""Jobs to the end: when are they done, at what rate, within which SLOs, and is every answer its own?

Arrivals follow the plan (``--rate`` stages, ``--arrival poisson|gamma``, ``--rate inf --jobs N``, or a
``--trace``), each job's body comes from the workload (generated, or ``--input``), and every acknowledged job
is tracked to a terminal state: by webhook when one reaches the harness, else by the server's poll hints.
Every answer and every terminal record goes to the journal as it comes (no rows held in memory), and the
figures are read from it at the end: accept, queue, run, e2e and notice latencies, throughput and goodput,
canaries and echo checks, dispatch accuracy. ``--resume`` continues a stopped run from its journal.

    slowcheck load jobs --rate 20 --duration 60 --slo e2e_s<=30
    SLOWCHECK_API_KEY=... locust -f load/jobs.py --headless -u 1 --host http://127.0.0.1:8080 --rate 20
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from slowcheck import _json
from slowcheck.load import answers, arrivals, harness, jobs, mix, spend
from slowcheck.load.policies import POLICIES
from slowcheck.load.pollbook import Outstanding
from slowcheck.load.samples import StrategySamples
from slowcheck.prices import SpendLimitReached

harness.install("jobs")


class Jobs(harness.SlowUser):
    def run_once(self) -> None:
        plan = self.plan
        planned = arrivals.parse(
            plan.rate, plan.duration, process=plan.arrival, burstiness=plan.burstiness, jobs=plan.jobs,
            trace=plan.trace, seed=plan.seed,
        )  # fmt: skip
        resume = plan.resume is not None
        previous = harness.previous_in(self.environment.parsed_options, self.share)
        self.book = self.ship_journal()
        self.spend = spend.meter(plan.prices, plan.max_spend, self.of)
        self.samples.strategies["jobs"] = tracked = StrategySamples()
        interval = plan.poll_interval
        # auto: webhooks when a --webhook-id reaches the receiver, else the server's hints and backoff without them.
        name = plan.track if plan.track != "auto" else ("webhook" if plan.webhook_id else "adaptive")
        polled = POLICIES["adaptive" if name == "webhook" else name](interval)
        self.trackers = {"polled": harness.Tracker(self, polled, tracked, plan.pollers, self.completed)}
        metadata: dict[str, str] = {}
        receiver = None
        if name == "webhook":
            hooked = harness.Tracker(self, POLICIES["webhook"](interval), tracked, plan.pollers, self.completed)
            receiver, hook_id = self.hook(hooked)
            if hook_id:
                self.trackers["webhook"], metadata = hooked, {"webhook_id": hook_id}
        self.mix = mix.Mix(
            run=plan.run_id, model=plan.model, embedding_model=plan.embedding_model, kinds=mix.parse_mix(plan.mix),
            prompt=mix.parse_length(plan.prompt_tokens, "--prompt-tokens"),
            output=mix.parse_length(plan.output_tokens, "--output-tokens"), canaries=plan.canaries,
            inputs=mix.read_bodies(plan.input) if plan.input else (), metadata=metadata,
        )  # fmt: skip
        for index, (generation_id, sent) in previous.open.items():
            self._tracker(self.mix.job(index)).add(generation_id, sent, index)
        remaining = ((i, at) for i, at in planned.offsets(share=self.share, of=self.of) if not previous.handled(i))
        schedule = _starting_now(remaining) if resume else remaining
        self.samples.started = time.time()
        self.offer(schedule, self.samples.started, self.fire, self.dropped, self.unanswered)
        deadline = time.time() + plan.drain
        for tracker in self.trackers.values():
            tracker.idle.wait(timeout=max(0.0, deadline - time.time()))
        for tracker in self.trackers.values():
            tracker.close()
        if receiver is not None:
            receiver.stop()
        self.book.close()
        self.samples.ended = time.time()

    def _tracker(self, job: mix.Job) -> harness.Tracker:
        # Text completions send no webhook (inference.net's docs): they are polled even when hooks are on.
        hooked = self.trackers.get("webhook")
        return hooked if hooked is not None and job.kind != "text" else self.trackers["polled"]

    def fire(self, index: int, at: float) -> None:
        job = self.mix.job(index)
        worst = self._worst_usd(job)
        try:
            self.spend.admit(worst)
        except SpendLimitReached:  # --max-spend: not sent, and the run breaches its threshold
            self.book.write(["over", index, at])
            return
        offer = self.submit(job.kind, _json.dumps(job.body), at)
        acked = time.time()
        self.spend.answered(worst, [offer.generation_id] if offer.generation_id else [])
        self.samples.submits.pop()  # the journal has it: a long run must not hold a row per submission
        created = answers.ack_created(offer.content) if offer.generation_id else None
        self.book.write(
            ["sent", index, at, offer.sent_at, acked, offer.status, offer.generation_id, created, job.kind,
             1 if job.nonce else 0, worst]
        )  # fmt: skip
        if offer.generation_id:
            self._tracker(job).add(offer.generation_id, offer.sent_at, index, created)

    def dropped(self, index: int, at: float) -> None:
        self.book.write(["drop", index, at])

    def unanswered(self, index: int, at: float) -> None:
        self.book.write(["unanswered", index, at, self._worst_usd(self.mix.job(index))])

    def _worst_usd(self, job: mix.Job) -> float:
        return self.spend.worst_usd(job.body.get("model"), job.body, job.kind)

    def completed(self, item: Outstanding, seen: float, record: dict[str, Any]) -> None:
        row = jobs.done_row(self.mix.job(item.job), item.generation_id, record, seen, item.polls)
        self.book.write(row)
        response = record.get("response")
        usage = response.get("usage") if isinstance(response, dict) else None
        self.spend.settle(item.generation_id, row[12], usage)  # its worst case no longer held


def _starting_now(schedule: Iterator[tuple[int, float]]) -> Iterator[tuple[int, float]]:
    """A resumed plan: what was left of it, shifted so its next arrival is due now."""
    shift: float | None = None
    for index, offset in schedule:
        shift = offset if shift is None else shift
        yield index, offset - shift
