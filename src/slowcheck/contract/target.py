"""The API under test, as the rules see it: paths derived from the base URL, a request budget, and
exchanges recorded without keys."""

from __future__ import annotations

import itertools
import random
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from slowcheck import _json, api, network, reproduce
from slowcheck.contract.receiver import Receiver
from slowcheck.contract.session import Session
from slowcheck.errors import SlowcheckError
from slowcheck.findings import Deviation, NotRun, Violation
from slowcheck.hints import hint_seconds
from slowcheck.pacing import Pacer
from slowcheck.schemas import SchemaSet, schema_set
from slowcheck.target_url import api_root
from slowcheck.transient import Noise, RetryPolicy, is_transient_answer

__all__ = ["DEFAULT_WEBHOOK_GRACE", "DEFAULT_WEBHOOK_WAIT", "Exchange", "Target", "TargetUnreachable", "sequence"]

_NO_KEY = object()
DEFAULT_WEBHOOK_WAIT = 60.0
"""Seconds to wait for a webhook after its generation finished."""
DEFAULT_WEBHOOK_GRACE = 2.0
"""Seconds to listen for a delivery that must not come (a retry after a 4xx, an event for a text completion)."""
_PATIENCE_429 = 150.0
"""Seconds one request waits out 429s in all: two of the published one-minute windows (a fixed window's
Retry-After is up to 60 s, stretched a little); a longer wait means the account's quota, not a burst."""
_TRIES_429 = 30
"""Attempts one request makes through 429s, whatever their Retry-After (a ``0`` would otherwise loop)."""


class TargetUnreachable(SlowcheckError):
    """The target did not answer at all (connection refused, DNS, TLS, timeout)."""

    def __init__(self, message: str, *, kind: str = "unreachable") -> None:
        super().__init__(message)
        self.kind = kind
        """The failure's name (``ReadTimeout``, ``ConnectError``...), as the noise ledger counts it."""


@dataclass(slots=True)
class Exchange:
    """One request and its answer, as a failing rule reports it. Authorization is never kept."""

    method: str
    path: str
    body: Any
    status: int
    headers: dict[str, str]
    text: str
    elapsed: float
    json: Any = field(default=None)
    request: dict[str, Any] | None = None
    """The request as it went out, for its reproduction (``slowcheck.reproduce.step``): URL, headers but the key,
    the body's exact bytes."""
    correlation: str | None = None
    """The correlation id the submission carried in ``metadata.slowcheck`` (a group's first member's)."""

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")

    @property
    def mislabelled(self) -> bool:
        """A body whose declared type is not JSON (the suite parsed it anyway, and says so)."""
        return bool(self.text) and not api.is_json_media(self.content_type)

    def summary(self) -> dict[str, Any]:
        response: dict[str, Any] = {"status": self.status, "content_type": self.content_type}
        response["body"] = self.json if self.json is not None else self.text[:2000]
        body = self.body if not isinstance(self.body, str) or len(self.body) <= 2000 else _cut(self.body)
        found = {"request": {"method": self.method, "path": self.path, "body": body}, "response": response}
        return found | {"reproduction": sequence([self], lifecycle=False)}

    def answered(self) -> dict[str, Any] | None:
        """This exchange in a reproduction (``slowcheck.reproduce.answered``); None when it was never sent."""
        if self.request is None:
            return None
        return reproduce.answered(self.request, self.status, self.text, self.json)


def sequence(
    exchanges: list[Exchange], *, lifecycle: bool = True, correlation: str | None = None
) -> dict[str, Any] | None:
    """A finding's reproduction from the exchanges that show it, in order: one request, or a generation's life
    (its submit, then every poll and what each read said). None when none of them was sent by a ``Target``.
    ``correlation``: the id when no exchange carries it (a probe an earlier run submitted, read from its ledger)."""
    kept = [entry for entry in (e.answered() for e in exchanges) if entry is not None]
    if not kept:
        return None
    correlation = next((e.correlation for e in exchanges if e.correlation), correlation)
    return reproduce.reproduction(kept, correlation_id=correlation, lifecycle=lifecycle)


def _cut(text: str) -> str:
    """A raw body too long for a report (a 10 MiB hostile case): its start, and how much more there was."""
    return f"{text[:2000]}... ({len(text) - 2000} more characters)"


