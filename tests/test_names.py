"""Names with one home: the API's paths are spelled in ``api.py`` alone, and no two classes share a name."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "slowcheck"
CODE = [*PACKAGE.rglob("*.py"), *(ROOT / "load").glob("*.py")]
API_PATH = re.compile(r"^\^?/v1/")
"""A path of the API, or a regular expression of one."""
EXEMPT = {PACKAGE / "api.py", *(PACKAGE / "sdk" / "probes").glob("*")}
"""api.py is the home; the SDK probes run inside other environments, where slowcheck is not installed."""


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the string constants that are docstrings (of a module, class or function, or after an
    assignment): prose, where a path may be named."""
    found: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(body, list):
            continue
        for statement in body:
            if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
                found.add(id(statement.value))
    return found


def test_the_apis_paths_are_spelled_in_api_py_alone() -> None:
    spelled: list[str] = []
    for file in CODE:
        if file in EXEMPT:
            continue
        tree = ast.parse(file.read_text(), str(file))
        prose = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose:
                if API_PATH.match(node.value):
                    spelled.append(f"{file.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert not spelled, "API paths outside api.py (name them there):\n" + "\n".join(spelled)


def test_the_finder_sees_a_path_and_a_pattern_but_not_prose() -> None:
    tree = ast.parse('"""GET /v1/generation/{id} reads it."""\nA = "/v1/files"\nB = r"^/v1/generation/(.+)$"\n')
    prose = _docstrings(tree)
    found = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and id(n) not in prose]
    assert [value for value in found if API_PATH.match(value)] == ["/v1/files", "^/v1/generation/(.+)$"]


def test_no_two_classes_share_a_name() -> None:
    homes: dict[str, list[str]] = defaultdict(list)
    for file in PACKAGE.rglob("*.py"):
        for node in ast.parse(file.read_text(), str(file)).body:
            if isinstance(node, ast.ClassDef):
                homes[node.name].append(str(file.relative_to(ROOT)))
    shared = {name: files for name, files in homes.items() if len(files) > 1}
    assert not shared, f"class names naming two classes: {shared}"
