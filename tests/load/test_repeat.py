"""`slowcheck load ... --repeat N`: the runs' folders, repeat.json's medians and spreads, the worst verdict, the
usage errors; and one real repeat compared against itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from slowcheck.cli import main
from slowcheck.load import repeat as load_repeat
from slowcheck.load.report import skeleton
from slowcheck.verdict import Verdict
from tests.load.conftest import KEY, slowcheck


def _summary(p95: float, ok: int = 10, breached: bool = False) -> dict[str, Any]:
    summary = skeleton("submit", [])
    summary["submit"].update(ok=ok, count=ok, latency_ms={"p50": 1.0, "p95": p95, "p99": None, "max": p95})
    summary["thresholds"] = [{"expr": "submit.latency_ms.p95<5", "value": p95, "passed": not breached}]
    summary["settings"] = {"rate": "20", "duration_s": 1.0}
    return summary


def test_repeat_writes_a_folder_a_run_and_each_figures_median_and_spread(tmp_path: Path) -> None:
    values = iter([3.0, 1.0, 2.0])
    told: list[tuple[int, str, str]] = []

    def run_one(folder: Path) -> dict[str, Any]:
        folder.mkdir(parents=True)
        summary = _summary(next(values))
        (folder / "summary.json").write_text(json.dumps(summary))
        return summary

    repeated = load_repeat.repeat(
        3, tmp_path, run_one, lambda index, folder, summary, verdict: told.append((index, folder.name, verdict.status))
    )
    assert told == [(1, "run-1", "pass"), (2, "run-2", "pass"), (3, "run-3", "pass")]
    assert repeated.verdict == Verdict("pass")
    document = json.loads((tmp_path / load_repeat.REPEAT_FILE).read_text())
    assert document == repeated.document
    assert (document["scenario"], document["repeat"], document["verdict"]["status"]) == ("submit", 3, "pass")
    assert [run["folder"] for run in document["runs"]] == ["run-1", "run-2", "run-3"]
    p95 = document["figures"]["submit.latency_ms.p95"]
    assert p95 == {"median": 2.0, "min": 1.0, "max": 3.0, "spread": 2.0, "values": [3.0, 1.0, 2.0]}
    assert document["figures"]["submit.latency_ms.p99"]["median"] is None, "never measured: no median"
    assert not any(name.startswith("settings.") for name in document["figures"])
    table = load_repeat.headline(document)
    assert table[0].split() == ["figure", "median", "min", "max", "spread"]
    assert any(line.split() == ["submit.latency_ms.p95", "2", "1", "3", "2"] for line in table), table


def test_the_worst_run_decides_the_verdict_and_names_its_run() -> None:
    verdicts = [Verdict("pass"), Verdict("inconclusive", ("no submission",)), Verdict("fail", ("breached",))]
    summaries = [_summary(1.0), _summary(1.0, ok=0), _summary(9.0, breached=True)]
    document = load_repeat.summarise([Path(f"run-{i}") for i in (1, 2, 3)], summaries, verdicts)
    assert document["verdict"] == {"status": "fail", "reasons": ["run 3: breached"]}
    assert [run["verdict"] for run in document["runs"]] == ["pass", "inconclusive", "fail"]
    first_two = load_repeat.summarise([Path("run-1"), Path("run-2")], summaries[:2], verdicts[:2])
    assert first_two["verdict"] == {"status": "inconclusive", "reasons": ["run 2: no submission"]}


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["jobs", "--repeat", "3", "--resume", "/tmp"], "--repeat runs the plan anew each time"),
        (["submit", "--repeat", "0"], "--repeat 0: give 1 or more runs"),
    ],
)
def test_repeat_usage_errors_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], says: str
) -> None:
    assert main(["load", *argv, "--api-key", KEY, "--report-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert says in err
    assert err.count("\n") == 1, err


@pytest.mark.slow
def test_a_real_repeat_compared_with_itself_is_no_regression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Three short submit runs against the embedded mock, then the folder compared against itself."""
    folder = tmp_path / "repeat"
    run = slowcheck(folder, "load", "submit", "--rate", "20", "--duration", "1", "--repeat", "3")
    assert run.code == 0, run.err + run.out
    assert [line.split()[:3] for line in run.out.splitlines() if line.startswith("run ")] == [
        ["run", "1/3:", "PASS"], ["run", "2/3:", "PASS"], ["run", "3/3:", "PASS"]
    ]  # fmt: skip
    assert any(line.split()[0] == "submit.latency_ms.p95" for line in run.out.splitlines() if line.strip())
    assert run.out.splitlines()[-1] == "PASS"
    for index in (1, 2, 3):
        assert (folder / f"run-{index}" / "summary.json").is_file()
        assert (folder / f"run-{index}" / "index.html").is_file()
    document = json.loads((folder / "repeat.json").read_text())
    assert document["repeat"] == 3
    assert len(document["figures"]["submit.throughput_per_s"]["values"]) == 3

    assert main(["report", "compare", str(folder), str(folder)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "3 runs against 3 runs: medians compared; a change counts beyond the old side's spread (max - min) and the "
        "tolerance",
        "no figure moved beyond the spread and the tolerance",
    ]
