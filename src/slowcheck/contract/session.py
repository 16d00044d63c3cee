"""What one run of the suite keeps while it runs, in named fields the rules read: the ledger (where this run's
probes are written, and what an earlier run's holds), what the preflight found, the plan's grants, and each
shared probe made once.

The :class:`~slowcheck.contract.target.Target` sends requests within the budget; the session is everything
else a run learns on the way, what it spends included (``spend``: each submission's worst case held before it is
sent, refused past ``--max-spend``, and priced from its record's usage once a terminal record is read)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from slowcheck import api
from slowcheck.findings import NotRun, Skipped, Violation
from slowcheck.prices import Spend, SpendLimitReached

if TYPE_CHECKING:
    from slowcheck.contract.probes import Probe

__all__ = ["Session"]

_T = TypeVar("_T")


@dataclass(slots=True)
class Session:
    ledger: Path | None = None
    """Where the probes this run submits are written, for a later ``--resume`` (None: nowhere)."""
    resume: list[dict[str, Any]] | None = None
    """The probes an earlier run's ledger holds (``--resume``): judged instead of submitting new ones."""
    resume_batch: dict[str, Any] | None = None
    """The batch an earlier run's ledger holds, for the batch rules to read instead of making one."""
    second_key_refused: str | None = None
    """Why the preflight found --second-api-key unusable (the isolation rules are then skipped)."""
    granted: dict[str, int] = field(default_factory=dict)
    """Requests the budget plan granted each share (``budget.SHARES``), such as a fuzz mode's cases."""
    reserves: dict[str, int] = field(default_factory=dict)
    """Polls the plan granted each pool of waiting subjects."""
    capped: bool = False
    """The run has a request cap (--max-requests): only then do the reserves bound the polls."""
    probes: list[Probe] = field(default_factory=list)
    """The lifecycle probes this run submitted, as the ledger keeps them."""
    generated: list[Probe] = field(default_factory=list)
    """LIFE-GENERATED's bodies this run submitted and did not await (``--completion-timeout 0``), for the ledger."""
    batch: dict[str, Any] | None = None
    """The batch this run made, as the ledger keeps it (its root, file, create answer and custom_ids)."""
    probes_reserve_spent: bool = False
    """The lifecycle probes' polls ran out before every probe ended (the advice is then a larger budget)."""
    spend: Spend = field(default_factory=Spend)
    """What the run's submissions cost (``slowcheck.prices``), and ``--max-spend``'s stop."""
    _made: dict[str, tuple[Any, BaseException | None]] = field(default_factory=dict)

    def before_send(self, method: str, path: str, body: Any) -> float:
        """A submission's worst case (USD), held until its answer; NotRun when it would pass ``--max-spend``.
        Any other request costs nothing."""
        found = api.route(path)
        if method != "POST" or found is None or found.surface not in ("submit", "group") or found.kind is None:
            return 0.0
        kind = found.kind
        members = body.get("requests") if found.surface == "group" and isinstance(body, dict) else [body]
        if not isinstance(members, list) or not members:
            members = [body]
        worst = sum(self.spend.worst_usd(_model(m), m, kind) for m in members)
        try:
            return self.spend.admit(worst)
        except SpendLimitReached as exc:
            raise NotRun(str(exc)) from None

    def after_answer(self, method: str, path: str, worst: float, status: int, answer: Any) -> None:
        """An answer's part in the spend: an accepted submission's generations (or group), a terminal record's
        usage, a group listing's records."""
        found = api.route(path)
        if found is None:
            return
        ok = 200 <= status < 300 and isinstance(answer, dict)
        if method == "POST" and found.surface in ("submit", "group"):
            accepted: list[str] = []
            count = None
            if ok and found.surface == "submit" and isinstance(answer.get("id"), str):
                accepted = [answer["id"]]
            elif ok and found.surface == "group" and isinstance(answer.get("groupId"), str):
                size = answer.get("groupSize")
                accepted, count = [answer["groupId"]], size if isinstance(size, int) and size > 0 else 1
            self.spend.answered(worst, accepted, count=count)
        elif ok and found.surface == "poll":
            self._settle(answer)
        elif ok and found.surface == "listing" and isinstance(answer.get("generations"), list):
            records = answer["generations"]
            for record in records:
                self._settle(record, group=found.subject, size=len(records))

    def _settle(self, record: Any, *, group: str | None = None, size: int = 1) -> None:
        if (
            not isinstance(record, dict)
            or record.get("state") not in api.TERMINAL
            or not isinstance(record.get("id"), str)
        ):
            return
        found = record.get("response")
        response: dict[str, Any] = found if isinstance(found, dict) else {}
        model = _model(record.get("request")) or response.get("model")
        self.spend.settle(record["id"], model, response.get("usage"), group=group, size=size)

    def reserve(self, pool: str) -> int | None:
        """The polls granted to a pool; no cap when the run has none."""
        return self.reserves.get(pool) if self.capped else None

    def once(self, key: str, make: Callable[[], _T]) -> _T:
        """``make()`` once per run: later calls get its value, or its Violation / NotRun / Skipped again."""
        if key not in self._made:
            try:
                self._made[key] = (make(), None)
            except (Violation, NotRun, Skipped) as exc:
                self._made[key] = (None, exc)
        value, error = self._made[key]
        if error is not None:
            raise error
        return value  # type: ignore[no-any-return]


def _model(body: Any) -> Any:
    return body.get("model") if isinstance(body, dict) else None
