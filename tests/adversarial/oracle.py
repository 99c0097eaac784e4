"""An independent judge of rewritten pages: html5lib, which implements the HTML standard's
tokenizer and tree builder (and passes html5lib-tests), parses the output as a browser would,
and we look for anything that still fetches from a tracker.

Nothing here reuses the rewriter's own URL or attribute parsing, so a parser differential
between the scanner and the standard shows up as a failure rather than agreeing with itself.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import html5lib
import idna
from html5lib import html5parser

from consentproxy.config import load_config
from consentproxy.consent import NO_DECISION, ConsentState
from consentproxy.policy import Policy
from consentproxy.rewrite.neutralise import Neutraliser
from consentproxy.rewrite.scanner import HtmlRewriter
from tests.conftest import DEMO_CONFIG

# Hosts of services the demo config knows (blocked without consent).
TRACKERS = (
    "google-analytics.com",
    "googletagmanager.com",
    "facebook.com",
    "facebook.net",
    "youtube.com",
    "doubleclick.net",
    "hotjar.com",
    "linkedin.com",
)
# Attributes through which an element makes the browser fetch or run something.
FETCHING = frozenset(
    {
        "src",
        "href",
        "srcset",
        "imagesrcset",
        "poster",
        "data",
        "background",
        "lowsrc",
        "dynsrc",
        "codebase",
        "archive",
        "code",
        "srcdoc",
        "ping",
    }
)
# Elements that fetch through those attributes (an unknown element such as `x<script`,
# which `<x<script src=...>` makes, fetches nothing).
LOADERS = frozenset(
    {
        "script",
        "img",
        "image",
        "iframe",
        "frame",
        "link",
        "object",
        "embed",
        "source",
        "video",
        "audio",
        "track",
        "input",
        "applet",
        "feimage",
        "base",
        "body",
        "table",
        "td",
        "th",
        "meta",
        "a",
        "area",
    }
)
JS_TYPES = ("", "text/javascript", "module", "application/javascript")
# Scripts that are lists of URLs the browser fetches (import maps, speculation rules).
URL_LIST_TYPES = ("importmap", "speculationrules")
LOADS = re.compile(r"createElement|new Image|document\.write|fetch\(|sendBeacon")  # in JS
# CSS, judged simply: escapes decoded first, then comments, strings, url(...), function
# names and the rest; a tracker in a url(...) or in a string argument of url(, src(,
# image-set( or image(, of @import or of a custom property (var() takes it to image-set) is
# live. (Decoding before tokenizing is looser than
# CSS, never stricter on anything the FRAGMENTS of the differential test hold.)
CSS_ESCAPE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})\s?|(.))", re.DOTALL)
CSS_TOKENS = re.compile(
    r"/\*.*?(?:\*/|\Z)|<!--|-->"
    r"|(?P<string>\"[^\"\n\r\f]*\"?|'[^'\n\r\f]*'?)"
    r"|(?:(?<![\w-])|(?<=<!--))url\((?!\s*[\"'])\s*(?:(?P<url>[^)\s'\"(]*)\s*(?:\)|\Z)|[^)]*\)?)"
    r"|(?P<function>[\w-]+)\(|(?P<open>[(\[{])|(?P<close>[)\]}])|(?P<end>;)|@import|[\w-]+|.",
    re.DOTALL,
)
CSS_LOADING_FUNCTIONS = ("url", "src", "image-set", "-webkit-image-set", "image")
CSS_REMOTE = re.compile(r"[\x00-\x20]*(?:https?:|[/\\]{2})")  # a relative URL stays on the site
BANNER = b"<div id=consentproxy></div>"
MARK = "test-mark"  # the response's secret, fixed so that two rewrites can be compared
POLICY = Policy(load_config(DEMO_CONFIG))


def rewrite(
    page: bytes, chunk: int = 0, state: ConsentState = NO_DECISION, inject: bool = False
) -> bytes:
    """The real rewriter over page, fed in chunks of `chunk` bytes (0: all at once)."""
    rw = HtmlRewriter(Neutraliser(POLICY, state, MARK), BANNER, inject)
    size = chunk or max(1, len(page))
    return b"".join(rw.feed(page[i : i + size]) for i in range(0, len(page), size)) + rw.close()


def _foreign_end_tag_breaks_out() -> None:
    """html5lib 1.1 predates the standard's rule that </p> and </br> in foreign content pop
    back to HTML like <p> and <br> (Chromium does: `<svg></p><style>` opens an HTML
    <style>, raw text): add it."""
    phase = html5parser.getPhases(False)["inForeignContent"]
    end_tag = phase.processEndTag

    def process_end_tag(self: Any, token: dict[str, Any]) -> Any:
        if token["name"] not in ("p", "br"):
            return end_tag(self, token)
        parser, stack = self.parser, self.tree.openElements
        while (
            stack[-1].namespace != self.tree.defaultNamespace
            and not parser.isHTMLIntegrationPoint(stack[-1])
            and not parser.isMathMLTextIntegrationPoint(stack[-1])
        ):
            stack.pop()
        return parser.phase.processEndTag(token)

    phase.processEndTag = process_end_tag


_foreign_end_tag_breaks_out()


def _tree(markup: bytes) -> Any:
    return html5lib.parse(
        markup.decode("utf-8", "replace"), treebuilder="etree", namespaceHTMLElements=False
    )


def _local(name: str) -> str:
    return name.rpartition("}")[2].lower()


def _attr_name(name: str) -> str:
    """html5lib's namespaced attribute names back to how markup spells them."""
    ns, _, local = name.rpartition("}")
    return f"xlink:{local}" if ns.endswith("xlink") else local.lower()


