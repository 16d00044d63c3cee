"""The load harness's webhook receiver reads a completion event in either spelling the docs give its ids.

The harness imports locust (which patches the standard library), so it runs in a process of its own."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from slowcheck import api

SCRIPT = """
import json, sys, urllib.request
from slowcheck.load.harness import HookReceiver
got = []
receiver = HookReceiver(0, lambda generation_id, data, seen: got.append([generation_id, data]))
for event in json.loads(sys.argv[1]):
    request = urllib.request.Request(receiver.url, data=json.dumps(event).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=5).read()
receiver.stop()
print(json.dumps(got))
"""


@pytest.mark.slow
def test_the_receiver_takes_generation_id_and_generationId() -> None:
    events = [
        {"event": "generation.completed", "generation_id": "snake", "data": {"state": "Success"}},
        {"event": "generation.completed", "generationId": "camel", "data": {"state": "Failed"}},
        {"event": "webhook.test", "generationId": "not-a-completion"},
    ]
    done = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(events)], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [
        ["snake", {"state": "Success"}],
        ["camel", {"state": "Failed"}],
    ]


@pytest.mark.parametrize(
    ("event", "subject", "expected"),
    [
        ({"generation_id": "a"}, "generation", "a"),
        ({"generationId": "b"}, "generation", "b"),
        ({"groupId": "g"}, "group", "g"),
        ({"webhook_id": "w"}, "webhook", "w"),
        ({"generation_id": 7}, "generation", None),
        ("not an event", "generation", None),
    ],
)
def test_an_events_ids_in_either_spelling(event: object, subject: str, expected: str | None) -> None:
    assert api.event_id(event, subject) == expected  # type: ignore[arg-type]
