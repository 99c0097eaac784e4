"""Pages the scanner cannot read as they come: which they are, and how they are decoded.

UTF-16 is no ASCII the scanner can read, and ISO-2022-JP's escape sequences switch between
ASCII and two-byte modes and show as nothing (`<scr\\x1b(Bipt src=...>` was no tag to the
scanner and a script to Chromium). Such pages are rewritten as UTF-8 behind a UTF-8 BOM,
which browsers honour before any charset a header or a <meta> gives. A page is one when
its BOM or its Content-Type's charset says so.
"""

from __future__ import annotations

import codecs
import functools
import re
from collections.abc import Buffer

UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = {b"\xff\xfe": "utf-16-le", b"\xfe\xff": "utf-16-be"}
# The WHATWG labels of the encodings transcoded, and the codec each is read with.
_UTF16_LABELS = {
    "utf-16be": "utf-16-be",
    "unicodefffe": "utf-16-be",
    **dict.fromkeys(
        ("csunicode", "iso-10646-ucs-2", "ucs-2", "unicode", "unicodefeff", "utf-16", "utf-16le"),
        "utf-16-le",
    ),
}
ISO_2022_JP = "iso-2022-jp"
_ISO_2022_JP_LABELS = dict.fromkeys(("iso-2022-jp", "csiso2022jp"), ISO_2022_JP)
_TRANSCODED_LABELS = {**_UTF16_LABELS, **_ISO_2022_JP_LABELS}
_CHARSET_RE = re.compile(r";\s*charset\s*=\s*[\"']?([^\s;\"']+)", re.IGNORECASE)


@functools.lru_cache(maxsize=256)  # an origin sends few distinct values
def header_codec(content_type: str) -> str | None:
    """The codec of a Content-Type's charset the scanner cannot read as it comes, else
    None."""
    m = _CHARSET_RE.search(content_type)
    return _TRANSCODED_LABELS.get(m.group(1).lower()) if m else None


# --- decoders --------------------------------------------------------------------------


def decoder(codec: str) -> codecs.IncrementalDecoder:
    """What reads a transcoded page's bytes as the browser does, bad bytes as U+FFFD."""
    if codec == ISO_2022_JP:
        return Iso2022JpDecoder()
    return codecs.getincrementaldecoder(codec)("replace")


# An ESC that starts none of the WHATWG decoder's five escape sequences.
_UNKNOWN_ESCAPE_RE = re.compile(rb"\x1b(?!\(B|\(J|\(I|\$@|\$B)")


class Iso2022JpDecoder(codecs.IncrementalDecoder):
    """ISO-2022-JP as browsers read it (WHATWG Encoding): an ESC that starts no escape
    sequence of theirs is U+FFFD, the bytes after it read in the mode before. CPython's
    decoder takes a sequence to run up to the next capital letter (`\\x1b$d<img
    src=//WWW.facebook.com/tr>` was one U+FFFD and `WW.facebook.com/tr>` to it, the pixel
    to Chromium), and holds one that has not ended yet at a chunk's end until, past 8
    bytes, it raises UnicodeDecodeError whatever its errors. Such an ESC becomes 0x80 (a
    byte each mode reads alone as U+FFFD) before CPython's iso2022_jp_ext (the browser's
    katakana, ESC ( I, too) reads them; one whose sequence may not be whole waits."""

    def __init__(self, errors: str = "replace") -> None:
        super().__init__(errors)
        self.cpython = codecs.getincrementaldecoder("iso2022_jp_ext")(errors)
        self.held = b""  # an ESC among a chunk's last two bytes, and what follows it

    def decode(self, input: Buffer, final: bool = False) -> str:
        data = self.held + bytes(input)
        esc = -1 if final else data.find(b"\x1b", len(data) - 2)
        cut = len(data) if esc < 0 else esc
        self.held = data[cut:]
        return self.cpython.decode(_UNKNOWN_ESCAPE_RE.sub(b"\x80", data[:cut]), final)

    def reset(self) -> None:
        self.cpython.reset()
        self.held = b""
