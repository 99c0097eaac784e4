"""Content-Encoding: decode a page only to rewrite it, re-encode it for the client.

Streaming codecs for gzip, deflate, br and zstd; anything else is passed through
unrewritten by the caller (see `can_decode`).
"""

from __future__ import annotations

import zlib
from typing import Protocol

import brotli
import zstandard
from isal import isal_zlib

DECODABLE = ("identity", "gzip", "x-gzip", "deflate", "br", "zstd")
PREFERRED_OUTPUT = ("br", "zstd", "gzip", "deflate")  # when the origin's is not accepted


class BodyError(Exception):
    """The origin's body cannot be decoded (corrupt or truncated compression)."""


class Codec(Protocol):
    def process(self, data: bytes) -> bytes: ...
    def finish(self) -> bytes: ...


class Identity:
    def process(self, data: bytes) -> bytes:
        return data

    def finish(self) -> bytes:
        return b""


class ZlibDecoder:
    """gzip or deflate; 'deflate' in the wild is zlib-wrapped or raw, so try both."""

    def __init__(self, gzip: bool):
        self.gzip = gzip
        self.obj = zlib.decompressobj(wbits=31 if gzip else 15)
        self.started = False

    def process(self, data: bytes) -> bytes:
        try:
            out = self.obj.decompress(data)
        except zlib.error as e:
            if self.gzip or self.started:
                raise BodyError(f"bad {'gzip' if self.gzip else 'deflate'} body: {e}") from None
            self.obj = zlib.decompressobj(wbits=-15)  # raw deflate
            out = self._raw(data)
        self.started = self.started or bool(data)
        return out

    def _raw(self, data: bytes) -> bytes:
        try:
            return self.obj.decompress(data)
        except zlib.error as e:
            raise BodyError(f"bad deflate body: {e}") from None

    def finish(self) -> bytes:
        if self.started and not self.obj.eof:
            raise BodyError("truncated compressed body")
        return self.obj.flush()


class BrotliDecoder:
    def __init__(self) -> None:
        self.obj = brotli.Decompressor()

    def process(self, data: bytes) -> bytes:
        try:
            return self.obj.process(data)
        except brotli.error as e:
            raise BodyError(f"bad br body: {e}") from None

    def finish(self) -> bytes:
        if not self.obj.is_finished():
            raise BodyError("truncated br body")
        return b""


class ZstdDecoder:
    def __init__(self) -> None:
        self.obj = zstandard.ZstdDecompressor().decompressobj()

    def process(self, data: bytes) -> bytes:
        try:
            return self.obj.decompress(data)
        except zstandard.ZstdError as e:
            raise BodyError(f"bad zstd body: {e}") from None

    def finish(self) -> bytes:
        return b""


class ZlibEncoder:
    """Flushes at every chunk so the client gets bytes as soon as the origin sends them.
    ISA-L at level 1: on the bench's 100 KB page 0.035 ms and 6.8 KB against zlib's 0.15 ms
    and 7.0 KB at its level 1 (nginx's gzip level; level 6 takes 0.41 ms)."""

    def __init__(self, gzip: bool):
        self.obj = isal_zlib.compressobj(1, isal_zlib.DEFLATED, 31 if gzip else 15)

    def process(self, data: bytes) -> bytes:
        return self.obj.compress(data) + self.obj.flush(isal_zlib.Z_SYNC_FLUSH) if data else b""

    def finish(self) -> bytes:
        return self.obj.flush(isal_zlib.Z_FINISH)


class BrotliEncoder:
    def __init__(self) -> None:
        self.obj = brotli.Compressor(quality=4)

    def process(self, data: bytes) -> bytes:
        return self.obj.process(data) + self.obj.flush() if data else b""

    def finish(self) -> bytes:
        return self.obj.finish()


class ZstdEncoder:
    def __init__(self) -> None:
        self.obj = zstandard.ZstdCompressor(level=3).compressobj()

    def process(self, data: bytes) -> bytes:
        if not data:
            return b""
        return self.obj.compress(data) + self.obj.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)

    def finish(self) -> bytes:
        return self.obj.flush()


def decoder(encoding: str) -> Codec:
    match encoding:
        case "gzip" | "x-gzip":
            return ZlibDecoder(gzip=True)
        case "deflate":
            return ZlibDecoder(gzip=False)
        case "br":
            return BrotliDecoder()
        case "zstd":
            return ZstdDecoder()
    return Identity()


def encoder(encoding: str) -> Codec:
    match encoding:
        case "gzip":
            return ZlibEncoder(gzip=True)
        case "deflate":
            return ZlibEncoder(gzip=False)
        case "br":
            return BrotliEncoder()
        case "zstd":
            return ZstdEncoder()
    return Identity()


def normalise(content_encoding: str | None) -> str:
    return (content_encoding or "identity").strip().lower() or "identity"


def can_decode(content_encoding: str | None) -> bool:
    return normalise(content_encoding) in DECODABLE


def accepted(accept_encoding: str | None) -> set[str]:
    """Codings the client accepts (q=0 excluded); identity is always acceptable."""
    out = {"identity"}
    for part in (accept_encoding or "").split(","):
        name, _, params = part.partition(";")
        name = name.strip().lower()
        key, _, value = params.strip().partition("=")
        try:
            q = float(value) if key.strip().lower() == "q" else 1.0
        except ValueError:
            q = 0.0
        if name and q > 0:
            out.update(PREFERRED_OUTPUT if name == "*" else (name,))
    return out


def output_encoding(origin: str, client_accepts: set[str]) -> str:
    """Keep the origin's coding when the client takes it, else the best the client takes."""
    origin = "gzip" if origin == "x-gzip" else origin
    if origin in client_accepts:
        return origin
    return next((e for e in PREFERRED_OUTPUT if e in client_accepts), "identity")
