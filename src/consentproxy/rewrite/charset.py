"""Pages the scanner cannot read as they come: which they are, and how they are decoded.

UTF-16 is no ASCII the scanner can read, and ISO-2022-JP's escape sequences switch between
ASCII and two-byte modes and show as nothing (`<scr\\x1b(Bipt src=...>` was no tag to the
scanner and a script to Chromium). Such pages are rewritten as UTF-8 behind a UTF-8 BOM,
which browsers honour before any charset a header or a <meta> gives. A page is one when
its BOM, its Content-Type's charset or, with no charset there a browser takes, a <meta>
that the browser's prescan of its first bytes finds (or an XML declaration) says so.
"""

from __future__ import annotations

import codecs
import functools
import re
from collections.abc import Buffer

import webencodings

UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = {b"\xff\xfe": "utf-16-le", b"\xfe\xff": "utf-16-be"}
ISO_2022_JP = "iso-2022-jp"
# The encodings transcoded (by their WHATWG names), and the codec each is read with.
_TRANSCODED = {"utf-16le": "utf-16-le", "utf-16be": "utf-16-be", ISO_2022_JP: ISO_2022_JP}
_CHARSET_RE = re.compile(r";\s*charset\s*=\s*[\"']?([^\s;\"']+)", re.IGNORECASE)


@functools.lru_cache(maxsize=256)
def _encoding(label: str) -> str | None:
    """The WHATWG name of the encoding a label names (Encoding, "get an encoding"), or
    None for a label browsers do not know (Python's aliases, `utf_8`, `latin_1`, are none;
    nor is one not ASCII: every label is, and a header's stray byte reaches us a surrogate)."""
    if not label.isascii():
        return None
    encoding = webencodings.lookup(label)
    return None if encoding is None else str(encoding.name)


@functools.lru_cache(maxsize=256)  # an origin sends few distinct values
def header_codec(content_type: str) -> str | None:
    """The codec of a Content-Type's charset the scanner cannot read as it comes, else
    None."""
    m = _CHARSET_RE.search(content_type)
    return _TRANSCODED.get(_encoding(m.group(1)) or "") if m else None


@functools.lru_cache(maxsize=256)
def header_decides(content_type: str) -> bool:
    """Whether a browser reads the page in the Content-Type's charset, a <meta> or an XML
    declaration unread: it names one the browser knows (a WHATWG label)."""
    m = _CHARSET_RE.search(content_type)
    return m is not None and _encoding(m.group(1)) is not None


# --- the <meta> prescan (WHATWG HTML 13.2.3.2, "prescan a byte stream") ------------------

PRESCAN_BYTES = 1024  # (Chromium reads on past them while only head elements have come)
_WHITESPACE = b"\t\n\f\r "
# What the prescan stops at: UTF-8 (UTF-16 is UTF-8 to it).
_UTF8 = frozenset(("utf-8", "utf-16le", "utf-16be"))
_META_RE = re.compile(rb"<[mM][eE][tT][aA][\t\n\f\r /]")
_TAG_RE = re.compile(rb"</?[A-Za-z]")
_TAG_NAME_RE = re.compile(rb"[^\t\n\f\r >]*+")
_TAG_END_RE = re.compile(rb"[\t\n\f\r /]*+>")  # (where _attribute returned None)
# The elements whose text Chromium's tokenizer reads to their end tag as text (RCDATA,
# RAWTEXT), and those whose text is not read as markup and may not end there.
_RAW_TEXT_END = {
    name: re.compile(rb"</" + name + rb"[\t\n\f\r />]", re.IGNORECASE)
    for name in (b"title", b"textarea", b"style", b"xmp", b"iframe", b"noembed", b"noframes")
}
_SCRIPT_TEXT = frozenset((b"script", b"plaintext", b"noscript"))


