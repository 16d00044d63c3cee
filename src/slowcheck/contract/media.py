"""Rules about what every answer says it is, judged on the answers the other rules already received."""

from __future__ import annotations

from collections import Counter

from slowcheck.contract.rules import rule
from slowcheck.contract.target import Target
from slowcheck.findings import NotRun, Violation


@rule(
    "RESP-CONTENT-TYPE",
    "responses",
    "Every answer with a body (acks, records, group answers, errors) declares Content-Type application/json.",
    source="documented",
)
def content_type(target: Target) -> None:
    # Judged last, on every exchange of the run: it costs no request of its own.
    if not target.answered:
        raise NotRun("no answer with a body was received to judge")
    if target.mislabelled:
        first = target.mislabelled[0]
        kinds = Counter(f"{e.method} {e.status} {e.content_type or 'no Content-Type'}" for e in target.mislabelled)
        shown = ", ".join(f"{kind} ({count})" for kind, count in kinds.most_common(3))
        raise Violation(
            f"{len(target.mislabelled)} of {target.answered} answers are not declared JSON, e.g. {shown}: the OpenAI "
            "SDKs read them as text and hand the caller a string",
            **first.summary(),
        )
