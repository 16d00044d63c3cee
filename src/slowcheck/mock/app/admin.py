"""``/_mock``: the mock's own endpoints (server-side stats, the webhook registry) and who may use them."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from slowcheck.mock.app.body import read_json
from slowcheck.mock.app.parts import Surface
from slowcheck.mock.errors import ApiError, excerpt, json_answer
from slowcheck.target_url import is_loopback_host

__all__ = ["Admin"]


class Admin(Surface):
    def caller(self, request: Request, *, keys_may: bool = True) -> str | None:
        """Who may use /_mock: None for the admin token (everything), else the tenant of an API key (its own
        data; ``keys_may`` False refuses keys). Beyond loopback without a token, /_mock is off."""
        token = self.settings.admin_token
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        given = given.strip()
        if token is not None and scheme.lower() == "bearer" and secrets.compare_digest(given.encode(), token.encode()):
            return None
        if token is None and not is_loopback_host(self.settings.host):
            raise ApiError(
                403,
                f"The /_mock endpoints are off: the mock listens on {excerpt(self.settings.host)} without an admin "
                "token (--admin-token or SLOWCHECK_MOCK_ADMIN_TOKEN).",
                code="admin_disabled",
            )
        tenant = self.admission.tenant(request)  # 401 without a valid key
        if not keys_may:
            raise ApiError(403, "This /_mock endpoint needs the admin token.", code="admin_token_required")
        return tenant

    async def stats(self, request: Request) -> Response:
        tenant = self.caller(request)
        states = self.engine.state_counts(tenant)
        answer = self.engine.stats.to_json(states) if tenant is None else self.engine.stats.for_key(tenant, states)
        return json_answer(answer | self.limits.to_json() | self.credit.to_json(tenant))

    async def generation_stats(self, request: Request) -> Response:
        tenant = self.caller(request)
        generation_id = request.path_params["id"]
        generation = self.engine.generation(generation_id)
        if generation is None or tenant is not None and generation.tenant != tenant:
            raise ApiError(404, f"No generation found with id {excerpt(generation_id)}.", param="id", code="not_found")
        polls = self.engine.stats.polls_by_generation.get(generation_id, 0)
        usage = (generation.response or {}).get("usage") or {}
        return json_answer(
            {
                "id": generation_id,
                "state": generation.state,
                "polls": polls,
                # Epoch seconds, unrounded: the truth a load run's figures are compared with.
                "created": generation.created,
                "dispatched_at": generation.dispatched_at,
                "finished_at": generation.finished_at,
                "completion_tokens": usage.get("completion_tokens"),
            }
        )

    async def webhooks(self, request: Request) -> Response:
        # The registry is the mock's, as the dashboard's is the account's: a key may change it only where no
        # admin token is set (loopback, the user's own machine).
        self.caller(request, keys_may=self.settings.admin_token is None)
        registry = self.engine.webhooks.registry if self.engine.webhooks else {}
        if request.method == "POST":
            body, _ = await read_json(request, self.settings.max_body_bytes)
            if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not body["id"]:
                raise ApiError(400, 'Expected {"id": ..., "url": ...}.', param="id")
            url = body.get("url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise ApiError(400, "url must be an http(s) URL.", param="url")
            host = urlsplit(url).hostname or ""
            if not is_loopback_host(host) and host not in self.settings.allow_webhook_hosts:
                raise ApiError(
                    400,
                    f"The mock POSTs webhooks to loopback only; {excerpt(host)} needs --allow-webhook-host.",
                    param="url",
                    code="webhook_host_not_allowed",
                )
            assert self.engine.webhooks is not None
            self.engine.webhooks.register(body["id"], url)
        elif request.method == "DELETE":
            assert self.engine.webhooks is not None
            self.engine.webhooks.register(request.path_params["id"], None)
        return json_answer({"webhooks": [{"id": k, "url": v} for k, v in sorted(registry.items())]})
