"""On the master (or the only process): every user's samples merged, and the report written once all have come.

Each user sends its samples in a custom message (``slowcheck_samples``) when its share of the scenario is done;
once every user has reported, the collector stops the run, writes ``summary.json`` and ``index.html``, and sets
the exit code from the thresholds. A jobs run's users ship their journal rows as they go
(``slowcheck_journal``): the collector writes them into the report folder, which is the master's own, so
workers on other machines need no shared disk. Locust delivers one worker's messages in order: its last rows
are in before its samples.

A run stopped before every user reported (Ctrl-C, SIGTERM as docker and Kubernetes stop a master,
``--run-time``) first asks the users to stop and waits a while for their last rows and samples: locust fires
``quitting`` before it stops its workers, and would otherwise write the summary without them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
import gevent.event
from locust.env import Environment
from locust.rpc import Message
from locust.runners import MasterRunner

from slowcheck.errors import SlowcheckError
from slowcheck.load import jobs, journal, report, spend
from slowcheck.load.options import LoadPlan
from slowcheck.load.samples import Samples, StrategySamples
from slowcheck.load.thresholds import Threshold

__all__ = ["JOURNAL", "MESSAGE", "Collector", "jobs_figures"]

log = logging.getLogger("slowcheck.load")

MESSAGE = "slowcheck_samples"
JOURNAL = "slowcheck_journal"
_LAST_WORDS_S = 30.0
"""How long a master stopped early waits for its users' last rows and samples."""


@dataclass
class Collector:
    """Merges every user's samples and writes the report."""

    environment: Environment
    plan: LoadPlan
    directory: Path
    """Where the report goes (and a jobs run's journal is)."""
    samples: Samples = field(default_factory=Samples)
    expected: int = 0
    reported: int = 0
    written: bool = False
    journals: dict[int, journal.Journal] = field(default_factory=dict)
    """A jobs run's journal, one file per share, as the users' shipments bring the rows."""
    stopped_early: bool = False
    all_in: gevent.event.Event = field(default_factory=gevent.event.Event)

    def __post_init__(self) -> None:
        if self.plan.scenario == "jobs" and self.plan.resume is None:
            journal.clear(self.directory)  # an earlier run's journals in this folder must not count

    def start(self, environment: Environment, **_: Any) -> None:
        options = environment.parsed_options
        assert options is not None
        self.expected = options.num_users
        runner = environment.runner
        workers = runner.worker_count if isinstance(runner, MasterRunner) else 1
        if self.expected % workers:
            log.warning("-u %d is not a multiple of %d workers: arrivals will be uneven", self.expected, workers)
        # Custom attributes of parsed_options travel to the workers with the spawn message.
        options.slowcheck_users = self.expected
        options.slowcheck_workers = workers
        if self.plan.resume is not None:  # each share's part of the stopped run, read where the journal is
            previous = journal.Previous.read(self.directory, self.expected)
            options.slowcheck_previous = {str(share): found.to_json() for share, found in previous.items()}

    def rows(self, environment: Environment, msg: Any, **_: Any) -> None:
        share = int(msg.data["share"])
        if self.written:  # too late for the summary, not for the journal (and a --resume reading it)
            log.warning("slowcheck: journal rows of share %d came after the summary was written", share)
            late = journal.Journal(self.directory, share, resume=True)
            late.write_many(msg.data["rows"])
            late.close()
            return
        book = self.journals.get(share)
        if book is None:
            book = self.journals[share] = journal.Journal(self.directory, share, resume=self.plan.resume is not None)
        book.write_many(msg.data["rows"])

    def receive(self, environment: Environment, msg: Any, **_: Any) -> None:
        self.samples.merge(Samples.from_dict(msg.data))
        self.reported += 1
        if self.reported >= self.expected:
            self.all_in.set()
            gevent.spawn(environment.runner.quit)  # type: ignore[union-attr]

    def stopping(self, environment: Environment, **_: Any) -> None:
        """``test_stopping``: on a master stopped before every user reported, the workers are told to quit now
        (their users report as they stop) and their last words awaited. The only process's users stop right
        after."""
        if isinstance(environment.runner, MasterRunner):
            self._gather(environment.runner)

    def _gather(self, runner: MasterRunner) -> None:
        if self.stopped_early or self.reported >= self.expected:
            return
        self.stopped_early = True
        # quit, not stop: a stopped worker is soon ready again, and a master still running would spawn it a new
        # user, which would start its share of the plan over. A worker quitting stops its users first.
        for client in runner.clients.all:
            runner.server.send_to_client(Message("quit", None, client.id))  # type: ignore[no-untyped-call]
        if not self.all_in.wait(timeout=_LAST_WORDS_S):
            log.warning("slowcheck: %d of %d users reported before the run ended", self.reported, self.expected)

    def write(self, environment: Environment, **_: Any) -> None:
        if self.written:
            return
        runner = environment.runner
        if not self.stopped_early and self.reported < self.expected:  # Ctrl-C or SIGTERM: quitting comes first
            if isinstance(runner, MasterRunner):
                self._gather(runner)
            elif runner is not None:
                self.stopped_early = True
                runner.stop()  # the only process's users report as they stop
        self.written = True
        for book in self.journals.values():
            book.close()
        options = environment.parsed_options
        assert options is not None
        plan, directory = self.plan, self.directory
        thresholds: list[Threshold] = []
        try:
            thresholds = report.thresholds(
                list(plan.threshold), plan.scenario, plan.polling_strategies(), max_spend=plan.max_spend
            )
        except SlowcheckError as exc:
            log.error("%s", exc)
            environment.process_exit_code = 2
            return
        settings = _settings(plan, self.expected)
        extra = None
        if plan.scenario == "jobs":
            extra = jobs_figures(directory, plan, self.samples)
            settings |= _job_settings(plan)
        summary = report.write(
            directory,
            self.samples,
            scenario=plan.scenario,
            target=options.target_label or environment.host or "",
            settings=settings | {"users_reported": self.reported},
            thresholds=thresholds,
            extra=extra,
        )
        breached = [t for t in summary["thresholds"] if not t["passed"]]
        environment.process_exit_code = 1 if breached else 0
        log.info("slowcheck: report written to %s", directory)


