"""Rules about webhook delivery, observed by the suite's own receiver.

Against the embedded mock the receiver is registered through /_mock/webhooks. Against a real API the
user creates a webhook in the dashboard whose URL reaches ``--receiver-port`` (e.g. through a tunnel) and
passes its id as ``--webhook-id``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from slowcheck import api
from slowcheck.checks import webhooks as checks
from slowcheck.contract.budget import share
from slowcheck.contract.polling import sweeps_within
from slowcheck.contract.probes import Probe, await_all, submit_all
from slowcheck.contract.receiver import Delivery
from slowcheck.contract.rules import rule, rule_of
from slowcheck.contract.target import DEFAULT_WEBHOOK_GRACE, Target
from slowcheck.findings import NotRun, Violation

_DOCUMENTED_LATENCY = 60.0  # "delivery under 60 s after completion"


@dataclass(slots=True)
class Hooks:
    chat: str
    retried: str
    text: str
    refused: str
    group: str
    group_size: int


def _skipped(target: Target) -> str | None:
    if target.receiver is None or not target.webhook_id:
        return "needs --webhook-id and a receiver the API can reach (--receiver-port)"
    if target.completion_timeout <= 0:
        return "--completion-timeout 0: webhook rules wait for generations to finish"
    return None


_SUBJECTS = 4


@dataclass(slots=True)
class Submitted:
    probes: list[Probe]
    group_id: str


def submitted_hooks(target: Target) -> Submitted:
    """The webhook probes, submitted once, at prepare time when the rules are admitted (so they finish while
    the cheap rules run): four singles (one whose first POST the receiver fails with 500, one with 400) and a
    group of two."""

    def make() -> Submitted:
        assert target.receiver is not None
        metadata = {"webhook_id": target.webhook_id}
        bodies: list[tuple[api.Kind, dict[str, Any]]] = [
            ("chat", target.chat(metadata=metadata)),
            ("chat", target.chat(metadata=metadata, n=2)),
            ("text", target.text(metadata=metadata)),
            ("chat", target.chat(metadata=metadata, n=3)),
        ]
        watched = submit_all(target, bodies, "a webhook probe")
        target.receiver.fail_first[watched[1].id] = 500
        target.receiver.fail_first[watched[3].id] = 400
        group = target.request(
            "POST", api.GROUP["chat"], json={"requests": [target.chat(metadata=metadata) for _ in range(2)]}
        )
        group_id = str(group.json.get("groupId", "")) if group.status == 200 and isinstance(group.json, dict) else ""
        return Submitted(watched, group_id)

    return target.session.once("hooks-submitted", make)


share(
    "hooks",
    "webhook probes",
    floor=lambda target: _SUBJECTS + 1,
    prepare=lambda target: None if _skipped(target) else submitted_hooks(target),
)
share(
    "hook-polls",
    "polls of the webhook probes",
    floor=lambda target: 2 * _SUBJECTS,
    full=lambda target: sweeps_within(target.completion_timeout) * _SUBJECTS,
    pool="hooks",
)
_HOOKS = ("hooks", "hook-polls")


def hooks(target: Target) -> Hooks:
    return target.session.once("hooks", lambda: _wait(target))


def _wait(target: Target) -> Hooks:
    submitted = submitted_hooks(target)
    if await_all(target, submitted.probes, pool="hooks") != "finished":
        raise NotRun(
            f"webhook probes were not terminal {target.completion_timeout:g} s after submission (--completion-timeout)"
        )
    ids = [p.id for p in submitted.probes]
    return Hooks(ids[0], ids[1], ids[2], ids[3], submitted.group_id, 2)


def _first(target: Target, subject: str, what: str, *, judged_here: bool = False) -> Delivery:
    """The first POST about ``subject``. None arriving is HOOK-DELIVERED's (or HOOK-GROUP's) violation; the
    rules that read the event are then not run, so one missing delivery is reported once."""
    receiver = target.receiver
    assert receiver is not None
    # Waited for once per subject: the rules after the first do not wait again for what did not come.
    posts = target.session.once(f"first-{subject}", lambda: receiver.wait_for(subject, 1, target.webhook_wait))
    if not posts:
        message = f"no {what} webhook arrived within {target.webhook_wait:g} s"
        if judged_here:
            raise Violation(message, request={"id": subject})
        raise NotRun(f"{message}: nothing to judge (HOOK-DELIVERED reports it)")
    return posts[0]


@rule(
    "HOOK-DELIVERED",
    "webhooks",
    "A chat generation with metadata.webhook_id gets its generation.completed event.",
    source="documented",
    uses=_HOOKS,
    skip=_skipped,
)
def delivered(target: Target) -> None:
    _first(target, hooks(target).chat, "generation.completed", judged_here=True)


@rule(
    "HOOK-OPTIONS-FIRST",
    "webhooks",
    "An OPTIONS readiness check precedes the event POSTs.",
    source="documented",
    uses=_HOOKS,
    skip=_skipped,
)
def options_first(target: Target) -> None:
    post = _first(target, hooks(target).chat, "generation.completed")
    assert target.receiver is not None
    if not any(d.method == "OPTIONS" and d.at <= post.at for d in target.receiver.deliveries):
        raise Violation("the event POST came without an OPTIONS readiness check before it")


@rule_of(checks.headers, "webhooks", uses=_HOOKS, skip=_skipped)
def headers(target: Target) -> None:
    probe = hooks(target)
    post = _first(target, probe.chat, "generation.completed")
    found = checks.headers(
        post.body, post.headers, event_name="generation.completed", webhook_id=target.webhook_id,
        generation_id=probe.chat,
    )  # fmt: skip
    if found is not None:
        raise found


@rule_of(checks.payload, "webhooks", uses=_HOOKS, skip=_skipped)
def payload(target: Target) -> None:
    probe = hooks(target)
    post = _first(target, probe.chat, "generation.completed")
    found = checks.payload(post.body)  # its shape first: a broken event needs no read of the record
    if found is None:
        record = target.generation(probe.chat).json
        found = checks.payload(post.body, record if isinstance(record, dict) else {})
    if found is not None:
        raise found


@rule(
    "HOOK-RETRY-5XX",
    "webhooks",
    "A 5xx from the receiver is retried.",
    source="documented",
    uses=_HOOKS,
    skip=_skipped,
)
def retry_5xx(target: Target) -> None:
    probe = hooks(target)
    assert target.receiver is not None
    posts = target.receiver.wait_for(probe.retried, 2, target.webhook_wait)
    if not posts:
        raise NotRun(f"no first attempt arrived within {target.webhook_wait:g} s: nothing to retry")
    if len(posts) < 2:
        raise Violation(
            f"after answering 500, {len(posts)} delivery attempt(s) arrived within {target.webhook_wait:g} s",
            request={"id": probe.retried},
        )


@rule(
    "HOOK-NOT-FOR-COMPLETIONS",
    "webhooks",
    "A /completions generation triggers no webhook (documented: chat only).",
    source="documented",
    uses=_HOOKS,
    skip=_skipped,
)
def not_for_completions(target: Target) -> None:
    probe = hooks(target)
    _first(target, probe.chat, "generation.completed")  # deliveries are flowing
    assert target.receiver is not None
    posts = target.receiver.wait_for(probe.text, 1, target.webhook_grace)
    if posts:
        raise Violation("a text completion with metadata.webhook_id triggered a webhook", response=posts[0].body)


@rule(
    "HOOK-GROUP",
    "webhooks",
    "A group sends one slow-group.completed naming its id and every generation.",
    source="documented",
    uses=_HOOKS,
    skip=_skipped,
)
def group_event(target: Target) -> None:
    probe = hooks(target)
    if not probe.group:
        raise NotRun("the target has no group API")
    post = _first(target, probe.group, "slow-group.completed", judged_here=True)
    body: dict[str, Any] = post.body
    data = body.get("data") or {}
    if body.get("event") != "slow-group.completed" or post.headers.get("x-inference-group-id") != probe.group:
        raise Violation("the group event's name or X-Inference-Group-ID is wrong", response=body)
    if data.get("group_size") != probe.group_size or len(data.get("generations") or []) != probe.group_size:
        raise Violation(
            f"group_size {data.get('group_size')} / {len(data.get('generations') or [])} generations "
            f"for a group of {probe.group_size}",
            response=body,
        )


@rule(
    "HOOK-NO-RETRY-4XX",
    "webhooks",
    f"A 4xx from the receiver is not retried (listened for {DEFAULT_WEBHOOK_GRACE:g} s after the first attempt).",
    source="documented",
    uses=_HOOKS,
    skip=_skipped,
)
def no_retry_4xx(target: Target) -> None:
    probe = hooks(target)
    first = _first(target, probe.refused, "generation.completed")
    assert target.receiver is not None
    posts = target.receiver.wait_for(probe.refused, 2, max(0.0, first.at + target.webhook_grace - time.time()))
    if len(posts) > 1:
        raise Violation(f"after answering 400, {len(posts)} attempts arrived", request={"id": probe.refused})


@rule(
    "HOOK-ONE-EVENT",
    "webhooks",
    "A generation's deliveries are one logical event: repeats are identical apart from the timestamp.",
    source="documented",
    uses=_HOOKS,
    skip=_skipped,
)
def one_event(target: Target) -> None:
    probe = hooks(target)
    _first(target, probe.chat, "generation.completed")
    assert target.receiver is not None
    posts = target.receiver.wait_for(probe.chat, 2, target.webhook_grace)
    events = {
        json.dumps({k: v for k, v in p.body.items() if k != "timestamp"}, sort_keys=True)
        for p in posts
        if isinstance(p.body, dict)
    }
    if len(events) > 1:
        raise Violation(
            f"{len(posts)} deliveries carry {len(events)} different events for one generation",
            response=[p.body for p in posts],
        )
