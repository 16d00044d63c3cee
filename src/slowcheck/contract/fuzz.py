"""Generated requests from ``schemas/openapi.yaml`` (schemathesis): the submit endpoints under fuzzing.

Schemathesis generates the cases; the rules judge the answers themselves, so its stateful checks
(``ensure_resource_availability`` among them, which reads the documented "404 until ready" as a bug) are
not in play. Hypothesis shrinks a failing case before it is reported.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Flaky

from slowcheck import api
from slowcheck.contract.budget import share
from slowcheck.contract.rules import rule
from slowcheck.contract.target import Exchange, Target
from slowcheck.findings import Deviation, Violation
from slowcheck.schemas import schema_set
from slowcheck.strategies import as_clients_send

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_VALUE = re.compile(r"[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?")
_OPERATIONS = tuple(api.SUBMIT.values())
_FLOOR = 5  # cases per endpoint below which a fuzz rule would say little


def _fuzz_share(mode: str) -> None:
    share(
        f"fuzz-{mode}",
        f"{mode} fuzz cases",
        floor=lambda target: _FLOOR * len(_OPERATIONS),
        full=lambda target: max(_FLOOR, target.fuzz_examples) * len(_OPERATIONS),
        priority=2,
    )


_fuzz_share("negative")
_fuzz_share("positive")


@functools.cache
def _schema() -> Any:
    import schemathesis  # heavy: imported when a fuzz rule runs

    return schemathesis.openapi.from_path(schema_set().directory / "openapi.yaml")


def _send(target: Target, case: Any) -> Exchange:
    # Values HTTP itself cannot carry are dropped: the client library would refuse to send them.
    headers = {
        k: v
        for k, v in (case.headers or {}).items()
        if isinstance(v, str) and _TOKEN.fullmatch(k) and _VALUE.fullmatch(v)
    }
    key: Any = None if "Authorization" in headers else target.api_key
    if isinstance(case.body, bytes | bytearray):
        return target.request(case.method, case.path, content=bytes(case.body), key=key, headers=headers,
                              judges_failure=True)  # fmt: skip
    return target.request(case.method, case.path, json=case.body, key=key, headers=headers, judges_failure=True)


@dataclass(slots=True)
class _Case:
    """What is sent of a generated case: a copy, so a cached case is never changed by the sending."""

    method: str
    path: str
    headers: dict[str, Any]
    body: Any


@functools.cache
def _generated(mode_name: str, path: str, count: int) -> tuple[_Case, ...]:
    """The first ``count`` cases hypothesis generates for one operation, derandomized: the same in every run of
    this process, so a run spends its time on requests, not on generating the same cases again."""
    from schemathesis import GenerationMode

    mode = GenerationMode.NEGATIVE if mode_name == "negative" else GenerationMode.POSITIVE
    cases: list[_Case] = []

    @given(case=_schema()[path]["POST"].as_strategy(generation_mode=mode))
    @settings(max_examples=count, deadline=None, database=None, derandomize=True, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def collect(case: Any) -> None:
        cases.append(_Case(case.method, case.path, dict(case.headers or {}), case.body))

    collect()
    return tuple(cases[:count])


def _fuzz(
    target: Target,
    mode_name: str,
    judge: Callable[[Target, Exchange], None],
    prepare: Callable[[Any], None] = lambda case: None,
) -> None:
    """Send each operation's generated cases and judge every answer. On loopback, where requests are not
    counted, a failure is found again by hypothesis and shrunk to the smallest case that shows it."""
    granted = target.session.granted.get(f"fuzz-{mode_name}")  # requests for every operation's cases
    count = target.fuzz_examples if granted is None else granted // len(_OPERATIONS)
    for path in _OPERATIONS:
        try:
            for cached in _generated(mode_name, path, count):
                case = copy.deepcopy(cached)
                prepare(case)
                judge(target, _send(target, case))
        except Violation:
            if target.max_requests is not None:
                raise
            try:
                _shrunk(target, mode_name, path, count, judge, prepare)
            except Flaky:
                pass  # hypothesis could not see it again: the answer first seen is the finding, as found
            raise


def _shrunk(
    target: Target,
    mode_name: str,
    path: str,
    count: int,
    judge: Callable[[Target, Exchange], None],
    prepare: Callable[[Any], None],
) -> None:
    """Hypothesis's own search over the operation: raises the shrunk failure (or returns, if it finds none)."""
    from schemathesis import GenerationMode

    mode = GenerationMode.NEGATIVE if mode_name == "negative" else GenerationMode.POSITIVE

    @given(case=_schema()[path]["POST"].as_strategy(generation_mode=mode))
    @settings(max_examples=count, deadline=None, database=None, derandomize=True, report_multiple_bugs=False,
              phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck))  # fmt: skip
    def check(case: Any) -> None:
        prepare(case)
        judge(target, _send(target, case))

    check()


def _never_5xx(target: Target, exchange: Exchange) -> None:
    if exchange.status >= 500:
        raise Violation(f"a generated {exchange.method} {exchange.path} got {exchange.status}", **exchange.summary())
    if 400 <= exchange.status < 500 and target.schemas.errors("error", exchange.json):
        raise Violation(
            f"the {exchange.status} answer to {exchange.method} {exchange.path} is not the OpenAI error envelope",
            **exchange.summary(),
        )


@rule(
    "REQ-FUZZ-NEGATIVE",
    "validation",
    "Generated schema-breaking requests never get a 5xx, and every 4xx is the OpenAI error envelope.",
    source="documented",
    uses=("fuzz-negative",),
)
def fuzz_negative(target: Target) -> None:
    _fuzz(target, "negative", _never_5xx)


@rule(
    "REQ-FUZZ-POSITIVE",
    "validation",
    "Generated schema-valid bodies, as clients write them (the probe model, stream false), get a valid ack.",
    source="inferred",
    uses=("fuzz-positive",),
    deviation="a valid body refused with a 4xx envelope: a spec corner the backend does not take",
)
def fuzz_positive(target: Target) -> None:
    refused: list[Deviation] = []

    def as_a_client_sends(case: Any) -> None:
        # A random model name would only measure the catalogue; streaming is refused by design.
        if isinstance(case.body, dict):
            case.body = as_clients_send(case.body | {"model": target.model, "stream": False})
        case.headers = {}

    def accepted(target: Target, exchange: Exchange) -> None:
        _never_5xx(target, exchange)
        if 400 <= exchange.status < 500:
            refused.append(Deviation(f"a schema-valid body got {exchange.status}", **exchange.summary()))
        elif exchange.status != 200 or target.schemas.errors("submit-ack", exchange.json):
            raise Violation(f"a schema-valid body got {exchange.status} and no valid ack", **exchange.summary())

    _fuzz(target, "positive", accepted, as_a_client_sends)
    if refused:
        raise refused[0]
