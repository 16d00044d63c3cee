"""Durable submissions/s and polls/s of `slowcheck mock`, next to a bare Starlette endpoint, in one run.

Polls of a recent generation are answered from memory; polls of old ones (`mock GET old`) miss the cache:
that mock runs with `--cache-size 1` and the polls cycle through 2,000 finished generations, so each one is
read back from SQLite.

Both servers run with uvicorn (1 worker, uvloop, httptools) on 127.0.0.1; wrk (Debian package `wrk`) loads
them from the same machine, so the figures are what one 2-core box does with server and load generator
sharing it. The ratio is the figure that travels between machines.

    python benchmarks/mock_throughput.py [--seconds 5] [--runs 3] [--connections 64]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
KEY = "sk-bench-0000"
BODY = {"model": "inference-net/load-test", "messages": [{"role": "user", "content": "What is the capital of France?"}],
        "max_tokens": 16}  # fmt: skip


@contextmanager
def server(command: list[str], url: str) -> Iterator[str]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=HERE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/health", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit(f"server did not start: {command}") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def wrk(url: str, seconds: int, connections: int, script: Path) -> float:
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if not found or errors:
        raise SystemExit(f"wrk run failed or saw errors:\n{out}")
    return float(found.group(1))


def scripts(folder: Path, generation_id: str) -> tuple[Path, Path]:
    post = folder / "post.lua"
    post.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(json.dumps(BODY))}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {KEY}"\n'
        'wrk.path = "/v1/slow/chat/completions"\n'
    )
    get = folder / "get.lua"
    get.write_text(f'wrk.headers["Authorization"] = "Bearer {KEY}"\nwrk.path = "/v1/generation/{generation_id}"\n')
    return post, get


def old_polls(folder: Path, ids: list[str]) -> Path:
    script = folder / "get-old.lua"
    script.write_text(
        f'wrk.headers["Authorization"] = "Bearer {KEY}"\n'
        f"ids = {{{', '.join(json.dumps(i) for i in ids)}}}\n"
        "n = 0\n"
        "request = function()\n"
        "  n = n + 1\n"
        '  return wrk.format("GET", "/v1/generation/" .. ids[(n % #ids) + 1])\n'
        "end\n"
    )
    return script


def finished_generations(url: str, count: int) -> list[str]:
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=url, headers=headers) as client:
        ids = [client.post("/v1/slow/chat/completions", json=BODY).json()["id"] for _ in range(count)]
        deadline = time.monotonic() + 60
        while client.get(f"/v1/generation/{ids[-1]}").json()["state"] != "Success":
            if time.monotonic() > deadline:
                raise SystemExit("the cache-miss mock did not finish its generations in 60 s")
            time.sleep(0.2)
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    python = sys.executable
    names = ("bare POST", "mock POST", "bare GET", "mock GET", "mock GET old")
    results: dict[str, list[float]] = {k: [] for k in names}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for _ in range(args.runs):
            db = folder / f"bench-{time.monotonic_ns()}.sqlite3"
            mock = [python, "-m", "slowcheck", "mock", "--port", "8901", "--db", str(db), "--api-key", KEY]
            with server(mock, "http://127.0.0.1:8901") as url:
                ack = httpx.post(url + "/v1/slow/chat/completions", json=BODY,
                                 headers={"Authorization": f"Bearer {KEY}"}).json()  # fmt: skip
                post, get = scripts(folder, ack["id"])
                results["mock POST"].append(wrk(url, args.seconds, args.connections, post))
                results["mock GET"].append(wrk(url, args.seconds, args.connections, get))
                stored = httpx.get(url + "/health").json()["generations"]
            db = folder / f"bench-old-{time.monotonic_ns()}.sqlite3"
            instant = ["--queue-time", "0", "--run-time", "0", "--workers", "64", "--cache-size", "1"]
            cold = [python, "-m", "slowcheck", "mock", "--port", "8901", "--db", str(db), "--api-key", KEY, *instant]
            with server(cold, "http://127.0.0.1:8901") as url:
                old = old_polls(folder, finished_generations(url, 2000))
                results["mock GET old"].append(wrk(url, args.seconds, args.connections, old))
            bare = [python, "-m", "uvicorn", "bare_app:app", "--port", "8902", "--log-level", "warning",
                    "--no-access-log"]  # fmt: skip
            with server(bare, "http://127.0.0.1:8902") as url:
                results["bare POST"].append(wrk(url, args.seconds, args.connections, post))
                results["bare GET"].append(wrk(url, args.seconds, args.connections, get))
    median = {k: statistics.median(v) for k, v in results.items()}
    print(
        f"runs: {args.runs} x {args.seconds}s, wrk -t2 -c{args.connections}; last mock run stored {stored} generations"
    )
    for name, values in results.items():
        print(f"{name:10} median {median[name]:9.0f} req/s   (runs: {', '.join(f'{v:.0f}' for v in values)})")
    # Each run's own ratio too: on a shared machine the speed drifts between runs, and a mock run is best
    # compared with the bare run next to it.
    for label, mock, bare, target in (
        ("durable submissions", "mock POST", "bare POST", " (target >= 70%)"),
        ("polls, recent", "mock GET", "bare GET", " (target >= 100%)"),
        ("polls, cache misses", "mock GET old", "bare GET", ""),
    ):
        paired = statistics.median(m / b for m, b in zip(results[mock], results[bare], strict=True))
        print(f"{label + ':':21}{median[mock] / median[bare]:4.0%} of the bare endpoint{target}; "
              f"median of the runs' own ratios {paired:.0%}")  # fmt: skip
    print(f"reproduce: python benchmarks/mock_throughput.py --seconds {args.seconds} --runs {args.runs} "
          f"--connections {args.connections}")  # fmt: skip


if __name__ == "__main__":
    main()
