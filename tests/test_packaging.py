"""A wheel carries the schemas and the locustfiles: an installed slowcheck works far from the checkout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, pathlib, slowcheck
from slowcheck.schemas import schema_dir, schema_set
from slowcheck.load.process import scenario_file
print(json.dumps({
    "scenario": str(scenario_file("rate-limit")),
    "module": slowcheck.__file__,
    "schemas": str(schema_dir()),
    "ack_valid": schema_set().is_valid("submit-ack", {"id": "a", "choices": [], "created": 1749061362809,
                                                     "model": "m", "object": "chat.completion"}),
    "paths": sorted(schema_set().openapi()["paths"]),
}))
"""


@pytest.mark.slow
def test_wheel_installed_outside_the_checkout_finds_its_schemas(tmp_path: Path) -> None:
    dist, site, elsewhere = tmp_path / "dist", tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(ROOT)], check=True, timeout=300
    )
    (wheel,) = dist.glob("slowcheck-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "slowcheck/_schemas/generation.schema.json" in names
    assert "slowcheck/_schemas/openapi.yaml" in names
    assert "slowcheck/py.typed" in names
    assert {"slowcheck/_load/submit.py", "slowcheck/_load/poll.py", "slowcheck/_load/rate_limit.py"} <= set(names)
    assert "slowcheck/templates/load.html.j2" in names
    assert {"slowcheck/sdk/probes/probe_openai.py", "slowcheck/sdk/probes/probe_openai.mjs"} <= set(names)

    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    found = json.loads(done.stdout)
    assert found["module"].startswith(str(site))
    assert found["schemas"] == str(site / "slowcheck" / "_schemas")
    assert found["ack_valid"] is True
    assert found["scenario"] == str(site / "slowcheck" / "_load" / "rate_limit.py")
    assert "/v1/generation/{id}" in found["paths"]
