"""A locust run's live figures: each process's :class:`Feed`, and on the master (or the only process) the
:class:`Board` they feed, served at ``--metrics-port``, logged as a progress line and kept in ``live.json``.

A worker drains its feed to the master every :data:`DRAIN_S` seconds (a custom message,
``slowcheck_live``) and once more when its users report, so the master's last figures hold everything. The
only process reads its own feed directly. ``slowcheck load`` shows ``live.json``'s line while locust runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from slowcheck.errors import SlowcheckError
from slowcheck.live import Board, Feed, serve, write_live
from slowcheck.load.options import LoadPlan

__all__ = ["DRAIN_S", "LINE_S", "LIVE", "FEED", "Progress", "drain_to_master", "drain_every"]

log = logging.getLogger("slowcheck.load")

LIVE = "slowcheck_live"
DRAIN_S = 2.0
LINE_S = 5.0
"""The progress line's period, and ``live.json``'s."""

FEED = Feed()
"""This process's: the users' submissions and polls, and their poller pools' books."""


def drain_to_master(environment: Environment) -> None:
    """A worker's figures since its last drain, sent to the master (elsewhere they are read where they are)."""
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        runner.send_message(LIVE, FEED.drain())


def drain_every(environment: Environment, **_: Any) -> None:
    """On a worker, from the start of the run: its figures to the master every :data:`DRAIN_S` seconds."""

    def loop() -> None:
        while True:
            gevent.sleep(DRAIN_S)
            drain_to_master(environment)

    gevent.spawn(loop)


class Progress:
    """On the master or the only process: the board, its server, the line every few seconds, ``live.json``."""

    def __init__(self, environment: Environment, plan: LoadPlan, folder: Path) -> None:
        self.environment, self.plan, self.folder = environment, plan, folder
        self.board = Board()
        self._stop_server: Callable[[], None] | None = None
        self._ticker: gevent.Greenlet | None = None
        runner = environment.runner
        if isinstance(runner, MasterRunner):
            runner.register_message(LIVE, self._merge)
        else:
            self.board.pull(FEED)
        if plan.metrics_port is not None:  # at init: a port in use stops the run before anything is sent
            try:
                url, self._stop_server = serve(self.board, plan.metrics_port)
            except SlowcheckError as exc:
                log.error("slowcheck: %s", exc)
                raise SystemExit(2) from None
            log.info("slowcheck: live figures at %s", url)

    def start(self, **_: Any) -> None:
        self.board.started = time.time()
        if self._ticker is None:
            self._ticker = gevent.spawn(self._tick)

    def stop(self, **_: Any) -> None:
        if self._ticker is not None:
            self._ticker.kill(block=False)
        self._write()
        if self._stop_server is not None:
            self._stop_server()
            self._stop_server = None

    def _merge(self, environment: Environment, msg: Any, **_: Any) -> None:
        self.board.merge(msg.data, source=str(msg.node_id))

    def _tick(self) -> None:
        while True:
            gevent.sleep(LINE_S)
            log.info("slowcheck: %s", self._write()["line"])

    def _write(self) -> dict[str, Any]:
        return write_live(self.folder, self.board, self.plan.scenario)
