"""Rules about a generation's life: states, the record in each state, and the finished result.

The probes are submitted once, before the immediate rules run (so they progress meanwhile), and polled
until terminal or until ``--completion-timeout`` after submission; every record seen along the way is kept,
and each rule reads what it needs from those observations.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from slowcheck import api
from slowcheck.contract.budget import share
from slowcheck.contract.polling import sweeps_within
from slowcheck.contract.probes import RESUBMITS, Probe, await_resubmitting, submit_all
from slowcheck.contract.rules import Deviation, NotRun, Skipped, Violation, rule
from slowcheck.contract.target import Target
from slowcheck.errors import ConfigError
from slowcheck.timestamps import epoch_seconds

_ORDER = {"Queued": 0, "In Progress": 1, "Success": 2, "Failed": 2}
_EXPIRY_MS = 72 * 3600 * 1000  # documented: requests expire after 72 hours if not completed
_CHAT_REASONS = {"stop", "length", "tool_calls", "content_filter", "function_call"}
_TEXT_REASONS = {"stop", "length", "content_filter"}
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
    return target.completion_timeout <= 0 and target.resume is None


share(
    "probe-polls",
    "polls of the lifecycle probes",
    floor=lambda target: 0 if _timeout_skipped(target) else 2 * _PROBES,
    full=lambda target: 0 if _timeout_skipped(target) else sweeps_within(target.completion_timeout) * _PROBES,
    grant=lambda target, n: target.reserves.__setitem__("probes", n),
)


def submitted_probes(target: Target) -> list[Probe]:
    """The lifecycle probes, submitted once (or loaded from ``--resume``); the ledger written when asked."""

    def make() -> list[Probe]:
        if target.resume is not None:
            return [Probe(**probe_fields(entry)) for entry in target.resume if not entry.get("generated")]
        found = submit_all(target, _bodies(target), "a lifecycle probe")
        target.cache["ledger-probes"] = found
        if target.ledger is not None:
            write_ledger(target.ledger, target)
        return found

    return target.once("probes-submitted", make)


share(
    "probes",
    "lifecycle probes",
    floor=lambda target: 0 if target.resume is not None else _PROBES,
    prepare=submitted_probes,
)


def probes(target: Target) -> list[Probe]:
    """The lifecycle probes, polled until terminal (or the completion timeout after their submission)."""
    if "probes" in target.cache:  # a view with its own observations (LIFE-GENERATED)
        return target.cache["probes"]  # type: ignore[no-any-return]

    def observe() -> list[Probe]:
        found = submitted_probes(target)
        if _timeout_skipped(target):
            where = f"; their ids are in {target.ledger}: check them later with --resume" if target.ledger else ""
            raise Skipped(f"--completion-timeout 0: {len(found)} probes submitted, not awaited{where}")
        # Resumed probes get a fresh --completion-timeout from now.
        since = time.time() * 1000 if target.resume is not None else None
        attempts, ending = await_resubmitting(target, found, pool="probes", what="a lifecycle probe", since_ms=since)
        if ending == "reserve":
            target.cache["probes-reserve-spent"] = True
        return attempts

    return target.once("probes-observed", observe)


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
    marked ``generated``), and the batch the batch rules made (``target.cache["ledger-batch"]``). No keys.
    Written whole by whichever adds to it."""
    found: list[Probe] = target.cache.get("ledger-probes", [])
    generated: list[Probe] = target.cache.get("ledger-generated", [])
    entries = [{k: getattr(p, k) for k in _FIELDS} for p in found]
    entries += [{k: getattr(p, k) for k in _FIELDS} | {"generated": True} for p in generated]
    document: dict[str, Any] = {"target": target.root, "probes": entries}
    if "ledger-batch" in target.cache:
        document["batch"] = target.cache["ledger-batch"]
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
    if target.cache.get("probes-reserve-spent"):
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


