"""Webhook delivery as documented: OPTIONS readiness check, then a JSON POST with the X-Inference-*
headers; 3 attempts with growing gaps on 5xx and timeouts, none on 4xx. Pending deliveries live in the
store's outbox, so a restart resumes them. Standard Webhooks signing is an opt-in extension.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import random
import time
from typing import Any

import httpx

from slowcheck import _json
from slowcheck.mock.ids import new_id
from slowcheck.mock.records import Generation, Group, iso
from slowcheck.mock.settings import MockSettings
from slowcheck.mock.stats import Stats
from slowcheck.mock.store import Store
from slowcheck.mock.tables import OutboxEntry

__all__ = ["Webhooks"]

USER_AGENT = "inference.net-Webhook/1.0"


class Webhooks:
    def __init__(self, settings: MockSettings, store: Store, stats: Stats, registered: dict[str, str]) -> None:
        self.settings = settings
        self.store = store
        self.stats = stats
        self.registry = dict(settings.webhooks) | registered
        self._rng = random.Random(settings.seed + 1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._client = httpx.AsyncClient(timeout=settings.webhook_timeout, trust_env=False, follow_redirects=False)

    @property
    def idle(self) -> bool:
        """No delivery is in flight or waiting for a retry."""
        return not self._tasks

    def register(self, webhook_id: str, url: str | None) -> None:
        if url is None:
            self.registry.pop(webhook_id, None)
        else:
            self.registry[webhook_id] = url
        self.store.set_webhook(webhook_id, url)

    def resume(self, outbox: list[OutboxEntry]) -> None:
        for delivery in outbox:
            self._spawn(delivery)

    def generation_finished(self, generation: Generation) -> None:
        webhook_id = generation.webhook_id
        # Documented: webhooks fire for chat completions and embeddings (async-embedding.completed), not for
        # text completions; group members report through their group, a batch's lines through its files.
        if webhook_id is None or generation.kind == "text" or generation.group_id or generation.batch_id:
            return
        event = "async-embedding.completed" if generation.kind == "embedding" else "generation.completed"
        payload = {
            "event": event,
            "timestamp": iso(time.time()),
            "webhook_id": webhook_id,
            "generation_id": generation.id,
            "data": generation.to_json(),
        }
        self._enqueue(webhook_id, event, generation.id, payload)

    def group_finished(self, group: Group, members: list[Generation]) -> None:
        if group.webhook_id is None:
            return
        payload = {
            "event": "slow-group.completed",
            "timestamp": iso(time.time()),
            "webhook_id": group.webhook_id,
            "group_id": group.id,
            "data": {
                "group_size": len(members),
                "status": "completed",
                "generations": [{"generationId": m.id} | m.to_json() for m in members],
            },
        }
        self._enqueue(group.webhook_id, "slow-group.completed", group.id, payload)

    def _enqueue(self, webhook_id: str, event: str, subject: str, payload: dict[str, Any]) -> None:
        if webhook_id not in self.registry:
            self.stats.webhooks["unknown_webhook_id"] += 1
            return
        delivery = OutboxEntry(new_id(), webhook_id, event, subject, payload)
        self.store.enqueue_delivery(delivery)
        self._spawn(delivery)

    def _spawn(self, delivery: OutboxEntry) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, delivery: OutboxEntry) -> None:
        faults = self.settings.faults
        if faults.webhook_delay:
            await asyncio.sleep(faults.webhook_delay)
        if self._rng.random() < faults.webhook_drop_ratio:
            self.stats.webhooks["dropped"] += 1
            self.store.delivery_done(delivery.id)
            return
        delays = self.settings.scaled_retry_delays()
        for attempt in range(1, self.settings.webhook_attempts + 1):
            outcome = await self._attempt(delivery, attempt)
            if outcome != "retry":
                break
            if attempt < self.settings.webhook_attempts:
                await asyncio.sleep(delays[min(attempt - 1, len(delays) - 1)] if delays else 0)
        else:
            outcome = "failed"
        self.stats.webhooks[outcome] += 1
        if outcome == "delivered" and self._rng.random() < faults.webhook_duplicate_ratio:
            self.stats.webhooks["duplicated"] += 1
            await self._attempt(delivery, self.settings.webhook_attempts + 1)
        self.store.delivery_done(delivery.id)

    async def _attempt(self, delivery: OutboxEntry, attempt: int) -> str:
        """One try: 'delivered', 'rejected' (4xx: no retry) or 'retry'."""
        url = self.registry.get(delivery.webhook_id)
        if url is None:
            return "rejected"
        record: dict[str, Any] = {
            "delivery": delivery.id,
            "event": delivery.event,
            "subject": delivery.subject,
            "webhook_id": delivery.webhook_id,
            "attempt": attempt,
            "at": iso(time.time()),
        }
        body = _json.dumps(delivery.payload)
        try:
            ready = await self._client.options(url, headers={"User-Agent": USER_AGENT})
            record["options_status"] = ready.status_code
            if ready.status_code >= 300:
                record["outcome"] = "not ready"
                return "rejected" if 400 <= ready.status_code < 500 else "retry"
            answer = await self._client.post(url, content=body, headers=self._headers(delivery, body))
            record["status"] = answer.status_code
        except httpx.HTTPError as exc:
            record["error"] = type(exc).__name__
            return "retry"
        finally:
            self.stats.webhook_attempt(record)
        if 200 <= answer.status_code < 300:
            return "delivered"
        return "rejected" if answer.status_code < 500 else "retry"

    def _headers(self, delivery: OutboxEntry, body: bytes) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Inference-Event": delivery.event,
            "X-Inference-Webhook-ID": delivery.webhook_id,
        }
        subject = "X-Inference-Group-ID" if delivery.event == "slow-group.completed" else "X-Inference-Generation-ID"
        headers[subject] = delivery.subject
        if self.settings.webhook_secret:
            timestamp = str(int(time.time()))
            key = base64.b64decode(self.settings.webhook_secret.removeprefix("whsec_"))
            signed = f"{delivery.id}.{timestamp}.".encode() + body
            signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
            headers |= {
                "webhook-id": delivery.id,
                "webhook-timestamp": timestamp,
                "webhook-signature": f"v1,{signature}",
            }
        return headers

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.aclose()
