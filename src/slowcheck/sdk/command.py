"""``slowcheck sdk-matrix``: the official OpenAI SDKs, version by version, against the target."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from slowcheck.contract.preflight import check_reachable
from slowcheck.embedded import add_target_arguments, target_or_mock
from slowcheck.errors import ConfigError
from slowcheck.network import Network, add_arguments as add_network
from slowcheck.redaction import redact_folder
from slowcheck.report import add_report_dir, new_report_dir
from slowcheck.sdk import pins
from slowcheck.sdk.checks import CHECKS
from slowcheck.sdk.envs import NodeEnvs, cache_dir
from slowcheck.sdk.grading import NOT_RUN, counts, judge
from slowcheck.sdk.matrix import Row, run_matrix
from slowcheck.target_url import api_root

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "main", "matrix_document", "table"]

HELP = "the official OpenAI SDKs, version by version, against the API (or the embedded mock)"
DESCRIPTION = (
    "Run the same client checks with each pinned openai version (Python via uv, Node via npm aliases), each in its "
    "own cached environment, in parallel. Exit 0: every version passes the checks the API answers for (the SDKs' "
    "hazards listed); 1: one fails; 2: usage error or target unreachable; 3: inconclusive (a version could not be "
    "installed or its probe could not run, or nothing was checked)."
)

_MARKS = {"passed": "ok", "n/a": "n/a", "deviation": "dev", NOT_RUN: NOT_RUN}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser, without="the embedded mock is started and used", model="model for the probes")
    add_network(parser)
    parser.add_argument("--batch-base-url", metavar="URL",
                        help="the Batch API's root (inference.net: https://batch.inference.net/v1); without it the "
                        "batch row is n/a, except against the embedded mock")  # fmt: skip
    parser.add_argument(
        "--python", metavar="V1,V2", help=f"openai versions ({','.join(pins.PYTHON_PINS)}); '' for none"
    )
    parser.add_argument(
        "--node", metavar="V1,V2", help=f"openai (npm) versions ({','.join(pins.NODE_PINS)}); '' for none"
    )
    add_report_dir(parser, "sdk-matrix")
    parser.add_argument("--cache-dir", type=Path, metavar="DIR",
                        help="where the environments are kept (default: slowcheck/sdk in $XDG_CACHE_HOME or "
                        "~/.cache)")  # fmt: skip
    parser.add_argument("--jobs", type=int, default=4, metavar="N", help="versions run at once (default: %(default)s)")


def main(args: argparse.Namespace) -> int:
    python = pins.parse(args.python, pins.PYTHON_PINS, "--python")
    node = pins.parse(args.node, pins.NODE_PINS, "--node")
    if args.jobs < 1:
        raise ConfigError(f"--jobs: expected 1 or more, got {args.jobs}")
    network = Network.from_args(args)
    if node and args.node is None and not NodeEnvs.available():  # asked for by name, they are not run instead
        print("slowcheck sdk-matrix: Node.js or npm is not installed: the default Node versions are skipped "
              "(--node '' says so)", flush=True)  # fmt: skip
        node = []
    if not python and not node:
        raise ConfigError("no SDK versions to run")
    report_dir: Path = args.report_dir or new_report_dir("sdk-matrix")
    with target_or_mock(args.base_url, args.api_key, model=args.model) as endpoint:
        root, label, key = endpoint.root, endpoint.label, endpoint.key
        check_reachable(root, key, args.model, network)
        print(f"slowcheck sdk-matrix: {len(python)} Python and {len(node)} Node versions against {label}", flush=True)
        started = time.monotonic()
        batch = endpoint.root if endpoint.embedded else (api_root(args.batch_base_url) if args.batch_base_url else None)
        rows = run_matrix(root, key, model=args.model, python=python, node=node, cache=cache_dir(args.cache_dir),
                          jobs=args.jobs, batch=batch, network=network)  # fmt: skip
        wall = time.monotonic() - started
    document = matrix_document(rows, target=label, wall=wall)
    write(report_dir, document)
    redact_folder(report_dir, [key, *network.secrets()], announce="slowcheck sdk-matrix")
    for line in table(document):
        print(line)
    cold = sum(1 for r in rows if r.cold)
    print(f"{len(rows)} versions in {wall:.1f} s ({cold} environments installed); report: {report_dir / 'index.html'}")
    judged = judge(document["rows"])
    print(f"verdict: {judged.line()}", flush=True)
    return judged.exit_code


def matrix_document(rows: list[Row], *, target: str, wall: float) -> dict[str, Any]:
    cells = [r.to_json() | {"failed_by_api": r.failed_by_api()} for r in rows]
    judged = judge(cells)
    return {
        "target": target,
        "wall_s": round(wall, 2),
        "verdict": judged.status,
        "reasons": list(judged.reasons),
        "counts": counts(cells),
        "checks": [{"id": c.id, "title": c.title, "party": c.party} for c in CHECKS],
        "rows": cells,
    }


def write(folder: Path, document: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sdk-matrix.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    from slowcheck.templates import environment

    page = environment().get_template("sdk.html.j2").render(sdk=document)
    (folder / "index.html").write_text(page, encoding="utf-8")


def mark(cell: dict[str, Any]) -> str:
    if cell["status"] == "failed":
        return "FAIL" if cell["outcome"] == "violated" else "hazard"
    return _MARKS.get(cell["status"], str(cell["status"]))


def table(document: dict[str, Any]) -> list[str]:
    """Checks down, versions across; then one line per cell that is not ok."""
    rows = document["rows"]
    heads = [f"{'py' if r['language'] == 'python' else 'node'} {r['version'] or r['requested']}" for r in rows]
    width = max(len(c["id"]) for c in document["checks"])
    columns = [max(len(h), 6) for h in heads]
    lines = ["  ".join([" " * width, *(h.ljust(w) for h, w in zip(heads, columns, strict=True))])]
    for check in document["checks"]:
        marks = [mark(r["cells"][check["id"]]).ljust(w) for r, w in zip(rows, columns, strict=True)]
        lines.append("  ".join([check["id"].ljust(width), *marks]).rstrip())
    for row, head in zip(rows, heads, strict=True):
        if row["error"]:
            lines.append(f"  {head}: not run: {row['error']}")
            continue
        for check in document["checks"]:
            cell = row["cells"][check["id"]]
            if cell["status"] in ("failed", NOT_RUN):
                lines.append(f"  {head} {check['id']}: {mark(cell)}: {cell['detail']}")
    return lines
