"""The client address behind trusted proxies, and only behind them."""

from __future__ import annotations

from ipaddress import ip_network

import pytest

from dyndash_common.web import client_address

PROXIES = [ip_network("10.0.0.0/16"), ip_network("::1/128")]


def _scope(peer: str, *forwarded: str) -> dict[str, object]:
    return {
        "client": (peer, 40000),
        "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded],
    }


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        pytest.param("203.0.113.5", ["198.51.100.1"], "203.0.113.5", id="untrusted-peer"),
        pytest.param("10.0.0.2", [], "10.0.0.2", id="trusted-peer-no-header"),
        pytest.param("10.0.0.2", ["198.51.100.1"], "198.51.100.1", id="one-proxy"),
        pytest.param(
            "10.0.0.2", ["1.1.1.1, 198.51.100.1, 10.0.5.5"], "198.51.100.1", id="forged-left"
        ),
        pytest.param("10.0.0.2", ["1.1.1.1", "198.51.100.1"], "198.51.100.1", id="two-headers"),
        pytest.param("10.0.0.2", ["10.0.0.9, 10.0.0.8"], "10.0.0.9", id="all-trusted"),
        pytest.param("10.0.0.2", ["1.1.1.1, junk"], "10.0.0.2", id="malformed-hop"),
        pytest.param("::1", ["2001:db8::7"], "2001:db8::7", id="ipv6"),
    ],
)
def test_the_rightmost_untrusted_address_is_the_client(
    peer: str, forwarded: list[str], expected: str
) -> None:
    assert client_address(_scope(peer, *forwarded), PROXIES) == expected


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    assert client_address(_scope("127.0.0.1", "198.51.100.1"), []) == "127.0.0.1"
