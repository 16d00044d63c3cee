"""The mock's settings: flags, a TOML config file, and the checks that turn bad values into one-line errors."""

from __future__ import annotations

import dataclasses
import difflib
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slowcheck import config_file
from slowcheck.errors import ConfigError
from slowcheck.mock.credit import load_prices
from slowcheck.mock.limits import Published

__all__ = ["Faults", "MockSettings", "Span", "load_config"]

HOUR = 3600.0
# The documented window: "Requests complete within 24-72 hours" and "expire after 72 hours".
REAL_COMPLETION = (24 * HOUR, 72 * HOUR)
REAL_EXPIRY = 72 * HOUR
BATCH_WINDOW = 24 * HOUR
"""The only completion_window a batch may ask for (\"24h\")."""


@dataclass(frozen=True, slots=True)
class Span:
    """A duration in seconds: fixed (``2``) or drawn uniformly from a range (``1..3``)."""

    low: float
    high: float

    @classmethod
    def parse(cls, text: str | float, *, name: str) -> Span:
        raw = str(text).strip()
        low_text, sep, high_text = raw.partition("..")
        try:
            low = float(low_text)
            high = float(high_text) if sep else low
        except ValueError:
            raise ConfigError(f"{name}: expected seconds like 2 or 1..3, got {raw!r}") from None
        if not (0 <= low <= high) or high == float("inf"):
            raise ConfigError(f"{name}: expected 0 <= MIN <= MAX seconds, got {raw!r}")
        return cls(low, high)

    def draw(self, rng: random.Random) -> float:
        return self.low if self.low == self.high else rng.uniform(self.low, self.high)

    def __str__(self) -> str:
        return f"{self.low:g}" if self.low == self.high else f"{self.low:g}..{self.high:g}"


@dataclass(slots=True)
class Faults:
    """Misbehaviour to test clients against; every one is off by default."""

    ack_latency: float = 0.0
    """Extra seconds before each submission is answered."""
    error_ratio: float = 0.0
    """Share of submissions and polls answered with a 503 envelope (nothing is stored)."""
    not_found_until_dispatched: bool = False
    """GET /v1/generation/{id} answers 404 while the generation is Queued."""
    stuck_ratio: float = 0.0
    """Share of generations that are dispatched but never finish."""
    webhook_drop_ratio: float = 0.0
    """Share of webhook deliveries never sent."""
    webhook_duplicate_ratio: float = 0.0
    """Share of webhook deliveries sent twice."""
    webhook_delay: float = 0.0
    """Extra seconds before each webhook delivery."""
    batch_line_error_ratio: float = 0.0
    """Share of batch lines refused one by one (a 400 in the error file) while the batch completes."""
    batch_cancel_delay: float = 0.0
    """Extra seconds a cancelled batch stays cancelling (OpenAI: up to 10 minutes)."""
    swap_ratio: float = 0.0
    """Share of successful generations whose response is exchanged with the previous one's (cross-wired
    answers: each record then carries another request's response)."""


