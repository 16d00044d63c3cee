"""Rules about a generation's life: states, the record in each state, and the finished result.

The probes are submitted once, before the immediate rules run (so they progress meanwhile), and polled
until terminal or until ``--completion-timeout`` after submission; every record seen along the way is kept.
Most rules apply one check of ``slowcheck.checks.records`` to every record read (:func:`judge_reads`, which
LIFE-GENERATED calls too); the tool-call and JSON-output rules judge what only these probes asked for.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from slowcheck import api
from slowcheck.checks import records
from slowcheck.checks.records import Read, Sent, reads
from slowcheck.contract.budget import share
from slowcheck.contract.polling import sweeps_within
from slowcheck.contract.probes import RESUBMITS, Probe, await_resubmitting, submit_all
from slowcheck.contract.rules import rule, rule_of
from slowcheck.contract.target import Target, sequence
from slowcheck.errors import ConfigError
from slowcheck.findings import Deviation, NotRun, Skipped, Violation, raise_all

__all__ = ["judge_reads", "probe_fields", "probes", "read_ledger", "sent", "submitted_probes", "write_ledger"]

_EXPIRY_MS = 72 * 3600 * 1000  # documented: requests expire after 72 hours if not completed
_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
_ANSWER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
_JSON_FORMAT = {"type": "json_schema", "json_schema": {"name": "answer", "strict": True, "schema": _ANSWER}}
_PROBES = 5


def _timeout_skipped(target: Target) -> bool:
    return target.completion_timeout <= 0 and target.session.resume is None


share(
    "probe-polls",
    "polls of the lifecycle probes",
    floor=lambda target: 0 if _timeout_skipped(target) else 2 * _PROBES,
    full=lambda target: 0 if _timeout_skipped(target) else sweeps_within(target.completion_timeout) * _PROBES,
    pool="probes",
)


def submitted_probes(target: Target) -> list[Probe]:
    """The lifecycle probes, submitted once (or loaded from ``--resume``); the ledger written when asked."""

    def make() -> list[Probe]:
        if target.session.resume is not None:
            return [Probe(**probe_fields(entry)) for entry in target.session.resume if not entry.get("generated")]
        found = submit_all(target, _bodies(target), "a lifecycle probe")
        target.session.probes = found
        if target.session.ledger is not None:
            write_ledger(target.session.ledger, target)
        return found

    return target.session.once("probes-submitted", make)


share(
    "probes",
    "lifecycle probes",
    floor=lambda target: 0 if target.session.resume is not None else _PROBES,
    prepare=submitted_probes,
)


def probes(target: Target) -> list[Probe]:
    """The lifecycle probes, polled until terminal (or the completion timeout after their submission)."""

    def observe() -> list[Probe]:
        found = submitted_probes(target)
        if _timeout_skipped(target):
            where = (
                f"; their ids are in {target.session.ledger}: check them later with --resume"
                if target.session.ledger
                else ""
            )
            raise Skipped(f"--completion-timeout 0: {len(found)} probes submitted, not awaited{where}")
        # Resumed probes get a fresh --completion-timeout from now.
        since = time.time() * 1000 if target.session.resume is not None else None
        attempts, ending = await_resubmitting(target, found, pool="probes", what="a lifecycle probe", since_ms=since)
        if ending == "reserve":
            target.session.probes_reserve_spent = True
        return attempts

    return target.session.once("probes-observed", observe)


def _bodies(target: Target) -> list[tuple[api.Kind, dict[str, Any]]]:
    tag = uuid.uuid4().hex[:12]
    return [
        ("chat", target.chat(n=2, max_tokens=5, metadata={"custom_id": f"slowcheck-{tag}-a"})),
        ("chat", target.chat(max_completion_tokens=3, stop=["the", "a"], metadata={"custom_id": f"slowcheck-{tag}-b"})),
        ("text", target.text(n=2, max_tokens=4, metadata={"custom_id": f"slowcheck-{tag}-c"})),
        ("chat", target.chat(tools=[_TOOL], tool_choice="required", metadata={"custom_id": f"slowcheck-{tag}-d"})),
        (
            "chat",
            target.chat(max_tokens=64, response_format=_JSON_FORMAT, metadata={"custom_id": f"slowcheck-{tag}-e"}),
        ),
    ]


_FIELDS = ("kind", "body", "submitted_ms", "ack")


def probe_fields(entry: dict[str, Any]) -> dict[str, Any]:
    """What a ledger entry holds of its :class:`Probe`."""
    return {k: entry[k] for k in _FIELDS}


def write_ledger(path: Path, target: Target) -> None:
    """What a later ``--resume`` needs: the target, per probe its body, ack and submission time (LIFE-GENERATED's
    marked ``generated``), and the batch the batch rules made (``target.session.batch``). No keys.
    Written whole by whichever adds to it."""
    session = target.session
    entries = [{k: getattr(p, k) for k in _FIELDS} for p in session.probes]
    entries += [{k: getattr(p, k) for k in _FIELDS} | {"generated": True} for p in session.generated]
    document: dict[str, Any] = {"target": target.root, "probes": entries}
    if session.batch is not None:
        document["batch"] = session.batch
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def read_ledger(path: Path) -> tuple[str, list[dict[str, Any]], dict[str, Any] | None]:
    """The target, the probes and the batch (or None) of a ledger."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        probes = [probe_fields(e) | ({"generated": True} if e.get("generated") else {}) for e in document["probes"]]
        batch = document.get("batch")
        if batch is not None and not {"root", "custom_ids", "size", "file", "created"} <= set(batch):
            raise KeyError("batch")
        return str(document["target"]), probes, batch
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"cannot read the ledger {path}: {exc}") from None