def prescan(head: bytes, final: bool, xml: bool = False) -> tuple[bool, str | None]:
    """Whether the page's first bytes, head, settle what a <meta> in its first
    PRESCAN_BYTES (or its XML declaration) declares, and the codec it declares if the
    scanner cannot read the page as it comes (ISO-2022-JP: a <meta> naming UTF-16 means
    UTF-8), else None. final: no more bytes come (or PRESCAN_BYTES have). xml: an XML
    document (XHTML), which has no <meta> prescan, only its declaration: read as HTML's
    (`<?xml version="1.0" encoding="utf-16"?>` in UTF-16, or naming ISO-2022-JP), which
    Chromium honours in XHTML too (the declaration unread, such a page's trackers were
    no tags to the scanner and ran).

    A label other than UTF-8's is passed over as if browsers knew none of them: past one
    they know, a page declaring two charsets is read in the second; stopped at one they do
    not, the ISO-2022-JP one after it hid a tracker's tag from the scanner. The bytes are
    read as each browser's prescan reads them (`_reading`), and ISO-2022-JP is the page's
    if one reading finds it first. Before PRESCAN_BYTES, a whole <meta> naming UTF-8 to
    each reading, or ISO-2022-JP to one, settles it: Chromium reads on to 1024 bytes past
    <body> and any tag, so what the head's end shows settles nothing."""
    ended = final and len(head) < PRESCAN_BYTES  # (the page's last bytes)
    final = final or len(head) >= PRESCAN_BYTES
    head = head[:PRESCAN_BYTES]
    declared = _xml_declaration(head, ended)
    if xml:  # (settled once the declaration is whole, or is none: its UTF-16 form in 6)
        whole = b">" in head or not head.startswith(b"<?xml"[: len(head)])
        settled = final or (whole and len(head) >= 6)
        return settled, declared if settled else None
    if declared in UTF16_BOMS.values():
        return True, declared
    if final and declared is None and b"2022" not in head:  # (most pages: no label matters)
        return True, None
    found = (_reading(head, True, final), _reading(head, False, final))
    if ISO_2022_JP in found:
        return True, ISO_2022_JP
    if found == ("utf-8", "utf-8"):
        return True, None  # (a <meta>'s charset comes before the XML declaration's)
    return final, ISO_2022_JP if final and declared == ISO_2022_JP else None


def _reading(head: bytes, chromium: bool, final: bool) -> str | None:
    """The encoding of the first whole <meta> in head naming UTF-8 or ISO-2022-JP (a
    final one the bytes end in may name ISO-2022-JP), as Chromium reads the bytes (its
    tokenizer) or as WHATWG's prescan (Firefox's) does, or None. A tag the bytes end in
    ends the reading: more bytes may show what looked like tags inside it to be text.
    Chromium's tokenizer reads an element's raw text as text (`<title><meta charset=utf-8>
    </title>` names no charset to it); past a <script> (whose text may not end at its
    first `</script>`, and in which `<!--` starts no comment), <plaintext> or <noscript>,
    it is read as `_iso_2022_jp_meta` reads it."""
    pos = 0
    while (pos := head.find(b"<", pos)) >= 0:
        if head.startswith(b"<!--", pos):
            pos = _comment_end(head, pos, chromium)
            if pos < 0:
                return None
            continue
        if _META_RE.match(head, pos):
            pos, label = _meta(head, pos + 5)
            encoding = None if label is None else _encoding(label)
            closed = _TAG_END_RE.match(head, pos)
            if encoding == ISO_2022_JP and (closed or final):
                return ISO_2022_JP
            if closed is None:
                return None
            if encoding in _UTF8:
                return "utf-8"
            pos = closed.end()
        elif _TAG_RE.match(head, pos):
            end = _TAG_NAME_RE.match(head, pos + 1).end()  # type: ignore[union-attr]
            name, pos = head[pos + 1 : end].lower(), end
            while (attribute := _attribute(head, pos)) is not None:
                pos = attribute[0]
            if (closed := _TAG_END_RE.match(head, pos)) is None:
                return None
            pos = closed.end()
            if chromium and (end_tag := _RAW_TEXT_END.get(name)) is not None:
                if (text_end := end_tag.search(head, pos)) is None:
                    return None
                pos = text_end.start()
            elif chromium and name in _SCRIPT_TEXT:
                return _iso_2022_jp_meta(head, pos, final)
        elif head.startswith((b"<!", b"</", b"<?"), pos):
            pos = head.find(b">", pos) + 1
            if pos == 0:
                return None
        else:
            pos += 1
    return None


def _iso_2022_jp_meta(head: bytes, pos: int, final: bool) -> str | None:
    """ISO-2022-JP if a <meta> from pos names it, wherever it is (in a comment, in an
    attribute's value, in another <meta>: where Chromium's tokenizer may be is not
    known), else None: a UTF-8 one decides nothing."""
    while (meta := _META_RE.search(head, pos)) is not None:
        end, label = _meta(head, meta.start() + 5)
        closed = final or _TAG_END_RE.match(head, end) is not None
        if closed and label is not None and _encoding(label) == ISO_2022_JP:
            return ISO_2022_JP
        pos = meta.start() + 1
    return None


def _comment_end(head: bytes, pos: int, chromium: bool) -> int:
    """Where the comment that starts at pos ends: after the first `-->` (`<!-->` and
    `<!--->` too: WHATWG's prescan, Firefox), or, to Chromium (its prescan is its
    tokenizer), after a `--!>` before it; -1 if the bytes end first."""
    end = head.find(b"-->", pos + 2)
    end = -1 if end < 0 else end + 3
    if chromium and (bang := head.find(b"--!>", pos + 4, end if end >= 0 else len(head))) >= 0:
        return bang + 4
    return end


