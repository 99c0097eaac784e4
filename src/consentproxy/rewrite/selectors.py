"""`banner.open_selectors`: simple CSS selectors naming the site's own "manage my cookies"
links, which the rewriter marks `data-consent-action="open"` so nobody edits the markup;
`banner.declaration_selectors`: the elements the cookie declaration is filled into.

Only what a start tag alone can decide: a tag name, `#id`, `.class`, `[attr]`,
`[attr=value]`, compounded (`a.ot-sdk-show-settings`), in a list (`#a, .b`). Each
selector has a needle (its most telling word) that a tag must contain to be looked at,
so pages pay one search per run the skip loop steps over, not a parse per tag.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass

from consentproxy.rewrite.tag import Attributes

FindCi = Callable[[bytes, tuple[bytes, ...], int, int], int]
try:
    from consentproxy.rewrite._skip import find_ci as _find_ci
except ImportError:  # built without a compiler: a case-blind regex instead
    find_ci: FindCi | None = None
else:
    find_ci = _find_ci

_IDENT = r"-?[A-Za-z_\u00a0-\uffff][\w\u00a0-\uffff-]*"
_PART_RE = re.compile(
    rf"#(?P<id>{_IDENT})|\.(?P<cls>{_IDENT})"
    rf"|\[\s*(?P<attr>{_IDENT})\s*(?:=\s*(?:\"(?P<dq>[^\"]*)\"|'(?P<sq>[^']*)'|(?P<bare>{_IDENT}))\s*)?\]"
)
_TAG_RE = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
_WS = " \t\n\f\r"
OPEN_ATTR = b' data-consent-action="open"'


class SelectorError(ValueError):
    """A selector this rewriter cannot match on a start tag alone; the message says why."""


@dataclass(frozen=True)
class Selector:
    tag: str = ""  # lower-case; "" for any
    ids: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    attrs: tuple[tuple[str, str | None], ...] = ()  # (lower-case name, value or None)

    def needle(self) -> bytes:
        """A word every matching tag contains (matched case-insensitively)."""
        word = next(iter(self.ids + self.classes), None) or (
            self.attrs[0][1] or self.attrs[0][0] if self.attrs else "<" + self.tag
        )
        return word.encode("utf-8")

    def matches(self, name: str, attrs: dict[str, str]) -> bool:
        if self.tag and name != self.tag:
            return False
        if any(attrs.get("id") != i for i in self.ids):
            return False
        classes = (attrs.get("class") or "").split()
        return all(c in classes for c in self.classes) and all(
            a in attrs and (v is None or attrs[a] == v) for a, v in self.attrs
        )


def parse_selectors(text: str) -> tuple[Selector, ...]:
    """`a.manage, #cookies` -> selectors; SelectorError says what is not supported."""
    out = []
    for part in text.split(","):
        part = part.strip(_WS)
        if not part:
            raise SelectorError(f"{text!r} has an empty selector")
        m = _TAG_RE.match(part)
        tag, pos = (m.group().lower(), m.end()) if m else ("", 0)
        ids, classes, attrs = [], [], []
        while pos < len(part):
            p = _PART_RE.match(part, pos)
            if p is None:
                raise SelectorError(
                    f"{part!r}: only a tag, #id, .class, [attr] and [attr=value] are "
                    f"supported, together without spaces (not {part[pos:]!r}: no descendant, "
                    "child or pseudo-class selectors)"
                )
            if p["id"]:
                ids.append(p["id"])
            elif p["cls"]:
                classes.append(p["cls"])
            else:
                value = next((v for v in (p["dq"], p["sq"], p["bare"]) if v is not None), None)
                attrs.append((p["attr"].lower(), value))
            pos = p.end()
        out.append(Selector(tag, tuple(ids), tuple(classes), tuple(attrs)))
    return tuple(out)


class OpenMarker:
    """Finds the start tags that match the operator's selectors: those that open the
    preferences (marked) and those the cookie declaration fills."""

    def __init__(self, selectors: tuple[Selector, ...], fill: tuple[Selector, ...] = ()):
        self.selectors = selectors
        self.fill = fill
        # Lower-case needles, looked for in any ASCII case by the C loop's find_ci (two of
        # each needle's rarest bytes compared 16 places at a time, no lower-cased copy of the
        # page); without it, by a case-blind regex, which reads every byte in Python's engine.
        self.needles = tuple(sorted({s.needle().lower() for s in (*selectors, *fill)}))
        self._needles_re = re.compile(b"|".join(map(re.escape, self.needles)), re.IGNORECASE)

    def find(self, buf: bytes, pos: int, end: int) -> int:
        """Where the first needle starts in buf[pos:end], in any ASCII case; else -1."""
        if find_ci is not None:
            return find_ci(buf, self.needles, pos, end)
        return self.regex_find(buf, pos, end)

    def regex_find(self, buf: bytes, pos: int, end: int) -> int:
        """find, by the regex (the build without a compiler; tests compare the two)."""
        m = self._needles_re.search(buf, pos, end)
        return -1 if m is None else m.start()

    def mark(self, name: bytes, tag: bytes) -> tuple[bytes, bool]:
        """(the tag with data-consent-action="open" after its name when an open selector
        matches it and it has no data-consent-action of its own, whether the declaration
        goes in this element)."""
        lowered = tag.lower()
        if all(n not in lowered for n in self.needles):
            return tag, False
        attrs: dict[str, str] = {}
        for m in Attributes(tag, len(name) + 1).items:
            raw = next((v for v in m.group(2, 3, 4) if v is not None), b"")
            attrs.setdefault(
                m.group(1).decode("latin-1").lower(), html.unescape(raw.decode("utf-8", "replace"))
            )
        lname = name.decode("latin-1")
        fill = any(s.matches(lname, attrs) for s in self.fill)
        if "data-consent-action" in attrs or not any(
            s.matches(lname, attrs) for s in self.selectors
        ):
            return tag, fill
        return tag[: len(name) + 1] + OPEN_ATTR + tag[len(name) + 1 :], fill
