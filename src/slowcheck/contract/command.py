"""``slowcheck contract``: the flags turned into a plan, the run printed as it goes, the reports and the exit
code. The run itself is the library's (``contract.runner.run_suite``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from slowcheck import baseline as baselines
from slowcheck.contract.options import add_flags
from slowcheck.contract.plan import plan_from
from slowcheck.contract.preflight import Preflight
from slowcheck.contract.runner import Listener, Suite, run_suite, select
from slowcheck.findings import Outcome, Result
from slowcheck.github import one_line, publish
from slowcheck.redaction import redact_folder
from slowcheck.report import add_report_dir, new_report_dir
from slowcheck.target_url import normalise

__all__ = ["DESCRIPTION", "HELP", "MARKS", "add_arguments", "judged_line", "known_ids", "main", "print_plan"]

HELP = "check an API (or the embedded mock) against the documented contract, rule by rule"
DESCRIPTION = (
    "Run the contract rules against --base-url, or against the embedded mock when no URL is given, after a budget "
    "plan and a preflight. Exit 0: every rule that should run held (deviations listed); 1: a rule is violated; 2: "
    "usage error, bad configuration or target unreachable; 3: inconclusive (a rule that should have run did not)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_flags(parser)
    add_report_dir(parser)
    baselines.add_arguments(parser)
    parser.add_argument("--list-rules", action="store_true", help="print the rule catalogue and exit")
    parser.add_argument("--from-recording", type=Path, metavar="FILE.jsonl",
                        help="judge a recording of `slowcheck proxy --record` offline, with the proxy's checks, "
                        "instead of sending anything (--strict: deviations fail too)")  # fmt: skip


def main(args: argparse.Namespace) -> int:
    if args.list_rules:
        for item in select():
            print(f"{item.id:22} {item.source:10} {item.title}")
        return 0
    report_dir = args.report_dir or new_report_dir()
    accepted = baselines.from_args(args, known_ids())
    if args.from_recording is not None:
        from slowcheck.proxy.offline import judge_recording

        judge, judged = judge_recording(
            args.from_recording, report_dir, fail_on="deviation" if args.strict else "violation", baseline=accepted
        )
        findings = sum(judge.counts.values())
        print(f"slowcheck contract: {judge.exchanges} recorded exchanges judged, {findings} findings; "
              f"report: {report_dir}")  # fmt: skip
        if accepted is not None:
            print("\n".join(accepted.finish(accepted.judged, update=args.update_baseline, deviations=args.strict)))
        print(f"verdict: {judged.line()}", flush=True)
        publish(args, report_dir, "contract", judged)
        return judged.exit_code
    plan = plan_from(args, report_dir)
    judgement = run_suite(plan, listener=_Terminal(plan.base_url, accepted))
    judgement.write(report_dir)
    if accepted is not None:
        accepted.record(report_dir / "results.json")
    redact_folder(report_dir, judgement.secrets, announce="slowcheck contract")
    tally = judgement.counts()
    waived = sum(baselines.waived(r) for r in judgement.results if r.outcome is Outcome.VIOLATED)
    violated = f"{tally['violated']} violated" + (f" ({waived} accepted by the baseline)" if waived else "")
    print(
        f"{tally['held']} held, {violated}, {tally['deviation']} deviations, "
        f"{tally['skipped']} skipped, {tally['not run']} not run in {judgement.duration:.1f} s ({judgement.spent}); "
        f"report: {report_dir}"
    )
    if accepted is not None:
        print("\n".join(accepted.finish(judgement.results, update=args.update_baseline)))
    verdict = judgement.verdict
    print(f"verdict: {verdict.line()}", flush=True)
    publish(args, report_dir, "contract", verdict)
    return verdict.exit_code


def print_plan(suite: Suite, base_url: str | None) -> None:
    """The base URL as understood, and the budget plan: printed before the first request."""
    note = normalise(base_url)[1] if base_url else None
    if note:
        print(f"note: {note}", flush=True)
    for line in suite.plan.lines():
        print(line, flush=True)
    paced = suite.target.pacer.seconds_for(suite.plan.planned)
    if paced is not None:
        per_minute = suite.target.pacer.per_minute
        print(f"  at --rate-limit {per_minute:g}/min these take at least {paced / 60:.1f} min", flush=True)


class _Terminal(Listener):
    """The run as the terminal shows it: the target and the plan, the preflight's notes, a line per rule."""

    def __init__(self, base_url: str | None, accepted: baselines.Baseline | None = None) -> None:
        self.base_url, self.accepted = base_url, accepted

    def planned(self, suite: Suite) -> None:
        print(f"slowcheck contract: {len(suite.rules)} rules against {suite.label}", flush=True)
        print_plan(suite, self.base_url)

    def prepared(self, found: Preflight) -> None:
        for note in found.notes:
            print(f"note: {note}", flush=True)

    def judged(self, result: Result) -> None:
        mark, message = judged_line(result, self.accepted)
        print(f"  {mark:9} {result.rule.id:22} {result.rule.title}", flush=True)
        if result.outcome is not Outcome.HELD and message:
            print(f"            {one_line(message)}", flush=True)


def judged_line(result: Result, accepted: baselines.Baseline | None) -> tuple[str, str]:
    """A judged rule's mark and message, the baseline's word included (``accepted (baseline: reason)``)."""
    if accepted is None:
        return MARKS[result.outcome], result.message
    accepted.judge(result)
    mark, message = baselines.shown(result)
    return mark or MARKS[result.outcome], message


def known_ids() -> set[str]:
    """The rule ids a baseline may name: the contract's and the proxy's (a team may keep one file for both)."""
    from slowcheck.contract.rules import RULES
    from slowcheck.proxy.catalogue import CATALOGUE

    return set(RULES) | set(CATALOGUE)


MARKS = {
    Outcome.HELD: "held",
    Outcome.VIOLATED: "VIOLATED",
    Outcome.DEVIATION: "deviation",
    Outcome.SKIPPED: "skipped",
    Outcome.NOT_RUN: "NOT RUN",
}
