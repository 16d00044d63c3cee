"""The target as a user names it: the API root, and whether it is this machine."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from slowcheck.errors import ConfigError

__all__ = ["api_root", "is_loopback", "is_loopback_host", "normalise"]

_ENDPOINTS = ("/chat/completions", "/completions", "/generation", "/embeddings", "/batches", "/files", "/models")


def normalise(base_url: str) -> tuple[str, str | None]:
    """The API root, and a note when the URL given was the SDK's base URL rather than the root.

    ``https://api.inference.net/v1`` -> ``https://api.inference.net``; ``.../v1/slow`` and ``.../v1/async``
    (what the SDKs take) give the same root with a note; an endpoint's URL is a ConfigError.
    """
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"--base-url must be an http(s) URL, got {base_url!r}")
    given = base_url.rstrip("/")
    if urlsplit(given).query or any(given.endswith(e) or f"{e}/" in given for e in _ENDPOINTS):
        raise ConfigError(
            f"--base-url {base_url} names an endpoint: pass the API root, e.g. https://api.inference.net/v1"
        )
    root, note = given, None
    for suffix in ("/slow", "/async"):
        if root.endswith(f"/v1{suffix}"):
            root = root.removesuffix(suffix)
            note = (
                f"--base-url {base_url} is the SDK's base URL; checking the API root {root} (the suite adds {suffix})"
            )
    return root.removesuffix("/v1"), note


def api_root(base_url: str) -> str:
    """``https://api.inference.net/v1`` (or ``.../v1/slow``, ``.../v1/async``) -> ``https://api.inference.net``."""
    return normalise(base_url)[0]


def is_loopback(url: str) -> bool:
    return is_loopback_host(urlsplit(url).hostname or "")


def is_loopback_host(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 or ::1 (an address that only this machine reaches)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
