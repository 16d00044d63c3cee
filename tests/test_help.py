"""`--help` of every command, as a user reads it, kept in tests/snapshots/help/: a change to a flag, a default
or a description shows up in review as a change to these files.

After a deliberate change: ``SLOWCHECK_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_help.py`` rewrites them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from slowcheck.cli import COMMANDS, main

SNAPSHOTS = Path(__file__).parent / "snapshots" / "help"
ACTIONS = {"report": ["compare"], "schemas": ["list", "validate", "show", "path"]}
PAGES = [[], *([name] for name in COMMANDS), *([name, a] for name, actions in ACTIONS.items() for a in actions)]


def _help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as done:
        main([*argv, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("argv", PAGES, ids=lambda argv: "-".join(argv) or "slowcheck")
def test_help_matches_its_snapshot(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "100")  # argparse wraps to the terminal: one width everywhere
    shown = _help(argv, capsys)
    snapshot = SNAPSHOTS / f"{'-'.join(argv) or 'slowcheck'}.txt"
    if os.environ.get("SLOWCHECK_UPDATE_SNAPSHOTS"):
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        snapshot.write_text(shown, encoding="utf-8")
    assert snapshot.is_file(), f"no snapshot yet: run with SLOWCHECK_UPDATE_SNAPSHOTS=1 to write {snapshot.name}"
    assert shown == snapshot.read_text(encoding="utf-8")


def test_every_default_is_shown_one_way() -> None:
    """Defaults read '(default: X)': never '(default X)', '(30)' or 'Default:'."""
    for page in SNAPSHOTS.glob("*.txt"):
        text = " ".join(page.read_text(encoding="utf-8").split())
        assert "(default " not in text, page.name
        assert "Default:" not in text, page.name
    assert len(list(SNAPSHOTS.glob("*.txt"))) == len(PAGES), "one snapshot per page, none left over"
