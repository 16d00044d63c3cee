"""``slowcheck sdk-matrix``: the flags turned into a plan, the versions printed as they finish, the table, the
report and the exit code. The run itself is the library's (``sdk.matrix.run_plan``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from slowcheck.github import publish
from slowcheck.redaction import redact_folder
from slowcheck.report import new_report_dir
from slowcheck.sdk.console import finished, table
from slowcheck.sdk.matrix import Row, reach, run_plan
from slowcheck.sdk.plan import add_flags, plan_from

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "main"]

HELP = "the official OpenAI SDKs, version by version, against the API (or the embedded mock)"
DESCRIPTION = (
    "Run the same client checks with each pinned openai version (Python via uv, Node via npm aliases), each in its "
    "own cached environment, in parallel. Exit 0: every version passes the checks the API answers for (the SDKs' "
    "hazards listed); 1: one fails; 2: usage error or target unreachable; 3: inconclusive (a version could not be "
    "installed or its probe could not run, or nothing was checked)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_flags(parser)


def main(args: argparse.Namespace) -> int:
    plan = plan_from(args)
    if plan.node_skipped():  # asked for by name, they are not run instead
        print("slowcheck sdk-matrix: Node.js or npm is not installed: the default Node versions are skipped "
              "(--node '' says so)", flush=True)  # fmt: skip
    python, node = plan.versions()
    report_dir: Path = args.report_dir or new_report_dir("sdk-matrix")
    with reach(plan) as target:
        print(f"slowcheck sdk-matrix: {len(python)} Python and {len(node)} Node versions against {target.label}",
              flush=True)  # fmt: skip
        run = run_plan(plan, target, progress=_finished)
    run.write(report_dir)
    redact_folder(report_dir, [target.key, *plan.network.secrets()], announce="slowcheck sdk-matrix")
    for line in table(run.document):
        print(line)
    print(f"{len(run.rows)} versions in {run.wall:.1f} s ({run.installed} environments installed); "
          f"report: {report_dir / 'index.html'}")  # fmt: skip
    print(f"verdict: {run.verdict.line()}", flush=True)
    publish(args, report_dir, "sdk-matrix", run.verdict)
    return run.verdict.exit_code


def _finished(row: Row) -> None:
    print(f"  {finished(row)}", flush=True)
