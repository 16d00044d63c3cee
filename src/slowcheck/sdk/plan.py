"""What one run of the SDK matrix is asked to do, decided once before anything is installed: built from
``slowcheck sdk-matrix``'s flags (declared here, each with the plan's default) by :func:`plan_from`, or directly
by ``slowcheck run`` for its SDK phase."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slowcheck import api
from slowcheck.embedded import add_target_arguments
from slowcheck.errors import ConfigError
from slowcheck.network import Network, add_arguments as add_network
from slowcheck.report import add_report_dir
from slowcheck.sdk import pins
from slowcheck.sdk.envs import NodeEnvs, cache_dir

__all__ = ["SdkPlan", "add_flags", "plan_from"]


@dataclass(frozen=True, slots=True)
class SdkPlan:
    python: tuple[str, ...] = pins.PYTHON_PINS
    """openai versions from PyPI (``latest`` is asked of PyPI when the run starts; ``pins.INSTALLED``, the one
    beside slowcheck)."""
    node: tuple[str, ...] | None = None
    """openai versions from npm; None: the default pins, skipped where Node.js or npm is not installed (versions
    named are not run instead)."""
    cache: Path | None = None
    """Where the environments are kept; None: ``slowcheck/sdk`` in ``$XDG_CACHE_HOME`` or ``~/.cache``."""
    jobs: int = 4
    """Versions run at once."""
    probe_timeout: float = 180.0
    """Seconds a version's probe may take: past them, its checks are not run."""
    install_timeout: float = 600.0
    """Seconds an environment's install may take (uv's, or the one npm call for every Node version)."""
    base_url: str | None = None
    """The API root as given (or ``SLOWCHECK_BASE_URL``); None starts the embedded mock."""
    api_key: str | None = None
    batch_base_url: str | None = None
    """The Batch API's root; None: the batch row is n/a, except against the embedded mock."""
    model: str = api.DEFAULT_MODEL
    network: Network = field(default_factory=Network)

    def node_skipped(self) -> bool:
        """Whether the default Node versions are left out: none named, and Node.js or npm not installed."""
        return self.node is None and not NodeEnvs.available()

    def versions(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The Python and the Node versions to run; a ``ConfigError`` when there are none."""
        node = self.node if self.node is not None else () if self.node_skipped() else pins.NODE_PINS
        if not self.python and not node:
            raise ConfigError("no SDK versions to run")
        return self.python, node

    def cache_folder(self) -> Path:
        return cache_dir(self.cache)


_DEFAULT = SdkPlan()


def add_flags(parser: argparse.ArgumentParser) -> None:
    """``slowcheck sdk-matrix``'s flags (``--report-dir`` among them, where the help lists it); what a flag does
    not say is the plan's default."""
    add_target_arguments(parser, without="the embedded mock is started and used", model="model for the probes")
    add_network(parser)
    parser.add_argument("--batch-base-url", metavar="URL",
                        help="the Batch API's root (inference.net: https://batch.inference.net/v1); without it the "
                        "batch row is n/a, except against the embedded mock")  # fmt: skip
    parser.add_argument("--python", metavar="V1,V2", help=f"openai versions ({','.join(_DEFAULT.python)}); '' for none")
    parser.add_argument(
        "--node", metavar="V1,V2", help=f"openai (npm) versions ({','.join(pins.NODE_PINS)}); '' for none"
    )
    add_report_dir(parser, "sdk-matrix")
    parser.add_argument("--cache-dir", type=Path, metavar="DIR",
                        help="where the environments are kept (default: slowcheck/sdk in $XDG_CACHE_HOME or "
                        "~/.cache)")  # fmt: skip
    parser.add_argument("--jobs", type=int, metavar="N", help=f"versions run at once (default: {_DEFAULT.jobs})")


def plan_from(options: Any) -> SdkPlan:
    """The plan the flags ask for, checked: a version that is not one (``--python 1.x``), ``--jobs 0``, a bad
    ``--header`` or certificate are each a one-line ``ConfigError``. Whether any version is left to run depends
    on the machine (Node.js): :meth:`SdkPlan.versions` says."""
    python = _DEFAULT.python if options.python is None else pins.parse(options.python, "--python")
    node = None if options.node is None else pins.parse(options.node, "--node")
    jobs = _DEFAULT.jobs if options.jobs is None else options.jobs
    if jobs < 1:
        raise ConfigError(f"--jobs: expected 1 or more, got {jobs}")
    return SdkPlan(
        python=python,
        node=node,
        cache=options.cache_dir,
        jobs=jobs,
        base_url=api.base_url(options.base_url),
        api_key=options.api_key,
        batch_base_url=options.batch_base_url,
        model=options.model,
        network=Network.from_args(options),
    )
