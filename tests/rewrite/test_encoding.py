import gzip
import zlib

import brotli
import pytest
import zstandard

from consentproxy.rewrite.encoding import BodyError, accepted, decoder, encoder, output_encoding

PAGE = b"<html><body>" + b"hello " * 5000 + b"</body></html>"
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
    dec = decoder(coding)
    plain = b"".join(dec.process(body[i:i + 100]) for i in range(0, len(body), 100))
    assert plain + dec.finish() == PAGE
    enc = encoder(coding)
    out = b"".join(enc.process(PAGE[i:i + 1000]) for i in range(0, len(PAGE), 1000))
    assert DECOMPRESS[coding](out + enc.finish()) == PAGE


def test_raw_deflate_from_legacy_servers_is_decoded():
    obj = zlib.compressobj(wbits=-15)
    raw = obj.compress(PAGE) + obj.flush()
    dec = decoder("deflate")
    assert dec.process(raw) + dec.finish() == PAGE


@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_corrupt_or_truncated_bodies_raise(coding):
    body = COMPRESS[coding](PAGE)
    with pytest.raises(BodyError):
        dec = decoder(coding)
        dec.process(body[: len(body) // 2])
        dec.finish()
    with pytest.raises(BodyError):
        decoder(coding).process(b"\x00garbage" * 20)


def test_accept_encoding_parsing():
    assert accepted("gzip, br;q=0.5, zstd;q=0") == {"identity", "gzip", "br"}
    assert accepted(None) == {"identity"}
    assert "gzip" in accepted("*")


def test_output_keeps_origin_coding_when_accepted():
    assert output_encoding("br", {"identity", "br", "gzip"}) == "br"
    assert output_encoding("br", {"identity", "gzip"}) == "gzip"
    assert output_encoding("gzip", {"identity"}) == "identity"
