"""Where the keys come from: the flags, else the environment, and only for a target the user named."""

from __future__ import annotations

import pytest

from slowcheck import api
from slowcheck.embedded import target_or_mock


def test_the_second_key_comes_from_the_environment_when_no_flag_gives_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(api.SECOND_KEY_ENV, "sk-second-from-env")
    with target_or_mock("https://api.example.test/v1", "sk-first", model=api.DEFAULT_MODEL) as endpoint:
        assert endpoint.keys == ("sk-first", "sk-second-from-env")
    with target_or_mock(
        "https://api.example.test/v1", "sk-first", model=api.DEFAULT_MODEL, second_api_key="sk-second-flag"
    ) as endpoint:
        assert endpoint.keys == ("sk-first", "sk-second-flag"), "the flag wins"


def test_without_either_there_is_no_second_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(api.SECOND_KEY_ENV, raising=False)
    with target_or_mock("https://api.example.test/v1", "sk-first", model=api.DEFAULT_MODEL) as endpoint:
        assert endpoint.keys == ("sk-first",)