@rule(
    "LIFE-STATES-FORWARD",
    "lifecycle",
    "States only move forward and never leave a terminal state.",
    source="documented",
    uses=_LIFE,
)
def states_forward(target: Target) -> None:
    for probe in probes(target):
        seen = [r.get("state") for r in probe.records]
        ranks = [_ORDER.get(str(s), -1) for s in seen]
        terminal = next((i for i, s in enumerate(seen) if s in api.TERMINAL), None)
        if ranks != sorted(ranks) or (terminal is not None and len(set(seen[terminal:])) > 1):
            raise Violation(f"states went {' -> '.join(map(str, _squash(seen)))}", request=probe.body)


@rule(
    "LIFE-RECORD-SCHEMA",
    "lifecycle",
    "Every record, in every state, validates against generation.schema.json.",
    source="documented",
    uses=_LIFE,
)
def record_schema(target: Target) -> None:
    for probe in probes(target):
        for record in probe.records:
            errors = target.schemas.errors("generation", record)
            if errors:
                raise Violation(
                    f"a {record.get('state')} record breaks the schema: {errors[0]}",
                    request=probe.body,
                    response=record,
                )


@rule(
    "LIFE-REQUEST-ECHO",
    "lifecycle",
    "The record's request equals what was sent, metadata included.",
    source="documented",
    uses=_LIFE,
)
def request_echo(target: Target) -> None:
    for probe in probes(target):
        for record in probe.records:
            stored = record.get("request")
            if not isinstance(stored, dict) or any(stored.get(k) != v for k, v in probe.body.items()):
                raise Violation(
                    "the stored request differs from the submitted body", request=probe.body, response=record
                )


@rule(
    "LIFE-RESPONSE-ID",
    "lifecycle",
    "A finished response's id equals the ack's id.",
    source="documented",
    uses=_LIFE,
)
def response_id(target: Target) -> None:
    for probe in _finished(target):
        assert probe.final is not None
        if probe.final["response"].get("id") != probe.ack["id"]:
            raise Violation(
                f"response.id {probe.final['response'].get('id')!r} != ack id {probe.ack['id']!r}",
                request=probe.body,
                response=probe.final,
            )


@rule(
    "LIFE-CHOICES-N",
    "lifecycle",
    "A finished response has n choices with indexes 0..n-1.",
    source="documented",
    uses=_LIFE,
)
def choices_n(target: Target) -> None:
    for probe in _finished(target):
        assert probe.final is not None
        indexes = [c.get("index") for c in probe.final["response"].get("choices", [])]
        if indexes != list(range(probe.body.get("n") or 1)):
            raise Violation(
                f"n={probe.body.get('n') or 1} but choice indexes are {indexes}",
                request=probe.body,
                response=probe.final,
            )


