"""The locust side of the scenarios: open-model arrivals, the poller pool, the webhook receiver, and the
collection of samples across processes.

Only the locustfiles in ``load/`` import this module, inside locust's own process: locust patches the
standard library on import, so nothing else in the package may import it.

Each simulated user runs one whole scenario (its share of the arrivals), records ``Samples``, and sends them
to the master (``slowcheck_samples``) when it is done. The master (or the single local process) merges them;
once every user has reported it stops the run, writes ``summary.json`` and ``index.html``, and sets the exit
code from the thresholds.
"""

from __future__ import annotations

import itertools
import logging
import os
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import gevent.pool
from gevent.pywsgi import WSGIServer
from locust import FastHttpUser, events, task
from locust.argument_parser import LocustArgumentParser
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from slowcheck import api
from slowcheck.errors import SlowcheckError
from slowcheck.load import answers, jobs, plan, report
from slowcheck.load.limits import Budget, Gate, named
from slowcheck.load.policies import Policy
from slowcheck.load.pollbook import Completed, Outstanding, PollBook
from slowcheck.load.samples import STATUS_TRANSPORT_ERROR, Samples, StrategySamples
from slowcheck.load.thresholds import Threshold
from slowcheck.network import Network, environment_proxy
from slowcheck.report import new_report_dir

__all__ = ["Offer", "HookReceiver", "SlowUser", "Tracker", "install", "strategies"]

log = logging.getLogger("slowcheck.load")

_MESSAGE = "slowcheck_samples"
_TIMER_RESOLUTION = 0.001
"""gevent's timers fire in whole milliseconds: a shorter sleep costs a loop turn and gains nothing."""
_LATE = 0.010
"""An arrival picked up this late found every sender busy at its time: dropped (scheduling jitter is less)."""


# -- options and wiring ---------------------------------------------------------------------------------


def install(scenario: str) -> None:
    """Register the scenario's options and the sample collection with locust; called by each locustfile."""

    def _options(parser: LocustArgumentParser) -> None:
        rate, duration = plan.DEFAULTS[scenario]
        group = parser.add_argument_group("slowcheck", f"the {scenario!r} scenario")
        group.add_argument("--scenario", default=scenario, help="the scenario's name in reports")
        group.add_argument(
            "--rate",
            default=rate,
            help="arrivals per second: 50, or stages 20@10,50 (rate-limit: the probe's pace)",
        )
        group.add_argument("--duration", type=float, default=duration, help="seconds of offered load")
        group.add_argument("--report-dir", default="", help="where summary.json and index.html go")
        group.add_argument("--threshold", action="append", default=[], help="e.g. 'submit.latency_ms.p95<250'")
        group.add_argument("--model", default=api.DEFAULT_MODEL, help="model named in every submission")
        group.add_argument("--poll-interval", type=float, default=1.0, help="the fixed strategy's interval (s)")
        group.add_argument("--strategies", default=",".join(plan.STRATEGIES), help="polling strategies to compare")
        group.add_argument("--drain", type=float, default=60.0, help="poll: seconds to wait for the last results")
        group.add_argument("--max-inflight", type=int, default=plan.MAX_INFLIGHT, help="submissions in flight per user")
        group.add_argument(
            "--validate-every", type=int, default=plan.VALIDATE_EVERY, help="check the first and every Nth ack"
        )
        group.add_argument("--webhook-id", default="", help="poll: a webhook id whose URL reaches the receiver")
        group.add_argument(
            "--receiver-port", type=int, default=api.DEFAULT_RECEIVER_PORT, help="poll: the webhook receiver's port"
        )
        group.add_argument("--target-label", default="", help="the target as reports name it")
        group.add_argument("--rate-limit", default="", help="the key's generation requests a minute: free, paid or N")
        group.add_argument("--gateway-rps", type=float, default=0.0, help="the key's requests a second at the gateway")
        if scenario == "jobs":
            _job_options(parser)

    def _collect(environment: Environment, **_: Any) -> None:
        runner = environment.runner
        if runner is None or isinstance(runner, WorkerRunner):
            return
        collector = Collector(environment)
        runner.register_message(_MESSAGE, collector.receive)
        events.test_start.add_listener(collector.start)  # type: ignore[no-untyped-call]
        events.quitting.add_listener(collector.write)  # type: ignore[no-untyped-call]

    events.init_command_line_parser.add_listener(_options)  # type: ignore[no-untyped-call]
    events.init.add_listener(_collect)  # type: ignore[no-untyped-call]


