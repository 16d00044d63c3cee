"""What one run of the contract suite is asked to do, decided once from the flags (``slowcheck contract``'s,
``slowcheck run``'s or the pytest plugin's, declared in ``contract/options.py``) before anything is sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slowcheck import api
from slowcheck.contract.batches import FIRST_PHASE
from slowcheck.contract.lifecycle import read_ledger
from slowcheck.contract.options import DEFAULT_COMPLETION_TIMEOUT
from slowcheck.contract.rules import Rule
from slowcheck.contract.runner import select
from slowcheck.contract.session import Session
from slowcheck.errors import ConfigError
from slowcheck.network import Network
from slowcheck.prices import PriceTable, Spend, load_table
from slowcheck.target_url import normalise

__all__ = ["ContractPlan", "plan_from"]

_WAITING = ("lifecycle", "batch")
"""The groups whose rules wait for what an earlier run submitted: the ones ``--resume`` judges."""


@dataclass(frozen=True, slots=True)
class ContractPlan:
    rules: tuple[Rule, ...] = field(default_factory=lambda: tuple(select()))
    """The rules to judge, in catalogue order (with ``--resume``, those that wait for the ledger's probes)."""
    base_url: str | None = None
    """The API root as given (or ``SLOWCHECK_BASE_URL``); None starts the embedded mock."""
    api_key: str | None = None
    second_api_key: str | None = None
    model: str = api.DEFAULT_MODEL
    embedding_model: str | None = None
    batch_base_url: str | None = None
    completion_timeout: float = DEFAULT_COMPLETION_TIMEOUT
    max_requests: int | None = None
    """The cap as given; a target that is not this machine gets ``REMOTE_BUDGET`` without one."""
    rate_limit: float | None = None
    webhook_id: str | None = None
    receiver_port: int = api.DEFAULT_RECEIVER_PORT
    network: Network = field(default_factory=Network)
    lenient: frozenset[str] = frozenset()
    strict: bool = False
    ledger: Path | None = None
    """Where the probes are written for a later ``--resume``."""
    resume: tuple[dict[str, Any], ...] | None = None
    """The probes an earlier run's ledger holds (``--resume``)."""
    resume_batch: dict[str, Any] | None = None
    """The batch an earlier run's ledger holds."""
    prices: PriceTable = field(default_factory=lambda: load_table(None))
    """What the spend is priced at (``--prices``, or the built-in estimate)."""
    max_spend: float | None = None
    """``--max-spend`` USD: no submission is sent that would take the estimate past it."""

    def session(self) -> Session:
        """A fresh session of this plan: its ledger, and what an earlier run left to judge."""
        resume = None if self.resume is None else list(self.resume)
        spend = Spend(self.prices, self.max_spend)
        return Session(ledger=self.ledger, resume=resume, resume_batch=self.resume_batch, spend=spend)


def plan_from(options: Any, report_dir: Path) -> ContractPlan:
    """The plan the flags ask for (argparse's namespace or pytest's options), checked: an unknown ``--lenient``
    id, a ledger of another target, a bad ``--header`` are a ``ConfigError``. ``--resume`` keeps the rules that
    wait (and points at the ledger's target and batch host); ``--completion-timeout 0`` writes its ledger to
    ``report_dir/ledger.json`` unless ``--ledger`` says where."""
    rules = select(options.lenient)
    base_url = api.base_url(options.base_url)
    batch_base_url = options.batch_base_url
    resume = resume_batch = None
    if options.resume is not None:
        ledger_target, probes, resume_batch = read_ledger(options.resume)
        if base_url and normalise(base_url)[0] != ledger_target:
            raise ConfigError(f"--resume: the ledger is for {ledger_target}, not {base_url}")
        base_url = base_url or ledger_target + "/v1"
        waiting = _WAITING if resume_batch is not None else _WAITING[:1]
        rules = [r for r in rules if r.group in waiting and r.id not in FIRST_PHASE]
        resume = tuple(probes)
        if resume_batch is not None:
            batch_base_url = batch_base_url or resume_batch["root"] + "/v1"
    max_spend = getattr(options, "max_spend", None)
    if max_spend is not None and not max_spend >= 0:
        raise ConfigError(f"--max-spend: expected USD >= 0, got {max_spend:g}")
    ledger = options.ledger
    if ledger is None and options.completion_timeout <= 0 and resume is None:
        ledger = report_dir / "ledger.json"
    return ContractPlan(
        rules=tuple(rules),
        base_url=base_url,
        api_key=options.api_key,
        second_api_key=options.second_api_key,
        model=options.model,
        embedding_model=options.embedding_model,
        batch_base_url=batch_base_url,
        completion_timeout=options.completion_timeout,
        max_requests=options.max_requests,
        rate_limit=options.rate_limit,
        webhook_id=options.webhook_id,
        receiver_port=options.receiver_port,
        network=Network.from_args(options),
        lenient=frozenset(options.lenient),
        strict=bool(options.strict),
        ledger=ledger,
        resume=resume,
        resume_batch=resume_batch,
        prices=load_table(getattr(options, "prices", None)),
        max_spend=max_spend,
    )
