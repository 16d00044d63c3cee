"""What the `submit` and `jobs` scenarios' machinery costs: their throughput next to a plain locust FastHttpUser.

One locust process loads a bare Starlette endpoint (benchmarks/bare_app.py, uvicorn, 1 worker) twice per
round: once with a plain FastHttpUser whose task only POSTs (closed model, as many users as the scenario
has requests in flight), once with `load/submit.py` offered far more than it can send (open model, arrivals
paced, acks parsed, every 10th validated against the schema, samples kept). The figure that travels between
machines is the ratio of the two rates; each round runs both, alternating which goes first.

With ``--scenario jobs`` the endpoint answers every poll with a finished record (``bare_app:jobs_app``), the
plain user submits and then polls once, and `load/jobs.py` follows every job to its end (hinted polls, the
record judged against its job, two journal rows a job): the rates compared are jobs per second.

    python benchmarks/load_overhead.py [--scenario submit|jobs] [--seconds 8] [--runs 3] [--users 64]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from mock_throughput import server

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PLAIN = """
from locust import FastHttpUser, task

BODY = {body!r}


class Plain(FastHttpUser):
    @task
    def post(self):
        self.client.post("/v1/slow/chat/completions", data=BODY, headers={{"Content-Type": "application/json"}})
"""
PLAIN_JOBS = """
from locust import FastHttpUser, task

BODY = {body!r}


class Plain(FastHttpUser):
    @task
    def job(self):
        ack = self.client.post("/v1/slow/chat/completions", data=BODY, headers={{"Content-Type": "application/json"}})
        self.client.get("/v1/generation/" + ack.json()["id"])
"""
BODY = b'{"model":"m","messages":[{"role":"user","content":"Summarise document 1 of the load run."}],"max_tokens":64}'


def locust(args: list[str], env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "locust", "--headless", "--only-summary", "--loglevel", "ERROR", *args],
                   check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)  # fmt: skip


def plain_rate(url: str, seconds: float, users: int, folder: Path, scenario: str) -> float:
    locustfile = folder / "plain.py"
    locustfile.write_text((PLAIN_JOBS if scenario == "jobs" else PLAIN).format(body=BODY))
    prefix = folder / "plain"
    locust(["-f", str(locustfile), "-u", str(users), "-r", str(users), "--host", url, "--run-time",
            f"{int(seconds)}s", "--csv", str(prefix)], dict(os.environ))  # fmt: skip
    with open(f"{prefix}_stats.csv", encoding="utf-8") as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    # A plain job is a POST and a GET: jobs per second are the POSTs per second.
    posted = next(row for name, row in rows.items() if name.startswith("/v1/slow"))
    return float(posted["Requests/s"])


def scenario_rate(url: str, seconds: float, users: int, folder: Path, scenario: str) -> float:
    report = folder / "scenario"
    # The bare endpoint's one record belongs to no job: its mismatches are expected, not a breach.
    extra = ["--canaries", "0", "--drain", "30", "--run-id", "bench0", "--threshold",
             "jobs.correctness.mismatched>=0"] if scenario == "jobs" else []  # fmt: skip
    locust(["-f", str(ROOT / "load" / f"{scenario}.py"), "-u", "1", "-r", "1", "--host", url, "--run-time",
            f"{int(seconds) + 60}s", "--rate", "100000", "--duration", str(seconds), "--max-inflight", str(users),
            "--report-dir", str(report), *extra], dict(os.environ, SLOWCHECK_API_KEY="sk-bench"))  # fmt: skip
    summary = json.loads((report / "summary.json").read_text(encoding="utf-8"))
    if scenario == "jobs":
        jobs = summary["jobs"]
        assert jobs["open"] == 0, f"{jobs['open']} jobs were never seen finished"
    return float(summary["submit"]["throughput_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--users", type=int, default=64, help="plain users = the scenario's --max-inflight")
    parser.add_argument("--port", type=int, default=8131)
    parser.add_argument("--scenario", choices=("submit", "jobs"), default="submit")
    options = parser.parse_args()
    url = f"http://127.0.0.1:{options.port}"
    app = "bare_app:jobs_app" if options.scenario == "jobs" else "bare_app:app"
    command = [sys.executable, "-m", "uvicorn", app, "--port", str(options.port), "--log-level",
               "warning", "--no-access-log", "--loop", "uvloop", "--http", "httptools"]  # fmt: skip
    unit = "jobs" if options.scenario == "jobs" else "requests"
    plain, scenario = [], []
    with server(command, url), tempfile.TemporaryDirectory() as folder:
        for run in range(options.runs):
            order = [("plain", plain_rate, plain), ("scenario", scenario_rate, scenario)]
            for name, measure, into in order if run % 2 == 0 else order[::-1]:
                (Path(folder) / f"{name}{run}").mkdir()
                work = Path(folder) / f"{name}{run}"
                into.append(measure(url, options.seconds, options.users, work, options.scenario))
                print(f"run {run + 1} {name:8}: {into[-1]:8.0f} {unit}/s", flush=True)
    ratios = [s / p for s, p in zip(scenario, plain, strict=True)]
    for name, rates in ((f"plain FastHttpUser ({unit})", plain), (f"{options.scenario} scenario", scenario)):
        runs = ", ".join(f"{r:.0f}" for r in rates)
        print(f"{name:24} median {statistics.median(rates):6.0f}/s  (runs: {runs})")
    print(
        f"scenario / plain: median {statistics.median(ratios):.2f} (per run: {', '.join(f'{r:.2f}' for r in ratios)})"
    )
    print(f"reproduce: python benchmarks/load_overhead.py --scenario {options.scenario} --seconds {options.seconds:g} "
          f"--runs {options.runs} --users {options.users}")  # fmt: skip


if __name__ == "__main__":
    main()
