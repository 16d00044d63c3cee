"""``slowcheck replay REPORT_DIR RULE-ID``: one finding's requests sent again and judged by the same rule.

A lifecycle finding judged by a record check (``checks.records``) is resubmitted with the body it recorded,
polled until terminal (within ``--completion-timeout``) and every read judged by that check. Any other finding
has its recorded requests sent again exactly, then its rule is run alone against the target (the rule is the
check: what it sends includes the finding's request). Exit 1: it still occurs; 0: it no longer occurs; 2: usage
(no such report, rule or finding; no key; the target unreachable); 3: it could not be judged.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from slowcheck import _json, api, network, reproduce
from slowcheck.checks.records import Sent, reads
from slowcheck.checks.registry import CHECKS, Criterion
from slowcheck.contract.options import DEFAULT_COMPLETION_TIMEOUT
from slowcheck.contract.plan import ContractPlan
from slowcheck.contract.rules import RULES
from slowcheck.contract.runner import run_suite
from slowcheck.contract.target import Exchange, Target
from slowcheck.findings import NotRun, Outcome
from slowcheck.github import one_line
from slowcheck.hints import hint_seconds
from slowcheck.replay.recorded import Recorded, recorded
from slowcheck.target_url import api_root

__all__ = ["DESCRIPTION", "HELP", "add_arguments", "main"]

HELP = "send one finding's requests again and judge them by the same rule"
DESCRIPTION = (
    "Read REPORT_DIR/results.json, send RULE-ID's finding again (its recorded requests; a lifecycle finding "
    "resubmitted and polled until terminal) to the recorded target or --base-url, and judge the answers by the "
    "same rule. Exit 1: it still occurs; 0: it no longer occurs; 2: usage error or target unreachable; 3: it "
    "could not be judged."
)
STILL, GONE, UNJUDGED = 1, 0, 3
_RECORDS = "slowcheck.checks.records"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("report_dir", type=Path, metavar="REPORT_DIR", help="a report folder with results.json")
    parser.add_argument("rule_id", metavar="RULE-ID", help="the rule whose (first) finding to replay")
    parser.add_argument("--base-url", metavar="URL",
                        help="send to this API instead of the recorded one (e.g. the fixed deployment)")  # fmt: skip
    parser.add_argument("--api-key", metavar="KEY", help=f"the API key (default: {api.KEY_HINT})")
    parser.add_argument("--completion-timeout", type=float, default=DEFAULT_COMPLETION_TIMEOUT, metavar="SECONDS",
                        help="how long a resubmitted generation is polled for (default: %(default)g)")  # fmt: skip
    network.add_arguments(parser)


def main(args: argparse.Namespace) -> int:
    found = recorded(args.report_dir, args.rule_id)
    key = api.require_key(args.api_key)
    reach = network.Network.from_args(args)
    root = api_root(args.base_url) if args.base_url else found.origin
    second = api.second_api_key(None)
    print(f"slowcheck replay: {found.rule_id}'s finding ({found.outcome}): {one_line(found.message)}", flush=True)
    if found.reproduction.get("correlation_id"):
        print(f"  recorded as {found.reproduction['correlation_id']} (metadata.slowcheck)", flush=True)
    target = Target(root + "/v1", key, second_api_key=second, completion_timeout=args.completion_timeout,
                    client_options=reach.httpx_options())  # fmt: skip
    try:
        criterion = CHECKS.get(found.rule_id)
        first = api.route(str(found.exchanges[0]["request"].get("path")))
        resubmittable = found.lifecycle and first is not None and first.surface == "submit"  # not a resumed probe
        if resubmittable and criterion is not None and criterion.function.__module__ == _RECORDS:
            code, why = _lifecycle(target, found, criterion)
        else:
            code, why = _rule_again(target, found, root, key, second, reach)
    except NotRun as reason:
        code, why = UNJUDGED, str(reason)
    finally:
        target.close()
    said = {STILL: "still occurs", GONE: "no longer occurs", UNJUDGED: "could not be judged"}[code]
    print(f"{found.rule_id} {said}" + (f": {one_line(why)}" if why else ""), flush=True)
    return code


def _lifecycle(target: Target, found: Recorded, criterion: Criterion) -> tuple[int, str]:
    """The recorded submission sent again (a new correlation id), polled until terminal, every read judged."""
    submit = found.exchanges[0]["request"]
    route = api.route(str(submit.get("path")))
    body = _json_body(submit)
    if route is None or route.surface != "submit" or route.kind is None or not isinstance(body, dict):
        raise NotRun("the finding's first request is not a submission with a JSON body")
    sent_ms = time.time() * 1000
    exchange = target.request("POST", str(submit["path"]), json=body)
    _said(exchange, found.exchanges[0])
    ack = exchange.json
    if exchange.status != 200 or not isinstance(ack, dict) or not isinstance(ack.get("id"), str):
        return STILL, f"the submission was not acknowledged with an id ({exchange.status})"
    records = _until_terminal(target, str(ack["id"]), found)
    sent = Sent.of(ack, route.kind, exchange.body, sent_ms)
    judged = [read for read in reads(sent, records) if criterion.applies(read)]
    findings = [f for f in (criterion.function(read) for read in judged) if f is not None]
    if findings:
        return STILL, findings[0].message
    final = records[-1].get("state") if records else None
    if final not in api.TERMINAL:
        raise NotRun(f"the generation was not terminal within --completion-timeout {target.completion_timeout:g} s")
    if not judged:
        raise NotRun(f"the generation ended {final}: nothing {criterion.id} judges (resubmit, or wait and retry)")
    return GONE, f"{len(judged)} reads of {exchange.correlation or ack['id']} judged, none found"


def _until_terminal(target: Target, generation_id: str, found: Recorded) -> list[dict[str, Any]]:
    """Every record read of the generation until it is terminal or the completion timeout passes."""
    deadline = time.monotonic() + target.completion_timeout
    records: list[dict[str, Any]] = []
    recorded_polls = found.exchanges[1:]
    while True:
        exchange = target.generation(generation_id)
        _said(exchange, recorded_polls[min(len(records), len(recorded_polls) - 1)] if recorded_polls else None)
        if exchange.status == 200 and isinstance(exchange.json, dict):
            records.append(exchange.json)
            if exchange.json.get("state") in api.TERMINAL:
                return records
        if time.monotonic() >= deadline:
            return records
        hint = hint_seconds(exchange.headers)
        time.sleep(min(max(hint if hint is not None else 0.25, 0.05), 2.0, max(0.0, deadline - time.monotonic())))


def _rule_again(
    target: Target, found: Recorded, root: str, key: str, second: str | None, reach: network.Network
) -> tuple[int, str]:
    """The finding's requests sent again exactly, then its rule run alone against the target."""
    repeated = []
    for entry in found.exchanges:
        request = entry["request"]
        if request.get("method") == "GET" and api.route(str(request.get("path"))) is not None and found.lifecycle:
            continue  # a poll of the recorded generation: the rule's own probes are polled instead
        exchange = _resend(target, request, second)
        _said(exchange, entry)
        if isinstance(entry.get("status"), int) and entry["status"] >= 400 and exchange.status == entry["status"]:
            repeated.append(f"{exchange.method} {exchange.path} still answers {exchange.status}")
    rule = RULES.get(found.rule_id)
    if rule is None:
        raise NotRun(f"{found.rule_id} is no rule of this slowcheck's catalogue: the answers above are all there is")
    plan = ContractPlan(rules=(rule,), base_url=root + "/v1", api_key=key, second_api_key=second,
                        model=found.model or api.DEFAULT_MODEL, completion_timeout=target.completion_timeout,
                        network=reach)  # fmt: skip
    result = run_suite(plan).results[0]
    if result.outcome in (Outcome.VIOLATED, Outcome.DEVIATION):
        return STILL, result.message
    if result.outcome is Outcome.HELD and repeated:  # the rule alone met other cases: the recorded one still fails
        raise NotRun(f"{rule.id} run again held, but {'; '.join(repeated)}, as recorded")
    if result.outcome is Outcome.HELD:
        return GONE, f"{rule.id} run again against {root}: held"
    raise NotRun(f"{rule.id} run again was {result.outcome.value}: {result.message}")


