"""The load flags, declared once: the fields of :class:`LoadPlan`, each with its flag's help and its one default.

``slowcheck load``'s parser and the locustfiles' (locust's own parser) are both made from these fields, so a
flag cannot drift between them. A plan is plain data: the command builds it from its flags
(:meth:`LoadPlan.from_options`), ``slowcheck run`` from :meth:`LoadPlan.for_scenario` and
:func:`dataclasses.replace`, and :mod:`slowcheck.load.validation` checks it once before anything starts. The plan
a run was started with is written to ``run.json`` in its report folder: the locust side reads it there
(``--plan FILE``), and ``--resume DIR`` continues from it.
"""

from __future__ import annotations

import argparse
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from slowcheck import api, live
from slowcheck.load import arrivals, offered
from slowcheck.load.limits import Budget

__all__ = [
    "DEFAULTS",
    "FLAGS",
    "RUN_FILE",
    "PlanFlag",
    "FlagSpec",
    "LoadPlan",
    "Scenario",
    "add_flags",
    "given_flags",
    "read_run",
    "write_run",
]

Scenario = Literal["submit", "rate-limit", "poll", "jobs", "batch"]
DEFAULTS: dict[str, tuple[str, float]] = {
    "submit": ("50", 30.0),
    "rate-limit": ("50", 600.0),
    "poll": ("8", 30.0),
    "jobs": ("10", 30.0),
}
"""Per locust scenario: the default ``--rate`` and ``--duration`` (seconds). ``batch`` offers no rate: it is one
upload and one batch."""
RUN_FILE = "run.json"
_TRACKS = ("auto", "adaptive", "hinted", "backoff", "fixed", "webhook")


@dataclass(frozen=True, slots=True)
class FlagSpec:
    """What a field's flag says beyond its name, type and default."""

    text: str
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    group: str | None = None
    """``jobs``: the jobs scenario's group of flags."""
    cli: bool = True
    """Whether ``slowcheck load`` takes it (``--model`` comes with its target flags, ``embedded``'s)."""
    locust: bool = True
    """Whether the locustfiles take it (the options of the embedded mock, of ``batch`` and ``--processes``
    are the command's alone)."""
    per_scenario: int | None = None
    """Its default is the scenario's: ``DEFAULTS[scenario][per_scenario]``."""


