"""The target as a user names it: the API root, and whether it is this machine."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from slowcheck.errors import ConfigError

__all__ = ["api_root", "is_loopback"]


def api_root(base_url: str) -> str:
    """``https://api.inference.net/v1`` (or ``.../v1/slow``, ``.../v1/async``) -> ``https://api.inference.net``."""
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"--base-url must be an http(s) URL, got {base_url!r}")
    root = base_url.rstrip("/")
    for suffix in ("/slow", "/async", "/v1"):
        root = root.removesuffix(suffix)
    return root


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
