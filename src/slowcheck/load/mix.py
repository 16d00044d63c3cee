"""What the ``jobs`` scenario sends: the body of every job, rebuilt from its index whenever it is needed.

Bodies are generated (a kind mix, prompt and output lengths drawn from ``MEAN[:STDDEV]``) or read from the
user's file (request bodies, or Batch API input lines). Each job gets ``metadata.custom_id`` (unique in the
run) and a share of chat and text jobs are canaries: ``Reply with exactly: <nonce>`` at temperature 0, whose
answer shows whether the job got its own response. A body is a pure function of ``(run, index)``, so the
harness keeps only the index of a job in flight and rebuilds the body to check the record's echo of it.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slowcheck import _json, api
from slowcheck.errors import ConfigError

__all__ = ["CANARY_PREFIX", "Job", "Length", "Mix", "nonces_in", "parse_length", "parse_mix", "read_bodies"]

CANARY_PREFIX = "Reply with exactly: "
_NONCE = re.compile(r"sc-[0-9a-f]{6}-\d+")
_WORDS = (
    "queue token batch latency worker window answer request result model system value data simple example time "
    "state record paris river mountain winter summer garden letter number signal market"
).split()
_MAX_WORDS = 200_000


@dataclass(frozen=True, slots=True)
class Length:
    """A length in tokens, drawn from a normal distribution (``MEAN[:STDDEV]``), at least 1."""

    mean: float
    stddev: float = 0.0

    def draw(self, rng: random.Random) -> int:
        value = rng.gauss(self.mean, self.stddev) if self.stddev else self.mean
        return max(1, min(_MAX_WORDS, round(value)))


def parse_length(text: str, flag: str) -> Length:
    mean_text, _, stddev_text = str(text).partition(":")
    try:
        mean, stddev = float(mean_text), float(stddev_text or 0)
    except ValueError:
        raise ConfigError(f"{flag}: expected MEAN or MEAN:STDDEV in tokens, got {text!r}") from None
    if not (1 <= mean <= _MAX_WORDS and 0 <= stddev and math.isfinite(stddev)):
        raise ConfigError(f"{flag}: expected a mean of 1..{_MAX_WORDS} tokens and a stddev >= 0, got {text!r}")
    return Length(mean, stddev)


def parse_mix(text: str) -> tuple[tuple[api.Kind, float], ...]:
    """``--mix``: ``chat``, or weights ``chat=8,text=1,embedding=1``."""
    kinds: dict[str, float] = {}
    for part in str(text).split(","):
        name, sep, weight_text = part.strip().partition("=")
        try:
            weight = float(weight_text) if sep else 1.0
        except ValueError:
            weight = -1.0
        if name not in ("chat", "text", "embedding") or not (weight >= 0 and math.isfinite(weight)):
            raise ConfigError(f"--mix: expected chat, text, embedding with weights like chat=8,text=1, got {text!r}")
        kinds[name] = weight
    if not sum(kinds.values()) > 0:
        raise ConfigError(f"--mix: at least one kind needs a weight above 0, got {text!r}")
    return tuple((name, weight) for name, weight in kinds.items() if weight > 0)  # type: ignore[misc]


@dataclass(frozen=True, slots=True)
class Job:
    index: int
    kind: api.Kind
    body: dict[str, Any]
    custom_id: str
    nonce: str | None
    """The canary's expected answer; None for an ordinary job."""


