"""The suite's target opened: the URL and keys given, or the embedded mock with two fresh keys and a webhook
to the suite's own receiver; its label for reports, and the secrets a report is redacted of."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx

from slowcheck import api
from slowcheck.contract.options import DEFAULT_COMPLETION_TIMEOUT, REMOTE_BUDGET
from slowcheck.contract.receiver import Receiver
from slowcheck.contract.session import Session
from slowcheck.contract.target import DEFAULT_WEBHOOK_WAIT, Target
from slowcheck.embedded import INSTANT, target_or_mock
from slowcheck.errors import ConfigError
from slowcheck.network import Network
from slowcheck.target_url import is_loopback

__all__ = ["target_for"]

_EMBEDDED_HOOK = "slowcheck-receiver"
_EMBEDDED_WEBHOOK_WAIT = 10.0
"""Seconds the suite waits for the embedded mock's webhooks (it retries within a second)."""


@contextlib.contextmanager
def target_for(
    base_url: str | None,
    api_key: str | None,
    *,
    second_api_key: str | None = None,
    batch_base_url: str | None = None,
    embedding_model: str | None = None,
    model: str = api.DEFAULT_MODEL,
    completion_timeout: float = DEFAULT_COMPLETION_TIMEOUT,
    max_requests: int | None = None,
    rate_limit: float | None = None,
    webhook_id: str | None = None,
    receiver_port: int = api.DEFAULT_RECEIVER_PORT,
    network: Network | None = None,
    session: Session | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Iterator[tuple[Target, str, list[str]]]:
    """The target to check, its label for reports, and the secrets to keep out of them (the keys first, then
    the values of ``--header``).

    Without a base URL, the embedded mock (:func:`slowcheck.embedded.target_or_mock`) is started with two fresh
    keys, so isolation rules run, and a webhook that reaches the suite's own receiver. ``network`` says how the
    target is reached (the environment's trust and proxies when None); ``transport`` answers instead of the
    network (an app in this process: ``slowcheck.inprocess``); ``session`` carries what the run starts with
    (the ledger, an earlier run's probes).
    """
    network = network or Network()
    embedded = not api.base_url(base_url)
    with contextlib.ExitStack() as stack:
        receiver = None
        if embedded:
            receiver = stack.enter_context(Receiver())
            webhook_id = _EMBEDDED_HOOK
        elif webhook_id:
            receiver = stack.enter_context(_receiver(receiver_port))
        endpoint = stack.enter_context(
            target_or_mock(
                base_url,
                api_key,
                second_api_key=second_api_key,
                model=model,
                keys=2,
                timing=INSTANT,
                durable=False,
                webhooks={_EMBEDDED_HOOK: receiver.url} if embedded and receiver else None,
            )
        )
        budget = max_requests
        if budget is None and not embedded and not is_loopback(endpoint.root):
            budget = REMOTE_BUDGET
        target = Target(
            endpoint.root + "/v1",
            endpoint.key,
            second_api_key=endpoint.second_key,
            batch_base_url=endpoint.root + "/v1" if embedded else batch_base_url,
            embedding_model=api.EMBEDDING_MODEL if embedded else embedding_model,
            model=model,
            completion_timeout=completion_timeout,
            max_requests=budget,
            rate_limit=rate_limit,
            webhook_id=webhook_id,
            receiver=receiver,
            webhook_wait=_EMBEDDED_WEBHOOK_WAIT if embedded else DEFAULT_WEBHOOK_WAIT,
            reread_spacing=0.0 if embedded else 1.0,  # the embedded mock has no replica to lag
            session=session,
            transport=transport,
            client_options=network.httpx_options(),
        )
        stack.callback(target.close)
        yield target, endpoint.label, [*endpoint.keys, *network.secrets()]


def _receiver(port: int) -> Receiver:
    try:
        return Receiver(port=port)
    except OSError as exc:
        raise ConfigError(f"cannot listen for webhooks on 127.0.0.1:{port}: {exc.strerror or exc}") from None
