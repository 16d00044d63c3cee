"""Reaching a target as any other client would: a private CA (``--ca-bundle``, ``SSL_CERT_FILE``), mTLS
(``--client-cert``, ``--client-key``), a gateway's header (``--header``, whose value reaches no file), the
environment's proxies (never for loopback), and one readable line when the flags or the certificate are wrong."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from slowcheck.background import serve_in_background
from slowcheck.cli import main
from slowcheck.network import Network
from tests.docs_server import Habits, create_app

KEY = Habits().keys[0]
FAST = ["--completion-timeout", "0", "--max-requests", "200"]
"""The contract suite as far as it goes without waiting for generations: the preflight, then every cheap rule."""
UNREACHABLE = "http://127.0.0.1:9/v1"
"""Nothing listens there: a request sent to it, or through it as a proxy, fails."""


@dataclass(frozen=True)
class Pki:
    """A private CA, a server certificate for 127.0.0.1 it issued, and a client certificate (key apart)."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    client_both: Path
    """The client certificate and its key in one file."""


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1")
    client = ca.issue_cert("client.example")
    files = Pki(*(folder / name for name in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key",
                                             "client-both.pem")))  # fmt: skip
    ca.cert_pem.write_to_path(str(files.ca))
    server.cert_chain_pems[0].write_to_path(str(files.server_cert))
    server.private_key_pem.write_to_path(str(files.server_key))
    client.cert_chain_pems[0].write_to_path(str(files.client_cert))
    client.private_key_pem.write_to_path(str(files.client_key))
    client.private_key_and_cert_chain_pem.write_to_path(str(files.client_both))
    return files


@dataclass
class Recorder:
    """An ASGI app in front of another that keeps every request's headers."""

    app: Any
    seen: list[dict[str, str]]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.seen.append({k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]})
        await self.app(scope, receive, send)


@contextlib.contextmanager
def docs_over_tls(pki: Pki, *, client_certificate: bool = False) -> Iterator[tuple[str, Recorder]]:
    """The docs-shaped API over TLS on 127.0.0.1 (asking for a client certificate if told), its URL and recorder."""
    recorder = Recorder(create_app(Habits()), [])
    tls: dict[str, Any] = {"ssl_certfile": str(pki.server_cert), "ssl_keyfile": str(pki.server_key)}
    if client_certificate:
        tls |= {"ssl_ca_certs": str(pki.ca), "ssl_cert_reqs": ssl.CERT_REQUIRED}
    with serve_in_background(recorder, name="tls docs server", **tls) as url:
        assert url.startswith("https://127.0.0.1:")
        yield url + "/v1", recorder