def _finished(target: Target) -> list[Probe]:
    done = [p for p in probes(target) if p.final is not None and p.final["state"] == "Success"]
    if not done:
        pending = [p for p in probes(target) if p.final is None]
        if not pending:
            raise NotRun(f"every probe ended Failed (a documented state), each submitted again up to {RESUBMITS} times")
        raise NotRun(_unfinished(target, pending))
    return done


def _finished_with(target: Target, key: str) -> list[Probe]:
    """The successful probes that sent ``key``; none is NotRun, so the rule never holds on nothing."""
    done = [p for p in _finished(target) if key in p.body]
    if not done:
        ended = [p.final.get("state") if p.final else "not terminal" for p in probes(target) if key in p.body]
        raise NotRun(f"the probe with {key} did not succeed ({', '.join(map(str, ended))}; Failed is resubmitted)")
    return done


def _unfinished(target: Target, pending: list[Probe]) -> str:
    if target.session.probes_reserve_spent:
        return f"{len(pending)} probe(s) not terminal when their polls were spent (raise --max-requests)"
    return (
        f"no probe reached Success within --completion-timeout {target.completion_timeout:g} s (the docs allow "
        "24-72 h: use --completion-timeout 0 now and --resume the ledger later)"
    )


_LIFE = ("probes", "probe-polls")


@rule(
    "LIFE-FINISHES",
    "lifecycle",
    "Submitted generations reach a terminal state within the documented 72 hours.",
    source="documented",
    uses=_LIFE,
)
def finishes(target: Target) -> None:
    pending = [p for p in probes(target) if p.final is None and not p.attempt]  # Failed is an end too
    if not pending:
        return
    oldest = min(pending, key=lambda p: p.submitted_ms)
    last = oldest.records[-1]["state"] if oldest.records else "never retrievable"
    if time.time() * 1000 - oldest.submitted_ms > _EXPIRY_MS:
        raise Violation(
            f"{len(pending)} probe(s) not terminal more than 72 h after submission (last: {last})", request=oldest.body
        )
    raise NotRun(f"{len(pending)} probe(s) still {last}: " + _unfinished(target, pending))


def sent(probe: Probe) -> Sent:
    """What a probe's records are judged against: its body, its ack, when it was sent."""
    return Sent.of(probe.ack, probe.kind, probe.body, probe.submitted_ms)


def _correlation(probe: Probe) -> str | None:
    """The correlation id the probe's body carried (``Target`` put it there; a ledger keeps the body)."""
    metadata = probe.body.get("metadata") if isinstance(probe.body, dict) else None
    found = metadata.get("slowcheck") if isinstance(metadata, dict) else None
    return found if isinstance(found, str) else None


def judge_reads(check: Callable[[Read], Violation | None], watched: Iterable[Probe]) -> list[Violation]:
    """Every finding of ``check`` over every record the probes read, in the order they were read, each with its
    probe's reproduction (the submit, the polls, what each read said)."""
    found = []
    for probe in watched:
        for read in reads(sent(probe), probe.records):
            finding = check(read)
            if finding is not None:
                finding.reproduction = sequence(probe.exchanges, correlation=_correlation(probe))
                found.append(finding)
    return found


@rule_of(records.states_forward, "lifecycle", uses=_LIFE)
def states_forward(target: Target) -> None:
    raise_all(judge_reads(records.states_forward, probes(target)))


@rule_of(records.record_schema, "lifecycle", uses=_LIFE)
def record_schema(target: Target) -> None:
    raise_all(judge_reads(records.record_schema, probes(target)))


@rule_of(records.request_echo, "lifecycle", uses=_LIFE)
def request_echo(target: Target) -> None:
    raise_all(judge_reads(records.request_echo, probes(target)))


@rule_of(records.response_id, "lifecycle", uses=_LIFE)
def response_id(target: Target) -> None:
    raise_all(judge_reads(records.response_id, _finished(target)))


@rule_of(records.choices_n, "lifecycle", uses=_LIFE)
def choices_n(target: Target) -> None:
    raise_all(judge_reads(records.choices_n, _finished(target)))


@rule_of(records.usage_sum, "lifecycle", uses=_LIFE)
def usage_sum(target: Target) -> None:
    raise_all(judge_reads(records.usage_sum, _finished(target)))