def _job_options(parser: LocustArgumentParser) -> None:
    group = parser.add_argument_group("jobs", "the jobs scenario's workload, tracking and figures")
    group.add_argument("--arrival", default="constant", help="constant, poisson or gamma")
    group.add_argument("--burstiness", type=float, default=1.0, help="gamma's shape: 1 is Poisson, less is burstier")
    group.add_argument("--jobs", type=int, default=0, help="at most this many jobs (0: as the rate and duration say)")
    group.add_argument("--trace", default="", help="replay the arrival times of this JSON Lines file")
    group.add_argument("--seed", type=int, default=0, help="seed of random arrivals")
    group.add_argument("--input", default="", help="request bodies (or Batch API lines) to send, cycled")
    group.add_argument("--prompt-tokens", default="64", help="MEAN[:STDDEV] of generated prompts")
    group.add_argument("--output-tokens", default="64", help="MEAN[:STDDEV] of generated max_tokens")
    group.add_argument("--mix", default="chat", help="kinds with weights: chat=8,text=1,embedding=1")
    group.add_argument("--embedding-model", default=api.EMBEDDING_MODEL, help="model of embedding jobs")
    group.add_argument("--canaries", type=float, default=0.02, help="share of chat and text jobs that are canaries")
    group.add_argument("--slo", action="append", default=[], help="e.g. e2e_s<=600 (repeatable)")
    group.add_argument("--slice", type=float, default=10.0, help="seconds per slice of the throughput figures")
    group.add_argument("--warmup", type=float, default=0.0, help="seconds of arrivals left out of headline figures")
    group.add_argument("--cooldown", type=float, default=0.0, help="the last seconds of arrivals left out")
    group.add_argument("--track", default="auto", help="auto, adaptive, hinted, backoff, fixed or webhook")
    group.add_argument("--pollers", type=int, default=64, help="polls in flight per process")
    group.add_argument("--run-id", default="", help="six hex digits in every custom_id (resume keeps them)")
    group.add_argument("--resume", action="store_true", help="continue the run whose journal is in --report-dir")


@dataclass
class Collector:
    """On the master (or the only process): merges every user's samples and writes the report."""

    environment: Environment
    samples: Samples = field(default_factory=Samples)
    expected: int = 0
    reported: int = 0
    written: bool = False

    def start(self, environment: Environment, **_: Any) -> None:
        options = environment.parsed_options
        assert options is not None
        self.expected = options.num_users
        runner = environment.runner
        workers = runner.worker_count if isinstance(runner, MasterRunner) else 1
        if self.expected % workers:
            log.warning("-u %d is not a multiple of %d workers: arrivals will be uneven", self.expected, workers)
        # Custom attributes of parsed_options travel to the workers with the spawn message.
        options.slowcheck_users = self.expected
        options.slowcheck_workers = workers

    def receive(self, environment: Environment, msg: Any, **_: Any) -> None:
        self.samples.merge(Samples.from_dict(msg.data))
        self.reported += 1
        if self.reported >= self.expected:
            gevent.spawn(environment.runner.quit)  # type: ignore[union-attr]

    def write(self, environment: Environment, **_: Any) -> None:
        if self.written:
            return
        self.written = True
        options = environment.parsed_options
        assert options is not None
        directory = Path(options.report_dir) if options.report_dir else new_report_dir(options.scenario)
        thresholds: list[Threshold] = []
        try:
            thresholds = report.thresholds(options.threshold, options.scenario, strategies(options))
        except SlowcheckError as exc:
            log.error("%s", exc)
            environment.process_exit_code = 2
            return
        settings = _settings(options, self.expected)
        extra = None
        if options.scenario == "jobs":
            extra = jobs_figures(directory, options, self.samples)
            settings |= _job_settings(options)
        summary = report.write(
            directory,
            self.samples,
            scenario=options.scenario,
            target=options.target_label or environment.host or "",
            settings=settings | {"users_reported": self.reported},
            thresholds=thresholds,
            extra=extra,
        )
        breached = [t for t in summary["thresholds"] if not t["passed"]]
        environment.process_exit_code = 1 if breached else 0
        log.info("slowcheck: report written to %s", directory)


def strategies(options: Any) -> list[str]:
    """The strategies a run compares: those of --strategies in the poll scenario, none in the others."""
    return plan.parse_strategies(options.strategies) if options.scenario == "poll" else []


