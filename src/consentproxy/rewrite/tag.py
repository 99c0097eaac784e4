"""A start tag as the rewriter edits it: its bytes and name, and its attributes, parsed on
first use and then once (the neutraliser's URL and style steps, and its edit, read the same
parse).
"""

from __future__ import annotations

import html
import re

# One attribute of a start tag, as the HTML tokenizer splits them (name, value kinds).
ATTR_RE = re.compile(
    rb"([^\t\n\f\r />][^\t\n\f\r /=>]*)"
    rb"(?:[\t\n\f\r ]*=[\t\n\f\r ]*(?:\"([^\"]*)\"|'([^']*)'|([^\t\n\f\r >]*)))?"
)


class Attributes:
    """The attributes of one start tag with their spans, first occurrence winning."""

    __slots__ = ("items", "tag")

    def __init__(self, tag: bytes, name_end: int):
        self.tag = tag
        self.items = list(ATTR_RE.finditer(tag, name_end, len(tag) - 1))

    def get(self, name: bytes) -> str | None:
        """The first `name` attribute's value: the page's bytes as latin-1, its character
        references read (None: no such attribute)."""
        raw = self._raw(name)
        return None if raw is None else html.unescape(raw.decode("latin-1"))

    def text(self, name: bytes) -> str | None:
        """get's value as characters, as Chromium reads it on a UTF-8 page (or with its
        bytes all ASCII, on any): its bytes as UTF-8, its references as what they name."""
        raw = self._raw(name)
        return None if raw is None else html.unescape(raw.decode("utf-8", "replace"))

    def _raw(self, name: bytes) -> bytes | None:
        for m in self.items:
            if m.group(1).lower() == name:
                raw = m.group(2)
                if raw is None:
                    raw = m.group(3)
                if raw is None:
                    raw = m.group(4) or b""
                return raw
        return None

    def spans(self, name: bytes) -> list[tuple[int, int]]:
        return [m.span(1) for m in self.items if m.group(1).lower() == name]

    def value_span(self, name: bytes) -> tuple[int, int] | None:
        """Where the first `name` attribute's value is, quotes included (None: no value)."""
        for m in self.items:
            if m.group(1).lower() == name:
                quoted = 2 if m.group(2) is not None else 3 if m.group(3) is not None else 0
                if quoted:
                    return m.start(quoted) - 1, m.end(quoted) + 1
                return m.span(4) if m.group(4) else None
        return None


class StartTag:
    """One start tag: raw, its bytes; name, lower-case; attrs, parsed on first use."""

    __slots__ = ("_attrs", "name", "raw")

    def __init__(self, name: bytes, raw: bytes):
        self.name = name
        self.raw = raw
        self._attrs: Attributes | None = None

    @property
    def attrs(self) -> Attributes:
        if self._attrs is None:
            self._attrs = Attributes(self.raw, len(self.name) + 1)
        return self._attrs
