"""Preflight: two or three requests that find the user's configuration mistakes before any rule runs.

A refused key, a model the target does not serve, or a base URL that is not the API root would otherwise
show up as dozens of "violations". Each stops the run with one line naming the fix (exit 2). A second key
that is refused is not an error: the isolation rule is skipped with that reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from slowcheck import api
from slowcheck.contract import ack
from slowcheck.contract.target import Exchange, Target, TargetUnreachable
from slowcheck.errors import ConfigError
from slowcheck.findings import NotRun
from slowcheck.network import Network

__all__ = ["Preflight", "check_reachable", "preflight", "requests_needed"]

_REFUSED = (401, 403)


@dataclass(slots=True)
class Preflight:
    models: list[str] | None = None
    """What GET /v1/models listed, or None where the target has no such endpoint."""
    notes: list[str] = field(default_factory=list)


_KEY_FLAG = f"--api-key / {api.KEY_ENV[0]}"


def requests_needed(target: Target) -> int:
    """The most the preflight sends: the models list (or the first submission), and the second key's check."""
    return 2 + (1 if target.second_api_key else 0)


def preflight(target: Target) -> Preflight:
    """Check the key, the model and the base URL; note a refused second key on the target. A target that only
    answers noise (a 503 on every try) or 429s is as unreachable as one that does not answer: one line, exit 2."""
    try:
        return _preflight(target)
    except NotRun as exc:
        raise TargetUnreachable(f"{target.root} cannot be checked now: {exc}") from None


def _preflight(target: Target) -> Preflight:
    found = Preflight()
    listing = target.request("GET", api.MODELS)
    _key_accepted(listing, _KEY_FLAG)
    found.models = _model_ids(listing)
    if found.models is not None:
        if target.model not in found.models:
            raise ConfigError(f"the target does not serve --model {target.model!r}; it serves: {_listed(found.models)}")
    else:  # no model list: the first submission (the run's plain chat ack) tells
        first, _ = ack.submitted(target)
        _key_accepted(first, _KEY_FLAG)
        _model_served(target, first)
        if first.status == 404 and not isinstance(first.json, dict):
            raise ConfigError(
                f"POST {target.root}{api.CHAT} answered 404 without an error envelope: "
                "is --base-url the API root (e.g. https://api.inference.net/v1)?"
            )
    if target.second_api_key:
        path = api.MODELS if found.models is not None else api.generation("slowcheckUnknownId000")
        second = target.request("GET", path, key=target.second_api_key)
        if second.status in _REFUSED:
            target.session.second_key_refused = (
                f"--second-api-key was refused in the preflight ({second.status}): pass a valid key of another "
                "account to check isolation"
            )
            found.notes.append(target.session.second_key_refused)
    return found


def _key_accepted(exchange: Exchange, flag: str) -> None:
    if exchange.status in _REFUSED:
        raise ConfigError(f"the API key was refused ({exchange.status}): check {flag}")


def _model_ids(exchange: Exchange) -> list[str] | None:
    data = exchange.json.get("data") if exchange.status == 200 and isinstance(exchange.json, dict) else None
    if not isinstance(data, list):
        return None
    ids = [m.get("id") for m in data if isinstance(m, dict)]
    return [i for i in ids if isinstance(i, str)] or None


def _model_served(target: Target, exchange: Exchange) -> None:
    error: Any = exchange.json.get("error") if isinstance(exchange.json, dict) else None
    if not isinstance(error, dict) or exchange.status // 100 != 4:
        return
    if error.get("code") == "model_not_found" or error.get("param") == "model":
        said = str(error.get("message") or "")[:200]
        raise ConfigError(
            f"the target does not serve --model {target.model!r} ({exchange.status}: {said}): pass --model"
        )


def _listed(models: list[str]) -> str:
    shown = ", ".join(models[:12])
    return shown + (f" and {len(models) - 12} more" if len(models) > 12 else "")


def check_reachable(root: str, key: str, model: str, network: Network | None = None) -> None:
    """The preflight on its own, for commands that run no rules (load, the SDK matrix): the target answers
    within 10 s (reached as ``network`` says), the key is accepted and the model served, each a one-line
    ConfigError, before anything heavy."""
    options = (network or Network()).httpx_options()
    target = Target(root + "/v1", key, model=model, timeout=10.0, client_options=options)
    try:
        preflight(target)
    finally:
        target.close()