def jobs_figures(directory: Path, plan: LoadPlan, samples: Samples) -> dict[str, Any]:
    """The ``jobs`` and ``submit`` keys of a jobs run, read from its journal, and what tracking cost."""
    slos = [jobs.parse_slo(expr) for expr in plan.slo]
    figures = jobs.summarize(directory, slos, warmup=plan.warmup, cooldown=plan.cooldown, slice_seconds=plan.slice)
    tracked = samples.strategies.get("jobs") or StrategySamples()
    terminal = figures["jobs"]["accepted"] - figures["jobs"]["open"]
    figures["jobs"]["tracking"] = {
        "polls": tracked.polls,
        "polls_per_job": round(tracked.polls / terminal, 3) if terminal else None,
        "wasted_polls": tracked.wasted,
        "rate_limited": tracked.rate_limited,
        "errors": tracked.errors,
        "webhooks": tracked.webhooks,
    }
    return figures | {"poll": {}, "spend": spend.figures(directory, plan.prices, plan.max_spend)}


def _job_settings(plan: LoadPlan) -> dict[str, Any]:
    return {
        "arrival": plan.arrival,
        "burstiness": plan.burstiness,
        "jobs": plan.jobs or 0,
        "trace": str(plan.trace or ""),
        "seed": plan.seed,
        "input": str(plan.input or ""),
        "prompt_tokens": plan.prompt_tokens,
        "output_tokens": plan.output_tokens,
        "mix": plan.mix,
        "canaries": plan.canaries,
        "slo": list(plan.slo),
        "slice": plan.slice,
        "warmup": plan.warmup,
        "cooldown": plan.cooldown,
        "track": plan.track,
        "run_id": plan.run_id,
        "resume": plan.resume is not None,
    }


def _settings(plan: LoadPlan, users: int) -> dict[str, Any]:
    budget = plan.budget()
    return {
        "rate": plan.rate,
        "duration_s": plan.duration,
        "users": users,
        "model": plan.model,
        "poll_interval_s": plan.poll_interval,
        "strategies": plan.polling_strategies(),
        "max_inflight": plan.max_inflight,
        "validate_every": plan.validate_every,
        "rate_limit_per_minute": budget.per_minute,
        "gateway_rps": budget.gateway_rps,
    }
