"""Who a request comes from, for rate limiting: the peer, or what trusted proxies say.

Only a proxy listed in DYNDASH_TRUSTED_PROXIES is believed. Each proxy appends the address it
saw to X-Forwarded-For, so walking the list from the right, the first address that is not a
trusted proxy is the client; anything left of it was written by the client and may be forged.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address

from starlette.types import Scope

Networks = Sequence[IPv4Network | IPv6Network]


def _trusted(address: str, proxies: Networks) -> bool:
    try:
        parsed = ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in proxies)


def client_address(scope: Scope, proxies: Networks) -> str:
    client = scope.get("client")
    peer: str = client[0] if client else "unknown"
    if not proxies or not _trusted(peer, proxies):
        return peer
    hops = [
        hop.strip()
        for name, value in scope["headers"]
        if name == b"x-forwarded-for"
        for hop in value.decode("latin-1").split(",")
    ]
    chosen = peer
    for hop in reversed(hops):
        if _trusted(hop, proxies):
            chosen = hop
            continue
        # A malformed entry right of every real address: the chain is not to be believed.
        return hop if _is_address(hop) else peer
    return chosen


def _is_address(value: str) -> bool:
    try:
        ip_address(value)
    except ValueError:
        return False
    return True
