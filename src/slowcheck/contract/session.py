"""What one run of the suite keeps while it runs, in named fields the rules read: the ledger (where this run's
probes are written, and what an earlier run's holds), what the preflight found, the plan's grants, and each
shared probe made once.

The :class:`~slowcheck.contract.target.Target` sends requests within the budget; the session is everything
else a run learns on the way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from slowcheck.findings import NotRun, Skipped, Violation

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
    _made: dict[str, tuple[Any, BaseException | None]] = field(default_factory=dict)

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
