"""The proxy keeps the first findings of a check and the first of every other shape: a baseline accepting the
first ones still sees a new broken promise of the same check later in the traffic."""

from __future__ import annotations

from slowcheck.findings import Violation
from slowcheck.proxy import tally as tallies
from slowcheck.proxy.recording import Relayed
from slowcheck.proxy.tally import Tally

CHECK = "LIFE-STATES-FORWARD"


def _relayed(index: int) -> Relayed:
    return Relayed(index, "api", 1.0, 1.1, "GET", f"/v1/generation/G{index}", "c1", 200, {}, b"", {}, b"{}")


def test_a_new_shape_of_finding_is_kept_after_the_first_examples() -> None:
    tally = Tally(examples=5)
    for index in range(8):
        tally.add(CHECK, Violation(f"Success read after Success, then In Progress (read {index})"), _relayed(index))
    tally.add(CHECK, Violation("Queued read after In Progress"), _relayed(9))
    (result,) = [r for r in tally.results() if r.rule.id == CHECK]
    messages = [f["message"] for f in result.findings]
    assert len(messages) == 6, "five examples of the first shape, and the first of the second"
    assert messages[-1] == "Queued read after In Progress"


def test_past_the_bound_of_shapes_the_check_says_not_all_were_kept() -> None:
    tally = Tally(examples=1)
    for index in range(tallies._SHAPES + 3):
        tally.add(CHECK, Violation(f"shape {'x' * index}"), _relayed(index))
    (result,) = [r for r in tally.results() if r.rule.id == CHECK]
    assert "the rest were counted, not kept" in result.findings[-1]["message"]
    assert len(result.findings) == tallies._SHAPES + 1