def jobs_figures(directory: Path, options: Any, samples: Samples) -> dict[str, Any]:
    """The ``jobs`` and ``submit`` keys of a jobs run, read from its journal, and what tracking cost."""
    slos = [jobs.parse_slo(expr) for expr in options.slo]
    figures = jobs.summarize(
        directory, slos, warmup=options.warmup, cooldown=options.cooldown, slice_seconds=options.slice
    )
    tracked = samples.strategies.get("jobs") or StrategySamples()
    terminal = figures["jobs"]["accepted"] - figures["jobs"]["open"]
    figures["jobs"]["tracking"] = {
        "polls": tracked.polls,
        "polls_per_job": round(tracked.polls / terminal, 3) if terminal else None,
        "wasted_polls": tracked.wasted,
        "rate_limited": tracked.rate_limited,
        "errors": tracked.errors,
        "webhooks": tracked.webhooks,
    }
    return figures | {"poll": {}}


def _job_settings(options: Any) -> dict[str, Any]:
    names = ("arrival", "burstiness", "jobs", "trace", "seed", "input", "prompt_tokens", "output_tokens", "mix",
             "canaries", "slo", "slice", "warmup", "cooldown", "track", "run_id", "resume")  # fmt: skip
    return {name: getattr(options, name) for name in names}


def _settings(options: Any, users: int) -> dict[str, Any]:
    return {
        "rate": options.rate,
        "duration_s": options.duration,
        "users": users,
        "model": options.model,
        "poll_interval_s": options.poll_interval,
        "strategies": strategies(options),
        "max_inflight": options.max_inflight,
        "validate_every": options.validate_every,
        "rate_limit_per_minute": budget_of(options).per_minute,
        "gateway_rps": budget_of(options).gateway_rps,
    }


def budget_of(options: Any) -> Budget:
    """The limits of ``--rate-limit`` and ``--gateway-rps`` as the locust side received them."""
    return Budget(api.tier_rpm(options.rate_limit or None, flag="--rate-limit"), options.gateway_rps or None)


# -- the user base class ----------------------------------------------------------------------------------


@dataclass
class Offer:
    """What a submission came back with."""

    status: int
    generation_id: str | None
    headers: dict[str, str]
    sent_at: float
    content: bytes | None = None
    """The answer's body, as it came."""