def _flag(default: Any = MISSING, text: str = "", **more: Any) -> Any:
    meta = {"flag": FlagSpec(text, **more)}
    return field(metadata=meta) if default is MISSING else field(default=default, metadata=meta)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadPlan:
    """One load run: what it offers, how it follows what it sent, what it measures and judges."""

    scenario: Scenario
    model: str = _flag(api.DEFAULT_MODEL, "model named in submissions", cli=False)
    duration: float = _flag(
        text="seconds of offered load", metavar="SECONDS", per_scenario=1
    )  # fmt: skip
    rate: str = _flag(
        text="arrivals per second: 50, or stages 20@10,50 (rate@seconds); rate-limit: the probe's pace",
        metavar="PER_S",
        per_scenario=0,
    )
    rate_limit: str | None = _flag(
        None,
        "the key's generation limit: free (30 a minute), paid (250) or requests a minute; the plan is checked "
        "against it and 429s are read by it (the embedded mock gets it as its tier)",
        metavar="RPM",
    )
    gateway_rps: float | None = _flag(
        None,
        f"the gateway's requests a second per key, polls included (inference.net: {api.GATEWAY_RPS}; default: "
        f"{api.GATEWAY_RPS} with --rate-limit); polls are held to what the submissions leave",
        metavar="N",
    )
    processes: int = _flag(1, "locust worker processes", metavar="N", locust=False)
    repeat: int = _flag(
        1, "run the plan N times, one folder each (run-1, ...); repeat.json gives each figure's median and spread",
        metavar="N", locust=False,
    )  # fmt: skip
    metrics_port: str | None = _flag(None, live.FLAG_HELP, metavar=live.FLAG_METAVAR)
    threshold: tuple[str, ...] = _flag(
        (), "pass/fail on a summary.json figure, e.g. 'submit.latency_ms.p95<250' (repeatable)", metavar="EXPR"
    )
    poll_interval: float = _flag(1.0, "poll: the unit", metavar="SECONDS")
    strategies: str = _flag(",".join(offered.STRATEGIES), "poll: which strategies")
    drain: float = _flag(60.0, "poll: wait for results", metavar="SECONDS")
    max_inflight: int = _flag(
        256,
        "submissions in flight per process; an arrival finding none free is dropped and counted",
        metavar="N",
    )
    validate_every: int = _flag(
        10, "check the first ack and every Nth after it against the schema; 0 checks none", metavar="N"
    )
    webhook_id: str | None = _flag(None, "poll against a real API: a webhook reaching the receiver", metavar="ID")
    receiver_port: int = _flag(api.DEFAULT_RECEIVER_PORT, "with --webhook-id", metavar="PORT")
    input: Path | None = _flag(
        None,
        "batch: the input file to upload (default: --lines generated from the request schema); jobs: request "
        "bodies or Batch API lines to send, cycled (default: generated by --mix and the token lengths)",
        metavar="FILE.jsonl",
    )
    lines: int = _flag(1000, "batch: lines to generate without --input", metavar="N", locust=False)
    batch_base_url: str | None = _flag(
        None, "batch: the Batch API's root (inference.net: https://batch.inference.net/v1)", metavar="URL",
        locust=False,
    )  # fmt: skip
    timeout: float = _flag(
        600.0, "batch: how long to wait for the batch to end", metavar="SECONDS", locust=False
    )  # fmt: skip
    arrival: str = _flag("constant", "inter-arrival times at --rate", choices=arrivals.PROCESSES, group="jobs")
    burstiness: float = _flag(
        1.0, "gamma arrivals' shape: 1 is Poisson, below 1 burstier", metavar="K", group="jobs"
    )  # fmt: skip
    jobs: int | None = _flag(None, "at most N jobs; with --rate inf, N sent at once", metavar="N", group="jobs")
    trace: Path | None = _flag(
        None, "replay arrival times: a number of seconds, or {\"timestamp\": ...}, a line", metavar="FILE.jsonl",
        group="jobs",
    )  # fmt: skip
    seed: int = _flag(0, "seed of random arrivals", group="jobs")
    mix: str = _flag("chat", "kinds and weights, e.g. chat=8,text=1,embedding=1", group="jobs")
    prompt_tokens: str = _flag("64", "generated prompt length", metavar="MEAN[:SD]", group="jobs")
    output_tokens: str = _flag("64", "generated max_tokens", metavar="MEAN[:SD]", group="jobs")
    embedding_model: str = _flag(api.EMBEDDING_MODEL, "model of embedding jobs", group="jobs")
    canaries: float = _flag(
        0.02,
        "share of chat and text jobs asking for a known answer; 0: none, the echo checks stay",
        metavar="SHARE",
        group="jobs",
    )
    slo: tuple[str, ...] = _flag(
        (), "goodput counts jobs within every SLO: e2e_s<=600, queue_s<=120 (repeatable)", metavar="EXPR",
        group="jobs",
    )  # fmt: skip
    slice: float = _flag(10.0, "width of the throughput slices", metavar="SECONDS", group="jobs")
    warmup: float = _flag(
        0.0, "first seconds of arrivals left out of headline figures", metavar="SECONDS", group="jobs"
    )  # fmt: skip
    cooldown: float = _flag(
        0.0, "last seconds of arrivals left out of headline figures", metavar="SECONDS", group="jobs"
    )  # fmt: skip
    max_spend: float | None = _flag(
        None, "stop submitting jobs when the estimated spend would pass this many USD (split evenly between "
        "--processes; a threshold breach)", metavar="USD", group="jobs",
    )  # fmt: skip
    prices: Path | None = _flag(
        None, "a price table (JSON or TOML: per model input and output USD per million tokens, a default, "
        "async_discount) for the spend; without it, a built-in estimate", metavar="FILE", group="jobs",
    )  # fmt: skip
    track: str = _flag(
        "auto",
        "how jobs are followed: auto is webhook with --webhook-id, else adaptive (the server's hints; without "
        "them backoff from --poll-interval/4 to 8x)",
        choices=_TRACKS,
        group="jobs",
    )
    pollers: int = _flag(64, "polls in flight per process", metavar="N", group="jobs", cli=False)
    run_id: str = _flag("", "six hex digits in every custom_id (a resumed run keeps them)", group="jobs", cli=False)
    resume: Path | None = _flag(
        None, "continue a stopped jobs run from the journal in its report folder", metavar="DIR", group="jobs"
    )
    mock_capacity: float | None = _flag(
        None, "the embedded mock as a capacity model: tokens/s its workers decode", metavar="TOKENS_PER_S",
        group="jobs", locust=False,
    )  # fmt: skip
    mock_limit: float | None = _flag(
        None, "the embedded mock's per-key submit limit (default: rate-limit 10, otherwise none)", metavar="PER_S",
        locust=False,
    )  # fmt: skip

    def __post_init__(self) -> None:
        if self.rate_limit is not None and self.gateway_rps is None:  # the tiers and the gateway come together
            object.__setattr__(self, "gateway_rps", float(api.GATEWAY_RPS))

    @classmethod
    def for_scenario(cls, scenario: Scenario) -> LoadPlan:
        """The scenario's plan with every default; change it with :func:`dataclasses.replace`."""
        rate, duration = DEFAULTS.get(scenario, ("", 0.0))
        return cls(scenario=scenario, rate=rate, duration=duration)

    @classmethod
    def from_options(cls, scenario: Scenario, options: Any) -> LoadPlan:
        """The plan a parsed command line gives (``slowcheck load``'s or locust's): the flags given over the
        scenario's defaults."""
        return replace(cls.for_scenario(scenario), **given_flags(options))

    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario} | {f.dest: f.encode(getattr(self, f.dest)) for f in FLAGS}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> LoadPlan:
        """A plan :meth:`to_json` wrote; ``ValueError`` for anything else."""
        options = dict(document)
        scenario = options.pop("scenario", "jobs")  # run.json named no scenario while only jobs runs wrote one
        unknown = sorted(set(options) - {f.dest for f in FLAGS})
        if unknown or scenario not in typing.get_args(Scenario):
            raise ValueError(f"not a load plan: {', '.join(unknown) or scenario}")
        by_name = {f.dest: f for f in FLAGS}
        return replace(cls.for_scenario(scenario), **{k: by_name[k].decode(v) for k, v in options.items()})

    def polling_strategies(self) -> list[str]:
        """The strategies a run compares: those of ``--strategies`` in the poll scenario, none in the others."""
        return offered.parse_strategies(self.strategies) if self.scenario == "poll" else []

    def budget(self) -> Budget:
        """The limits of ``--rate-limit`` and ``--gateway-rps``."""
        return Budget(api.tier_rpm(self.rate_limit, flag="--rate-limit"), self.gateway_rps)

    def peak_rate(self) -> float:
        return offered.peak_rate(self.scenario, self.rate, self.duration)


