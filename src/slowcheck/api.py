"""The API's names in one place: its paths, the generation states, slowcheck's defaults and where a key comes from.

Everything that talks to the API, or plays it, spells these through this module, so a renamed path or a new
state is one edit. The values are those of inference.net's Asynchronous Inference API, as its public docs give them.
"""

from __future__ import annotations

import os
from typing import Any, Literal, NamedTuple

from slowcheck.errors import ConfigError

__all__ = [
    "BASE_URL_ENV",
    "CHAT",
    "EMBEDDINGS",
    "EMBEDDINGS_ALIAS",
    "EMBEDDING_MODEL",
    "DEFAULT_MODEL",
    "DEFAULT_RECEIVER_PORT",
    "GATEWAY_RPS",
    "GROUP",
    "KEY_ENV",
    "KEY_HINT",
    "MODELS",
    "SLOW_PREFIXES",
    "STATES",
    "SUBMIT",
    "TERMINAL",
    "TEXT",
    "TIERS",
    "UPLOADS_PER_MINUTE",
    "Kind",
    "State",
    "api_key",
    "base_url",
    "generation",
    "group_generations",
    "is_json_media",
    "require_key",
    "second_api_key",
    "SECOND_KEY_ENV",
    "BATCHES",
    "BATCH_STATUSES",
    "BATCH_TERMINAL",
    "BATCH_URL",
    "BATCH_URLS",
    "BatchStatus",
    "FILES",
    "event_id",
    "tier_rpm",
    "Route",
    "Surface",
    "route",
]

Kind = Literal["chat", "text", "embedding"]
"""The kinds of request: chat completions, text completions and (asynchronous) embeddings."""

State = Literal["Queued", "In Progress", "Success", "Failed"]
STATES: tuple[State, ...] = ("Queued", "In Progress", "Success", "Failed")
TERMINAL: frozenset[str] = frozenset({"Success", "Failed"})
"""A generation in one of these states never changes again."""

SLOW_PREFIXES = ("/v1/slow", "/v1/async")
"""The documented prefix of asynchronous submission, and the alias the mock also serves."""
CHAT = "/v1/slow/chat/completions"
TEXT = "/v1/slow/completions"
SUBMIT: dict[Kind, str] = {"chat": CHAT, "text": TEXT}
"""The completion endpoints, which the contract suite and the load scenarios exercise."""
EMBEDDINGS = "/v1/async/embeddings"
"""Asynchronous embeddings (documented: "use the /v1/async base URL"): the same ack and generation lifecycle,
and an ``async-embedding.completed`` webhook."""
EMBEDDINGS_ALIAS = "/v1/slow/embeddings"
"""The same under the completions' prefix: inferred, probed by EMBED-ACK, served by the mock."""
EMBEDDING_MODEL = "qwen/qwen3-embedding-4b"
"""The embedding model of inference.net's documented batch example; the embedded mock serves it."""
GROUP: dict[Kind, str] = {"chat": "/v1/slow/group/chat/completions", "text": "/v1/slow/group/completions"}
MODELS = "/v1/models"


def generation(generation_id: str) -> str:
    """``GET`` this path for a generation's record."""
    return f"/v1/generation/{generation_id}"


def group_generations(group_id: str) -> str:
    """``GET`` this path for the records of a group's generations."""
    return f"/v1/slow/group/{group_id}/generations"


