"""Whether a browser renders a body sent without a type as a document with scripts, HTML or
XML: the WHATWG MIME Sniffing standard's patterns for an unknown type (section 7.1), as
Chromium's sniffer also reads them. The engine rewrites such a body as a page; before, it
went on unrewritten, and the browser sniffed it and ran its trackers (with no banner to
refuse them).
"""

from __future__ import annotations

import re

# The resource header: what the standard reads (and Chromium at most 1 KiB of).
SNIFF_BYTES = 1445
# Leading white space: the standard's, and the vertical tab, which Chromium's sniffer skips
# too (base::TrimWhitespaceASCII): `\x0b<html>` untyped was a page to Chromium and no HTML
# to the proxy, sent on unrewritten.
_SPACE = b"\t\n\x0b\x0c\r "
# After leading white space, one of the scriptable HTML patterns, any case, followed by a
# tag-terminating byte (a space or '>').
_HTML_RE = re.compile(
    rb"<(?:!doctype html|html|head|script|iframe|h1|div|font|table|a|style|title|b|body|br|p|!--)"
    rb"[ >]",
    re.IGNORECASE,
)
# The XML processing instruction, as written (no other case): text/xml, whose XHTML elements'
# scripts Chromium runs. It had gone on unrewritten under the policy of the mode, which under
# `report-only` blocks nothing.
_XML = b"<?xml"
_LONGEST = len(b"<!doctype html ")
HTML, XML = "text/html", "text/xml"


def sniffed_type(head: bytes, complete: bool) -> str | None:
    """What a body starting with `head` is to a browser: HTML, XML, or "" (neither: no
    document with scripts); None while it cannot tell yet (more bytes may come: complete is
    False). A byte order mark makes it text."""
    if head[:3] == b"\xef\xbb\xbf" or head[:2] in (b"\xfe\xff", b"\xff\xfe"):
        return ""
    start = len(head) - len(head.lstrip(_SPACE))
    if start >= SNIFF_BYTES:
        return ""
    if _HTML_RE.match(head, start):
        return HTML
    if head.startswith(_XML, start):
        return XML
    if complete or len(head) - start >= _LONGEST:
        return ""
    return None
