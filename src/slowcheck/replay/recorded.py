"""A finding as a written report keeps it: read from ``results.json`` for ``slowcheck replay``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from slowcheck.errors import ConfigError

__all__ = ["Recorded", "recorded"]


@dataclass(frozen=True, slots=True)
class Recorded:
    """One rule's finding to replay: the first of its findings that kept its requests."""

    rule_id: str
    outcome: str
    """``violated`` or ``deviation``, as the report graded it."""
    message: str
    reproduction: dict[str, Any]
    """``slowcheck.reproduce``'s account: the correlation id, whether it is a generation's life, the exchanges."""

    @property
    def exchanges(self) -> list[dict[str, Any]]:
        return list(self.reproduction.get("exchanges") or [])

    @property
    def lifecycle(self) -> bool:
        return bool(self.reproduction.get("lifecycle"))

    @property
    def origin(self) -> str:
        """The API root the first request went to: its URL without the path the suite named."""
        request = self.exchanges[0]["request"]
        url, path = str(request["url"]), str(request.get("path") or "")
        if path.startswith("/") and url.endswith(path):
            return url[: len(url) - len(path)]
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def model(self) -> str | None:
        """The model the first request named, for a rule run again (the target may serve no other)."""
        try:
            body = json.loads(self.exchanges[0]["request"].get("body") or "null")
        except ValueError:
            return None
        model = body.get("model") if isinstance(body, dict) else None
        return model if isinstance(model, str) else None


def recorded(report_dir: Path, rule_id: str) -> Recorded:
    """``rule_id``'s finding in ``report_dir/results.json``; a missing file, an unknown rule, a rule without a
    finding or a finding without its requests is a ``ConfigError`` naming what is there instead."""
    path = report_dir / "results.json"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        rules = {str(r["id"]): r for r in document["rules"]}
    except FileNotFoundError:
        raise ConfigError(f"{report_dir}: no results.json (a report folder of slowcheck contract or run?)") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    rule = rules.get(rule_id) or rules.get(rule_id.upper())
    if rule is None:
        found = [i for i, r in rules.items() if r.get("findings")]
        listed = ", ".join(found) if found else "none"
        raise ConfigError(f"{rule_id} is not in {path}; the rules with findings there: {listed}")
    findings = [f for f in rule.get("findings") or [] if isinstance(f, dict)]
    if not findings:
        raise ConfigError(f"{rule['id']} has no finding in {path} (it was {rule.get('outcome')}): nothing to replay")
    kept = [f for f in findings if isinstance(f.get("reproduction"), dict) and f["reproduction"].get("exchanges")]
    if not kept:
        raise ConfigError(f"{rule['id']}'s findings in {path} keep no request to send again (a report of an older "
                          "slowcheck, or a finding no single request shows)")  # fmt: skip
    first = kept[0]
    return Recorded(str(rule["id"]), str(first.get("outcome")), str(first.get("message")), first["reproduction"])