def _tracker_in(value: str) -> str | None:
    if value.lower().startswith("data:") and ";base64," in value[:100].lower():
        value = base64.b64decode(value.partition(",")[2] + "==").decode("latin-1")
    v = unicodedata.normalize("NFKC", unquote(value)).lower()
    v = "".join(c for c in v if c not in "\t\n\r" and not _ignored(c)).replace("\u3002", ".")
    return next((t for t in TRACKERS if t in v), None)


def _ignored(c: str) -> bool:
    """A character the URL parser drops from a host (UTS #46 'ignored': soft hyphen,
    zero-width space...)."""
    if c.isascii():
        return False
    try:
        return idna.uts46_remap(c, std3_rules=False, transitional=False) == ""
    except idna.IDNAError:
        return False


def _css_tokens(css: str) -> Iterator[re.Match[str]]:
    def decoded(m: re.Match[str]) -> str:
        return chr(min(int(m[1], 16), 0x10FFFF) or 0xFFFD) if m[1] else m[2]

    return CSS_TOKENS.finditer(CSS_ESCAPE.sub(decoded, css).lower())


def _css_trackers(css: str) -> list[str]:
    found, stack, strings_load, word = [], [""], False, ""
    for m in _css_tokens(css):
        url = m["url"] or m["string"] and m["string"][1:].rstrip(m["string"][0])
        loads = m["url"] or m["string"] and (strings_load or stack[-1] in CSS_LOADING_FUNCTIONS)
        if loads and CSS_REMOTE.match(url) and _tracker_in(url):
            found.append(m.group())
        if m["function"] or m["open"]:
            stack.append(m["function"] or "")
        elif m["close"] and len(stack) > 1:
            stack.pop()
        strings_load = (
            m.group() == "@import"
            or m.group() == ":"
            and word.startswith("--")
            or strings_load
            and not (m["end"] or m["open"] or m["close"])
        )
        word = m.group() if m.group().strip() else word
    return found


def _css_shape(css: str) -> str:
    """CSS with its strings and url(...) blanked: equal before and after neutralising."""
    return "".join(
        "''" if m["string"] or m.group().startswith("url(") else m.group() for m in _css_tokens(css)
    )