@dataclass(frozen=True)
class Mix:
    run: str
    """Six hex digits naming the run; in every custom_id and nonce."""
    model: str
    embedding_model: str = api.EMBEDDING_MODEL
    kinds: tuple[tuple[api.Kind, float], ...] = (("chat", 1.0),)
    prompt: Length = Length(64)
    output: Length = Length(64)
    canaries: float = 0.02
    inputs: tuple[tuple[api.Kind, dict[str, Any]], ...] = ()
    """The user's bodies (``--input``), cycled; generated bodies when empty."""
    metadata: dict[str, str] = field(default_factory=dict)
    """Added to every body's metadata (a webhook id)."""

    def job(self, index: int) -> Job:
        rng = random.Random(f"{self.run}:{index}")
        custom_id = f"sc-{self.run}-{index}"
        if self.inputs:
            kind, template = self.inputs[index % len(self.inputs)]
            body = dict(template)
        else:
            kind = _pick(self.kinds, rng)
            body = self._generated(kind, rng)
        nonce = None
        if kind != "embedding" and self.canaries and rng.random() < self.canaries:
            nonce = custom_id
            body = _as_canary(kind, body, nonce)
        metadata = body.get("metadata")
        body["metadata"] = {**(metadata if isinstance(metadata, dict) else {}), **self.metadata, "custom_id": custom_id}
        return Job(index, kind, body, custom_id, nonce)

    def _generated(self, kind: api.Kind, rng: random.Random) -> dict[str, Any]:
        words = " ".join(rng.choice(_WORDS) for _ in range(self.prompt.draw(rng)))
        if kind == "embedding":
            return {"model": self.embedding_model, "input": words}
        limit = self.output.draw(rng)
        if kind == "text":
            return {"model": self.model, "prompt": words, "max_tokens": limit}
        return {"model": self.model, "messages": [{"role": "user", "content": words}], "max_tokens": limit}


def _pick(kinds: tuple[tuple[api.Kind, float], ...], rng: random.Random) -> api.Kind:
    point = rng.random() * sum(weight for _, weight in kinds)
    for kind, weight in kinds:
        point -= weight
        if point < 0:
            return kind
    return kinds[-1][0]


def _as_canary(kind: api.Kind, body: dict[str, Any], nonce: str) -> dict[str, Any]:
    instruction = f"{CANARY_PREFIX}{nonce}"
    canary = {k: v for k, v in body.items() if k not in ("messages", "prompt", "n", "stop", "tools", "tool_choice")}
    canary |= {"temperature": 0, "max_tokens": max(32, int(body.get("max_tokens") or 0))}
    canary.pop("max_completion_tokens", None)
    canary.pop("response_format", None)
    if kind == "chat":
        canary["messages"] = [{"role": "user", "content": instruction}]
    else:
        canary["prompt"] = instruction + "\n"
    return canary


def nonces_in(text: str) -> list[str]:
    """Every canary nonce a text holds (another job's shows cross-wired answers)."""
    return _NONCE.findall(text)


def read_bodies(path: Path) -> tuple[tuple[api.Kind, dict[str, Any]], ...]:
    """``--input``: request bodies one a line, or Batch API input lines (``custom_id``, ``url``, ``body``)."""
    found: list[tuple[api.Kind, dict[str, Any]]] = []
    try:
        with path.open("rb") as lines:
            for number, line in enumerate(_lines(lines), 1):
                if line is None:
                    continue
                try:
                    document = _json.loads(line)
                except ValueError:
                    raise ConfigError(f"--input {path}:{number}: not JSON") from None
                if not isinstance(document, dict):
                    raise ConfigError(f"--input {path}:{number}: expected a JSON object")
                body, url = (document["body"], document.get("url")) if "body" in document else (document, None)
                kind = _kind(body, url)
                if kind is None:
                    raise ConfigError(
                        f"--input {path}:{number}: neither a chat (messages), text (prompt) nor embedding (input) body"
                    )
                found.append((kind, body))
    except OSError as exc:
        raise ConfigError(f"--input {path}: {exc.strerror or exc}") from None
    if not found:
        raise ConfigError(f"--input {path}: no requests in it")
    return tuple(found)


def _lines(handle: Any) -> Iterator[bytes | None]:
    for line in handle:
        yield line if line.strip() else None


def _kind(body: Any, url: Any) -> api.Kind | None:
    if not isinstance(body, dict):
        return None
    if isinstance(url, str) and url.endswith("embeddings") or "input" in body:
        return "embedding"
    if isinstance(url, str) and url.endswith("chat/completions") or "messages" in body:
        return "chat"
    if "prompt" in body:
        return "text"
    return None