@dataclass(slots=True)
class MockSettings:
    """Everything the mock can be told. Flags override the config file, which overrides these defaults."""

    host: str = "127.0.0.1"
    port: int = 8080
    api_keys: list[str] = field(default_factory=list)
    """Accepted keys; empty means any non-empty bearer key is accepted (each key is its own tenant)."""
    admin_token: str | None = None
    """Bearer token for everything under /_mock (else ``SLOWCHECK_MOCK_ADMIN_TOKEN``). Without one, an API key
    sees its own data there, and only while the mock listens on loopback; beyond loopback /_mock is refused."""
    allow_webhook_hosts: list[str] = field(default_factory=list)
    """Hosts besides loopback that a webhook registered through /_mock/webhooks may point at: without them the
    mock would POST wherever anyone who can reach it asks. Webhooks given at start (``--webhook``) are not
    limited: the operator wrote them."""
    db: str = "slowcheck-mock.sqlite3"
    """SQLite file; ':memory:' keeps nothing across restarts (faster)."""
    fsync: bool = False
    """synchronous=FULL: survive power loss, not just a crash of the process (slower)."""
    queue_time: Span | None = None
    """Seconds a generation waits before a worker may take it (default 0.5..2, or 90 % of the scaled window)."""
    run_time: Span | None = None
    """Seconds a worker spends on it (default 0.5..2, or 10 % of the scaled window)."""
    time_scale: float | None = None
    """Compress the real 24-72 h window by this factor (86400: a day becomes a second). Sets queue and run
    times unless given explicitly, and scales expiry and webhook retry delays."""
    expiry: float | None = None
    """Seconds a generation may wait in the queue before it fails as expired (default 72 h, scaled)."""
    batch_window: float | None = None
    """Seconds a batch may run before it expires (default its completion_window, 24 h, scaled)."""
    batch_validating: float = 0.05
    """Seconds a batch spends validating before its lines run (real APIs take seconds): a client that cancels
    at once meets a batch that has not started, as it would for real."""
    max_batch_lines: int = 1_000_000
    """Requests one batch may hold (inference.net documents 1,000,000; OpenAI 50,000)."""
    max_file_bytes: int = 200 * 1024 * 1024
    """Largest upload to /v1/files (OpenAI: 200 MB for a batch input)."""
    cache_size: int = 10_000
    """Generation records kept in memory, of any state (the most recently used); the rest are read from the
    store when asked for, a pending backlog included. Without a store (``:memory:``) every one stays in memory."""
    workers: int = 16
    """Simulated workers: at most this many generations are In Progress at once."""
    capacity: float | None = None
    """Tokens per second the workers decode together: a generation's run time is then its tokens (completion,
    or input for an embedding) x workers / capacity, and it waits for a worker, not a drawn queue time, so the
    queue grows when the offered token load exceeds the capacity, as on a real cluster."""
    failure_ratio: float = 0.0
    seed: int = 0
    """Seeds the simulation (timing, failures); results are seeded by the request itself."""
    models: list[str] = field(default_factory=list)
    """Models served; empty means any model name is accepted."""
    upstream: str | None = None
    """An OpenAI-compatible base URL (ending in /v1) that does the work instead of the built-in generator."""
    upstream_api_key: str | None = None
    upstream_timeout: float = 600.0
    max_body_bytes: int = 4 * 1024 * 1024
    submit_rate: float = 0.0
    """Per-key submissions per second (token bucket); 0 means unlimited."""
    submit_burst: int = 0
    """Bucket size for submissions (default: one second's worth)."""
    poll_rate: float = 0.0
    poll_burst: int = 0
    tier: str | int | None = None
    """inference.net's generation requests a minute per key: "free" (30), "paid" (250) or a number. Counts
    every submission (a group per request); polls and batch lines do not count. Not with ``submit_rate``."""
    gateway_rps: float | None = None
    """Requests a second per key across every endpoint (the gateway's documented 100): off, or 100 with a
    tier; 0 turns it off."""
    batch_upload_per_minute: int | None = None
    """POST /v1/files per key a minute (documented: 1): off, or 1 with a tier; 0 turns it off."""
    credit: float | None = None
    """USD every key starts with (None: unlimited); a submission estimated beyond what is left gets 402."""
    prices: str | dict[str, Any] | None = None
    """A price file (TOML, or JSON) or table: per model ``input`` and ``output`` USD per million tokens, and a
    ``default``; laid over the built-in estimates."""
    poll_after_hint: bool = True
    """Pending records carry openai-poll-after-ms: when the next state change is expected."""
    webhooks: dict[str, str] = field(default_factory=dict)
    """Webhook id -> URL, as the dashboard would hold them."""
    webhook_secret: str | None = None
    """whsec_... : sign deliveries the Standard Webhooks way (an extension; inference.net does not sign)."""
    webhook_timeout: float = 30.0
    webhook_attempts: int = 3
    webhook_retry_delays: list[float] = field(default_factory=lambda: [10.0, 60.0])
    """Seconds before the 2nd, 3rd, ... attempt (scaled by time_scale)."""
    faults: Faults = field(default_factory=Faults)

    def validate(self) -> MockSettings:
        ratios = {"failure_ratio": self.failure_ratio} | {
            f"faults.{f.name}": getattr(self.faults, f.name) for f in dataclasses.fields(Faults) if "ratio" in f.name
        }
        for name, value in ratios.items():
            if not 0 <= value <= 1:
                raise ConfigError(f"{name} must be between 0 and 1, got {value}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be between 0 and 65535, got {self.port}")
        if self.workers < 1:
            raise ConfigError(f"workers must be at least 1, got {self.workers}")
        if self.capacity is not None and not self.capacity > 0:
            raise ConfigError(f"capacity must be positive, got {self.capacity}")
        if self.time_scale is not None and self.time_scale <= 0:
            raise ConfigError(f"time_scale must be positive, got {self.time_scale}")
        if self.webhook_attempts < 1:
            raise ConfigError(f"webhook_attempts must be at least 1, got {self.webhook_attempts}")
        for name in ("submit_rate", "poll_rate", "max_body_bytes", "webhook_timeout", "upstream_timeout"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative, got {getattr(self, name)}")
        self._validate_limits()
        if self.upstream and not self.upstream.startswith(("http://", "https://")):
            raise ConfigError(f"upstream must be an http(s) URL, got {self.upstream!r}")
        for webhook_id, url in self.webhooks.items():
            if not url.startswith(("http://", "https://")):
                raise ConfigError(f"webhook {webhook_id}: expected an http(s) URL, got {url!r}")
        if self.webhook_secret is not None and not self.webhook_secret.startswith("whsec_"):
            raise ConfigError("webhook_secret must look like whsec_<base64>")
        return self

    def _validate_limits(self) -> None:
        for name in ("gateway_rps", "batch_upload_per_minute", "credit"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < float("inf"):
                raise ConfigError(f"{name} must be a number >= 0, got {value}")
        if self.tier is not None and self.submit_rate:
            raise ConfigError(
                "tier and submit_rate (--tier, --submit-rate) both limit submissions: give one "
                "(a tier counts a minute's generation requests, a group per request; submit_rate a second's calls)"
            )
        Published.of(self)  # a bad tier is named here
        if self.prices is not None and self.credit is None:
            raise ConfigError("prices (--prices) are used with credit (--credit USD) only: give both, or neither")
        if self.credit is not None:
            load_prices(self.prices)  # as is a broken price file

    @property
    def scale(self) -> float:
        return self.time_scale or 1.0

    @property
    def queue_span(self) -> Span:
        if self.capacity is not None and self.queue_time is None:
            return Span(0.0, 0.0)  # the queue is the workers' own
        return self._span(self.queue_time, share=0.9)

    @property
    def run_span(self) -> Span:
        return self._span(self.run_time, share=0.1)

    def _span(self, explicit: Span | None, *, share: float) -> Span:
        """An explicit time, else 0.5..2 s, else this share of the scaled 24-72 h window."""
        if explicit is not None:
            return explicit
        if self.time_scale is None:
            return Span(0.5, 2.0)
        return Span(share * REAL_COMPLETION[0] / self.scale, share * REAL_COMPLETION[1] / self.scale)

    @property
    def batch_window_seconds(self) -> float:
        return self.batch_window if self.batch_window is not None else BATCH_WINDOW / self.scale

    @property
    def expiry_seconds(self) -> float:
        return self.expiry if self.expiry is not None else REAL_EXPIRY / self.scale

    def scaled_retry_delays(self) -> list[float]:
        return [delay / self.scale for delay in self.webhook_retry_delays]


_SCALARS = {f.name: f for f in dataclasses.fields(MockSettings)}
_FAULTS = {f.name: f for f in dataclasses.fields(Faults)}


def load_config(path: Path, settings: MockSettings) -> MockSettings:
    """Apply a TOML config file (keys as in :class:`MockSettings`, faults in a ``[faults]`` table; a price file
    named there is found beside it)."""
    data = config_file.read(path, "config")
    if not isinstance(data, dict):
        raise ConfigError(f"config {path}: expected a table of settings")
    for key, value in data.items():
        if key == "faults":
            if not isinstance(value, dict):
                raise ConfigError(f"config {path}: [faults] must be a table")
            for fault, fault_value in value.items():
                _set(settings.faults, _FAULTS, fault, fault_value, where=f"config {path}: faults.")
        else:
            _set(settings, _SCALARS, key, value, where=f"config {path}: ")
    if isinstance(settings.prices, str) and "prices" in data:
        settings.prices = str(path.parent / settings.prices)
    return settings


def _set(target: Any, known: dict[str, dataclasses.Field[Any]], key: str, value: Any, *, where: str) -> None:
    if key not in known or key == "faults":
        hint = difflib.get_close_matches(key, known, n=1)
        raise ConfigError(f"{where}unknown key {key!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    if key in ("queue_time", "run_time"):
        value = Span.parse(value, name=key)
    elif key == "prices" and not isinstance(value, str | dict):
        raise ConfigError(f"{where}prices must be a file name or a table of models: {value!r}")
    elif key != "prices" and not _fits(known[key].type, value):
        raise ConfigError(f"{where}{key} has the wrong type: {value!r}")
    setattr(target, key, value)


def _fits(annotation: Any, value: Any) -> bool:
    text = str(annotation)
    if isinstance(value, bool):
        return "bool" in text
    if isinstance(value, int):
        return "int" in text or "float" in text
    if isinstance(value, float):
        return "float" in text
    if isinstance(value, str):
        return "str" in text
    if isinstance(value, list):
        return text.startswith("list")
    if isinstance(value, dict):
        return text.startswith("dict")
    return False
