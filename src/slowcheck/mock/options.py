"""``slowcheck mock`` flags: declared once, applied over the config file, which is applied over defaults."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from slowcheck.errors import ConfigError
from slowcheck.mock.settings import MockSettings, Span, load_config

__all__ = ["ADMIN_TOKEN_ENV", "add_arguments", "default_text", "settings_from"]

ADMIN_TOKEN_ENV = "SLOWCHECK_MOCK_ADMIN_TOKEN"


def _ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return value


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"expected a value >= 0, got {text!r}")
        return value

    return parse


def _span(text: str) -> Span:
    try:
        return Span.parse(text, name="duration")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("duration: ")) from None


def _webhook(text: str) -> tuple[str, str]:
    webhook_id, sep, url = text.partition("=")
    if not sep or not webhook_id or not url.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"expected ID=URL with an http(s) URL, got {text!r}")
    return webhook_id, url


def _delays(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds separated by commas, got {text!r}") from None


# (flags, settings attribute, argparse keywords, help)
_OPTIONS: list[tuple[tuple[str, ...], str, dict[str, Any], str]] = [
    (("--host",), "host", {}, "address to listen on"),
    (("--port",), "port", {"type": int}, "port to listen on; 0 picks a free one"),
    (
        ("--api-key",),
        "api_keys",
        {"action": "append", "metavar": "KEY"},
        "an accepted API key (repeatable); without any, every non-empty key is accepted, each its own tenant",
    ),
    (
        ("--admin-token",),
        "admin_token",
        {"metavar": "TOKEN"},
        "bearer token for everything under /_mock (env SLOWCHECK_MOCK_ADMIN_TOKEN); without one, an API key sees "
        "its own data there on loopback, and /_mock is refused beyond loopback",
    ),
    (
        ("--allow-webhook-host",),
        "allow_webhook_hosts",
        {"action": "append", "metavar": "HOST"},
        "a host besides loopback that webhooks registered through /_mock/webhooks may point at (repeatable)",
    ),
    (
        ("--db",),
        "db",
        {"metavar": "PATH"},
        "SQLite file that keeps every acknowledged generation; ':memory:' keeps nothing",
    ),
    (("--fsync",), "fsync", {"action": "store_true"}, "fsync every commit (survive power loss, not only a crash)"),
    (
        ("--queue-time",),
        "queue_time",
        {"type": _span, "metavar": "S|MIN..MAX"},
        "seconds a generation waits before a worker may take it",
    ),
    (
        ("--run-time",),
        "run_time",
        {"type": _span, "metavar": "S|MIN..MAX"},
        "seconds a worker spends on a generation",
    ),
    (
        ("--time-scale",),
        "time_scale",
        {"type": _positive(float), "metavar": "FACTOR"},
        "compress the real 24-72 h window by FACTOR (86400: a day per second); scales expiry and webhook retries",
    ),
    (
        ("--expiry",),
        "expiry",
        {"type": _positive(float), "metavar": "SECONDS"},
        "queue time after which a generation fails as expired; scaled by --time-scale",
    ),
    (
        ("--workers",),
        "workers",
        {"type": int, "metavar": "N"},
        "simulated workers: generations In Progress at once",
    ),
    (
        ("--capacity",),
        "capacity",
        {"type": _positive(float), "metavar": "TOKENS_PER_S"},
        "tokens per second the workers decode together: run time follows each generation's tokens and the queue "
        "grows when the offered load exceeds it (default: drawn run times)",
    ),
    (
        ("--batch-window",),
        "batch_window",
        {"type": _positive(float), "metavar": "SECONDS"},
        "seconds before a batch expires (default: 24 h, scaled by --time-scale)",
    ),
    (
        ("--max-batch-lines",),
        "max_batch_lines",
        {"type": _positive(int), "metavar": "N"},
        "requests one batch may hold (default: 1,000,000); more fails its validation",
    ),
    (
        ("--cache-size",),
        "cache_size",
        {"type": _positive(int), "metavar": "N"},
        "generation records kept in memory (the most recently used); the rest, pending ones too, are read from --db",
    ),
    (
        ("--failure-ratio",),
        "failure_ratio",
        {"type": _ratio, "metavar": "RATIO"},
        "share of generations that end Failed",
    ),
    (("--seed",), "seed", {"type": int, "metavar": "N"}, "seed of the simulation's timing and failures"),
    (
        ("--model",),
        "models",
        {"action": "append", "metavar": "NAME"},
        "a served model (repeatable); others are 404 model_not_found",
    ),
    (
        ("--upstream",),
        "upstream",
        {"metavar": "URL"},
        "an OpenAI-compatible base URL (e.g. http://127.0.0.1:8000/v1) that does the work instead of the generator",
    ),
    (("--upstream-api-key",), "upstream_api_key", {"metavar": "KEY"}, "key sent to the upstream"),
    (
        ("--max-body-bytes",),
        "max_body_bytes",
        {"type": _positive(int), "metavar": "BYTES"},
        "larger bodies get 413",
    ),
    (
        ("--submit-rate",),
        "submit_rate",
        {"type": _positive(float), "metavar": "PER_S"},
        "per-key submissions per second before 429 (a token bucket)",
    ),
    (
        ("--submit-burst",),
        "submit_burst",
        {"type": _positive(int), "metavar": "N"},
        "submission bucket size",
    ),
    (
        ("--poll-rate",),
        "poll_rate",
        {"type": _positive(float), "metavar": "PER_S"},
        "per-key polls per second before 429",
    ),
    (("--poll-burst",), "poll_burst", {"type": _positive(int), "metavar": "N"}, "poll bucket size"),
    (
        ("--no-poll-after-hint",),
        "poll_after_hint",
        {"action": "store_false"},
        "do not send openai-poll-after-ms on pending records",
    ),
    (
        ("--webhook",),
        "webhooks",
        {"action": "append", "type": _webhook, "metavar": "ID=URL"},
        "register a webhook id (repeatable), as the dashboard would",
    ),
    (
        ("--webhook-secret",),
        "webhook_secret",
        {"metavar": "whsec_..."},
        "sign deliveries with Standard Webhooks headers (an extension: inference.net does not sign)",
    ),
    (
        ("--webhook-timeout",),
        "webhook_timeout",
        {"type": _positive(float), "metavar": "SECONDS"},
        "seconds per delivery attempt",
    ),
    (
        ("--webhook-retry-delays",),
        "webhook_retry_delays",
        {"type": _delays, "metavar": "S,S"},
        "seconds before the 2nd and 3rd attempt; scaled by --time-scale",
    ),
    (("--config",), "", {"type": Path, "metavar": "FILE"}, "TOML file with any of these settings (flags win)"),
]
_LIMIT_OPTIONS: list[tuple[tuple[str, ...], str, dict[str, Any], str]] = [
    (
        ("--tier",),
        "tier",
        {"metavar": "free|paid|RPM"},
        "generation requests a minute per key: free 30, paid 250, or a number; every submission counts, a group "
        "per request (not polls, not batch lines); brings --gateway-rps 100 and --batch-upload-per-minute 1; "
        "not with --submit-rate",
    ),
    (
        ("--gateway-rps",),
        "gateway_rps",
        {"type": _positive(float), "metavar": "N"},
        "requests a second per key across every endpoint, polls included; 0 turns it off",
    ),
    (
        ("--batch-upload-per-minute",),
        "batch_upload_per_minute",
        {"type": _positive(int), "metavar": "N"},
        "file uploads (POST /v1/files) a minute per key; 0 turns it off",
    ),
    (
        ("--credit",),
        "credit",
        {"type": float, "metavar": "USD"},
        "what each key may spend: a submission estimated beyond what is left gets 402; a success is charged its usage",
    ),
    (
        ("--prices",),
        "prices",
        {"metavar": "FILE"},
        "prices for --credit, TOML or JSON: per model, input and output USD per million tokens, and a default",
    ),
]
_FAULT_OPTIONS: list[tuple[str, str, dict[str, Any], str]] = [
    (
        "--batch-line-error-ratio",
        "batch_line_error_ratio",
        {"type": _ratio, "metavar": "RATIO"},
        "share of batch lines refused one by one (a line-level 400 in the error file)",
    ),
    (
        "--batch-cancel-delay",
        "batch_cancel_delay",
        {"type": _positive(float), "metavar": "SECONDS"},
        "extra seconds a cancelled batch stays cancelling",
    ),
    ("--ack-latency", "ack_latency", {"type": _positive(float), "metavar": "SECONDS"}, "extra seconds before each ack"),
    (
        "--error-ratio",
        "error_ratio",
        {"type": _ratio, "metavar": "RATIO"},
        "share of submissions and polls answered 503",
    ),
    (
        "--not-found-until-dispatched",
        "not_found_until_dispatched",
        {"action": "store_true"},
        "answer 404 for Queued generations",
    ),
    (
        "--swap-ratio",
        "swap_ratio",
        {"type": _ratio, "metavar": "RATIO"},
        "share of responses exchanged with the previous generation's (cross-wired answers)",
    ),
    ("--stuck-ratio", "stuck_ratio", {"type": _ratio, "metavar": "RATIO"}, "share of generations that never finish"),
    (
        "--webhook-drop-ratio",
        "webhook_drop_ratio",
        {"type": _ratio, "metavar": "RATIO"},
        "share of webhook deliveries never sent",
    ),
    (
        "--webhook-duplicate-ratio",
        "webhook_duplicate_ratio",
        {"type": _ratio, "metavar": "RATIO"},
        "share of deliveries sent twice",
    ),
    (
        "--webhook-delay",
        "webhook_delay",
        {"type": _positive(float), "metavar": "SECONDS"},
        "extra seconds before each delivery",
    ),
]


_UNSET = {
    "api_keys": "any non-empty key",
    "models": "any name",
    "submit_rate": "unlimited",
    "poll_rate": "unlimited",
    "submit_burst": "one second at the rate",
    "poll_burst": "one second at the rate",
    "allow_webhook_hosts": "loopback only",
    "tier": "none",
    "gateway_rps": "off, 100 with --tier",
    "batch_upload_per_minute": "off, 1 with --tier",
    "credit": "unlimited",
    "prices": "built-in estimates",
}
"""What an empty or zero default means, where it is not a value to show."""


def default_text(attribute: str) -> str | None:
    """The default of a setting as the help shows it, read from ``MockSettings`` (None: nothing to show)."""
    settings = MockSettings()
    value = getattr(settings, attribute)
    if attribute in _UNSET and not value:
        return _UNSET[attribute]
    if attribute in ("queue_time", "run_time"):
        return str(settings.queue_span if attribute == "queue_time" else settings.run_span)
    if attribute == "expiry":
        return f"{settings.expiry_seconds / 3600:g} h"
    if attribute.endswith("_bytes"):
        return f"{value / 2**20:g} MiB"
    if isinstance(value, bool) or value is None or value == [] or value == {}:
        return None
    if isinstance(value, list):
        return ",".join(f"{v:g}" for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for flags, attribute, keywords, help_text in _OPTIONS:
        dest = attribute or flags[0].removeprefix("--").replace("-", "_")
        shown = default_text(attribute) if attribute else None
        text = f"{help_text} (default: {shown})" if shown is not None else help_text
        parser.add_argument(*flags, dest=dest, default=argparse.SUPPRESS, help=text, **keywords)
    limits = parser.add_argument_group("published limits (inference.net's documented numbers; all off by default)")
    for flags, attribute, keywords, help_text in _LIMIT_OPTIONS:
        text = f"{help_text} (default: {default_text(attribute)})"
        limits.add_argument(*flags, dest=attribute, default=argparse.SUPPRESS, help=text, **keywords)
    faults = parser.add_argument_group("fault injection (all off by default)")
    for flag, attribute, keywords, help_text in _FAULT_OPTIONS:
        faults.add_argument(flag, dest=f"fault_{attribute}", default=argparse.SUPPRESS, help=help_text, **keywords)


def settings_from(args: argparse.Namespace) -> MockSettings:
    settings = MockSettings()
    given = vars(args)
    if "config" in given:
        load_config(given["config"], settings)
    for _, attribute, _, _ in [*_OPTIONS, *_LIMIT_OPTIONS]:
        if attribute and attribute in given:
            value = given[attribute]
            setattr(settings, attribute, dict(value) if attribute == "webhooks" else value)
    for _, attribute, _, _ in _FAULT_OPTIONS:
        if f"fault_{attribute}" in given:
            setattr(settings.faults, attribute, given[f"fault_{attribute}"])
    settings.admin_token = settings.admin_token or os.environ.get(ADMIN_TOKEN_ENV) or None
    return settings.validate()
