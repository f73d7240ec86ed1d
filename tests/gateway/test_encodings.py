"""Content negotiation and the cached entry's encodings, without a server."""

from __future__ import annotations

import gzip

import brotli
import pytest

from dyndash_common.cache.entry import CachedEntry, StaleFormat
from dyndash_gateway.responses import choose_encoding, entry_response

PAGE = b"<p>" + b"row of a dashboard table " * 400 + b"</p>"


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        (b"", "identity"),
        (b"gzip, deflate, br, zstd", "br"),
        (b"gzip, deflate", "gzip"),
        (b"br;q=0.5, gzip;q=0.8", "gzip"),
        (b"gzip;q=0.5, br;q=0.5", "br"),
        (b"gzip;q=1.0, identity;q=1.0", "gzip"),
        (b"br;q=0, gzip;q=0", "identity"),
        (b"*", "br"),
        (b"*;q=0.2, gzip", "gzip"),
        (b"identity;q=0.9, *;q=0.1", "identity"),
        (b"GZIP ; Q=0.7", "gzip"),
        (b"br;q=nan, gzip;q=2", "identity"),
        (b"br;q=x, gzip", "gzip"),
        # Nothing acceptable: the plain body rather than a 406.
        (b"identity;q=0, *;q=0", "identity"),
    ],
)
def test_choose_encoding_honours_q_values(header: bytes, chosen: str) -> None:
    assert choose_encoding(header) == chosen


def test_each_encoding_has_its_own_body_and_strong_etag() -> None:
    entry = CachedEntry.build(PAGE, "text/html; charset=utf-8", 60)
    answers = {
        header: entry_response(
            entry,
            cache=b"HIT-L1",
            cache_control=b"public, no-cache",
            accept_encoding=header,
            if_none_match=b"",
        )
        for header in (b"identity", b"gzip", b"br")
    }
    decoders = {b"identity": bytes, b"gzip": gzip.decompress, b"br": brotli.decompress}
    etags = set()
    for header, (status, headers, body) in answers.items():
        named = dict(headers)
        assert status == 200
        assert decoders[header](body) == PAGE
        assert named[b"content-length"] == str(len(body)).encode()
        assert named[b"vary"] == b"Accept-Encoding"
        assert named.get(b"content-encoding", b"identity") == header
        etags.add(named[b"etag"])
    assert len(etags) == 3
    assert len(entry.brotli) < len(entry.gzipped) * 0.8

    br_tag = dict(answers[b"br"][1])[b"etag"]
    status, headers, body = entry_response(
        entry,
        cache=b"HIT-L1",
        cache_control=b"public, no-cache",
        accept_encoding=b"br",
        if_none_match=b'"other", W/' + br_tag,
    )
    assert (status, body) == (304, b"")
    assert b"content-encoding" not in dict(headers)
    # Another encoding's validator is another representation's: the full body is sent.
    status, _, _ = entry_response(
        entry,
        cache=b"HIT-L1",
        cache_control=b"public, no-cache",
        accept_encoding=b"gzip",
        if_none_match=br_tag,
    )
    assert status == 200


def test_the_encoded_entry_carries_every_body() -> None:
    entry = CachedEntry.build(
        PAGE,
        "text/html; charset=utf-8",
        60,
        status=200,
        nonce="n0nce",
        route_csp=(("img-src", ("https://img.example.com",)),),
    )
    decoded = CachedEntry.decode(entry.encode())
    assert decoded == entry
    assert brotli.decompress(decoded.brotli) == PAGE
    assert decoded.origin == "l2"


def test_an_entry_of_the_older_format_is_refused() -> None:
    older = b"\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00\x01{}ab"
    with pytest.raises(StaleFormat):
        CachedEntry.decode(older)