@rule_of(records.token_limit, "lifecycle", uses=_LIFE)
def token_limit(target: Target) -> None:
    raise_all(judge_reads(records.token_limit, _finished(target)))


@rule_of(records.finish_reason, "lifecycle", uses=_LIFE)
def finish_reason(target: Target) -> None:
    raise_all(judge_reads(records.finish_reason, _finished(target)))


@rule_of(records.timestamps, "lifecycle", uses=_LIFE)
def timestamps(target: Target) -> None:
    _finished(target)  # a Success to judge, or not run
    raise_all(judge_reads(records.timestamps, probes(target)))  # Failed records too


@rule_of(records.length_at_limit, "lifecycle", uses=_LIFE)
def length_at_limit(target: Target) -> None:
    raise_all(judge_reads(records.length_at_limit, _finished(target)))


@rule_of(records.response_model, "lifecycle", uses=_LIFE)
def response_model(target: Target) -> None:
    raise_all(judge_reads(records.response_model, _finished(target)))


@rule_of(records.dispatched_at, "lifecycle", uses=_LIFE)
def dispatched_at(target: Target) -> None:
    raise_all(judge_reads(records.dispatched_at, probes(target)))


@rule(
    "LIFE-TOOL-CALLS",
    "lifecycle",
    "tool_choice required yields tool_calls with JSON arguments and that finish_reason.",
    source="inferred",
    uses=_LIFE,
)
def tool_calls(target: Target) -> None:
    for probe in _finished_with(target, "tools"):
        assert probe.final is not None
        for choice in probe.final["response"]["choices"]:
            calls = (choice.get("message") or {}).get("tool_calls") or []
            if choice.get("finish_reason") != "tool_calls" or not calls:
                raise Violation(
                    "tool_choice=required, but no tool_calls / finish_reason tool_calls",
                    request=probe.body,
                    response=probe.final,
                    reproduction=sequence(probe.exchanges),
                )
            try:
                json.loads(calls[0]["function"]["arguments"])
            except (KeyError, TypeError, ValueError):
                raise Violation("tool call arguments are not JSON", request=probe.body, response=probe.final) from None


@rule(
    "LIFE-JSON-OUTPUT",
    "lifecycle",
    "response_format json_schema (strict) yields content valid against the schema.",
    source="inferred",
    uses=_LIFE,
)
def json_output(target: Target) -> None:
    for probe in _finished_with(target, "response_format"):
        assert probe.final is not None
        for choice in probe.final["response"]["choices"]:
            content = (choice.get("message") or {}).get("content")
            try:
                value = json.loads(content or "")
            except ValueError:
                value = None
            if not isinstance(value, dict) or not isinstance(value.get("city"), str):
                raise Violation(
                    f"content {content!r} does not satisfy the requested schema",
                    request=probe.body,
                    response=probe.final,
                    reproduction=sequence(probe.exchanges),
                )


_REREADS = 2
"""Reads of each terminal record after the one that found it terminal, a second apart: a lagging replica behind
a load balancer shows on the second or third read, not on the first."""


@rule(
    "GEN-IDEMPOTENT-GET",
    "lifecycle",
    "Reads of a terminal generation, three of each a second apart, return the same state and identical bodies.",
    source="documented",  # a terminal state never changes; identical bodies are only a deviation
    cost=_REREADS * _PROBES,
    uses=_LIFE,
    deviation="a body that differs between reads in the same terminal state: the docs do not promise identical "
    "reads (a state that goes back is a violation)",
)
def idempotent_get(target: Target) -> None:
    terminal = [p for p in probes(target) if p.final is not None][:_PROBES]
    if not terminal:
        _finished(target)  # not run, with the reason
    reads: dict[str, list[Any]] = {p.id: [p.final] for p in terminal}
    for round_ in range(_REREADS):
        if round_:
            time.sleep(target.reread_spacing)  # spaced, so a replica that lags has the time to answer differently
        for probe in terminal:
            exchange = target.generation(probe.id)
            if exchange.status != 200:
                raise Violation(
                    f"a {probe.final and probe.final.get('state')} generation read again answers {exchange.status}: "
                    "a finished record was lost (a replica behind the balancer lags?)",
                    **exchange.summary(),
                )
            reads[probe.id].append(exchange.json)
    for probe in terminal:
        states = [r.get("state") if isinstance(r, dict) else None for r in reads[probe.id]]
        if any(state != states[0] for state in states):
            raise Violation(
                f"a {states[0]} generation read again says {' -> '.join(map(str, states))}: a state went back "
                "(a replica behind the balancer lags?)",
                request={"id": probe.id},
                response={"reads": reads[probe.id]},
            )
    for probe in terminal:
        if any(read != reads[probe.id][0] for read in reads[probe.id]):
            raise Deviation(
                f"{len(reads[probe.id])} reads of a terminal generation differ",
                request={"id": probe.id},
                response={"reads": reads[probe.id]},
            )
