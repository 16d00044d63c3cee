"""The locust side of the scenarios: open-model arrivals, the poller pool, the webhook receiver, and the
collection of samples across processes.

Only the locustfiles in ``load/`` import this package, inside locust's own process: locust patches the
standard library on import, so nothing else in the package may import it.

- :mod:`.wiring`: the scenario's flags on locust's parser (``LoadPlan``'s), the plan every process reads;
- :mod:`.users`: ``SlowUser``, one share of the arrivals sent open-loop, and its samples;
- :mod:`.tracker`: ``Tracker``, a strategy's pollers over its ``PollBook``;
- :mod:`.receiver`: ``HookReceiver``, the webhook receiver;
- :mod:`.collector`: ``Collector``, the samples merged on the master and the report written.
"""

from __future__ import annotations

from slowcheck.load.harness.receiver import HookReceiver
from slowcheck.load.harness.tracker import Tracker
from slowcheck.load.harness.users import Offer, SlowUser
from slowcheck.load.harness.wiring import install, previous_in

__all__ = ["HookReceiver", "Offer", "SlowUser", "Tracker", "install", "previous_in"]
