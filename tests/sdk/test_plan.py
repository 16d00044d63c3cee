"""The SDK matrix's plan: built once from the flags, with the documented defaults, checked before anything runs."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from slowcheck.errors import ConfigError
from slowcheck.network import Network
from slowcheck.run.command import _sdk_plan
from slowcheck.sdk import envs
from slowcheck.sdk.pins import INSTALLED, NODE_PINS
from slowcheck.sdk.plan import SdkPlan, add_flags, plan_from

DOCS = Path(__file__).resolve().parents[2] / "docs" / "sdk-matrix.md"


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_flags(parser)
    return parser.parse_args(list(argv))


def test_the_plan_from_no_flags_is_the_documented_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLOWCHECK_BASE_URL", raising=False)
    plan = plan_from(_args())
    assert plan == SdkPlan()
    assert plan.python == ("1.0.0", "1.40.0", "1.109.1", "2.54.0", "latest")
    assert plan.node is None, "the default Node pins, where Node.js is installed"
    assert (plan.jobs, plan.cache, plan.probe_timeout, plan.install_timeout) == (4, None, 180.0, 600.0)
    assert (plan.base_url, plan.api_key, plan.batch_base_url) == (None, None, None), "the embedded mock"
    assert plan.model == "inference-net/load-test"
    assert plan.network == Network()
    docs = " ".join(DOCS.read_text(encoding="utf-8").split())
    assert f"Python `{', '.join(plan.python)}`" in docs
    assert f"Node `{', '.join(NODE_PINS)}`" in docs
    assert f"a probe past its {plan.probe_timeout:g} s" in docs


def test_the_flags_given_make_the_plan() -> None:
    plan = plan_from(_args("--python", "1.40.0,latest,1.40.0", "--node", "", "--jobs", "2", "--cache-dir", "c",
                           "--batch-base-url", "https://batch.example/v1", "--model", "m"))  # fmt: skip
    assert plan == SdkPlan(python=("1.40.0", "latest"), node=(), jobs=2, cache=Path("c"),
                           batch_base_url="https://batch.example/v1", model="m")  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["--python", "1.x"], "--python: expected versions like 1.40.0 or 'latest', got '1.x'", id="py"),
        pytest.param(
            ["--node", "4.0.0,next"], "--node: expected versions like 1.40.0 or 'latest', got 'next'", id="node"
        ),  # fmt: skip
        pytest.param(
            ["--python", INSTALLED],
            f"--python: expected versions like 1.40.0 or 'latest', got '{INSTALLED}'",
            id="installed-is-run-s-own",
        ),  # fmt: skip
        pytest.param(["--jobs", "0"], "--jobs: expected 1 or more, got 0", id="jobs"),
    ],
)
def test_a_bad_flag_is_one_line(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        plan_from(_args(*argv))
    assert str(raised.value) == message
    assert "\n" not in str(raised.value)


def test_default_node_versions_are_skipped_without_node_and_named_ones_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(envs.NodeEnvs, "available", staticmethod(lambda: False))
    assert SdkPlan().node_skipped()
    assert SdkPlan().versions() == (SdkPlan().python, ())
    named = SdkPlan(node=("4.104.0",))
    assert not named.node_skipped()
    assert named.versions() == (named.python, ("4.104.0",)), "named: run, and not run there"
    with pytest.raises(ConfigError, match="^no SDK versions to run$"):
        SdkPlan(python=()).versions()
    monkeypatch.setattr(envs.NodeEnvs, "available", staticmethod(lambda: True))
    assert SdkPlan().versions() == (SdkPlan().python, NODE_PINS)


def test_run_builds_its_sdk_plan_from_its_own_flags() -> None:
    """`slowcheck run`: the installed openai alone, or with --sdk-matrix every pin; the contract's model and
    network, the matrix's defaults otherwise."""
    network = Network(headers=(("X-Gateway-Key", "k"),))
    installed = _sdk_plan(False, model="m", network=network)
    assert installed == SdkPlan(python=(INSTALLED,), node=(), model="m", network=network)
    assert _sdk_plan(True, model="m", network=network) == SdkPlan(model="m", network=network)