def live_trackers(markup: bytes) -> list[str]:
    """Every element of the parsed page that still loads a tracker, as 'tag attr=value'."""
    found = []
    for el in _tree(markup).iter():
        if not isinstance(el.tag, str):
            continue  # comments
        tag = _local(el.tag)
        attrs = {_local(k): v for k, v in el.attrib.items()}  # xlink:href counts as href
        found += (f"{tag} style: {url}" for url in _css_trackers(attrs.get("style", "")))
        if tag == "style":  # (whatever its type: Chromium's preload scanner fetches its
            # @imports; its sheet is its child text: text before and after its children)
            found += (
                f"style element: {url}"
                for url in _css_trackers((el.text or "") + "".join(c.tail or "" for c in el))
            )
        if tag not in LOADERS:
            continue
        script_type = attrs.get("type", "").strip().lower()
        if tag == "script" and script_type in URL_LIST_TYPES and _tracker_in(el.text or ""):
            found.append(f"{script_type} {el.text[:60]!r}")
        if tag == "script" and script_type not in JS_TYPES:
            continue
        for name, value in attrs.items():
            fetches = (name == "ping" if tag in ("a", "area") else name in FETCHING) or (
                name == "content"
                and tag == "meta"
                and attrs.get("http-equiv", "").lower() in ("refresh", "set-cookie")
            )
            if fetches and _tracker_in(value):
                found.append(f"{tag} {name}={value}")
        text = el.text or ""
        if (
            tag == "script"
            and not any(a in attrs for a in ("src", "href"))
            and _tracker_in(text)
            and LOADS.search(text)
        ):
            found.append(f"inline script {el.text[:60]!r}")
    return found


def _unneutralised(attrs: dict[str, str]) -> dict[str, str]:
    """A start tag's attributes as they were before the rewriter edited them (a style
    attribute's URLs blanked)."""
    if "style" in attrs:
        attrs = {**attrs, "style": _css_shape(attrs["style"])}
    if "data-consent-blocked" not in attrs:
        return attrs
    out = {
        k: v
        for k, v in attrs.items()
        if not k.startswith("data-consent-blocked")
        and k not in ("data-consent-mark", "data-consent-css")  # (the URLs a <style> had)
    }
    if "data-consent-type" in out or out.get("type") == "text/plain":
        out.pop("type", None)
    return {
        k.replace("data-site-consent-", "data-consent-", 1)
        if k.startswith("data-site-")
        else _unheld(k): v
        for k, v in out.items()
    }


def _unheld(name: str) -> str:
    """An attribute's name before the rewriter held it (data-consent-xlink.href: xlink:href,
    neutralise.held_name)."""
    held = name.removeprefix("data-consent-")
    return held[: -len(".href")] + ":href" if held != name and held.endswith(".href") else held


def events(markup: bytes) -> Iterator[tuple[str, ...]]:
    """The parsed page as a flat list: elements (name, attributes), texts and comments, with
    the rewriter's renames undone and the URLs in CSS blanked; equal for input and output
    when the scanner found the same tags as the standard and changed nothing else. A style
    element is its stylesheet (its child text, URLs blanked), not its children: a foreign
    <style> that loads a blocked service gets its stylesheet back as text alone."""
    inside: set[object] = set()  # a style element's descendants
    for el in _tree(markup).iter():
        if el in inside:
            continue
        text = el.text or ""
        if isinstance(el.tag, str):
            attrs = _unneutralised({_attr_name(k): v for k, v in el.attrib.items()})
            yield ("element", _local(el.tag), repr(sorted(attrs.items())))
            if _local(el.tag) == "style":
                inside.update(d for d in el.iter() if d is not el)
                text = _css_shape(text + "".join(c.tail or "" for c in el))
        else:
            yield ("comment", text)
        yield ("text", text, el.tail or "")
