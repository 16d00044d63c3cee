"""The harness's place in locust: the scenario's flags on locust's parser (made from :class:`LoadPlan`'s fields,
as ``slowcheck load``'s are), the plan every process reads, and the collector on the master.

Every process drains its live figures to the master's :class:`~.progress.Progress` (``--metrics-port``).

The plan comes from ``--plan FILE`` (the ``run.json`` ``slowcheck load`` writes), the plain flags given over it,
or the plain flags alone (``locust -f load/submit.py --rate 50 ...``). The master builds it once at start and
puts it in the parsed options, which locust sends to every worker with the spawn message (a worker on another
machine has no file to read).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from locust import events
from locust.argument_parser import LocustArgumentParser
from locust.env import Environment
from locust.runners import WorkerRunner

from slowcheck.errors import SlowcheckError
from slowcheck.load import journal
from slowcheck.load.harness import progress
from slowcheck.load.harness.collector import JOURNAL, MESSAGE, Collector
from slowcheck.load.options import LoadPlan, Scenario, add_flags, given_flags, read_run
from slowcheck.load.validation import check
from slowcheck.report import new_report_dir

__all__ = ["install", "plan_in", "previous_in"]

log = logging.getLogger("slowcheck.load")


def install(scenario: Scenario) -> None:
    """Register the scenario's flags and the sample collection with locust; called by each locustfile."""

    def _options(parser: LocustArgumentParser) -> None:
        group = parser.add_argument_group("slowcheck", f"the {scenario!r} scenario")
        group.add_argument("--plan", metavar="FILE", help="the run.json of slowcheck load: the plan, flags over it")
        # Strings, not paths: locust's options travel to its workers in msgpack.
        group.add_argument("--report-dir", default="", help="where summary.json and index.html go")
        group.add_argument("--target-label", default="", help="the target as reports name it")
        add_flags(parser, cli=False, scenario=scenario)

    def _collect(environment: Environment, **_: Any) -> None:
        runner = environment.runner
        if isinstance(runner, WorkerRunner):
            events.test_start.add_listener(progress.drain_every)  # type: ignore[no-untyped-call]
        if runner is None or isinstance(runner, WorkerRunner):
            return
        options = environment.parsed_options
        assert options is not None
        try:
            plan = _plan(scenario, options)
        except SlowcheckError as exc:
            log.error("slowcheck: %s", exc)
            raise SystemExit(2) from None
        folder = plan.resume or Path(options.report_dir or new_report_dir(scenario))
        options.slowcheck_plan = plan.to_json()
        collector = Collector(environment, plan, folder)
        runner.register_message(MESSAGE, collector.receive)
        runner.register_message(JOURNAL, collector.rows)
        events.test_start.add_listener(collector.start)  # type: ignore[no-untyped-call]
        events.quitting.add_listener(collector.write)  # type: ignore[no-untyped-call]
        events.test_stopping.add_listener(collector.stopping)  # type: ignore[no-untyped-call]
        live = progress.Progress(environment, plan, folder)
        events.test_start.add_listener(live.start)  # type: ignore[no-untyped-call]
        events.quitting.add_listener(live.stop)  # type: ignore[no-untyped-call]

    events.init_command_line_parser.add_listener(_options)  # type: ignore[no-untyped-call]
    events.init.add_listener(_collect)  # type: ignore[no-untyped-call]


def plan_in(options: Any) -> LoadPlan:
    """The plan the master put in the parsed options."""
    return LoadPlan.from_json(options.slowcheck_plan)


def previous_in(options: Any, share: int) -> journal.Previous:
    """A resumed run's part for ``share``, which the master read from its journal."""
    found = (getattr(options, "slowcheck_previous", None) or {}).get(str(share))
    return journal.Previous.from_json(found) if found else journal.Previous()


def _plan(scenario: Scenario, options: Any) -> LoadPlan:
    """The plan file with the flags given over it, or the flags alone; checked unless it is the file as
    ``slowcheck load`` wrote it (and checked)."""
    given = given_flags(options)
    if not options.plan:
        return check(replace(LoadPlan.for_scenario(scenario), **given)).plan
    try:
        saved, _ = read_run(Path(options.plan))
    except (OSError, ValueError, TypeError) as exc:
        raise SlowcheckError(f"--plan {options.plan}: not a plan of slowcheck load ({exc})") from None
    if saved.scenario != scenario:
        raise SlowcheckError(f"--plan {options.plan}: a plan of the {saved.scenario} scenario, not {scenario}")
    return check(replace(saved, **given)).plan if given else saved