def _resend(target: Target, request: dict[str, Any], second: str | None) -> Exchange:
    """One recorded request sent again: the same method, path, headers, key and body (a submission's JSON with
    a new correlation id when it reads back to the very bytes recorded, else the bytes as they were)."""
    auth = request.get("auth")
    if auth == "second" and second is None:
        raise NotRun(f"the request carried the second account's key: set {reproduce.KEY_VARIABLES['second']}")
    key: Any = {"key": target.api_key, "second": second, "none": None}.get(str(auth), request.get("wrong_key"))
    if "body_omitted" in request:
        raise NotRun(f"the request's {request['body_omitted']}-byte body was not kept")
    headers: dict[str, str | None] = dict(request.get("headers") or {})
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = None  # sent without one, as recorded
    path = str(request["path"])
    body = _json_body(request)
    if isinstance(body, dict) and api.route(path) is not None:
        return target.request(str(request["method"]), path, json=body, key=key, headers=headers, judges_failure=True)
    content = reproduce.payload(request)
    return target.request(str(request["method"]), path, content=content, key=key, headers=headers,
                          judges_failure=True)  # fmt: skip


def _json_body(request: dict[str, Any]) -> Any:
    """The recorded body as JSON when it reads back to the same bytes (what the suite wrote); else None."""
    text = request.get("body")
    if not isinstance(text, str):
        return None
    try:
        value = _json.loads(text)
    except ValueError:
        return None
    return value if _json.dumps(value) == text.encode("utf-8") else None


def _said(exchange: Exchange, recorded_entry: dict[str, Any] | None) -> None:
    state = exchange.json.get("state") if isinstance(exchange.json, dict) else None
    now = f"{exchange.status}" + (f" {state}" if isinstance(state, str) else "")
    before = ""
    if recorded_entry is not None:
        was = f"{recorded_entry.get('status')}" + (f" {recorded_entry['state']}" if recorded_entry.get("state") else "")
        before = f" (recorded: {was})"
    tag = f" {exchange.correlation}" if exchange.correlation else ""
    print(f"  {exchange.method} {exchange.path} -> {now}{before}{tag}", flush=True)
