"""The command line: exit codes, readable one-line errors, no tracebacks."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from slowcheck.cli import main
from slowcheck.schemas import KINDS
from tests.conftest import PAYLOADS


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse exits on usage errors and --help
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_accepts_the_documented_examples(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schemas", "validate", "generation", str(PAYLOADS / "overview-generation.json"))
    assert code == 0
    assert out.strip() == f"{PAYLOADS / 'overview-generation.json'}: valid generation"


def test_validate_reports_the_path_of_each_error_and_exits_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"model": "m", "messages": [{"role": "robot", "content": "x"}], "temperature": 3}))
    good = PAYLOADS / "overview-chat-request.json"
    code, out, _ = run(capsys, "schemas", "validate", "chat-completion-request", str(bad), str(good))
    assert code == 1
    assert f"{bad}: invalid chat-completion-request" in out
    assert '  $.messages[0].role: "robot" is not one of' in out
    assert "  $.temperature: 3 is greater than the maximum of 2" in out
    assert f"{good}: valid chat-completion-request" in out
    assert out.strip().endswith("1 valid, 1 invalid")


def test_validate_reads_json_lines_and_standard_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = tmp_path / "batch.jsonl"
    lines.write_text('{"model":"m","prompt":"a"}\n\n{"model":"m"}\n')
    code, out, _ = run(capsys, "schemas", "validate", "completion-request", str(lines))
    assert code == 1
    assert f"{lines}:1:" not in out, "a valid line is counted, not listed"
    assert f"{lines}:3: invalid" in out
    assert out.strip().endswith("1 valid, 1 invalid")
    monkeypatch.setattr(sys, "stdin", io.StringIO((PAYLOADS / "overview-ack.json").read_text()))
    code, out, _ = run(capsys, "schemas", "validate", "submit-ack", "-")
    assert (code, out.strip()) == (0, "<stdin>: valid submit-ack")


def test_validate_a_batch_input_file_by_line_with_repeated_custom_ids(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "schemas", "validate", "batch-request-line", str(PAYLOADS / "docs-batch-input.jsonl"))
    assert (code, out.strip()) == (0, "3 valid, 0 invalid")
    lines = tmp_path / "input.jsonl"
    chat = '{"custom_id":"%s","method": "POST", "body": {"model": "m", "messages": [{"role": "user", "content": "x"}]}}'
    lines.write_text("\n".join([chat % "a", chat % "b", "{not json", chat % "a", '{"custom_id": "c"}']) + "\n")
    code, out, _ = run(capsys, "schemas", "validate", "batch-request-line", str(lines))
    assert code == 1
    assert f"{lines}:3: invalid batch-request-line\n  not JSON: " in out
    assert f"{lines}:4: invalid batch-request-line\n  $.custom_id: 'a' is already used at {lines}:1" in out
    assert f"{lines}:5: invalid batch-request-line\n  $: 'method' is a required property" in out
    assert out.strip().endswith("2 valid, 3 invalid")
    code, out, _ = run(capsys, "schemas", "validate", "batch-request-line", str(lines), str(lines))
    assert out.strip().endswith("4 valid, 6 invalid"), "custom_ids are unique within each input file"


def test_validate_lists_fifty_invalid_lines_and_counts_the_rest(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    lines = tmp_path / "many.jsonl"
    lines.write_text('{"model": "m"}\n' * 120)
    code, out, _ = run(capsys, "schemas", "validate", "completion-request", str(lines))
    assert code == 1
    assert out.count(": invalid completion-request") == 50
    assert out.strip().endswith("... and 70 more invalid\n0 valid, 120 invalid")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        pytest.param(["schemas", "validate", "nope", "x.json"], "unknown schema kind 'nope'", id="unknown-kind"),
        pytest.param(
            ["schemas", "validate", "error", "/no/such/file.json"], "cannot read /no/such/file.json", id="missing"
        ),
        pytest.param(["schemas", "show", "nope"], "unknown schema kind", id="show-unknown"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str], says: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith("slowcheck: error: ")
    assert says in err
    assert err.count("\n") == 1
    assert out == ""


def test_malformed_json_file_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"model": "m",')
    code, _, err = run(capsys, "schemas", "validate", "chat-completion-request", str(broken))
    assert code == 2
    assert f"slowcheck: error: {broken} is not JSON: " in err


def test_bad_flags_exit_2_with_usage(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "schemas", "validate", "--frobnicate")
    assert code == 2
    assert "usage:" in err
    assert "Traceback" not in err


def test_list_names_every_kind_and_show_bundles(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schemas", "list")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == list(KINDS)
    code, out, _ = run(capsys, "schemas", "show", "generation", "--bundle")
    assert code == 0
    bundled = json.loads(out)
    assert "chat-completion" in bundled["definitions"]
    assert "$ref" not in json.dumps(bundled).replace('"$ref": "#/definitions/', "")


@pytest.mark.slow
def test_console_script_runs_as_a_program() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "slowcheck", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0
    assert "schemas" in done.stdout
    done = subprocess.run(
        [sys.executable, "-m", "slowcheck", "schemas", "validate", "error", "/missing"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr == "slowcheck: error: cannot read /missing: No such file or directory\n"


@pytest.mark.slow
def test_contract_run_and_the_pytest_plugin_share_their_target_flags_and_help_texts() -> None:
    import subprocess
    import sys
    from pathlib import Path

    from slowcheck.cli import _parser
    from slowcheck.contract.options import FLAGS

    helps = {}
    for name in ("contract", "run"):
        parser = dict(_parser()._subparsers._group_actions[0].choices.items())[name]  # type: ignore[union-attr]
        helps[name] = {a.option_strings[0]: a.help for a in parser._actions if a.option_strings}
    for flag in FLAGS:
        assert helps["contract"][flag.name] == helps["run"][flag.name] == flag.text(), flag.name
    shown = subprocess.run(
        [sys.executable, "-m", "pytest", "--help", "-p", "no:locust"],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    flat = " ".join(shown.split())
    for flag in FLAGS:
        assert f"{flag.pytest_name or flag.name}=" in flat or f"{flag.pytest_name or flag.name} " in flat, flag.name
        assert " ".join(flag.text().split()) in flat, flag.name
