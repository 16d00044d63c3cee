"""Who may import whom (ARCHITECTURE.md, "Who may import whom"): a module imports from its own layer or below."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "slowcheck"

FOUNDATION = 1
MOCK, FACTORY, LIBRARY, COMMANDS = 2, 3, 4, 5
LIBRARIES = ("contract", "load", "sdk", "proxy")
"""What judges and measures: each is its own, and none imports another (but for ``load`` and ``sdk``, which
run the contract's preflight)."""
SHARED_WITH = {"load": {"contract.preflight"}, "sdk": {"contract.preflight"}}


def module_name(file: Path) -> str:
    parts = file.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(name: str) -> int:
    top = name.split(".")[0]
    if top in ("cli", "pytest_plugin", "schemas_command", "run") or name.endswith(".command") or name == "__main__":
        return COMMANDS
    if top in LIBRARIES:
        return LIBRARY
    if top == "embedded":
        return FACTORY
    if top == "mock":
        return MOCK
    return FOUNDATION


def imports(file: Path) -> set[str]:
    """The slowcheck modules ``file`` imports (at any depth: lazy imports count)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(file.read_text(), str(file))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("slowcheck"):
            base = node.module.removeprefix("slowcheck").lstrip(".")
            for alias in node.names:
                candidate = f"{base}.{alias.name}" if base else alias.name
                found.add(candidate if (PACKAGE / (candidate.replace(".", "/") + ".py")).exists()
                          or (PACKAGE / candidate.replace(".", "/")).is_dir() else base)  # fmt: skip
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("slowcheck.") for a in node.names if a.name.startswith("slowcheck.")}
    return {name for name in found if name}


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = []
    for file in PACKAGE.rglob("*.py"):
        if "probes" in file.parts:
            continue  # run inside other environments; they import nothing of slowcheck
        name = module_name(file)
        for imported in imports(file):
            if layer(imported) > layer(name):
                upward.append(f"{name} ({layer(name)}) imports {imported} ({layer(imported)})")
    assert not upward, "\n".join(sorted(upward))


def test_the_libraries_keep_to_themselves() -> None:
    crossing = []
    for file in PACKAGE.rglob("*.py"):
        name = module_name(file)
        if layer(name) != LIBRARY:
            continue
        own = name.split(".")[0]
        for imported in imports(file):
            other = imported.split(".")[0]
            if other in LIBRARIES and other != own and imported not in SHARED_WITH.get(own, set()):
                crossing.append(f"{name} imports {imported}")
    assert not crossing, "\n".join(sorted(crossing))


def test_the_layering_check_sees_an_upward_import() -> None:
    assert layer("contract.command") == COMMANDS > layer("contract.target") == LIBRARY > layer("mock.app")
    assert layer("findings") == FOUNDATION


MOST_LINES = 450
"""A module past this has grown a second concept: split it by concern (issue 26)."""


def test_no_module_is_over_450_lines() -> None:
    long = {
        str(f.relative_to(PACKAGE)): n
        for f in PACKAGE.rglob("*.py")
        if (n := len(f.read_text().splitlines())) > MOST_LINES
    }
    assert not long, f"modules over {MOST_LINES} lines: {long}"
