"""The ``slowcheck`` command: thin argument parsing over the package's modules.

Exit codes everywhere (slowcheck.verdict): 0 all good, 1 something checked was found wrong, 2 usage or
configuration error, 3 inconclusive; 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from slowcheck import __version__
from slowcheck.contract.command import add_arguments as add_contract_arguments, main as contract_main
from slowcheck.errors import ConfigError, SlowcheckError
from slowcheck.load.command import add_arguments as add_load_arguments, main as load_main
from slowcheck.mock.options import add_arguments as add_mock_arguments, settings_from as mock_settings_from
from slowcheck.mock.server import serve
from slowcheck.run.command import add_arguments as add_run_arguments, main as run_main
from slowcheck.schemas import KINDS, schema_set
from slowcheck.sdk.command import add_arguments as add_sdk_arguments, main as sdk_main

__all__ = ["main"]

Handler = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return handler(args)
    except SlowcheckError as exc:
        print(f"slowcheck: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("slowcheck: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="slowcheck",
        description="Contract tests and load runs for OpenAI-compatible asynchronous inference APIs.",
    )
    parser.add_argument("--version", action="version", version=f"slowcheck {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    main_job = commands.add_parser(
        "run",
        help="the main job: contract suite, a short load phase and the SDK check, then one HTML report",
        description="Against the embedded mock by default (or --base-url): the contract rules, a short submit "
        "and poll load phase, and the SDK check, with progress; writes reports/<timestamp>/ (index.html, "
        "summary.json, junit.xml, results.json, the load CSVs) and points reports/latest at it. Exit 0: all good; "
        "1: something checked is wrong; 2: usage error, bad configuration or target unreachable; 3: inconclusive "
        "(something that should have run did not).",
    )
    add_run_arguments(main_job)
    main_job.set_defaults(handler=run_main)

    mock = commands.add_parser(
        "mock",
        help="run the bundled mock of the asynchronous API",
        description="A durable, stateful implementation of the asynchronous inference API on "
        "http://HOST:PORT: submit at /v1/slow/chat/completions, poll /v1/generation/{id}, server-side "
        "statistics at /_mock/stats. Stops on Ctrl-C; acknowledged generations survive restarts (--db).",
    )
    add_mock_arguments(mock)
    mock.set_defaults(handler=_mock)

    contract = commands.add_parser(
        "contract",
        help="check an API (or the embedded mock) against the documented contract, rule by rule",
        description="Run the contract rules against --base-url, or against the embedded mock when no URL is "
        "given, after a budget plan and a preflight. Exit 0: every rule that should run held (deviations listed); "
        "1: a rule is violated; 2: usage error, bad configuration or target unreachable; 3: inconclusive (a rule "
        "that should have run did not).",
    )
    add_contract_arguments(contract)
    contract.set_defaults(handler=contract_main)

    load = commands.add_parser(
        "load",
        help="load the API (or the embedded mock) with a locust scenario: submit, rate-limit or poll",
        description="Run a load scenario in locust's own process against --base-url, or against the embedded "
        "mock when no URL is given; writes summary.json, index.html and locust's CSVs. Exit 0: every threshold "
        "holds; 1: one is breached; 2: usage error or target unreachable.",
    )
    add_load_arguments(load)
    load.set_defaults(handler=load_main)

    sdk = commands.add_parser(
        "sdk-matrix",
        help="the official OpenAI SDKs, version by version, against the API (or the embedded mock)",
        description="Run the same client checks with each pinned openai version (Python via uv, Node via npm "
        "aliases), each in its own cached environment, in parallel. Exit 0: every version passes the checks the "
        "API answers for; 1: one fails; 2: usage error or target unreachable.",
    )
    add_sdk_arguments(sdk)
    sdk.set_defaults(handler=sdk_main)

    reports = commands.add_parser("report", help="work with written reports")
    reports.set_defaults(handler=_help_of(reports))
    report_actions = reports.add_subparsers(title="actions", metavar="ACTION")
    compare = report_actions.add_parser(
        "compare",
        help="what got worse from OLD to NEW (exit 1 if anything did)",
        description="Compare two report folders: figures of summary.json that moved the wrong way by more than "
        "the tolerance, and rules of results.json that held before and are violated now.",
    )
    compare.add_argument("old", type=Path, metavar="OLD_DIR")
    compare.add_argument("new", type=Path, metavar="NEW_DIR")
    compare.add_argument(
        "--tolerance", type=float, default=10.0, metavar="PCT", help="relative change ignored (%(default)g %%)"
    )
    compare.set_defaults(handler=_report_compare)

    schemas = commands.add_parser("schemas", help="list, show and validate against the JSON Schemas")
    schemas.set_defaults(handler=_help_of(schemas))
    actions = schemas.add_subparsers(title="actions", metavar="ACTION")

    listing = actions.add_parser("list", help="the schema kinds and their titles")
    listing.set_defaults(handler=_schemas_list)

    validate = actions.add_parser(
        "validate",
        help="validate JSON payloads against one schema",
        description="Validate JSON files (or JSON Lines files, *.jsonl, line by line; '-' reads standard input) "
        "against one schema. Exit 0 when every payload is valid, 1 when one is not, 2 when a file cannot be read.",
    )
    validate.add_argument("kind", metavar="KIND", help="one of: " + ", ".join(KINDS))
    validate.add_argument("files", metavar="FILE", nargs="+", help="a JSON file, a .jsonl file, or '-'")
    validate.set_defaults(handler=_schemas_validate)

    show = actions.add_parser("show", help="print a schema; --bundle inlines every $ref")
    show.add_argument("kind", metavar="KIND", help="one of: " + ", ".join(KINDS))
    show.add_argument("--bundle", action="store_true", help="one self-contained document (for other tools)")
    show.set_defaults(handler=_schemas_show)

    where = actions.add_parser("path", help="the folder the schemas are read from")
    where.set_defaults(handler=_schemas_path)
    return parser


def _help_of(parser: argparse.ArgumentParser) -> Handler:
    def show(_: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    return show


def _report_compare(args: argparse.Namespace) -> int:
    from slowcheck.report.compare import compare, format_changes

    changes = compare(args.old, args.new, tolerance=args.tolerance)
    for line in format_changes(changes):
        print(line)
    return 1 if any(c.worse for c in changes) else 0


def _schemas_path(_: argparse.Namespace) -> int:
    print(schema_set().directory)
    return 0


def _mock(args: argparse.Namespace) -> int:
    settings = mock_settings_from(args)

    def ready(url: str, restored: int) -> None:
        keys = f"{len(settings.api_keys)} API key(s)" if settings.api_keys else "any API key"
        store = "in memory only" if settings.db == ":memory:" else f"stored in {settings.db}"
        print(f"slowcheck mock listening on {url} ({keys}; generations {store}; {restored} restored)", flush=True)
        print(f"  submit: POST {url}/v1/slow/chat/completions   poll: GET {url}/v1/generation/ID", flush=True)

    serve(settings, on_ready=ready)
    return 0


def _schemas_list(_: argparse.Namespace) -> int:
    schemas = schema_set()
    width = max(map(len, KINDS))
    for kind in KINDS:
        print(f"{kind:<{width}}  {schemas.document(kind).get('title', '')}")
    return 0


def _schemas_show(args: argparse.Namespace) -> int:
    schemas = schema_set()
    document = schemas.bundle(args.kind) if args.bundle else schemas.document(args.kind)
    print(json.dumps(document, indent=2, ensure_ascii=False))
    return 0


def _schemas_validate(args: argparse.Namespace) -> int:
    schemas = schema_set()
    schemas.document(args.kind)  # an unknown kind is a usage error before any file is read
    payloads = [item for name in args.files for item in _read_payloads(name)]
    invalid = 0
    for label, payload in payloads:
        errors = schemas.errors(args.kind, payload)
        if errors:
            invalid += 1
            print(f"{label}: invalid {args.kind}")
            for error in errors:
                print(f"  {error}")
        else:
            print(f"{label}: valid {args.kind}")
    if len(payloads) > 1:
        print(f"{len(payloads) - invalid} valid, {invalid} invalid")
    return 1 if invalid else 0


def _read_payloads(name: str) -> list[tuple[str, object]]:
    label = "<stdin>" if name == "-" else name
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {label}: {getattr(exc, 'strerror', None) or exc}") from None
    if name.endswith(".jsonl"):
        lines = [(f"{label}:{n}", line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    else:
        lines = [(label, text)]
    payloads = []
    for where, chunk in lines:
        try:
            payloads.append((where, json.loads(chunk)))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    return payloads
