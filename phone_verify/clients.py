"""Who is calling: the client IP, believed from ``X-Forwarded-For`` only as far as the
``TRUSTED_PROXIES`` setting allows (anyone can write that header; only our own proxies'
entries are true)."""

from __future__ import annotations

import ipaddress
from typing import Any

from .conf import app_settings


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    networks = app_settings.TRUSTED_PROXIES
    return any(ip in ipaddress.ip_network(net, strict=False) for net in networks)


def client_ip(request: Any) -> str | None:
    """The client's IP for ``request`` (a Django or DRF request).

    ``REMOTE_ADDR``, unless it is a trusted proxy: then ``X-Forwarded-For`` is read from the
    right (the hop nearest to us), skipping trusted proxies, and the first other address is the
    client. A malformed entry stops the walk at the last trusted hop.
    """
    remote = request.META.get("REMOTE_ADDR") or None
    if not remote or not _trusted(remote):
        return remote
    hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    client = remote
    for hop in reversed([h for h in hops if h]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return client
        client = hop
        if not _trusted(hop):
            return hop
    return client


__all__ = ["client_ip"]