@rule(
    "LIFE-USAGE-SUM",
    "lifecycle",
    "usage.total_tokens == prompt_tokens + completion_tokens, all non-negative.",
    source="documented",
    uses=_LIFE,
)
def usage_sum(target: Target) -> None:
    for probe in _finished(target):
        assert probe.final is not None
        usage = probe.final["response"].get("usage") or {}
        parts = [usage.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens")]
        numbers = [p for p in parts if isinstance(p, int) and not isinstance(p, bool) and p >= 0]
        if len(numbers) != 3 or numbers[0] + numbers[1] != numbers[2]:
            raise Violation(f"usage does not add up: {usage}", request=probe.body, response=probe.final)


@rule(
    "LIFE-TOKEN-LIMIT",
    "lifecycle",
    "completion_tokens stay within max_tokens / max_completion_tokens (n × the limit for n choices).",
    source="documented",
    uses=_LIFE,
)
def token_limit(target: Target) -> None:
    for probe in _finished(target):
        assert probe.final is not None
        limit = probe.body.get("max_completion_tokens") or probe.body.get("max_tokens")
        used = (probe.final["response"].get("usage") or {}).get("completion_tokens")
        if limit is not None and isinstance(used, int) and used > limit * (probe.body.get("n") or 1):
            raise Violation(
                f"{used} completion tokens for a limit of {limit} × n={probe.body.get('n') or 1}",
                request=probe.body,
                response=probe.final,
            )


@rule(
    "LIFE-FINISH-REASON",
    "lifecycle",
    "finish_reason is in the endpoint's enum.",
    source="documented",
    uses=_LIFE,
)
def finish_reason(target: Target) -> None:
    for probe in _finished(target):
        assert probe.final is not None
        allowed = _CHAT_REASONS if probe.kind == "chat" else _TEXT_REASONS
        for choice in probe.final["response"].get("choices", []):
            if choice.get("finish_reason") not in allowed:
                raise Violation(
                    f"finish_reason {choice.get('finish_reason')!r} is not one of {sorted(allowed)}",
                    request=probe.body,
                    response=probe.final,
                )


@rule(
    "LIFE-TIMESTAMPS",
    "lifecycle",
    "finishedAt is ISO-8601, not before submission and not before dispatchedAt (on Failed records too).",
    source="inferred",
    uses=_LIFE,
)
def timestamps(target: Target) -> None:
    _finished(target)  # a Success to judge, or not run
    for probe in (p for p in probes(target) if p.final is not None):
        final = probe.final
        assert final is not None
        if probe.failed and final.get("finishedAt") is None:
            continue  # the docs show finishedAt on a Success; a Failed record without one promises nothing
        finished = _epoch_ms(final.get("finishedAt"))
        dispatched = _epoch_ms(final.get("dispatchedAt")) if final.get("dispatchedAt") else None
        submitted = probe.ack.get("created", probe.submitted_ms)
        skew = 5_000  # clocks of client and server differ a little
        if finished is None or finished + skew < submitted or (dispatched is not None and finished < dispatched):
            raise Violation(
                f"finishedAt {final.get('finishedAt')!r}, dispatchedAt {final.get('dispatchedAt')!r}, "
                f"submitted at {submitted} ms",
                request=probe.body,
                response=final,
            )


def _epoch_ms(text: Any) -> float | None:
    seconds = epoch_seconds(text)
    return None if seconds is None else seconds * 1000


def _squash(states: list[Any]) -> list[Any]:
    return [s for i, s in enumerate(states) if i == 0 or s != states[i - 1]]


@rule(
    "LIFE-LENGTH-AT-LIMIT",
    "lifecycle",
    "finish_reason length only when the token limit was reached.",
    source="inferred",
    uses=_LIFE,
    deviation="every finding: backends count the stopping token differently",
)
def length_at_limit(target: Target) -> None:
    for probe in _finished(target):
        assert probe.final is not None
        limit = probe.body.get("max_completion_tokens") or probe.body.get("max_tokens")
        choices = probe.final["response"].get("choices", [])
        used = (probe.final["response"].get("usage") or {}).get("completion_tokens")
        if limit and len(choices) == 1 and choices[0].get("finish_reason") == "length" and used != limit:
            raise Deviation(
                f"finish_reason length with {used} completion tokens for a limit of {limit}",
                request=probe.body,
                response=probe.final,
            )


@rule(
    "LIFE-RESPONSE-MODEL",
    "lifecycle",
    "A finished response names the requested model.",
    source="inferred",
    uses=_LIFE,
    deviation="another name for the model (an alias or the served checkpoint)",
)
def response_model(target: Target) -> None:
    for probe in _finished(target):
        assert probe.final is not None
        if probe.final["response"].get("model") != probe.body["model"]:
            raise Deviation(
                f"response.model {probe.final['response'].get('model')!r} != {probe.body['model']!r}",
                request=probe.body,
                response=probe.final,
            )


@rule(
    "LIFE-DISPATCHED-AT",
    "lifecycle",
    "dispatchedAt is set from In Progress on, and null while Queued.",
    source="inferred",
    uses=_LIFE,
    deviation="every finding: the docs show dispatchedAt but do not define it",
)
def dispatched_at(target: Target) -> None:
    for probe in probes(target):
        for record in probe.records:
            state, dispatched = record.get("state"), record.get("dispatchedAt")
            if (state == "Queued" and dispatched) or (state in ("In Progress", "Success") and not dispatched):
                raise Deviation(
                    f"a {state} record has dispatchedAt {dispatched!r}", request=probe.body, response=record
                )


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
