"""`slowcheck report compare` with several runs a side: medians beyond the spread and the tolerance, built on
synthetic summary.json folders (the one real repeat run is in tests/load/test_repeat.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from slowcheck.cli import main
from slowcheck.errors import ConfigError
from slowcheck.load.report import skeleton
from slowcheck.report.compare import Tolerance, compare_sides
from slowcheck.report.noise import Figure, figures, numbers

# Three runs a side; each figure's values move by less than the runs' own spread between the sides.
OLD = {"p99": (10.0, 12.0, 14.0), "p95": (5.0, 5.5, 6.0), "jobs_per_s": (20.0, 22.0, 24.0), "errors": (0, 1, 0)}
NEW = {"p99": (11.0, 13.0, 15.0), "p95": (5.2, 5.8, 6.1), "jobs_per_s": (19.0, 21.0, 23.0), "errors": (0, 0, 1)}


def _summary(p99: float, p95: float, jobs_per_s: float, errors: int) -> dict[str, Any]:
    summary = skeleton("jobs", [])
    summary["submit"].update(throughput_per_s=50.0, errors=errors, latency_ms={"p50": 2.0, "p95": p95, "p99": 9.0})
    summary["jobs"]["latency_s"]["e2e"].update(p50=4.0, p99=p99)
    summary["jobs"]["throughput"]["jobs_per_s"] = jobs_per_s
    summary["jobs"]["accepted"] = 100 + errors  # a pure count: never compared
    summary["thresholds"] = [{"expr": "submit.errors<5", "value": errors, "passed": True}]
    return summary


def _runs(folder: Path, figures_by_name: dict[str, tuple[float, ...]], **scale: float) -> list[Path]:
    """One folder per run, ``run-1``..., as ``--repeat`` writes them; ``scale`` multiplies a figure."""
    paths = []
    for index in range(3):
        values = {name: series[index] * scale.get(name, 1) for name, series in figures_by_name.items()}
        path = folder / f"run-{index + 1}"
        path.mkdir(parents=True)
        (path / "summary.json").write_text(json.dumps(_summary(**values)), encoding="utf-8")  # type: ignore[arg-type]
        paths.append(path)
    return paths


def _out(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().out.splitlines()


def test_runs_that_differ_by_less_than_their_spread_are_no_regression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = _runs(tmp_path / "old", OLD), _runs(tmp_path / "new", NEW)
    argv = ["report", "compare", "--old", *map(str, old), "--new", *map(str, new), "--tolerance", "0"]
    assert main(argv) == 0
    lines = _out(capsys)
    assert lines[0].startswith("3 runs against 3 runs: medians compared"), lines
    assert lines[1:] == ["no figure moved beyond the spread and the tolerance"]


def test_one_figure_three_times_worse_is_named_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = _runs(tmp_path / "old", OLD), _runs(tmp_path / "new", NEW, p99=3)
    assert main(["report", "compare", "--old", *map(str, old), "--new", *map(str, new)]) == 1
    lines = _out(capsys)
    worse = [line for line in lines if line.startswith("WORSE")]
    assert len(worse) == 1, lines
    assert worse[0].split()[1] == "jobs.latency_s.e2e.p99"
    assert "12.0 (10.0..14.0) -> 39.0 (33.0..45.0)" in worse[0], worse[0]
    assert "(+225 %), beyond the spread 4" in worse[0], worse[0]


def test_a_new_side_worse_and_noisier_does_not_hide_behind_its_own_spread(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = _runs(tmp_path / "old", OLD)
    new = _runs(tmp_path / "new", NEW | {"p99": (11.0, 20.0, 40.0)})  # median 20 against 12; spread 29 against 4
    assert main(["report", "compare", "--old", *map(str, old), "--new", *map(str, new)]) == 1
    worse = [line for line in _out(capsys) if line.startswith("WORSE")]
    assert [line.split()[1] for line in worse] == ["jobs.latency_s.e2e.p99"]
    assert "beyond the spread 4" in worse[0], worse[0]


def test_a_figure_most_new_runs_did_not_measure_is_worse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = _runs(tmp_path / "old", OLD), _runs(tmp_path / "new", OLD)
    for path in new[1:]:  # two of three runs completed nothing: no e2e p99
        summary = json.loads((path / "summary.json").read_text())
        summary["jobs"]["latency_s"]["e2e"]["p99"] = None
        (path / "summary.json").write_text(json.dumps(summary))
    assert main(["report", "compare", "--old", *map(str, old), "--new", *map(str, new)]) == 1
    worse = [line for line in _out(capsys) if line.startswith("WORSE")]
    assert len(worse) == 1, worse
    assert worse[0].split()[1] == "jobs.latency_s.e2e.p99"
    assert worse[0].endswith("not measured in 2 of 3 runs"), worse[0]


def test_a_repeat_folder_is_one_side(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _runs(tmp_path / "old", OLD)
    _runs(tmp_path / "new", NEW, jobs_per_s=1 / 3)  # throughput a third: worse, as it is better higher
    (tmp_path / "old" / "repeat.json").write_text("{}")  # what --repeat writes beside the runs is not read
    assert main(["report", "compare", str(tmp_path / "old"), str(tmp_path / "new")]) == 1
    worse = [line.split()[1] for line in _out(capsys) if line.startswith("WORSE")]
    assert worse == ["jobs.throughput.jobs_per_s"]


def test_a_per_figure_tolerance_wins_over_the_global_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    _runs(old, OLD)
    _runs(new, NEW, p99=3, p95=3)
    argv = ["report", "compare", str(old), str(new), "--tolerance", "500", "--tolerance", "jobs.latency_s.e2e.p99=25"]
    assert main(argv) == 1
    worse = [line.split()[1] for line in _out(capsys) if line.startswith("WORSE")]
    assert worse == ["jobs.latency_s.e2e.p99"], "p95 tripled too, but within the global 500 %"
    assert Tolerance.parse(["5", "a.b=25", "7"]) == Tolerance(7.0, {"a.b": 25.0})


def test_one_run_against_one_run_is_marked_and_the_tolerance_alone_judges(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = _runs(tmp_path / "old", OLD)[0], _runs(tmp_path / "new", NEW)[0]  # p99 10 -> 11: +10 %
    assert main(["report", "compare", str(old), str(new), "--tolerance", "5"]) == 1
    lines = _out(capsys)
    assert lines[0] == "one run against one run: no spread known, only the tolerance judges"
    assert any(line.split()[1] == "jobs.latency_s.e2e.p99" and "10.0 -> 11.0  (+10 %)" in line for line in lines)
    assert main(["report", "compare", str(old), str(new), "--tolerance", "50"]) == 0
    assert _out(capsys)[1:] == ["no figure moved beyond the tolerance"]


def test_jobs_figures_are_compared_by_their_direction_and_counts_are_not(tmp_path: Path) -> None:
    old, new = _runs(tmp_path / "old", OLD), _runs(tmp_path / "new", OLD, p99=0.25, jobs_per_s=3, p95=3)
    changes = {c.name: c for c in compare_sides(old, new).changes}
    assert not changes["jobs.latency_s.e2e.p99"].worse, "latency down is better"
    assert not changes["jobs.throughput.jobs_per_s"].worse, "throughput up is better"
    assert changes["submit.latency_ms.p95"].worse
    for count in ("jobs.accepted", "jobs.measured.completed", "jobs.throughput.output_tokens"):
        with pytest.raises(ConfigError, match="no compared figure has that name"):
            compare_sides(old, new, Tolerance(10, {count: 5}))
    compare_sides(old, new, Tolerance(10, {"jobs.shares.failed": 5}))  # a share is compared


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["{a}", "{missing}"], "is not a report folder"),
        (["{a}", "{empty}"], "has no summary.json, results.json or run-*/summary.json"),
        (["{a}", "{a}", "--tolerance", "ten"], "--tolerance ten: expected PCT or FIGURE=PCT"),
        (["{a}", "{a}", "--tolerance", "x.y=-3"], "--tolerance x.y=-3: expected PCT"),
        (["{a}", "{a}", "--tolerance", "submit.nothing=5"], "no compared figure has that name"),
        (["{a}", "--old", "{a}", "--new", "{a}"], "not both"),
        (["--old", "{a}"], "both --old DIR... and --new DIR..."),
        (["{a}", "{odd}"], "a summary.json of these runs is not one slowcheck wrote (KeyError"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    _runs(tmp_path / "a", OLD)
    (tmp_path / "empty").mkdir()
    odd = _runs(tmp_path / "odd", OLD)[0]
    summary = json.loads((odd / "summary.json").read_text())
    summary["thresholds"] = [{"expr": "submit.errors<5"}]  # no "passed": not a summary slowcheck wrote
    (odd / "summary.json").write_text(json.dumps(summary))
    folders = {name: str(tmp_path / name) for name in ("a", "missing", "empty", "odd")}
    assert main(["report", "compare", *(arg.format(**folders) for arg in argv)]) == 2
    err = capsys.readouterr().err
    assert says in err
    assert err.count("\n") == 1, err


def test_the_spread_is_the_range_of_the_runs() -> None:
    figure = Figure((3.0, None, 1.0, 2.0))
    assert (figure.median, figure.low, figure.high, figure.spread) == (2.0, 1.0, 3.0, 2.0)
    assert Figure((4.0,)).spread is None, "one run shows no noise"
    flat = numbers({"a": {"b": 1, "ok": True, "list": [1, 2]}, "settings": {"rate": 5}, "c": None})
    assert flat == {"a.b": 1, "c": None}
    assert figures([{"x": 1}, {"x": 3, "y": 2}])["y"].values == (None, 2)


def test_a_figure_some_runs_lack_is_named_not_compared(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = _runs(tmp_path / "old", OLD), _runs(tmp_path / "new", OLD)
    summary = json.loads((new[0] / "summary.json").read_text())
    summary["submit"]["error_messages"] = {"HTTP 503": 4}  # a kind of error only one run met
    (new[0] / "summary.json").write_text(json.dumps(summary))
    assert main(["report", "compare", "--old", *map(str, old), "--new", *map(str, new)]) == 0
    lines = _out(capsys)
    assert lines[1] == "not compared (missing from some runs): submit.error_messages.HTTP 503", lines