@dataclass(frozen=True, slots=True)
class PlanFlag:
    """A field of :class:`LoadPlan` as a command-line flag."""

    dest: str
    default: Any
    kind: Any
    """``str``, ``int``, ``float``, ``Path`` or ``tuple`` (repeatable strings)."""
    spec: FlagSpec

    @property
    def name(self) -> str:
        return "--" + self.dest.replace("_", "-")

    def text(self, scenario: str | None = None) -> str:
        """The help line, with the default in one style everywhere; per scenario, the one given or all of them."""
        index = self.spec.per_scenario
        if index is None:
            shown = _shown(self.default)
        elif scenario is None:
            shown = ", ".join(f"{name} {_shown(values[index])}" for name, values in DEFAULTS.items())
        else:
            shown = _shown(DEFAULTS[scenario][index])
        return f"{self.spec.text} (default: {shown})" if shown else self.spec.text

    def add_to(self, parser: argparse.ArgumentParser | argparse._ArgumentGroup, *, scenario: str | None = None,
               plain: bool = False) -> None:  # fmt: skip
        """Added with no default of argparse's (the plan's stays the one default). ``plain``: strings for paths,
        as locust's options travel to its workers in msgpack."""
        keywords: dict[str, Any] = {"dest": self.dest, "help": self.text(scenario).replace("%", "%%")}
        if self.kind is tuple:
            keywords["action"] = "append"
        elif self.kind is not str:
            keywords["type"] = str if plain and self.kind is Path else self.kind
        if self.spec.metavar is not None:
            keywords["metavar"] = self.spec.metavar
        if self.spec.choices is not None:
            keywords["choices"] = self.spec.choices
        parser.add_argument(self.name, **keywords)

    def decode(self, value: Any) -> Any:
        """A value from a command line or ``run.json``, as the plan holds it."""
        if value is None:
            return None
        return tuple(str(item) for item in value) if self.kind is tuple else self.kind(value)

    def encode(self, value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        return list(value) if isinstance(value, tuple) else value


def given_flags(options: Any) -> dict[str, Any]:
    """The load flags a parsed command line gave (argparse's None: not given), as the plan holds them."""
    values = {flag: getattr(options, flag.dest, None) for flag in FLAGS}
    return {flag.dest: flag.decode(value) for flag, value in values.items() if value is not None}


def _shown(value: Any) -> str:
    if value is None or value == () or isinstance(value, str) and not value:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _flags() -> tuple[PlanFlag, ...]:
    hints = typing.get_type_hints(LoadPlan)
    found = []
    for spec in fields(LoadPlan):
        if spec.name == "scenario":
            continue
        hint = hints[spec.name]
        if typing.get_origin(hint) in (typing.Union, types.UnionType):  # X | None: a flag of X, None if not given
            hint = next(k for k in typing.get_args(hint) if k is not type(None))
        kind = tuple if typing.get_origin(hint) is tuple else hint
        default = None if spec.default is MISSING else spec.default
        found.append(PlanFlag(spec.name, default, kind, spec.metadata["flag"]))
    return tuple(found)


FLAGS = _flags()
"""Every load flag, in the order ``slowcheck load --help`` lists them."""


def add_flags(parser: argparse.ArgumentParser, *, cli: bool, scenario: str | None = None) -> None:
    """The flags of ``slowcheck load`` (``cli``), or of a locustfile of ``scenario`` (paths as strings)."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for flag in FLAGS:
        if not (flag.spec.cli if cli else flag.spec.locust):
            continue
        target: argparse.ArgumentParser | argparse._ArgumentGroup = parser
        if flag.spec.group is not None:
            if flag.spec.group not in groups:
                groups[flag.spec.group] = parser.add_argument_group(*_GROUPS[flag.spec.group])
            target = groups[flag.spec.group]
        flag.add_to(target, scenario=scenario, plain=not cli)


_GROUPS = {"jobs": ("jobs", "the jobs scenario: every job tracked to its end, figures per job")}


def write_run(folder: Path, plan: LoadPlan, base_url: str | None) -> Path:
    """``run.json``: the plan and the target's URL (None: the embedded mock), never a key."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / RUN_FILE
    path.write_text(json.dumps({"options": plan.to_json(), "base_url": base_url}, indent=2) + "\n", encoding="utf-8")
    return path


def read_run(path: Path) -> tuple[LoadPlan, str | None]:
    """The plan and target URL of a ``run.json``; ``OSError`` or ``ValueError`` when it is not one."""
    document = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict) or not isinstance(document.get("options"), dict):
        raise ValueError("no options in it")
    base_url = document.get("base_url")
    return LoadPlan.from_json(document["options"]), base_url if isinstance(base_url, str) else None
