"""Single submissions (completions and embeddings) and the poll of a generation: the calls a load test makes by
the thousand, which ``FastPath`` sends here without Starlette's routing."""

from __future__ import annotations

import asyncio
import hashlib
import math

from starlette.requests import Request
from starlette.responses import Response

from slowcheck.mock.app.body import read_json
from slowcheck.mock.app.parts import Surface
from slowcheck.mock.errors import ApiError, excerpt, json_answer
from slowcheck.mock.ids import new_id
from slowcheck.mock.records import Idempotent, Kind

__all__ = ["Generations"]


class Generations(Surface):
    async def submit(self, request: Request, kind: Kind) -> Response:
        tenant, headers = self.admission.admit(request, self.limits.submissions, "submissions")
        body, raw = await read_json(request, self.settings.max_body_bytes)
        self.checks.request(kind, body)
        headers |= self.limits.check(self.limits.generations, tenant, "generations")
        body_hash = hashlib.sha256(raw).hexdigest()
        idempotency = self.admission.idempotency(request, tenant, body_hash)
        if isinstance(idempotency, Response):
            return idempotency
        generation = self.engine.new_generation(new_id(), tenant, kind, body)
        generation.raw = raw
        self.credit.hold(tenant, [generation])
        record = idempotency and Idempotent(*idempotency, generation_id=generation.id)
        await self.engine.submit([generation], idempotency=record)
        self.engine.stats.submitted(tenant, body_hash)
        if self.settings.faults.ack_latency:
            await asyncio.sleep(self.settings.faults.ack_latency)
        return json_answer(generation.ack(), headers=headers)

    async def poll(self, request: Request) -> Response:
        tenant, headers = self.admission.admit(request, self.limits.polls, "polls")
        generation_id = request.path_params["id"]
        generation = self.engine.generation(generation_id)
        if generation is None or generation.tenant != tenant:
            self.engine.stats.count(tenant, "polls_not_found")
            raise ApiError(404, f"No generation found with id {excerpt(generation_id)}.", param="id", code="not_found")
        self.engine.stats.polled(tenant, generation_id)
        if self.settings.faults.not_found_until_dispatched and generation.state == "Queued":
            raise ApiError(404, f"No generation found with id {excerpt(generation_id)}.", param="id", code="not_found")
        if self.settings.poll_after_hint and not generation.terminal:
            hint = self.engine.next_change_in(generation)
            if hint is not None:
                headers["openai-poll-after-ms"] = poll_after_ms(hint)
        return json_answer(generation.to_json(), headers=headers)


def poll_after_ms(seconds: float) -> str:
    """An ``openai-poll-after-ms`` value: whole milliseconds, at least 1."""
    return str(max(1, math.ceil(seconds * 1000)))
