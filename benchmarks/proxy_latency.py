"""What `slowcheck proxy` adds: latency per exchange and throughput, proxy against direct, in the same run.

A `slowcheck mock` (in memory) and `slowcheck proxy --upstream` in front of it run as their own processes.
Latency: two keep-alive clients send acks (POST) and polls (GET of a finished generation), taking turns
request by request, to the mock and to the proxy, ``--requests`` of each; the added latency is the difference
of the medians and of the p99s. Throughput: wrk (``--connections``) against each for ``--seconds``; the ratio
is what travels.

    python benchmarks/proxy_latency.py [--requests 2000] [--seconds 5] [--runs 3] [--connections 32]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from mock_throughput import BODY, KEY, scripts, server, wrk


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))]


def latencies(urls: dict[str, str], generation_id: str, requests: int) -> dict[str, dict[str, list[float]]]:
    """Per target and kind, milliseconds per request; the targets take turns request by request, so a busy
    moment of the machine falls on both."""
    found: dict[str, dict[str, list[float]]] = {name: {"ack": [], "poll": []} for name in urls}
    auth = {"Authorization": f"Bearer {KEY}"}
    clients = {name: httpx.Client(base_url=url, headers=auth) for name, url in urls.items()}
    try:
        for _ in range(requests):
            for name, client in clients.items():
                began = time.perf_counter()
                client.post("/v1/slow/chat/completions", json=BODY)
                found[name]["ack"].append((time.perf_counter() - began) * 1000)
                began = time.perf_counter()
                client.get(f"/v1/generation/{generation_id}")
                found[name]["poll"].append((time.perf_counter() - began) * 1000)
    finally:
        for client in clients.values():
            client.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    python = sys.executable
    added: dict[str, list[tuple[float, float]]] = {"ack": [], "poll": []}
    rates: dict[str, list[float]] = {"direct": [], "proxy": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        mock = [python, "-m", "slowcheck", "mock", "--port", "8911", "--db", ":memory:", "--api-key", KEY,
                "--queue-time", "0", "--run-time", "0"]  # fmt: skip
        proxy = [python, "-m", "slowcheck", "proxy", "--upstream", "http://127.0.0.1:8911/v1", "--port", "8912",
                 "--report-dir", str(folder / "proxy-report")]  # fmt: skip
        with server(mock, "http://127.0.0.1:8911") as direct, server(proxy, "http://127.0.0.1:8912") as proxied:
            ack = httpx.post(direct + "/v1/slow/chat/completions", json=BODY,
                             headers={"Authorization": f"Bearer {KEY}"}).json()  # fmt: skip
            post, _ = scripts(folder, ack["id"])
            for run in range(args.runs):
                measured = latencies({"direct": direct, "proxy": proxied}, ack["id"], args.requests)
                plain, through = measured["direct"], measured["proxy"]
                for kind in ("ack", "poll"):
                    median = statistics.median(through[kind]) - statistics.median(plain[kind])
                    p99 = percentile(through[kind], 99) - percentile(plain[kind], 99)
                    added[kind].append((median, p99))
                    print(f"run {run + 1} {kind:4}: direct median {statistics.median(plain[kind]):.3f} ms, "
                          f"proxy {statistics.median(through[kind]):.3f} ms; added median {median:.3f} ms, "
                          f"p99 {p99:.3f} ms", flush=True)  # fmt: skip
                order = [("direct", direct), ("proxy", proxied)]
                for name, url in order if run % 2 == 0 else order[::-1]:
                    rates[name].append(wrk(url, args.seconds, args.connections, post))
                print(f"run {run + 1} throughput: direct {rates['direct'][-1]:.0f}/s, proxy {rates['proxy'][-1]:.0f}/s",
                      flush=True)  # fmt: skip
    for kind in ("ack", "poll"):
        medians = [m for m, _ in added[kind]]
        p99s = [p for _, p in added[kind]]
        print(f"added latency, {kind}: median {statistics.median(medians):.3f} ms, p99 {statistics.median(p99s):.3f} "
              f"ms (median over runs; targets < 1 ms and < 5 ms)")  # fmt: skip
    ratios = [p / d for p, d in zip(rates["proxy"], rates["direct"], strict=True)]
    print(f"throughput, proxy / direct: median {statistics.median(ratios):.2f} (per run: "
          f"{', '.join(f'{r:.2f}' for r in ratios)}; target >= 0.50)")  # fmt: skip
    print(f"reproduce: python benchmarks/proxy_latency.py --requests {args.requests} --seconds {args.seconds} "
          f"--runs {args.runs} --connections {args.connections}")  # fmt: skip


if __name__ == "__main__":
    main()
