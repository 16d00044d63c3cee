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


def _architecture() -> tuple[set[Path], set[Path]]:
    """The package's paths ARCHITECTURE.md's module tables name (a row's first cell), and every ``*.py`` it names
    in a package's section, prose included, each under the section's package."""
    package = ROOT / "src" / "slowcheck"
    rows: set[Path] = set()
    named: set[Path] = set()
    folder: Path | None = None
    for line in (ROOT / "ARCHITECTURE.md").read_text().splitlines():
        if line == "## Modules":
            folder = package
        elif section := re.match(r"### `([a-z]+)/`", line):
            folder = package / section.group(1)
        elif line.startswith("## "):
            folder = None
        if folder is None:
            continue
        if cell := re.match(r"^\| (`[^|]+`(?:, `[^|]+`)*) \|", line):
            rows |= {folder / name.rstrip("/") for name in re.findall(r"`([^`]+)`", cell.group(1))}
        named |= {folder / name for name in re.findall(r"`([a-z_]+\.py)`", line)}
    return rows, named


def test_architecture_names_every_module_and_none_that_is_gone() -> None:
    rows, named = _architecture()
    package = ROOT / "src" / "slowcheck"
    modules = {p for p in package.rglob("*.py") if p.name != "__init__.py"}
    unnamed = sorted(
        str(p.relative_to(package)) for p in modules if not any(p == n or n in p.parents for n in rows | named)
    )
    gone = sorted(str(p.relative_to(package)) for p in rows if not p.exists())
    assert not unnamed, f"modules ARCHITECTURE.md does not describe: {unnamed}"
    assert not gone, f"ARCHITECTURE.md describes modules that are gone: {gone}"
