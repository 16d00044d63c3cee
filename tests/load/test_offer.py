"""The open-loop sender's drop rule: an arrival is dropped when every sender was busy at its time, never because
a busy machine woke a free sender late.

The harness imports locust (which patches the standard library), so it runs in a process of its own."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SCRIPT = """
import json, time, types
import gevent
from slowcheck.load.harness.users import SlowUser
from slowcheck.load.samples import Samples

def offer(senders, stalled):
    user = types.SimpleNamespace(samples=Samples(), inflight=0, halts=[],
                                 plan=types.SimpleNamespace(max_inflight=senders))
    sent, dropped = [], []

    def fire(index, at):
        sent.append(index)
        gevent.sleep(0.2)  # the ack's round trip

    # The plan started `stalled` seconds before the senders' first turn (a busy machine's loop).
    start = time.time() - stalled
    SlowUser.offer(user, [(0, 0.0), (1, 0.0), (2, 0.05)], start, fire, lambda index, at: dropped.append(index))
    return {"sent": sent, "dropped": dropped, "counted": user.samples.dropped}

print(json.dumps({"late but free": offer(3, 0.5), "busy": offer(1, 0.0)}))
"""


@pytest.mark.slow
def test_an_arrival_is_dropped_when_its_sender_is_busy_not_when_it_wakes_late() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    # Three senders free all along, half a second late: every arrival sent, however late.
    assert found["late but free"] == {"sent": [0, 1, 2], "dropped": [], "counted": 0}
    # One sender, busy 0.2 s with the first: the two arrivals due meanwhile are dropped and counted.
    assert found["busy"] == {"sent": [0], "dropped": [1, 2], "counted": 2}
