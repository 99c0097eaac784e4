import gzip
import zlib

import brotli
import pytest
import zstandard

from consentproxy.rewrite.encoding import (
    ZSTD_MAGIC,
    BodyError,
    ZstdFrames,
    accepted,
    codings,
    decoder,
    encoder,
    narrowed,
    output_encoding,
)

PAGE = b"<html><body>" + b"hello " * 5000 + b"</body></html>"
LIMIT = 1 << 20
COMPRESS = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": lambda b: zstandard.ZstdCompressor().compress(b),
}
DECOMPRESS = {
    "gzip": gzip.decompress,
    "deflate": zlib.decompress,
    "br": brotli.decompress,
    "zstd": lambda b: zstandard.ZstdDecompressor().decompressobj().decompress(b),
}


@pytest.mark.parametrize("coding", list(COMPRESS))
def test_streaming_decode_and_encode_round_trip(coding):
    body = COMPRESS[coding](PAGE)
    dec = decoder([coding], LIMIT)
    plain = b"".join(dec.process(body[i : i + 100]) for i in range(0, len(body), 100))
    assert plain + dec.finish() == PAGE
    enc = encoder(coding)
    out = b"".join(enc.process(PAGE[i : i + 1000]) for i in range(0, len(PAGE), 1000))
    assert DECOMPRESS[coding](out + enc.finish()) == PAGE


def test_raw_deflate_from_legacy_servers_is_decoded():
    obj = zlib.compressobj(wbits=-15)
    raw = obj.compress(PAGE) + obj.flush()
    dec = decoder(["deflate"], LIMIT)
    assert dec.process(raw) + dec.finish() == PAGE


@pytest.mark.parametrize("cut", [0.5, -6, -1])  # (-6, -1: bytes cut off the end)
@pytest.mark.parametrize("coding", list(COMPRESS))
def test_corrupt_or_truncated_bodies_raise(coding, cut):
    """(a zstd body cut short went out as a whole page: its decoder did not tell)"""
    body = COMPRESS[coding](PAGE)
    with pytest.raises(BodyError):
        dec = decoder([coding], LIMIT)
        dec.process(body[: int(len(body) * cut) if cut > 0 else cut])
        dec.finish()
    with pytest.raises(BodyError):
        decoder([coding], LIMIT).process(b"\x00garbage" * 20)


def test_zstd_frames_end_only_between_frames():
    """Two frames (with and without a checksum, a block of one repeated byte in the first)
    around a skippable one, fed whole and a byte at a time: the body has ended only where
    one of them ends."""
    first = zstandard.ZstdCompressor(write_checksum=True).compress(b"a" * 100_000 + PAGE)
    skippable = (0x184D2A53).to_bytes(4, "little") + (3).to_bytes(4, "little") + b"xyz"
    second = zstandard.ZstdCompressor(write_content_size=False).compress(b"tail")
    body = first + skippable + second
    ends = {len(first), len(first) + len(skippable), len(body)}
    for cut in range(1, len(body) + 1):
        frames = ZstdFrames()
        frames.feed(body[:cut])
        assert frames.ended() == (cut in ends), cut
    frames = ZstdFrames()
    for i in range(len(body)):
        frames.feed(body[i : i + 1])
    assert frames.ended()
    dec = decoder(["zstd"], LIMIT)
    assert dec.process(body) + dec.finish() == b"a" * 100_000 + PAGE + b"tail"


def test_a_zstd_body_of_tiny_blocks_decodes_in_steps_of_its_size():
    """Found by helper-128: steps were cut by a count of blocks (two per step), so a body of
    1-byte raw blocks made a step, a rewrite and a write of every two bytes (131,088 slices,
    2 s of CPU for 1 MiB). By the blocks' decoded bounds now."""
    blocks = 1 << 16
    body = (
        ZSTD_MAGIC
        + bytes([0x00, 0x58])
        + b"".join(
            ((1 << 3) | (i == blocks - 1)).to_bytes(3, "little") + b"a" for i in range(blocks)
        )
    )
    dec, steps, out = decoder(["zstd"], LIMIT), 0, []
    out.append(dec.step(body, 1 << 15))
    steps += 1
    while dec.pending:
        out.append(dec.step(b"", 1 << 15))
        steps += 1
    assert b"".join(out) + dec.finish() == b"a" * blocks
    assert steps <= 5 and max(map(len, out)) <= (1 << 14) + (1 << 17), steps


def test_accept_encoding_parsing():
    assert accepted("gzip, br;q=0.5, zstd;q=0") == {"identity", "gzip", "br"}
    assert accepted(None) == {"identity"}
    assert "gzip" in accepted("*")


@pytest.mark.parametrize(
    ("visitor", "origin"),
    [
        ("gzip, deflate, br, zstd, dcb, dcz", "gzip, deflate, br, zstd"),  # (no dictionaries)
        ("gzip;q=0.1, br;q=1", "gzip;q=0.1, br;q=1"),  # (the visitor's preference)
        ("identity", "identity"),  # wget's: sent with none, any coding would do
        ("", "identity"),  # none wanted (RFC 9110 12.5.3)
        ("compress, sdch", "identity"),
        ("identity;q=1, *;q=0", "identity;q=1, br;q=0, zstd;q=0, gzip;q=0, deflate;q=0"),
        ("br, *;q=0.5", "br, zstd;q=0.5, gzip;q=0.5, deflate;q=0.5"),
    ],
)
def test_the_origin_is_offered_what_the_visitor_takes_and_the_proxy_undoes(visitor, origin):
    """(narrowed to nothing, the header went away: the origin could then send any coding,
    one the visitor had refused; q-values were dropped)"""
    assert narrowed(visitor) == origin


def test_output_keeps_origin_coding_when_accepted():
    assert output_encoding("br", {"identity", "br", "gzip"}) == "br"
    assert output_encoding("br", {"identity", "gzip"}) == "gzip"
    assert output_encoding("gzip", {"identity"}) == "identity"


FAST = {
    "gzip": lambda b: gzip.compress(b, 1),
    "deflate": lambda b: zlib.compress(b, 1),
    "br": lambda b: brotli.compress(b, quality=1),
    "zstd": lambda b: zstandard.ZstdCompressor(level=1).compress(b),
}


@pytest.mark.parametrize("coding", list(COMPRESS))
def test_a_decompression_bomb_stops_at_the_limit(coding):
    bomb = FAST[coding](b"\0" * (32 << 20))  # 32 MiB of zeros in a few KB
    assert len(bomb) < 200_000
    dec = decoder([coding], LIMIT)
    with pytest.raises(BodyError, match="html_bytes"):
        for i in range(0, len(bomb), 4096):
            assert len(dec.process(bomb[i : i + 4096])) <= LIMIT + 1
        dec.finish()


def test_uncompressed_bodies_stream_past_the_limit():
    dec = decoder([], 10)
    assert dec.process(b"0123456789") + dec.process(b"x") == b"0123456789x"


def test_stacked_codings_are_undone_last_first():
    body = brotli.compress(gzip.compress(PAGE))
    dec = decoder(codings(["gzip, br"]), LIMIT)
    out = b"".join(dec.process(body[i : i + 50]) for i in range(0, len(body), 50))
    assert out + dec.finish() == PAGE


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["gzip"], ["gzip"]),
        (["gzip", "br"], ["gzip", "br"]),
        (["identity"], []),
        ([], []),
        (["UTF-8"], []),
        (["none"], []),
        (["gzip, foo"], []),
        (["compress"], []),
        ([" BR "], ["br"]),
    ],
)
def test_codings_browsers_do_not_know_count_as_none(values, expected):
    assert codings(values) == expected
