"""Whether a call may go ahead: its key (kept as a fingerprint), the gateway's limit, an injected fault, the
call's own limit, and an Idempotency-Key seen before."""

from __future__ import annotations

import hashlib
import random

from starlette.requests import Request
from starlette.responses import Response

from slowcheck.mock.engine import Engine
from slowcheck.mock.errors import ApiError, json_answer
from slowcheck.mock.limits import Limits
from slowcheck.mock.ratelimit import Limiter
from slowcheck.mock.settings import MockSettings

__all__ = ["IDEMPOTENCY_KEY_LENGTH", "Admission"]

IDEMPOTENCY_KEY_LENGTH = (1, 255)
"""As ``schemas/openapi.yaml`` declares the header (a test keeps the two equal)."""


class Admission:
    """The steps every API call takes before its own work, for one mock."""

    def __init__(self, settings: MockSettings, engine: Engine, limits: Limits) -> None:
        self.engine = engine
        self.limits = limits
        self._faults = settings.faults
        self._keys = set(settings.api_keys)
        self._tenants: dict[str, str] = {}
        self._rng = random.Random(settings.seed + 2)

    def tenant(self, request: Request) -> str:
        """Whose call it is: the fingerprint of a valid key; a 401 without one."""
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise ApiError(401, "You didn't provide an API key. Send it as 'Authorization: Bearer YOUR_KEY'.")
        if self._keys and key not in self._keys:
            raise ApiError(401, "Incorrect API key provided.", code="invalid_api_key")
        tenant = self._tenants.get(key)
        if tenant is None:
            # A fingerprint, so stats and the store never hold the key itself.
            tenant = self._tenants[key] = "key_" + hashlib.sha256(key.encode()).hexdigest()[:12]
        return tenant

    def admit(self, request: Request, limiter: Limiter, name: str) -> tuple[str, dict[str, str]]:
        """Who is it, the gateway's limit, an injected fault, the call's own limit: the tenant and the
        answer's rate-limit headers."""
        tenant = self.tenant(request)
        self.limits.through_gateway(tenant)
        ratio = self._faults.error_ratio
        if ratio and self._rng.random() < ratio:
            self.engine.stats.count(tenant, "injected_errors")
            raise ApiError(
                503, "The server is overloaded (fault injected by the mock).", type="server_error", code="overloaded"
            )
        return tenant, self.limits.check(limiter, tenant, name)

    def idempotency(self, request: Request, tenant: str, body_hash: str) -> tuple[str, str, str] | Response | None:
        """None without an Idempotency-Key; the key to record with the new generation (tenant, key, body hash);
        or the replayed ack of the generation the key made before."""
        key = request.headers.get("idempotency-key")
        if key is None:
            return None
        low, high = IDEMPOTENCY_KEY_LENGTH
        if not low <= len(key) <= high:
            raise ApiError(
                400,
                f"Idempotency-Key must be {low} to {high} characters, got {len(key)}.",
                param="Idempotency-Key",
                code="invalid_idempotency_key",
            )
        seen = self.engine.idempotent(tenant, key)
        if seen is None:
            return (tenant, key, body_hash)
        if seen.body_hash != body_hash:
            raise ApiError(
                409,
                "This Idempotency-Key was used with a different body.",
                param="Idempotency-Key",
                code="idempotency_key_reused",
            )
        self.engine.stats.count(tenant, "idempotent_replays")
        generation = self.engine.generation(seen.generation_id)
        if generation is None:  # its retention window is over: the key no longer names a generation
            raise ApiError(409, "This Idempotency-Key's generation has expired.", param="Idempotency-Key",
                           code="idempotency_key_expired")  # fmt: skip
        return json_answer(generation.ack(), headers={"idempotent-replayed": "true"})