@pytest.fixture(autouse=True)
def _no_inherited_trust(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test says what the environment holds."""
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS", "HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY",
                 "NO_PROXY"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def contract(url: str, tmp_path: Path, *extra: str) -> int:
    return main(["contract", "--base-url", url, "--api-key", KEY, "--report-dir", str(tmp_path / "report"), *FAST,
                 *extra])  # fmt: skip


# -- the flags, checked --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        pytest.param(["--header", "X-Gateway-Key secret123"], "--header: expected 'NAME: VALUE'", id="no-colon"),
        pytest.param(["--header", "X Key: secret123"], "'X Key' is not a header name", id="bad-name"),
        pytest.param(
            ["--header", "Authorization: Bearer secret123"], "Authorization carries the API key", id="authorization"
        ),  # fmt: skip
        pytest.param(
            ["--ca-bundle", "/nonexistent/ca.pem"], "--ca-bundle /nonexistent/ca.pem: No such file", id="missing-file"
        ),  # fmt: skip
        pytest.param(["--client-key", "KEY"], "--client-key needs --client-cert", id="key-without-cert"),
        pytest.param(["--ca-bundle", "TEXT"], "not a PEM file (no '-----BEGIN CERTIFICATE' line)", id="not-pem"),
        pytest.param(
            ["--client-cert", "CERT"], "the file holds no private key: pass --client-key", id="cert-without-key"
        ),  # fmt: skip
        pytest.param(
            ["--client-cert", "CERT", "--client-key", "OTHER_KEY"], "OpenSSL refused it", id="key-of-another-cert"
        ),  # fmt: skip
    ],
)
@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["contract", "--base-url", UNREACHABLE, "--api-key", KEY], id="contract"),
        pytest.param(["run", "--base-url", UNREACHABLE, "--api-key", KEY], id="run"),
        pytest.param(["load", "submit", "--base-url", UNREACHABLE, "--api-key", KEY], id="load"),
        pytest.param(["load", "batch", "--base-url", UNREACHABLE, "--api-key", KEY], id="load-batch"),
        pytest.param(
            ["sdk-matrix", "--base-url", UNREACHABLE, "--api-key", KEY, "--python", "1.40.0", "--node", ""],
            id="sdk-matrix",
        ),  # fmt: skip
        pytest.param(["proxy", "--upstream", UNREACHABLE, "--port", "0"], id="proxy"),
    ],
)
def test_a_bad_network_flag_is_one_line_and_exit_2_in_every_command(
    command: list[str], flags: list[str], says: str, pki: Pki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "notes.pem"
    text.write_text("not a certificate\n")
    other = trustme.CA().issue_cert("other.example")
    other.private_key_pem.write_to_path(str(tmp_path / "other.key"))
    files = {"TEXT": str(text), "CERT": str(pki.client_cert), "KEY": str(pki.client_key),
             "OTHER_KEY": str(tmp_path / "other.key")}  # fmt: skip
    argv = [*command, "--report-dir", str(tmp_path / "report"), *(files.get(f, f) for f in flags)]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("slowcheck: error: "), err
    assert err.count("\n") == 1, err
    assert says in err
    assert "secret123" not in err
    assert not (tmp_path / "report").exists()


def test_a_network_shows_header_names_and_never_their_values(pki: Pki) -> None:
    network = Network(ca_bundle=pki.ca, headers=(("X-Gateway-Key", "secret123"), ("X-Debug", "1")))
    assert "secret123" not in repr(network)
    assert "X-Gateway-Key" in repr(network)
    assert network.settings() == {"ca_bundle": str(pki.ca), "client_cert": None, "client_key": None,
                                  "headers": ["X-Gateway-Key", "X-Debug"]}  # fmt: skip
    assert network.secrets() == ["secret123"], "a short value is a switch, not a credential"


# -- trust -----------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_context_trusts_a_private_ca_given_by_flag_or_by_ssl_cert_file(
    pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    with docs_over_tls(pki) as (url, _):
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(url + "/models", verify=Network().ssl_context())
        assert httpx.get(url + "/models", verify=Network(ca_bundle=pki.ca).ssl_context()).status_code == 401
        monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca))
        assert httpx.get(url + "/models", verify=Network().ssl_context()).status_code == 401


@pytest.mark.slow
def test_contract_gets_past_the_preflight_with_ca_bundle(
    pki: Pki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with docs_over_tls(pki) as (url, recorder):
        code = contract(url, tmp_path, "--ca-bundle", str(pki.ca))
    out = capsys.readouterr().out
    assert code == 0, out
    assert len(recorder.seen) > 10
    assert (tmp_path / "report" / "results.json").is_file()


@pytest.mark.slow
def test_contract_trusts_ssl_cert_file_and_never_proxies_loopback(
    pki: Pki, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """httpx proxies every host NO_PROXY does not name, 127.0.0.1 included: slowcheck never proxies loopback."""
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca))
    monkeypatch.setenv("HTTPS_PROXY", UNREACHABLE)
    monkeypatch.setenv("HTTP_PROXY", UNREACHABLE)
    with docs_over_tls(pki) as (url, _):
        code = contract(url, tmp_path)
    assert code == 0, capsys.readouterr().out


@pytest.mark.slow
def test_an_untrusted_certificate_is_one_line_naming_the_fix_and_exit_2(
    pki: Pki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with docs_over_tls(pki) as (url, _):
        code = contract(url, tmp_path)
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1, err
    assert err.startswith(f"slowcheck: error: cannot reach {url.removesuffix('/v1')}: the certificate is not trusted "
                          "(CERTIFICATE_VERIFY_FAILED"), err  # fmt: skip
    assert err.rstrip().endswith("pass --ca-bundle FILE or set SSL_CERT_FILE")


@pytest.mark.slow
def test_environment_hands_a_subprocess_the_same_trust_headers_and_proxies(
    pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", UNREACHABLE)
    monkeypatch.setenv("NO_PROXY", "internal.example")
    network = Network(ca_bundle=pki.ca, client_cert=pki.client_both, headers=(("X-Gateway-Key", "secret123"),))
    with network.environment() as env:
        trusted = Path(env["SSL_CERT_FILE"]).read_text()
        assert pki.ca.read_text().strip() in trusted
        assert trusted.count("BEGIN CERTIFICATE") > 50, "the defaults too: a file in SSL_CERT_FILE is all one trusts"
        assert Path(env["NODE_EXTRA_CA_CERTS"]).read_text().strip() == pki.ca.read_text().strip()
        assert env["NO_PROXY"] == "internal.example,127.0.0.1,localhost,::1"
        again = Network.from_environment(env)
        assert again.headers == network.headers
        assert again.client_cert == again.client_key == pki.client_both.resolve()
        monkeypatch.setenv("SSL_CERT_FILE", env["SSL_CERT_FILE"])
        with docs_over_tls(pki, client_certificate=True) as (url, recorder):
            with httpx.Client(**again.httpx_options()) as client:
                assert client.get(url + "/models").status_code == 401
        assert recorder.seen[-1]["x-gateway-key"] == "secret123"
    assert not Path(env["SSL_CERT_FILE"]).exists(), "the files live as long as the block"


# -- mTLS and headers ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_server_asking_for_a_client_certificate_is_reached_with_one(
    pki: Pki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with docs_over_tls(pki, client_certificate=True) as (url, _):
        refused = contract(url, tmp_path, "--ca-bundle", str(pki.ca))
        err = capsys.readouterr().err
        code = contract(url, tmp_path, "--ca-bundle", str(pki.ca), "--client-cert", str(pki.client_cert),
                        "--client-key", str(pki.client_key))  # fmt: skip
    assert refused == 2
    assert err.count("\n") == 1, err
    assert "--client-cert FILE" in err
    assert code == 0, capsys.readouterr().out


@pytest.mark.slow
def test_a_gateway_header_reaches_the_target_and_no_file(
    pki: Pki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with docs_over_tls(pki) as (url, recorder):
        code = contract(url, tmp_path, "--ca-bundle", str(pki.ca), "--header", "X-Gateway-Key: secret123")
    captured = capsys.readouterr()
    assert code == 0, captured.out
    assert recorder.seen
    assert {seen.get("x-gateway-key") for seen in recorder.seen} == {"secret123"}
    assert "secret123" not in captured.out + captured.err
    written = [p for p in (tmp_path / "report").rglob("*") if p.is_file()]
    assert written
    for path in written:
        assert b"secret123" not in path.read_bytes(), path.name


def test_header_values_are_among_the_secrets_a_report_is_redacted_of() -> None:
    """Should a gateway echo its header into an answer a report keeps, the value is blanked like a key."""
    from slowcheck.contract.connect import target_for

    network = Network(headers=(("X-Gateway-Key", "secret123"),))
    with target_for("http://127.0.0.1:9/v1", KEY, network=network) as (target, _, secrets):
        assert secrets == [KEY, "secret123"]
        assert target.client.headers["x-gateway-key"] == "secret123"


# -- the other commands --------------------------------------------------------------------------------------


def _no_secret_in(folder: Path) -> None:
    written = [p for p in folder.rglob("*") if p.is_file()]
    assert written
    for path in written:
        assert b"secret123" not in path.read_bytes(), path.name


@pytest.mark.slow
def test_load_reaches_a_private_mtls_target_through_locust_with_the_header(
    pki: Pki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """locust's own process verifies the certificate (locust's default does not), presents the client's and
    sends the header: all handed over in its environment."""
    with docs_over_tls(pki, client_certificate=True) as (url, recorder):
        code = main(["load", "submit", "--base-url", url, "--api-key", KEY, "--model", "inference-net/load-test",
                     "--duration", "1", "--rate", "5", "--report-dir", str(tmp_path), "--ca-bundle", str(pki.ca),
                     "--client-cert", str(pki.client_both), "--header", "X-Gateway-Key: secret123"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    submitted = [seen for seen in recorder.seen if seen.get("content-type") == "application/json"]
    assert len(submitted) >= 3, "the preflight's and locust's submissions"
    assert {seen.get("x-gateway-key") for seen in recorder.seen} == {"secret123"}
    assert json.loads((tmp_path / "summary.json").read_text())["submit"]["errors"] == 0
    _no_secret_in(tmp_path)


@pytest.mark.slow
def test_the_sdk_probe_and_the_lab_reach_a_private_mtls_target_with_the_header(pki: Pki) -> None:
    """The installed openai, in its own process: trust through SSL_CERT_FILE, the header as default_headers,
    the client certificate in an http_client of its own; the lab in front adds them for its two rows."""
    from slowcheck.sdk.matrix import SdkTarget, run_plan
    from slowcheck.sdk.plan import SdkPlan

    network = Network(ca_bundle=pki.ca, client_cert=pki.client_cert, client_key=pki.client_key,
                      headers=(("X-Gateway-Key", "secret123"),))  # fmt: skip
    plan = SdkPlan(python=("installed",), node=(), cache=Path("/nonexistent"), jobs=1, network=network)
    with docs_over_tls(pki, client_certificate=True) as (url, recorder):
        (row,) = run_plan(plan, SdkTarget(url.removesuffix("/v1"), KEY)).rows
    assert row.error is None
    assert row.cells["submit-chat"]["status"] == "passed", row.cells["submit-chat"]
    assert row.cells["retry-429"]["status"] == "passed", row.cells["retry-429"]
    assert {seen.get("x-gateway-key") for seen in recorder.seen} == {"secret123"}


@pytest.mark.slow
def test_the_proxy_relays_to_a_private_mtls_upstream_with_the_header_and_records_no_value(
    pki: Pki, tmp_path: Path
) -> None:
    from slowcheck.proxy.recording import read
    from slowcheck.proxy.server import ProxySettings, running
    from slowcheck.proxy.wire import Upstream

    network = Network(ca_bundle=pki.ca, client_cert=pki.client_both, headers=(("X-Gateway-Key", "secret123"),))
    record = tmp_path / "recording.jsonl"
    with docs_over_tls(pki, client_certificate=True) as (url, recorder):
        with running(ProxySettings(upstream=url, port=0, record=record)) as proxy:
            proxy.upstream = Upstream(url.removesuffix("/v1"), timeout=10, network=network)  # as `slowcheck proxy`
            answer = httpx.get(f"http://127.0.0.1:{proxy.port}/v1/models", headers={"X-Gateway-Key": "the app's"})
    assert answer.status_code == 401, "relayed: the docs server refuses the missing key"
    assert recorder.seen[-1]["x-gateway-key"] == "secret123", "in place of the application's own"
    _, exchanges = read(record)
    assert len(list(exchanges)) == 1
    _no_secret_in(tmp_path)


class ConnectProxy:
    """An HTTPS proxy on 127.0.0.1 that tunnels every CONNECT to 127.0.0.1 at the port asked, whatever the host
    (so a target can have a name no resolver knows), and keeps the hosts it was asked for."""

    def __init__(self) -> None:
        self.tunnels: list[str] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.loop = asyncio.new_event_loop()
        self.server = self.loop.run_until_complete(asyncio.start_server(self._tunnel, "127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        async def shutdown() -> None:
            self.server.close()
            for writer in self.writers:
                writer.close()
            running = asyncio.all_tasks() - {asyncio.current_task()}
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    async def _tunnel(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        method, target = head.split(b" ")[:2]
        assert method == b"CONNECT", head
        host, port = target.decode().rsplit(":", 1)
        self.tunnels.append(host)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", int(port))
        self.writers += [writer, up_writer]
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@pytest.mark.slow
def test_load_goes_through_the_environments_proxy_in_both_processes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The preflight (httpx) and locust (geventhttpclient, which reads no environment) both tunnel through
    HTTPS_PROXY to a target whose name only the proxy resolves."""
    ca = trustme.CA()
    server = ca.issue_cert("target.example")
    for name, pem in (("ca.pem", ca.cert_pem), ("server.pem", server.cert_chain_pems[0]),
                      ("server.key", server.private_key_pem)):  # fmt: skip
        pem.write_to_path(str(tmp_path / name))
    proxy = ConnectProxy()
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    try:
        tls = {"ssl_certfile": str(tmp_path / "server.pem"), "ssl_keyfile": str(tmp_path / "server.key")}
        with serve_in_background(create_app(Habits()), **tls) as url:
            port = url.rsplit(":", 1)[1]
            code = main(["load", "submit", "--base-url", f"https://target.example:{port}/v1", "--api-key", KEY,
                         "--model", "inference-net/load-test", "--duration", "1", "--rate", "3", "--report-dir",
                         str(tmp_path / "report"), "--ca-bundle", str(tmp_path / "ca.pem")])  # fmt: skip
    finally:
        proxy.close()
    assert code == 0, capsys.readouterr().out
    assert len(proxy.tunnels) >= 2, "the preflight's connection and locust's"
    assert set(proxy.tunnels) == {"target.example"}
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["submit"]["errors"] == 0
    assert summary["submit"]["ok"] >= 2
