"""How slowcheck reaches a target, the way any other client would: the system's trust store, ``SSL_CERT_FILE`` and
``SSL_CERT_DIR``, ``HTTPS_PROXY`` and ``NO_PROXY`` (loopback is never proxied), and the four flags every command
that talks to a target takes: ``--ca-bundle``, ``--client-cert`` and ``--client-key`` (mTLS), and ``--header`` for
a gateway's own credentials.

A header's value is a credential: it reaches the target and the subprocesses that talk to it (through their
environment, never a command line), and nothing else. ``repr()`` and :meth:`Network.settings` name headers only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import ssl
import tempfile
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from slowcheck.errors import ConfigError
from slowcheck.target_url import is_loopback_host

__all__ = [
    "CLIENT_CERT_ENV",
    "CLIENT_KEY_ENV",
    "FLAGS",
    "HEADERS_ENV",
    "Network",
    "add_arguments",
    "environment_proxy",
    "failure",
]

HEADERS_ENV = "SLOWCHECK_HEADERS"
"""A subprocess's ``--header`` pairs, as a JSON list of ``[name, value]`` (the SDK probes and locust read it)."""
CLIENT_CERT_ENV = "SLOWCHECK_CLIENT_CERT"
CLIENT_KEY_ENV = "SLOWCHECK_CLIENT_KEY"

FLAGS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("--ca-bundle", {
        "type": Path, "metavar": "FILE",
        "help": "trust the certificate authorities in this PEM file too (beside the system's, SSL_CERT_FILE and "
        "SSL_CERT_DIR)",
    }),
    ("--client-cert", {
        "type": Path, "metavar": "FILE",
        "help": "present this PEM certificate to the target (mTLS); its key too, unless --client-key",
    }),
    ("--client-key", {"type": Path, "metavar": "FILE", "help": "the PEM private key of --client-cert"}),
    ("--header", {
        "action": "append", "metavar": "'NAME: VALUE'",
        "help": "send this header with every request to the target, e.g. a gateway's own key (repeatable; the "
        "value is never written or shown)",
    }),
)  # fmt: skip
"""The flags, declared once: ``add_arguments`` gives them to a parser, ``contract.options`` to its own three."""

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_SECRET_LENGTH = 8
"""Header values this long or longer are redacted from reports should a target echo them; shorter ones are
switches (``X-Debug: 1``), and blanking them everywhere would garble a report."""


def add_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    for name, keywords in FLAGS:
        default: list[str] | None = [] if keywords.get("action") == "append" else None
        parser.add_argument(name, default=default, **keywords)