class SlowUser(FastHttpUser):
    """One share of a scenario: it runs the whole scenario once, then reports its samples and idles."""

    abstract = True
    concurrency = 256
    network_timeout = 30.0
    connection_timeout = 10.0

    def __init__(self, environment: Environment) -> None:
        # The target is reached as every other client of slowcheck reaches it (``Network.environment`` in the
        # command's process): its certificate verified against the same trust (locust's default verifies
        # nothing), the client certificate presented, --header's headers on every request, the environment's
        # proxy (geventhttpclient reads none itself).
        reach = Network.from_environment(os.environ)
        self.insecure = False
        self.ssl_context_factory = _context_factory(reach)
        self.default_headers = dict(reach.headers)
        proxy = environment_proxy(environment.host or "")
        if proxy is not None:
            self.proxy_host, self.proxy_port = proxy
        super().__init__(environment)
        options = environment.parsed_options
        assert options is not None
        self.options = options
        self.samples = Samples()
        self.reported = False
        self.acks = 0
        key = api.api_key(None) or ""
        self.auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.inflight = 0
        self.share, self.of = _share(environment)
        self.budget = budget_of(options)
        room = self.budget.poll_room(plan.peak_rate(options.scenario, options.rate, options.duration))
        # One gate per process: every strategy's pollers share the key's room at the gateway.
        self.gate = Gate(room / self.of) if room is not None else None

    def run_once(self) -> None:
        """The scenario, for this user's share of the arrivals; :meth:`scenario` reports the samples after it."""
        raise NotImplementedError

    @task
    def scenario(self) -> None:
        if not self.reported:
            self.run_once()
            self.report()
        gevent.sleep(1)  # done: wait for the master to stop the run

    def on_stop(self) -> None:
        self.report()

    def report(self) -> None:
        if self.reported:
            return
        self.reported = True
        self.samples.unfinished += self.inflight
        self.samples.ended = self.samples.ended or time.time()
        runner = self.environment.runner
        assert runner is not None
        runner.send_message(_MESSAGE, self.samples.to_dict())

    # -- submissions

    def offer(
        self,
        arrivals: Iterable[tuple[int, float]],
        start: float,
        fire: Callable[[int, float], None],
        dropped: Callable[[int, float], None] | None = None,
    ) -> None:
        """Fire each ``(index, offset)`` arrival at its time, never waiting for answers (open model); then let the
        last ones land.

        Like k6's arrival-rate executors: ``--max-inflight`` senders take the next planned arrival when they
        are free and wait for its time. An arrival nobody was free to send on time is dropped and counted (and
        told to ``dropped``); a sender that was free but woke late (timer jitter, a busy machine) still sends,
        and its latency shows it.
        """
        schedule = iter(arrivals)
        samples = self.samples

        def sender() -> None:
            for index, offset in schedule:  # shared: each arrival goes to exactly one sender
                at = start + offset
                delay = at - time.time()
                if delay > _TIMER_RESOLUTION:
                    gevent.sleep(delay)
                elif delay < -_LATE:
                    samples.dropped += 1
                    if dropped is not None:
                        dropped(index, at)
                    continue
                self.inflight += 1
                try:
                    fire(index, min(at, time.time()))
                except Exception as exc:  # a sender that died would silently take its share of the plan with it
                    samples.errors[f"harness error: {type(exc).__name__}: {exc}"] += 1
                    log.exception("slowcheck: arrival %d failed in the harness", index)
                finally:
                    self.inflight -= 1

        senders = [gevent.spawn(sender) for _ in range(self.options.max_inflight)]
        gevent.joinall(senders, timeout=None)

    def submit(self, kind: api.Kind, body: bytes, at: float) -> Offer:
        sent_at = time.time()
        with self.client.post(
            api.SUBMIT.get(kind, api.EMBEDDINGS),
            data=body,  # type: ignore[arg-type]  # bytes, encoded once; geventhttpclient sends them as they are
            headers=self.auth,
            name=f"submit {kind}",
            catch_response=True,
        ) as response:
            status = int(response.status_code or STATUS_TRANSPORT_ERROR)
            self.samples.sent(sent_at, "submit", status, _said(status, response.content))
            if 200 <= status < 300:
                self.acks += 1
                # An ack needs only its media type read: the whole header map is built for the rest alone.
                headers = {"content-type": response.headers.get("content-type") or ""}
            else:
                headers = _headers(response)
            generation_id, failure = answers.submission(
                self.samples,
                at=at,
                done=time.time(),
                status=status,
                content=response.content,
                headers=headers,
                ordinal=self.acks,
                validate_every=self.options.validate_every,
                error=_error_name(response),
            )
            if failure is None:
                response.success()
            else:
                response.failure(failure)
        return Offer(status, generation_id, headers, sent_at, response.content)

    def hook(self, tracker: Tracker) -> tuple[HookReceiver | None, str | None]:
        """A webhook receiver handing events to ``tracker``, and the id the target sends to it with: the
        ``--webhook-id`` given, or one registered through the mock's ``/_mock/webhooks``. ``(None, None)``, the
        tracker closed, when neither is possible."""
        options = self.options
        receiver = HookReceiver(options.receiver_port if options.webhook_id else 0, tracker.deliver)
        hook_id = str(options.webhook_id) or f"slowcheck-load-{id(self):x}"
        if not options.webhook_id:
            answer = self.client.post(
                "/_mock/webhooks", json={"id": hook_id, "url": receiver.url}, headers=self.auth, name="register webhook"
            )
            if answer.status_code != 200:
                tracker.close()
                receiver.stop()
                return None, None
        return receiver, hook_id


def _context_factory(reach: Network) -> Callable[..., ssl.SSLContext]:
    def factory(**_: Any) -> ssl.SSLContext:  # geventhttpclient offers certifi's file: the context has it already
        return reach.ssl_context()

    return factory


def _share(environment: Environment) -> tuple[int, int]:
    """This user's slot in the interleaved arrivals, and the number of slots."""
    options = environment.parsed_options
    users = int(getattr(options, "slowcheck_users", 0) or getattr(options, "num_users", 1) or 1)
    workers = int(getattr(options, "slowcheck_workers", 1) or 1)
    runner = environment.runner
    worker = runner.worker_index if isinstance(runner, WorkerRunner) else 0
    local = next(_LOCAL_SLOTS)
    return (worker + local * workers) % users, users


_LOCAL_SLOTS = itertools.count()


