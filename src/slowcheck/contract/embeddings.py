"""Rules about asynchronous embeddings: the same ack and lifecycle as a completion, an embedding list as the
answer. The embeddings page documents the path (``/v1/async/embeddings``: "use the /v1/async base URL");
``/v1/slow/embeddings``, the completions' prefix, is probed as an alias. The rules run with
``--embedding-model`` (an embedding model the account may use), or against the embedded mock.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from slowcheck import api
from slowcheck.contract.budget import share
from slowcheck.contract.polling import sweeps_within
from slowcheck.contract.probes import Probe, await_resubmitting
from slowcheck.contract.rules import rule
from slowcheck.contract.target import Target
from slowcheck.findings import Deviation, NotRun, Violation

INPUTS = ["What is the capital of France?", "Paris"]


def _skipped(target: Target) -> str | None:
    if target.embedding_model is None:
        return "no --embedding-model (the async embeddings path is inferred, and needs an embedding model)"
    if target.completion_timeout <= 0:
        return "--completion-timeout 0: the embedding is not awaited"
    return None


share("embedding", "an embedding of 2 inputs", floor=lambda target: 1,
      prepare=lambda target: None if _skipped(target) else submitted(target))  # fmt: skip
share(
    "embedding-polls",
    "polls of the embedding",
    floor=lambda target: 2,
    full=lambda target: sweeps_within(max(target.completion_timeout, 5.0)),
    pool="embedding",
)


def submitted(target: Target) -> tuple[Probe, Any]:
    """The suite's embedding, submitted once: the probe, and the ack's exchange."""

    def submit() -> tuple[Probe, Any]:
        metadata = {"custom_id": f"slowcheck-{uuid.uuid4().hex[:10]}"}
        body = {"model": target.embedding_model, "input": INPUTS, "metadata": metadata}
        sent = time.time() * 1000
        exchange = target.request("POST", api.EMBEDDINGS, json=body)
        if exchange.status == 404:
            raise Violation(
                f"the target answers 404 on POST {api.EMBEDDINGS}, the documented path", **exchange.summary()
            )
        ack = exchange.json
        if exchange.status != 200 or not isinstance(ack, dict) or not isinstance(ack.get("id"), str):
            raise Violation(f"an embedding was not acknowledged with an id ({exchange.status})", **exchange.summary())
        return Probe("embedding", exchange.body, sent, ack, exchanges=[exchange]), exchange

    return target.session.once("embedding", submit)


def finished(target: Target) -> Probe:
    """The embedding once ended: its Success, or its last attempt (one that ends Failed is submitted again)."""
    probe, _ = submitted(target)
    attempts, _ = target.session.once(
        "embedding-awaited", lambda: await_resubmitting(target, [probe], pool="embedding", what="an embedding")
    )
    ended = [p for p in attempts if p.final is not None]
    if not ended:
        raise NotRun(f"the embedding had not ended within --completion-timeout {target.completion_timeout:g} s")
    return next((p for p in ended if not p.failed), ended[-1])


@rule(
    "EMBED-ACK",
    "embeddings",
    "An asynchronous embedding (POST /v1/async/embeddings) is acknowledged at once with an id and no data, as "
    "the completions are; the /v1/slow alias, where served, too.",
    source="inferred",
    cost=1,
    uses=("embedding",),
    deviation="the /v1/slow/embeddings alias answering other than an ack or 404",
    skip=_skipped,
)
def embed_ack(target: Target) -> None:
    probe, exchange = submitted(target)
    errors = target.schemas.errors("submit-ack", exchange.json)
    if errors:
        raise Violation(f"the embedding's ack is not valid: {errors[0]}", **exchange.summary())
    alias = target.request("POST", api.EMBEDDINGS_ALIAS, json=probe.body)
    if alias.status != 404 and (alias.status != 200 or target.schemas.errors("submit-ack", alias.json)):
        raise Deviation(f"the alias {api.EMBEDDINGS_ALIAS} (inferred) answered {alias.status} without a valid ack",
                        **alias.summary())  # fmt: skip


@rule(
    "EMBED-RESULT",
    "embeddings",
    "The embedding's record echoes its request and ends in an embedding list: one vector per input, in order.",
    source="documented",
    uses=("embedding", "embedding-polls"),
    skip=_skipped,
)
def embed_result(target: Target) -> None:
    probe = finished(target)
    record = probe.final
    assert record is not None
    errors = target.schemas.errors("generation", record)
    if errors:
        raise Violation(f"the embedding's record is not valid: {errors[0]}", response=record)
    if record["request"] != probe.body:
        raise Violation("the record's request is not the body sent", request=probe.body, response=record)
    if record["state"] != "Success":
        raise NotRun(f"the embedding ended {record['state']}: {record.get('stateMessage')}")
    data = record["response"].get("data") or []
    if [item.get("index") for item in data] != list(range(len(INPUTS))):
        raise Violation(f"{len(data)} embeddings (indexes {[d.get('index') for d in data]}) for {len(INPUTS)} "
                        "inputs", response=record)  # fmt: skip
