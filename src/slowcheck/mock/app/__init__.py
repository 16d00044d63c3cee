"""The mock's HTTP surface (Starlette, with a fast path in front): the async API, groups, the Batch API, models,
health and ``/_mock``.

``routes`` builds the app from one ``MockApp`` (``parts``): ``admission`` (keys, limits, faults,
Idempotency-Keys), ``body`` (reading JSON within the size limit), ``validation`` (the published schemas), then one
module per surface: ``generations`` (served through ``fastpath``), ``groups``, ``batch_api``, ``catalog`` and
``admin``.
"""

from __future__ import annotations

from slowcheck.mock.app.catalog import DEFAULT_MODELS
from slowcheck.mock.app.routes import create_app, engine_of

__all__ = ["DEFAULT_MODELS", "create_app", "engine_of"]