def _said(status: int, content: bytes | None) -> str:
    """The limit a 429's error message names (``""`` for any other answer, or a message naming none)."""
    if status != 429:
        return ""
    document = answers.load_json(content or b"")
    error = document.get("error") if isinstance(document, dict) else None
    return named(error.get("message") if isinstance(error, dict) else None)


def _headers(response: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in (response.headers or {}).items()}


def _error_name(response: Any) -> str:
    error = getattr(response, "error", None)
    return type(error).__name__ if error is not None else "unknown"


# -- polling --------------------------------------------------------------------------------------------


class Tracker:
    """A pool of pollers for one strategy over its :class:`PollBook`: each due poll is dispatched to one of at
    most ``pollers`` greenlets, and the book says what the answer meant and when to poll next."""

    def __init__(
        self,
        user: SlowUser,
        policy: Policy,
        samples: StrategySamples,
        pollers: int = 64,
        completed: Completed | None = None,
    ) -> None:
        self.user, self.policy = user, policy
        self.book = PollBook(policy, samples, completed)
        self.samples = samples
        self.wakeup = gevent.event.Event()
        self.idle = gevent.event.Event()
        self.idle.set()
        self.pool = gevent.pool.Pool(pollers)
        self.loop = gevent.spawn(self._dispatch)

    def add(self, generation_id: str, submitted_at: float, job: int = -1) -> None:
        self.idle.clear()
        self.book.add(generation_id, submitted_at, time.time(), job)
        self._changed()

    def deliver(self, generation_id: str, data: dict[str, Any], seen: float) -> None:
        self.book.deliver(generation_id, data, seen)
        self._changed()

    def close(self) -> None:
        self.book.close()
        self.loop.kill(block=False)
        self.pool.kill(block=False)

    def _changed(self) -> None:
        if self.book.idle:
            self.idle.set()
        self.wakeup.set()

    def _dispatch(self) -> None:
        while True:
            now = time.time()
            item = self.book.pop_due(now)
            if item is not None:
                if self.user.gate is not None and (pause := self.user.gate.wait(now)) > 0:
                    gevent.sleep(pause)  # the gateway's room: submissions first, polls in what they leave
                self.pool.wait_available()
                self.pool.spawn(self._poll, item)
                continue
            self.wakeup.clear()
            self.wakeup.wait(timeout=self.book.wait(now))

    def _poll(self, item: Outstanding) -> None:
        self.book.polled(item)
        sent_at = time.time()
        with self.user.client.get(
            api.generation(item.generation_id),
            headers=self.user.auth,
            name=f"poll ({self.policy.name})",
            catch_response=True,
        ) as response:
            status = int(response.status_code or STATUS_TRANSPORT_ERROR)
            self.user.samples.sent(sent_at, "poll", status, _said(status, response.content))
            record = answers.load_json(response.content) if status == 200 else None
            reading = self.book.answered(item, status, _headers(response), record, time.time())
            if reading == "limited":
                response.failure("429 rate limited")
            elif reading == "mislabelled":
                response.failure(f"HTTP 200 labelled {response.headers.get('content-type')}")
            elif reading == "error":
                response.failure(f"HTTP {status}" if status else f"no answer: {_error_name(response)}")
            else:
                response.success()
        self._changed()


_COMPLETED_EVENTS = frozenset({"generation.completed", "async-embedding.completed"})


class HookReceiver:
    """The harness's webhook receiver on 127.0.0.1: hands each ``generation.completed`` event to ``deliver``.

    It answers the sender's OPTIONS readiness check, and 200 to every POST, so nothing is retried.
    """

    def __init__(self, port: int, deliver: Callable[[str, dict[str, Any], float], None]) -> None:
        self.deliver = deliver
        self.server = WSGIServer(("127.0.0.1", port), self._app, log=None, error_log=None)
        self.server.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"

    def stop(self) -> None:
        self.server.stop(timeout=1)

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        seen = time.time()
        if environ["REQUEST_METHOD"] == "POST":
            size = int(environ.get("CONTENT_LENGTH") or 0)
            event = answers.load_json(environ["wsgi.input"].read(size))
            if isinstance(event, dict) and event.get("event") in _COMPLETED_EVENTS:
                generation_id, data = api.event_id(event), event.get("data")
                if generation_id is not None:
                    self.deliver(generation_id, data if isinstance(data, dict) else {}, seen)
        start_response("200 OK", [("Content-Type", "application/json"), ("Allow", "POST, OPTIONS")])
        return [b"{}"]