@dataclass(frozen=True, slots=True, repr=False)
class Network:
    """How to reach a target: extra trust, a client certificate, and headers for every request."""

    ca_bundle: Path | None = None
    """PEM certificates trusted beside the system's."""
    client_cert: Path | None = None
    """The PEM certificate presented to the target (with its key, unless ``client_key``)."""
    client_key: Path | None = None
    headers: tuple[tuple[str, str], ...] = ()
    """``(name, value)`` sent with every request; the values are credentials."""

    @classmethod
    def from_args(cls, args: Any) -> Network:
        """The flags of a parsed command line (argparse's or pytest's), checked: one-line ``ConfigError``s."""
        cert, key = getattr(args, "client_cert", None), getattr(args, "client_key", None)
        if key is not None and cert is None:
            raise ConfigError("--client-key needs --client-cert (the certificate it is the key of)")
        if cert is not None and key is None and b"PRIVATE KEY-----" not in _read(cert, "--client-cert"):
            raise ConfigError(f"--client-cert {cert}: the file holds no private key: pass --client-key FILE")
        network = cls(
            ca_bundle=_pem(getattr(args, "ca_bundle", None), "--ca-bundle", "CERTIFICATE"),
            client_cert=_pem(cert, "--client-cert", "CERTIFICATE"),
            client_key=_pem(key, "--client-key", "PRIVATE KEY"),
            headers=tuple(_header(text) for text in getattr(args, "header", None) or []),
        )
        network.ssl_context()  # a key that is not the certificate's, or an unreadable SSL_CERT_FILE, fails now
        return network

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Network:
        """What :meth:`environment` handed a subprocess (the CA bundle is in its ``SSL_CERT_FILE``)."""
        pairs = json.loads(environ.get(HEADERS_ENV) or "[]")
        cert, key = environ.get(CLIENT_CERT_ENV), environ.get(CLIENT_KEY_ENV)
        return cls(
            client_cert=Path(cert) if cert else None,
            client_key=Path(key) if key else None,
            headers=tuple((str(name), str(value)) for name, value in pairs),
        )

    def __repr__(self) -> str:
        names = tuple(name for name, _ in self.headers)
        return (
            f"Network(ca_bundle={self.ca_bundle!r}, client_cert={self.client_cert!r}, "
            f"client_key={self.client_key!r}, headers={names!r})"
        )

    def settings(self) -> dict[str, Any]:
        """For reports: the files and the header names, never a header's value."""
        return {
            "ca_bundle": _shown(self.ca_bundle),
            "client_cert": _shown(self.client_cert),
            "client_key": _shown(self.client_key),
            "headers": [name for name, _ in self.headers],
        }

    def secrets(self) -> list[str]:
        """Header values to redact from a report folder, as keys are (see ``_SECRET_LENGTH``)."""
        return [value for _, value in self.headers if len(value) >= _SECRET_LENGTH]

    def ssl_context(self) -> ssl.SSLContext:
        """The system's trust store and certifi's (what httpx trusted alone before), ``SSL_CERT_FILE`` and
        ``SSL_CERT_DIR`` (OpenSSL reads them itself only in some builds), ``--ca-bundle``, and the client
        certificate."""
        context = ssl.create_default_context()
        with contextlib.suppress(ImportError, OSError, ssl.SSLError):
            import certifi

            context.load_verify_locations(cafile=certifi.where())
        cafile, capath = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
        if cafile:
            _load("SSL_CERT_FILE", cafile, lambda: context.load_verify_locations(cafile=cafile))
        if capath:
            _load("SSL_CERT_DIR", capath, lambda: context.load_verify_locations(capath=capath))
        if self.ca_bundle is not None:
            bundle = str(self.ca_bundle)
            _load("--ca-bundle", bundle, lambda: context.load_verify_locations(cafile=bundle))
        if self.client_cert is not None:
            cert, key = str(self.client_cert), str(self.client_key) if self.client_key else None
            _load("--client-cert", cert, lambda: context.load_cert_chain(cert, key, password=_no_password))
        return context

    def httpx_options(self) -> dict[str, Any]:
        """Keywords for ``httpx.Client`` / ``AsyncClient``: this trust, the environment's proxies, the headers.

        httpx proxies every host ``NO_PROXY`` does not name, loopback included; a loopback target (the embedded
        mock, a local server, the SDK lab) is reached directly whatever the environment says.
        """
        direct = {f"all://{host if ':' not in host else f'[{host}]'}": None for host in _LOOPBACK}
        return {"verify": self.ssl_context(), "trust_env": True, "headers": list(self.headers), "mounts": direct}

    @contextlib.contextmanager
    def environment(self) -> Iterator[dict[str, str]]:
        """Variables for a subprocess that talks to the target (locust, the SDK probes), valid within the block.

        ``SSL_CERT_FILE`` (with ``--ca-bundle``: a file of certifi's, the system's, ``SSL_CERT_FILE``'s and the
        bundle's certificates, since a client given ``SSL_CERT_FILE`` trusts that file alone), ``SSL_CERT_DIR``,
        ``NODE_EXTRA_CA_CERTS`` (Node reads no ``SSL_CERT_FILE``), the proxies with loopback added to
        ``NO_PROXY``, the headers (``SLOWCHECK_HEADERS``) and the client certificate's files.
        """
        env = {name: os.environ[name] for name in ("SSL_CERT_FILE", "SSL_CERT_DIR") if os.environ.get(name)}
        env |= _proxies(os.environ)
        if self.headers:
            env[HEADERS_ENV] = json.dumps([list(pair) for pair in self.headers])
        if self.client_cert is not None:
            env[CLIENT_CERT_ENV] = str(self.client_cert.resolve())
            env[CLIENT_KEY_ENV] = str((self.client_key or self.client_cert).resolve())
        given: list[str | Path] = [p for p in (env.get("SSL_CERT_FILE"), self.ca_bundle) if p]
        node: list[str | Path] = [p for p in (os.environ.get("NODE_EXTRA_CA_CERTS"), *given) if p]
        with tempfile.TemporaryDirectory(prefix="slowcheck-network-") as folder:
            if self.ca_bundle is not None:
                env["SSL_CERT_FILE"] = _joined(Path(folder) / "trusted.pem", [*_defaults(), *given])
            if node:
                env["NODE_EXTRA_CA_CERTS"] = _joined(Path(folder) / "extra.pem", node)
            yield env


