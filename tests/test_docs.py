"""The docs say what the code does: the README's rule count and schema table, and no link leaves the repository."""

from __future__ import annotations

import re
from pathlib import Path

from slowcheck.contract.runner import select
from slowcheck.schemas import KINDS

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "ARCHITECTURE.md", *(ROOT / "docs").glob("*.md")]
LINK = re.compile(r"\]\(([^)#\s]+)")


def test_the_readme_counts_the_rules_the_catalogue_has() -> None:
    counted = {int(n) for n in re.findall(r"contract: (\d+) rules", (ROOT / "README.md").read_text())}
    assert counted == {len(select())}


def test_the_readme_lists_every_schema() -> None:
    rows = re.findall(r"^\| (`[a-z-]+`(?:, `[a-z-]+`)*) \|", (ROOT / "README.md").read_text(), re.MULTILINE)
    listed = {kind for row in rows for kind in re.findall(r"`([a-z-]+)`", row)}
    assert listed == set(KINDS)


def test_every_relative_link_stays_in_the_repository_and_exists() -> None:
    broken = []
    for doc in DOCS:
        for target in LINK.findall(doc.read_text()):
            if re.match(r"[a-z]+:", target):
                continue  # a web page
            path = (doc.parent / target).resolve()
            if not path.is_relative_to(ROOT) or not path.exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target}")
    assert not broken, broken
