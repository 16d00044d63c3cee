"""A request kept for its reproduction and rendered as curl: the key as a variable, the body's exact bytes
shell-quoted (or piped in by printf), a multipart upload as -F fields; and the correlation id a submission
gets in its metadata."""

from __future__ import annotations

import itertools
import shlex
import subprocess
from typing import Any

import httpx
import pytest

from slowcheck import api, reproduce

URL = "http://127.0.0.1:9/v1/slow/chat/completions"
JSON = {"Content-Type": "application/json"}


def _request(body: bytes | None, *, headers: dict[str, str] = JSON, auth: reproduce.Auth = "key", **more: Any) -> Any:
    return reproduce.step("POST", URL, api.CHAT, headers | {"Authorization": "Bearer sk-secret-1234"}, body, auth,
                          **more)  # fmt: skip


def _words(command: str) -> list[str]:
    return shlex.split(command)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"model":"m","messages":[{"role":"user","content":"it\'s $HOME `x` \\"q\\""}]}', id="quotes"),
        pytest.param('{"prompt":"caf\u00e9 \u2603 \\n"}'.encode(), id="unicode"),
        pytest.param(b"", id="empty"),
    ],
)
def test_a_text_body_is_sent_by_data_binary_exactly_as_it_was(body: bytes) -> None:
    command = reproduce.curl(_request(body))
    words = _words(command)
    assert words[words.index("--data-binary") + 1] == body.decode()
    assert words[:2] == ["curl", "-sS"]
    assert URL in words


def test_the_key_is_never_written_only_the_variable_that_holds_it() -> None:
    request = _request(b"{}")
    command = reproduce.curl(request)
    assert "sk-secret-1234" not in command + repr(request)
    assert "Authorization: Bearer $SLOWCHECK_API_KEY" in _words(command)
    second = reproduce.curl(_request(b"{}", auth="second"))
    assert "Authorization: Bearer $SLOWCHECK_SECOND_API_KEY" in _words(second)
    assert "Authorization" not in reproduce.curl(_request(b"{}", auth="none"))


def test_a_wrong_key_the_rule_made_up_is_written_as_it_was_sent() -> None:
    command = reproduce.curl(_request(b"{}", auth="other", wrong_key="sk-slowcheck-not-a-key"))
    assert "Authorization: Bearer sk-slowcheck-not-a-key" in _words(command)


@pytest.mark.slow
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"a":"\xff\xfe bad bytes"}', id="not-utf8"),
        pytest.param(b'{"a":"\x00"}\\n%s', id="nul-backslash-percent"),
        pytest.param(b"@/etc/passwd", id="at-sign"),
    ],
)
def test_bytes_a_shell_argument_cannot_carry_are_piped_in_by_printf_unchanged(body: bytes) -> None:
    command = reproduce.curl(_request(body))
    printf, _, rest = command.partition(" | ")
    assert rest.startswith("curl ")
    assert "--data-binary @-" in rest

    # When: the printf half run by a shell
    written = subprocess.run(["bash", "-c", printf], capture_output=True, check=True, timeout=10).stdout

    # Then
    assert written == body


def test_a_multipart_upload_is_rendered_as_form_fields_without_its_boundary() -> None:
    form = httpx.Request("POST", "http://x", files={"file": ("batch.jsonl", b'{"a":1}\n')}, data={"purpose": "batch"})
    request = _request(form.read(), headers={"Content-Type": form.headers["content-type"]})
    words = _words(reproduce.curl(request))
    assert "-F" in words
    assert "purpose=batch" in words
    assert "file=@-;filename=batch.jsonl" in words
    assert not any(w.lower().startswith("content-type") for w in words)


def test_a_body_too_large_to_keep_is_measured_not_kept() -> None:
    request = _request(b"x" * (reproduce.MAX_BODY + 1))
    assert request["body_omitted"] == reproduce.MAX_BODY + 1
    assert reproduce.payload(request) is None
    assert f"{reproduce.MAX_BODY + 1}-byte body is not kept" in reproduce.curl(request)


def test_a_reproduction_names_its_correlation_id_and_each_answer() -> None:
    request = _request(b"{}")
    entry = reproduce.answered(request, 200, '{"state":"Queued"}', {"state": "Queued"})
    found = reproduce.reproduction([entry], correlation_id="sc-abcdef-1", lifecycle=True)
    assert found["correlation_id"] == "sc-abcdef-1"
    assert found["curl"] == entry["curl"]
    assert entry["state"] == "Queued"
    assert entry["status"] == 200
    assert len(entry["sha256"]) == 64


def _ids() -> Any:
    counter = itertools.count(1)
    return lambda: f"sc-abcdef-{next(counter)}"


@pytest.mark.parametrize(
    ("body", "metadata"),
    [
        pytest.param({"model": "m"}, {"slowcheck": "sc-abcdef-1"}, id="none-yet"),
        pytest.param({"metadata": {"custom_id": "c"}}, {"custom_id": "c", "slowcheck": "sc-abcdef-1"}, id="kept"),
        pytest.param({"metadata": {"slowcheck": "sc-000000-9"}}, {"slowcheck": "sc-abcdef-1"}, id="ours-replaced"),
        pytest.param({"metadata": {f"k{i}": "v" for i in range(16)}}, {f"k{i}": "v" for i in range(16)}, id="at-limit"),
        pytest.param({"metadata": "not an object"}, "not an object", id="not-an-object"),
    ],
)
def test_a_submission_carries_its_correlation_id_in_metadata_within_the_documented_limits(
    body: dict[str, Any], metadata: Any
) -> None:
    original = repr(body)
    sent, correlation = reproduce.correlated("POST", api.CHAT, body, _ids())
    assert sent["metadata"] == metadata
    assert correlation == (metadata.get("slowcheck") if isinstance(metadata, dict) else None)
    assert repr(body) == original  # the caller's body is not changed


def test_each_member_of_a_group_carries_its_own_id_and_other_requests_none() -> None:
    new_id = _ids()
    group = {"requests": [{"model": "m"}, {"model": "m"}]}
    sent, first = reproduce.correlated("POST", api.GROUP["chat"], group, new_id)
    assert [m["metadata"]["slowcheck"] for m in sent["requests"]] == ["sc-abcdef-1", "sc-abcdef-2"]
    assert first == "sc-abcdef-1"
    assert reproduce.correlated("GET", api.generation("x"), None, new_id) == (None, None)
    assert reproduce.correlated("POST", api.BATCHES, {"metadata": {}}, new_id) == ({"metadata": {}}, None)