def environment_proxy(url: str) -> tuple[str, int] | None:
    """The proxy the environment names for ``url`` (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``
    honoured) as ``(host, port)``, for clients that do not read the environment themselves (locust's); None for
    loopback or when there is none."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    proxies = urllib.request.getproxies_environment()
    if is_loopback_host(host) or urllib.request.proxy_bypass(host):
        return None
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy:
        return None
    where = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    return (where.hostname or "", where.port or 80) if where.hostname else None


def failure(exc: BaseException) -> str:
    """Why a request never got an answer, in one line; a TLS failure names the flag that fixes it."""
    cause = _ssl_error(exc)
    if isinstance(cause, ssl.SSLCertVerificationError):
        said = cause.verify_message or cause.reason or "verify failed"
        return (
            f"the certificate is not trusted (CERTIFICATE_VERIFY_FAILED: {said}): pass --ca-bundle FILE or set "
            "SSL_CERT_FILE"
        )
    if cause is not None:
        reason = cause.reason or type(cause).__name__
        hint = ": pass --client-cert FILE and --client-key FILE" if "CERTIFICATE" in reason else ""
        return f"the TLS handshake failed ({reason}){hint}"
    said = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)) and _over_tls(exc):
        said += " (a server that wants a client certificate does this: --client-cert FILE)"
    return said


def _over_tls(exc: httpx.HTTPError) -> bool:
    try:
        return exc.request.url.scheme == "https"
    except RuntimeError:  # raised without its request
        return False


def _ssl_error(exc: BaseException) -> ssl.SSLError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _header(text: str) -> tuple[str, str]:
    """``NAME: VALUE``; an error never repeats the value (it is a credential, and may be all there is)."""
    name, colon, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not colon:
        raise ConfigError("--header: expected 'NAME: VALUE', got no colon (the text is not shown: it may be a secret)")
    if not _TOKEN.fullmatch(name):
        raise ConfigError(f"--header: {name!r} is not a header name (letters, digits and !#$%&'*+-.^_`|~)")
    if not value.isascii() or any(c in value for c in "\r\n\0"):
        raise ConfigError(f"--header {name}: the value must be ASCII on one line")
    if name.lower() == "authorization":
        raise ConfigError("--header: Authorization carries the API key (--api-key); give the gateway's its own name")
    return name, value


def _pem(path: Path | str | None, flag: str, kind: str) -> Path | None:
    if path is None:
        return None
    path = Path(path)
    text = _read(path, flag)
    if f"-----BEGIN {kind}".encode() not in text and not (kind == "PRIVATE KEY" and b" PRIVATE KEY-----" in text):
        raise ConfigError(f"{flag} {path}: not a PEM file (no '-----BEGIN {kind}' line)")
    if kind == "PRIVATE KEY" and b"ENCRYPTED" in text:
        raise ConfigError(f"{flag} {path}: the key is encrypted; decrypt it first (openssl pkey -in KEY -out PLAIN)")
    return path


def _read(path: Path | str, flag: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: {exc.strerror or exc}") from None


def _load(flag: str, where: str, load: Callable[[], None]) -> None:
    try:
        load()
    except FileNotFoundError:
        raise ConfigError(f"{flag} {where}: no such file or folder") from None
    except ssl.SSLError as exc:
        raise ConfigError(f"{flag} {where}: OpenSSL refused it ({exc.reason or exc})") from None
    except OSError as exc:
        raise ConfigError(f"{flag} {where}: {exc.strerror or exc}") from None


def _no_password() -> bytes:
    """An encrypted key fails to load rather than OpenSSL asking for its passphrase on the terminal."""
    return b""


def _shown(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _proxies(environ: Mapping[str, str]) -> dict[str, str]:
    found = {name: environ[name] for name in environ if name.upper() in _PROXY_VARS and environ[name]}
    if any(name.upper() != "NO_PROXY" for name in found):
        skipped = [h for h in (found.get("NO_PROXY") or found.get("no_proxy") or "").split(",") if h.strip()]
        found["NO_PROXY"] = found["no_proxy"] = ",".join([*skipped, *(h for h in _LOOPBACK if h not in skipped)])
    return found


def _defaults() -> list[str]:
    """The certificates a client trusts by default: certifi's (httpx's) and the system's file, where present."""
    files = []
    with contextlib.suppress(ImportError):
        import certifi

        files.append(certifi.where())
    system = ssl.get_default_verify_paths().cafile
    if system and os.path.isfile(system):
        files.append(system)
    return files


def _joined(path: Path, files: list[str | Path]) -> str:
    """The PEM files one after the other in ``path`` (unreadable ones were refused earlier, or are skipped)."""
    with path.open("wb") as out:
        for name in files:
            with contextlib.suppress(OSError):
                out.write(Path(name).read_bytes().rstrip(b"\n") + b"\n")
    return str(path)
