"""One mock's parts, built once from its settings: the engine and its store, the Batch API, the limits, credit,
admission and the request checks. Every surface reads them here; the app's lifespan starts and stops them."""

from __future__ import annotations

from slowcheck.mock.app.admission import Admission
from slowcheck.mock.app.validation import Checks
from slowcheck.mock.batches import Batches
from slowcheck.mock.credit import Credit
from slowcheck.mock.engine import Engine
from slowcheck.mock.limits import Limits
from slowcheck.mock.settings import MockSettings
from slowcheck.mock.store import Store

__all__ = ["MockApp", "Surface"]


class MockApp:
    def __init__(self, settings: MockSettings) -> None:
        self.settings = settings
        self.engine = Engine(settings, Store(settings.db, fsync=settings.fsync))
        self.batches = Batches(settings, self.engine)
        self.checks = Checks(settings)
        self.limits = Limits(settings, self.engine.stats)
        self.credit = Credit(settings, self.engine)
        self.admission = Admission(settings, self.engine, self.limits)

    async def start(self) -> None:
        await self.engine.start()
        await self.batches.start(*self.engine.batch_records)

    async def stop(self) -> None:
        await self.batches.stop()
        await self.engine.stop()


class Surface:
    """A surface's handlers over one mock's parts (each surface reads the ones it needs)."""

    def __init__(self, mock: MockApp) -> None:
        self.settings = mock.settings
        self.engine = mock.engine
        self.batches = mock.batches
        self.checks = mock.checks
        self.limits = mock.limits
        self.credit = mock.credit
        self.admission = mock.admission
