"""The jobs scenario without locust: arrivals, the workload, judging a record, and the figures of a journal."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import pytest

from slowcheck.errors import ConfigError
from slowcheck.load import arrivals, jobs, journal, mix
from slowcheck.mock import generator
from slowcheck.mock.records import Generation, iso

# -- arrivals ---------------------------------------------------------------------------------------------


def test_constant_arrivals_are_the_rate_times_the_duration() -> None:
    plan = arrivals.parse("20@2,50", 4)
    offsets = [offset for _, offset in plan.offsets()]
    assert len(offsets) == plan.count() == 40 + 100
    assert offsets[:2] == [0.0, 0.05]
    assert offsets[40] == 2.0


@pytest.mark.parametrize("process", ["constant", "poisson", "gamma"])
def test_processes_share_the_plan_exactly(process: str) -> None:
    plan = arrivals.parse("100", 5, process=process, burstiness=0.5 if process == "gamma" else 1.0, seed=3)
    whole = list(plan.offsets())
    shares = [list(plan.offsets(share=k, of=3)) for k in range(3)]
    assert sorted(item for share in shares for item in share) == whole
    assert [i for i, _ in whole] == list(range(len(whole)))


def test_poisson_keeps_the_mean_rate_and_gamma_below_one_is_burstier() -> None:
    poisson = [o for _, o in arrivals.parse("200", 50, process="poisson", seed=1).offsets()]
    bursty = [o for _, o in arrivals.parse("200", 50, process="gamma", burstiness=0.25, seed=1).offsets()]
    for offsets in (poisson, bursty):
        assert len(offsets) == pytest.approx(10_000, rel=0.06)

    def variation(offsets: list[float]) -> float:
        gaps = [b - a for a, b in zip(offsets, offsets[1:], strict=False)]
        return statistics.pstdev(gaps) / statistics.mean(gaps)

    assert variation(poisson) == pytest.approx(1.0, abs=0.08), "exponential gaps: coefficient of variation 1"
    assert variation(bursty) == pytest.approx(2.0, abs=0.25), "gamma shape k: CV 1/sqrt(k)"


def test_rate_inf_sends_the_jobs_at_once_and_needs_a_count() -> None:
    plan = arrivals.parse("inf", 10, jobs=7)
    assert [o for _, o in plan.offsets()] == [0.0] * 7
    with pytest.raises(ConfigError, match="--jobs"):
        arrivals.parse("inf", 10)
    assert len(list(arrivals.parse("100", 10, jobs=5).offsets())) == 5


def test_a_trace_replays_its_times_from_the_first(tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    trace.write_text('{"timestamp": 100.5}\n100\n\n{"timestamp": "1970-01-01T00:01:42Z"}\n')
    plan = arrivals.parse("1", 1, trace=trace)
    assert [o for _, o in plan.offsets()] == [0.0, 0.5, 2.0]
    trace.write_text('{"at": 1}\n')
    with pytest.raises(ConfigError, match=r"trace.jsonl:1: expected seconds"):
        arrivals.parse("1", 1, trace=trace)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"process": "uniform"}, "--arrival"),
        ({"burstiness": 0.5}, "--arrival gamma"),
        ({"process": "gamma", "burstiness": 0}, "--burstiness"),
        ({"jobs": 0}, "--jobs"),
    ],
)
def test_bad_arrival_options_are_one_line_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        arrivals.parse("10", 5, **kwargs)


# -- the workload -----------------------------------------------------------------------------------------


def test_a_job_is_a_pure_function_of_its_index() -> None:
    work = mix.Mix(run="abc123", model="m", kinds=mix.parse_mix("chat=2,text=1,embedding=1"), canaries=0.3)
    assert work.job(41) == work.job(41)
    made = [work.job(i) for i in range(600)]
    assert len({j.custom_id for j in made}) == 600
    assert {j.kind for j in made} == {"chat", "text", "embedding"}
    canaries = [j for j in made if j.nonce]
    assert 0.15 < len(canaries) / 450 < 0.45, "about 30 % of the chat and text jobs"
    assert all(j.kind != "embedding" and j.body["temperature"] == 0 for j in canaries)
    assert all(j.body["metadata"]["custom_id"] == j.custom_id for j in made)


def test_generated_lengths_follow_the_options() -> None:
    work = mix.Mix(run="abc123", model="m", prompt=mix.parse_length("100:10", "--prompt-tokens"),
                   output=mix.parse_length("30", "--output-tokens"), canaries=0)  # fmt: skip
    bodies = [work.job(i).body for i in range(200)]
    words = [len(b["messages"][0]["content"].split()) for b in bodies]
    assert statistics.mean(words) == pytest.approx(100, abs=3)
    assert {b["max_tokens"] for b in bodies} == {30}


def test_input_files_take_bodies_or_batch_lines(tmp_path: Path) -> None:
    given = tmp_path / "in.jsonl"
    lines = [
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], "metadata": {"team": "a"}},
        {"custom_id": "x", "method": "POST", "url": "/v1/completions", "body": {"model": "m", "prompt": "p"}},
        {"custom_id": "y", "method": "POST", "url": "/v1/embeddings", "body": {"model": "e", "input": "p"}},
    ]
    given.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    work = mix.Mix(run="abc123", model="ignored", inputs=mix.read_bodies(given), canaries=0)
    assert [work.job(i).kind for i in range(4)] == ["chat", "text", "embedding", "chat"]
    assert work.job(0).body["metadata"] == {"team": "a", "custom_id": "sc-abc123-0"}
    given.write_text('{"model": "m"}\n')
    with pytest.raises(ConfigError, match=r"in.jsonl:1: neither"):
        mix.read_bodies(given)


# -- one record judged ------------------------------------------------------------------------------------


def _record(job: mix.Job, generation_id: str, text: str, *, response_id: str | None = None) -> dict[str, Any]:
    message = {"role": "assistant", "content": text}
    return {
        "id": generation_id,
        "state": "Success",
        "stateMessage": "ok",
        "request": job.body,
        "response": {"id": response_id or generation_id, "choices": [{"index": 0, "message": message}]},
        "dispatchedAt": "2026-12-01T00:00:01.000Z",
        "finishedAt": "2026-12-01T00:00:02.000Z",
    }


def _canary(index: int = 0) -> mix.Job:
    work = mix.Mix(run="abc123", model="m", canaries=1.0)
    return work.job(index)


def test_a_canary_with_its_own_answer_is_correct() -> None:
    job = _canary()
    assert job.nonce is not None
    assert jobs.judge(job, "G1", _record(job, "G1", job.nonce)) == ([], "correct")


def test_a_cross_wired_answer_is_caught_by_the_canary_and_the_ids() -> None:
    mine, theirs = _canary(0), _canary(1)
    assert theirs.nonce is not None
    problems, canary = jobs.judge(mine, "G1", _record(mine, "G1", theirs.nonce, response_id="G2"))
    assert (problems, canary) == (["response_id"], "mismatched")
    plain = mix.Mix(run="abc123", model="m", canaries=0).job(5)
    assert jobs.judge(plain, "G5", _record(plain, "G5", f"see {theirs.nonce}"))[0] == ["cross_wired"]


def test_an_echo_that_differs_is_named() -> None:
    job = _canary()
    record = _record(job, "G1", str(job.nonce))
    record["request"] = {**job.body, "temperature": 1, "metadata": {"custom_id": "other"}}
    record["id"] = "G9"
    assert jobs.judge(job, "G1", record) == (["request", "custom_id", "record_id"], "correct")


def test_a_model_that_ignores_the_instruction_leaves_the_canary_unanswered() -> None:
    job = _canary()
    assert jobs.judge(job, "G1", _record(job, "G1", "I cannot do that")) == ([], "unanswered")


def test_the_mock_obeys_the_canary_instruction() -> None:
    job = _canary(3)
    generation = Generation("G1", "t", "chat", job.body, 0.0, 0.0, 0.0)
    answer = generator.complete(generation)
    assert answer["choices"][0]["message"]["content"] == job.nonce
    text = Generation("G2", "t", "text", {"model": "m", "prompt": "Reply with exactly: sc-abc123-9\n"}, 0.0, 0.0, 0.0)
    assert generator.complete(text)["choices"][0]["text"] == "sc-abc123-9"


# -- the figures of a journal -----------------------------------------------------------------------------


def _journal(folder: Path, rows: list[list[Any]], *, torn: bool = False) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(row) + "\n" for row in rows)
    (folder / "journal-0.jsonl").write_text(text + ('["done", 1, "G' if torn else ""))


def _done(index: int, created: float, queue: float, run: float, notice: float, *, tokens: int = 10) -> list[Any]:
    dispatched, finished = created + queue, created + queue + run
    return ["done", index, f"G{index}", finished + notice, "Success", dispatched, finished, tokens, 2, [], None]


def test_the_figures_of_a_known_journal(tmp_path: Path) -> None:
    t0 = 1_800_000_000.0
    rows: list[list[Any]] = []
    for i in range(10):  # one a second; queue i s, run 1 s, noticed 0.5 s later
        planned = t0 + i
        rows.append(["sent", i, planned, planned + 0.001, planned + 0.011, 200, f"G{i}", planned + 0.01, "chat", 0])
        rows.append(_done(i, planned + 0.01, float(i), 1.0, 0.5))
    rows.append(["sent", 10, t0 + 10, t0 + 10, t0 + 10.02, 429, None, None, "chat", 0])
    rows.append(["sent", 11, t0 + 11, t0 + 11, t0 + 11.02, 200, "G11", t0 + 11, "chat", 1])  # still open
    rows.append(["drop", 12, t0 + 12])
    _journal(tmp_path, rows, torn=True)
    figures = jobs.summarize(tmp_path, [jobs.parse_slo("e2e_s<=5.5")], warmup=0.0, cooldown=0.0)
    found = figures["jobs"]
    assert (found["accepted"], found["completed"], found["failed"], found["open"]) == (11, 10, 0, 1)
    assert found["shares"] == {"completed": round(10 / 11, 4), "failed": 0.0, "expired": 0.0, "open": round(1 / 11, 4)}
    assert found["latency_s"]["queue"]["p50"] == pytest.approx(4.5)
    assert found["latency_s"]["run"]["p99"] == pytest.approx(1.0)
    assert found["latency_s"]["notice"]["p50"] == pytest.approx(0.5)
    assert found["latency_s"]["accept"]["p50"] == pytest.approx(0.01)
    assert found["mean_s"]["e2e"] == pytest.approx(5.5)
    # Finishing times: t0 + 1.01 + 2i, so 9 intervals of 2 s.
    assert found["throughput"]["jobs_per_s"] == pytest.approx(0.5)
    assert found["throughput"]["output_tokens_per_s"] == pytest.approx(5.0)
    # e2e = i + 1: within 5.5 s for i <= 4, five of the eleven accepted jobs.
    assert found["goodput"]["share"] == pytest.approx(5 / 11, abs=1e-4)
    assert found["goodput"]["jobs_per_s"] == pytest.approx(0.25)
    assert found["canaries"]["sent"] == 1
    assert found["dispatch"] == {"lag_ms": {"p50": 1.0, "p99": pytest.approx(1.0, abs=0.01)}, "dropped": 1}
    assert figures["submit"]["count"] == 12
    assert figures["submit"]["rate_limited"] == 1
    assert found["cdf"][0][1] == 0.0
    assert found["cdf"][-1] == [10.0, 1.0]
    assert len(found["timeline"]) == 10
    measured = jobs.summarize(tmp_path, warmup=3.0, cooldown=2.0)["jobs"]
    assert measured["measured"]["accepted"] == 7, "planned offsets 3..10 (of 0..12), minus the refused 10"
    assert measured["latency_s"]["queue"]["p50"] == pytest.approx(6.0)


def test_mismatches_are_counted_with_examples(tmp_path: Path) -> None:
    rows = [
        ["sent", 0, 1.0, 1.0, 1.1, 200, "G0", 1.1, "chat", 1],
        ["done", 0, "G0", 3.0, "Success", 1.5, 2.0, 5, 1, ["response_id"], "mismatched"],
        ["sent", 1, 2.0, 2.0, 2.1, 200, "G1", 2.1, "chat", 0],
        ["done", 1, "G1", 3.0, "Failed", 2.5, 2.8, None, 1, [], None],
    ]
    _journal(tmp_path, rows)
    found = jobs.summarize(tmp_path)["jobs"]
    assert found["correctness"]["mismatched"] == 1
    assert found["correctness"]["examples"] == [
        {"id": "G0", "index": 0, "problems": ["response_id"], "canary": "mismatched"}
    ]
    assert found["canaries"]["mismatched"] == 1
    assert found["failed"] == 1


def test_done_rows_name_expired_generations() -> None:
    job = mix.Mix(run="abc123", model="m", canaries=0).job(0)
    record = {"id": "G", "state": "Failed", "stateMessage": "Expired: not processed within 72 hours",
              "request": job.body, "response": None, "dispatchedAt": None, "finishedAt": iso(2.0)}  # fmt: skip
    row = jobs.done_row(job, "G", record, 3.0, 4)
    assert row[4] == "Expired"
    assert row[6] == 2.0
    assert row[8] == 4


def test_the_journal_starts_fresh_unless_resumed(tmp_path: Path) -> None:
    book = journal.Journal(tmp_path, 0)
    book.write(["drop", 0, 1.0])
    book.close()
    book = journal.Journal(tmp_path, 0, resume=True)
    book.write(["drop", 1, 2.0])
    book.close()
    assert [row[1] for row in journal.rows(tmp_path)] == [0, 1]
    journal.Journal(tmp_path, 0).close()
    assert list(journal.rows(tmp_path)) == []


def test_a_shipment_sends_its_rows_in_order_in_batches_and_all_of_them_on_close() -> None:
    sent: list[dict[str, Any]] = []
    shipment = journal.Shipment(sent.append, share=3)
    for index in range(2500):  # more than a batch holds: one goes before close
        shipment.write(["drop", index, float(index)])
    assert [len(batch["rows"]) for batch in sent] == [2000]
    shipment.close()
    shipment.close()  # closing twice sends nothing twice
    assert [batch["share"] for batch in sent] == [3, 3]
    assert [row[1] for batch in sent for row in batch["rows"]] == list(range(2500))


def test_a_stopped_runs_previous_shares_say_what_was_handled_and_what_is_open(tmp_path: Path) -> None:
    book = journal.Journal(tmp_path, 0)
    for index in [*range(0, 40), *range(50, 60)]:  # 40 to 49 never came due: the run stopped there
        book.write(["sent", index, float(index), float(index), float(index) + 0.1, 202, f"g{index}", None, "chat"])
    for index in range(0, 40):
        book.write(["done", index, f"g{index}", 1.0, "Success", None, None, 1, 1, [], None])
    book.write(["drop", 45, 45.0])
    book.close()
    shares = journal.Previous.read(tmp_path, of=2)
    even = journal.Previous.from_json(json.loads(json.dumps(shares[0].to_json())))  # as it travels to a worker
    assert [even.handled(i) for i in (0, 38, 40, 44, 50, 58)] == [True, True, False, False, True, True]
    assert sorted(even.open) == list(range(50, 60, 2))
    assert even.open[50] == ("g50", 50.0)
    odd = shares[1]
    assert [odd.handled(i) for i in (39, 41, 45, 61)] == [True, False, True, False]
    assert sorted(odd.open) == list(range(51, 60, 2))
    assert len(odd.seen) == 3, "a few ranges, not one number per arrival"


@pytest.mark.parametrize("text", ["e2e<=5", "latency_s<=5", "e2e_s>=5", "e2e_s<=-1", "e2e_s<=x"])
def test_a_bad_slo_is_a_one_line_error(text: str) -> None:
    with pytest.raises(ConfigError, match="--slo"):
        jobs.parse_slo(text)