def is_json_media(content_type: str | None) -> bool:
    """Whether a Content-Type declares JSON: ``application/json`` or ``application/*+json``, parameters such as
    ``charset=utf-8`` allowed. The OpenAI SDKs read anything else as text, and hand the caller a string."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


DEFAULT_MODEL = "inference-net/load-test"
"""The model slowcheck asks for unless told otherwise (the embedded mock serves it)."""
DEFAULT_RECEIVER_PORT = 8787
"""Where slowcheck listens for webhooks from a real API (its webhook's URL must reach this port)."""

BASE_URL_ENV = "SLOWCHECK_BASE_URL"
KEY_ENV = ("SLOWCHECK_API_KEY", "INFERENCE_API_KEY")
"""Where a key is looked for when no --api-key is given, in this order (the second is the API's own name)."""
KEY_HINT = "env SLOWCHECK_API_KEY, then INFERENCE_API_KEY"
SECOND_KEY_ENV = "SLOWCHECK_SECOND_API_KEY"
"""Where another account's key (the isolation rule's) is looked for when no --second-api-key is given: in CI it
stays out of the command line, where the process list would show it."""


def base_url(given: str | None) -> str | None:
    """The base URL given, else ``SLOWCHECK_BASE_URL``; None means the embedded mock."""
    return given or os.environ.get(BASE_URL_ENV) or None


def api_key(given: str | None) -> str | None:
    """The key given, else the first of :data:`KEY_ENV` that is set."""
    return given or next((os.environ[name] for name in KEY_ENV if os.environ.get(name)), None)


def second_api_key(given: str | None) -> str | None:
    """The second key given, else ``SLOWCHECK_SECOND_API_KEY``; None when neither is."""
    return given or os.environ.get(SECOND_KEY_ENV) or None


def require_key(given: str | None) -> str:
    """:func:`api_key`, or a one-line error saying where a key may come from."""
    key = api_key(given)
    if not key:
        raise ConfigError(f"no API key: pass --api-key or set {' / '.join(KEY_ENV)}")
    return key


FILES = "/v1/files"
"""The Batch API's files (OpenAI's shape, on the batch host)."""
BATCHES = "/v1/batches"
BATCH_URLS: dict[str, Kind] = {"/v1/chat/completions": "chat", "/v1/completions": "text", "/v1/embeddings": "embedding"}
"""The ``url`` a batch input line names, per kind: OpenAI's synchronous endpoints, as the Batch API takes them."""
BATCH_URL: dict[Kind, str] = {kind: url for url, kind in BATCH_URLS.items()}
BatchStatus = Literal[
    "validating", "in_progress", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled"
]  # fmt: skip
BATCH_STATUSES: tuple[BatchStatus, ...] = (
    "validating", "in_progress", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled"
)  # fmt: skip
BATCH_TERMINAL: frozenset[str] = frozenset({"completed", "failed", "expired", "cancelled"})
"""A batch's statuses after which nothing changes (before: validating, in_progress, finalizing, cancelling)."""


def event_id(event: Any, subject: Literal["generation", "group", "webhook"] = "generation") -> str | None:
    """An id a webhook event names, as either spelling of the docs gives it: ``generation_id`` (the quick
    reference) or ``generationId`` (the reference page); likewise ``group_id`` and ``webhook_id``."""
    if not isinstance(event, dict):
        return None
    for key in (f"{subject}_id", f"{subject}Id"):
        if isinstance(value := event.get(key), str):
            return value
    return None


# The published limits (reference notes 1.7: the rate-limits page).
TIERS = {"free": 30, "paid": 250}
"""Generation requests a minute per account tier; custom teams get 500 to 1,000,000."""
GATEWAY_RPS = 100
"""The gateway's requests a second per API key or address, across every endpoint (polls included)."""
UPLOADS_PER_MINUTE = 1
"""Batch API file uploads a minute."""


def tier_rpm(value: str | int | None, *, flag: str = "tier") -> int | None:
    """Generation requests a minute from a tier's name (``free``, ``paid``) or a whole number; None for none."""
    if value is None:
        return None
    text = str(value).strip().lower()
    rpm = TIERS.get(text) or (int(text) if text.isdigit() else 0)
    if rpm < 1:
        raise ConfigError(f"{flag} must be free, paid or a number of requests a minute (at least 1), got {value!r}")
    return rpm


Surface = Literal["submit", "group", "poll", "listing"]
"""What a request path is to a reader of traffic: a submission, a group's, a generation's record, a group's list."""


class Route(NamedTuple):
    surface: Surface
    kind: Kind | None = None
    """The kind a submission or a group is of."""
    subject: str | None = None
    """The generation id a poll reads, or the group id a listing lists."""


def _under_each_prefix(path: str) -> list[str]:
    """A path under one of :data:`SLOW_PREFIXES`, under each of them (the mock and the docs serve both)."""
    rest = next(path.removeprefix(prefix) for prefix in SLOW_PREFIXES if path.startswith(prefix))
    return [prefix + rest for prefix in SLOW_PREFIXES]


_SUBMITS: dict[str, Kind] = {
    each: kind for kind, path in [*SUBMIT.items(), ("embedding", EMBEDDINGS)] for each in _under_each_prefix(path)
}
_GROUPS: dict[str, Kind] = {each: kind for kind, path in GROUP.items() for each in _under_each_prefix(path)}
_POLL = generation("")
_LISTING_HEAD, _LISTING_TAIL = group_generations("\0").split("\0")
_LISTING_HEADS = _under_each_prefix(_LISTING_HEAD)


def route(path: str) -> Route | None:
    """What ``path`` (a query string ignored) asks the API for, from the paths above; None for any other path."""
    path = path.split("?", 1)[0]
    if path in _SUBMITS:
        return Route("submit", _SUBMITS[path])
    if path in _GROUPS:
        return Route("group", _GROUPS[path])
    one = path.removeprefix(_POLL)
    if one != path and one and "/" not in one:
        return Route("poll", subject=one)
    for head in _LISTING_HEADS:
        rest = path.removeprefix(head)
        group_id = rest.removesuffix(_LISTING_TAIL)
        if rest != path and group_id != rest and group_id and "/" not in group_id:
            return Route("listing", subject=group_id)
    return None