class Target:
    """An httpx client bound to the API root (``https://api.inference.net/v1`` or ``.../v1/slow`` both work), the
    budget it sends within, and the settings the rules read. ``transport`` answers instead of the network (an app
    in this process: ``slowcheck.inprocess``); what a run learns on the way is its ``session``."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        second_api_key: str | None = None,
        batch_base_url: str | None = None,
        embedding_model: str | None = None,
        model: str = api.DEFAULT_MODEL,
        completion_timeout: float = 60.0,
        max_requests: int | None = None,
        webhook_id: str | None = None,
        receiver: Receiver | None = None,
        webhook_wait: float = DEFAULT_WEBHOOK_WAIT,
        webhook_grace: float = DEFAULT_WEBHOOK_GRACE,
        fuzz_examples: int = 25,
        stateful_examples: int = 4,
        session: Session | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        client_options: Mapping[str, Any] | None = None,
        rate_limit: float | None = None,
        retry: RetryPolicy | None = None,
        reread_spacing: float = 1.0,
    ) -> None:
        self.root = root = api_root(base_url)
        self.batch_root = api_root(batch_base_url) if batch_base_url else None
        """Where the Batch API is served (inference.net: its own host); None leaves the batch rules out."""
        self.embedding_model = embedding_model
        self.api_key, self.second_api_key, self.model = api_key, second_api_key, model
        self.completion_timeout, self.max_requests = completion_timeout, max_requests
        self.webhook_id, self.receiver, self.webhook_wait = webhook_id, receiver, webhook_wait
        self.webhook_grace = webhook_grace
        self.fuzz_examples, self.stateful_examples = fuzz_examples, stateful_examples
        """Generated cases per endpoint and mode for the fuzz rules, and examples of LIFE-GENERATED: the most
        the plan may grant (it grants less when the budget is small)."""
        self.session = session or Session()
        self.run_id = secrets.token_hex(3)
        """Six hex digits naming this run in each submission's correlation id (``sc-<run>-<n>``, in metadata)."""
        self._correlations = itertools.count(1)
        """What the run keeps on the way (the ledger, the plan's grants, the shared probes), for the rules."""
        self.sent = 0
        self.answered = 0
        """Answers with a body, each judged by RESP-CONTENT-TYPE on the way in (no request of its own)."""
        self.mislabelled: list[Exchange] = []
        """Answers with a body whose Content-Type is not JSON: parsed anyway (the other rules judge the content),
        and kept here so the report shows the header that was received."""
        self.rate_limited: list[Exchange] = []
        """Every 429 met while the suite ran: honoured, retried (not counted in ``sent``, since the target did
        no work for it), and judged by RATE-429-SHAPE."""
        self._count = threading.Lock()
        self.reached = False
        """True once the target answered anything: from then on a reset or a timeout is noise, retried."""
        self.noise = Noise()
        """Every transient failure met (``slowcheck.transient``), retried by ``retry``, listed in the report."""
        self.retry = retry or RetryPolicy()
        self.rate_limit = rate_limit
        self.pacer = Pacer(rate_limit)
        """Spaces the API's requests by ``--rate-limit`` (requests a minute), or by what the first 429 taught."""
        self._pacers: dict[str, Pacer] = {}
        """Other hosts' pacers (the batch host), by host name."""
        self.reread_spacing = reread_spacing
        """Seconds between GEN-IDEMPOTENT-GET's reads of a terminal record (a lagging replica needs the time)."""
        self.schemas: SchemaSet = schema_set()
        self.timeout = timeout
        # How to reach the target (CA bundle, client certificate, proxies from the environment, a gateway's
        # headers): ``slowcheck.network`` builds these from the flags every command shares.
        options: dict[str, Any] = {"trust_env": False, **(client_options or {})}
        self.client = httpx.Client(base_url=root, timeout=timeout, transport=transport, **options)

    def close(self) -> None:
        self.client.close()

    @property
    def remaining(self) -> int | None:
        return None if self.max_requests is None else max(0, self.max_requests - self.sent)

    def expect_error(self, exchange: Exchange, what: str, *, status: int | None = None, lax: bool = False) -> None:
        """The answer is ``status`` (any 4xx when None) and its body the OpenAI error envelope; else a Violation.

        With ``lax``, another 4xx with the envelope is a Deviation: the client still gets an error it can read.
        """
        wanted = str(status) if status is not None else "a 4xx"
        other_4xx = 400 <= exchange.status < 500
        if (exchange.status != status) if status is not None else not other_4xx:
            if not (lax and other_4xx and not self.schemas.errors("error", exchange.json)):
                raise Violation(f"{what}: expected {wanted}, got {exchange.status}", **exchange.summary())
            raise Deviation(
                f"{what}: expected {wanted}, got {exchange.status} (with the envelope)", **exchange.summary()
            )
        errors = self.schemas.errors("error", exchange.json)
        if errors:
            raise Violation(
                f"{what}: the {exchange.status} body is not the OpenAI error envelope: {errors[0]}",
                **exchange.summary(),
            )

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        key: Any = _NO_KEY,
        headers: Mapping[str, str | None] | None = None,
        retry_429: bool = True,
        judged_here: bool = False,
        judges_failure: bool = False,
    ) -> Exchange:
        """Send one request within the budget, paced by its host's pacer, and return the answer to judge.

        Noise (``slowcheck.transient``: a gateway's 5xx, a 5xx without the envelope, a reset or a timeout once the
        target has answered) is retried by ``self.retry`` and counted in ``self.noise``. A 5xx that comes back on
        every try reaches the caller when the API said it in its own envelope, or when the caller judges that
        very answer (``judges_failure``: hostile input, where a 5xx or no answer is the finding); otherwise the
        answer never came through and the rule is NotRun. An answer ``judged_here`` is left out of the media
        ledger that RESP-CONTENT-TYPE judges (a proxy may refuse hostile input in its own words).

        A 429 is recorded, honoured (its Retry-After), teaches its host's pacer and is retried for up to
        ``_PATIENCE_429`` seconds: concurrent senders each wait out their own hint, a little stretched so they do
        not return in step."""
        json, correlation = reproduce.correlated(method, path, json, self._correlation)
        pacer = self.pacer_for(path)
        waited_429 = waited = 0.0
        noisy = 0  # attempts that met noise
        cleared = False
        try:
            for attempt in itertools.count():
                sent_at = pacer.wait()
                exchange: Exchange | None = None
                try:
                    answer = self._send(method, path, json=json, content=content, key=key, headers=headers)
                    answer.correlation = correlation
                except TargetUnreachable as exc:
                    if not self.reached:
                        raise  # never answered at all: a wrong URL, a closed port, an untrusted certificate
                    what, failure = exc.kind, exc
                else:
                    if answer.status == 429:
                        if not retry_429:
                            return answer  # the caller looks for the limit itself (RATE-429-SHAPE's burst)
                        waited_429 += self._rate_limited(answer, pacer, sent_at, attempt, waited_429, method, path)
                        continue
                    pacer.accepted()
                    if answer.status < 500:
                        cleared = True
                        return self._answered(answer, judged_here)
                    exchange, what = answer, str(answer.status)
                    gateway = is_transient_answer(answer.status, answer.json)
                    if gateway:
                        with self._count:  # a gateway's refusal: the API did no work, the budget counts the retry
                            self.sent -= 1
                self.noise.met(what, method, path)
                if noisy + 1 >= self.retry.tries or waited >= self.retry.patience:
                    if exchange is not None and (judges_failure or not gateway):
                        return self._answered(exchange, judged_here)
                    if exchange is None and judges_failure:
                        raise failure
                    raise NotRun(
                        f"{method} {path} met a transient failure ({what}) on all {noisy + 1} tries: the answer "
                        "never came through; rerun when the target is steadier"
                    )
                pause = self.retry.wait(noisy, exchange.headers if exchange is not None else None)
                pause = min(pause, self.retry.patience - waited)  # a long Retry-After still leaves a try
                time.sleep(pause)
                waited += pause
                noisy += 1
            raise AssertionError("unreachable")
        finally:
            if noisy:  # one request that met noise is over: through, or given up (tries, budget, 429s)
                self.noise.settled(cleared=cleared)

    def _correlation(self) -> str:
        with self._count:
            return f"sc-{self.run_id}-{next(self._correlations)}"

    def pacer_for(self, path: str) -> Pacer:
        """The pacer of the host ``path`` goes to: the API's, or another host's (the batch host keeps its own
        limits, such as one upload a minute, which must not slow the API's requests)."""
        host = httpx.URL(path).netloc.decode()
        if not host:
            return self.pacer
        with self._count:
            return self._pacers.setdefault(host, Pacer(self.rate_limit))

    def _rate_limited(
        self, exchange: Exchange, pacer: Pacer, sent_at: float, attempt: int, waited: float, method: str, path: str
    ) -> float:
        """A 429: refunded (refused, not served nor billed), kept for RATE-429-SHAPE, waited out; returns the wait.
        The pacer learns from it unless this request gives up (a quota's hour-long Retry-After is not a pace)."""
        with self._count:
            self.sent -= 1
        self.rate_limited.append(exchange)
        hint = hint_seconds(exchange.headers)
        wait = min(2.0 ** min(attempt, 5), 30.0) if hint is None else max(hint, 0.05) * random.uniform(1.0, 1.25)
        if waited + wait > _PATIENCE_429 or attempt >= _TRIES_429:
            raise NotRun(
                f"the target kept answering 429 to {method} {path} for {waited:.0f} s ({attempt + 1} attempts, "
                f"the last asking for {wait:.3g} s more): rerun later, or with --rate-limit below the account's"
            )
        pacer.limited(hint, sent_at=sent_at)
        time.sleep(wait)
        return wait

    def _answered(self, exchange: Exchange, judged_here: bool) -> Exchange:
        """The answer a rule judges: counted for RESP-CONTENT-TYPE unless judged where it was asked."""
        if exchange.text and not judged_here:
            with self._count:
                self.answered += 1
                if exchange.mislabelled:
                    self.mislabelled.append(exchange)
        return exchange

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any,
        content: bytes | None,
        key: Any,
        headers: Mapping[str, str | None] | None,
    ) -> Exchange:
        """One request. ``headers`` go over ``Content-Type: application/json`` (None removes one)."""
        with self._count:  # rules may send from several threads (concurrent submissions)
            if self.max_requests is not None and self.sent >= self.max_requests:
                raise NotRun(f"the request budget (--max-requests {self.max_requests}) is spent")
            worst = self.session.before_send(method, path, json if json is not None else content)  # --max-spend
            self.sent += 1
        key = self.api_key if key is _NO_KEY else key
        merged: dict[str, str | None] = {"Content-Type": "application/json", **(headers or {})}
        sent_headers = {name: value for name, value in merged.items() if value is not None}
        if key is not None:
            sent_headers["Authorization"] = f"Bearer {key}"
        payload = content if content is not None else (_json.dumps(json) if json is not None else None)
        started = time.monotonic()
        try:
            answer = self.client.request(method, path, content=payload, headers=sent_headers)
        except httpx.TimeoutException as exc:
            raise TargetUnreachable(
                f"{self.root} did not answer {method} {path} within {self.timeout:g} s", kind=type(exc).__name__
            ) from None
        except httpx.TransportError as exc:
            raise TargetUnreachable(
                f"cannot reach {self.root}: {network.failure(exc)}", kind=type(exc).__name__
            ) from None
        self.reached = True
        auth: reproduce.Auth = "none"
        if key is not None:
            auth = "key" if key == self.api_key else "second" if key == self.second_api_key else "other"
        kept = {name: value for name, value in sent_headers.items() if name.lower() != "authorization"}
        exchange = Exchange(
            method,
            path,
            json if json is not None else (content or b"").decode("utf-8", "replace"),
            answer.status_code,
            dict(answer.headers),
            answer.text,
            time.monotonic() - started,
            request=reproduce.step(
                method, str(answer.request.url), path, kept, payload, auth, wrong_key=key if auth == "other" else None
            ),  # fmt: skip
        )
        try:
            exchange.json = answer.json()
        except ValueError:
            exchange.json = None
        self.session.after_answer(method, path, worst, exchange.status, exchange.json)
        return exchange

    def conditions(self) -> dict[str, Any]:
        """What the run met on the way, for the report: noise retried, 429s honoured, the pace kept."""
        return {
            "requests": self.sent,
            "transient": self.noise.summary(),
            "rate_limited": len(self.rate_limited),
            "paced_per_minute": None if self.pacer.per_minute is None else round(self.pacer.per_minute, 2),
            "pace_learned": self.pacer.learned,
            "spend": self.session.spend.to_json(),
        }

    def spent(self) -> str:
        """The requests sent, and what the run met on the way, in one line."""
        parts = [f"{self.sent} requests"]
        if self.rate_limited:
            parts.append(f"{len(self.rate_limited)} answered 429 and retried")
        if self.pacer.learned and self.pacer.per_minute is not None:
            parts.append(f"paced at {self.pacer.per_minute:.0f}/min from then on")
        noise = self.noise.line()
        if noise:
            parts.append(noise)
        parts.append(self.session.spend.line())
        return "; ".join(parts)

    def submit(self, body: Any, *, kind: api.Kind = "chat", **kwargs: Any) -> Exchange:
        return self.request("POST", api.SUBMIT[kind], json=body, **kwargs)

    def generation(self, generation_id: str, **kwargs: Any) -> Exchange:
        return self.request("GET", api.generation(generation_id), **kwargs)

    def chat(self, **extra: Any) -> dict[str, Any]:
        return {"model": self.model, "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8} | extra

    def text(self, **extra: Any) -> dict[str, Any]:
        return {"model": self.model, "prompt": "Once upon a time", "max_tokens": 8} | extra