def _xml_declaration(head: bytes, ended: bool) -> str | None:
    """The codec an XML declaration at the page's very start gives it, if the scanner
    cannot read the page as it comes, else None. Chromium honours one in text/html with no
    charset in the Content-Type, before a <meta> (which then decides); it reads the
    encoding up to the declaration's first '>', past PRESCAN_BYTES if need be: a
    declaration the bytes end in is taken to say ISO-2022-JP (the scanner reads what the
    browser does either way), unless the page ends in it (ended: no tag follows that a
    reading could hide; the page stays byte for byte). Its UTF-16 form (`<\\0?\\0x\\0`) is
    UTF-16, BOM or not."""
    if not head.startswith(b"<?xml"):
        return _XML_UTF16.get(head[:6])
    if (close := head.find(b">")) < 0:
        return None if ended else ISO_2022_JP
    decl = head[:close]  # (the encoding's closing quote comes before the '>')
    pos = decl.find(b"encoding") + 8
    if pos < 8:
        return None
    pos = _skip_xml_space(decl, pos)
    if not decl.startswith(b"=", pos):
        return None
    pos = _skip_xml_space(decl, pos + 1)
    if pos >= len(decl) or decl[pos] not in b"\"'":
        return None
    end = decl.find(decl[pos : pos + 1], pos + 1)
    if end < 0:
        return None
    encoding = _encoding(decl[pos + 1 : end].decode("latin-1"))
    return ISO_2022_JP if encoding == ISO_2022_JP else None


_XML_UTF16 = {b"<\0?\0x\0": "utf-16-le", b"\0<\0?\0x": "utf-16-be"}


def _skip_xml_space(decl: bytes, pos: int) -> int:
    """Past the bytes Chromium skips around an XML declaration's '=': those up to ' ' as
    a signed char, so bytes from 0x80 too."""
    while pos < len(decl) and not 0x20 < decl[pos] < 0x80:
        pos += 1
    return pos


def _meta(head: bytes, pos: int) -> tuple[int, str | None]:
    """The end of the <meta>'s attributes from pos, and the label of the charset it
    declares (by charset, or by http-equiv=content-type and content), if any."""
    seen: set[bytes] = set()
    pragma, need_pragma, charset = False, None, None
    while (attribute := _attribute(head, pos)) is not None:
        pos, name, value = attribute
        if name in seen:
            continue
        seen.add(name)
        if name == b"http-equiv":
            pragma = pragma or value == b"content-type"
        elif name == b"content" and charset is None:
            charset = _content_charset(value)
            need_pragma = True if charset is not None else need_pragma
        elif name == b"charset":
            charset, need_pragma = value, False
    if charset is None or need_pragma is None or (need_pragma and not pragma):
        return pos, None
    return pos, charset.strip(_WHITESPACE).decode("latin-1")


def _attribute(head: bytes, pos: int) -> tuple[int, bytes, bytes] | None:
    """The attribute at pos (its end, its name and value, both lowercased), or None where
    the tag ends (or the bytes do)."""
    n = len(head)
    while pos < n and head[pos] in b"\t\n\f\r /":
        pos += 1
    if pos >= n or head[pos] == 0x3E:
        return None
    start = pos
    pos += 1  # (a name may start with '=')
    while pos < n and head[pos] not in b"\t\n\f\r /=>":
        pos += 1
    name = head[start:pos].lower()
    while pos < n and head[pos] in _WHITESPACE:
        pos += 1
    if pos >= n:
        return None
    if head[pos] != 0x3D:
        return pos, name, b""
    value = _value(head, pos + 1, b"\t\n\f\r >")
    return None if value is None else (value[0], name, value[1].lower())


def _value(data: bytes, pos: int, ends: bytes, whole: bool = False) -> tuple[int, bytes] | None:
    """After '=' at pos - 1: where the value ends (past its closing quote), and the value;
    unquoted, it ends at a byte of `ends`, or with data if it is `whole` (a content
    attribute's). None when data ends first."""
    n = len(data)
    while pos < n and data[pos] in _WHITESPACE:
        pos += 1
    if pos >= n:
        return None
    quote = data[pos]
    if quote in b"\"'":
        end = data.find(bytes((quote,)), pos + 1)
        return None if end < 0 else (end + 1, data[pos + 1 : end])
    start = pos
    while pos < n and data[pos] not in ends:
        pos += 1
    return (pos, data[start:pos]) if pos < n or whole else None


def _content_charset(content: bytes) -> bytes | None:
    """The charset a <meta>'s content names ("extract a character encoding from a meta
    element"), or None."""
    pos, n = 0, len(content)
    while True:
        pos = content.find(b"charset", pos)
        if pos < 0:
            return None
        pos += 7
        while pos < n and content[pos] in _WHITESPACE:
            pos += 1
        if pos < n and content[pos] == 0x3D:
            break
    value = _value(content, pos + 1, b"\t\n\f\r ;", whole=True)
    return None if value is None else value[1]


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
