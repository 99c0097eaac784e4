"""Shared by the benchmarks: the demo engine and the pages, built from the test corpus."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from consentproxy.config import Config, load_config
from consentproxy.consent import NO_DECISION, ConsentState
from consentproxy.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
DEMO_CONFIG = ROOT / "src" / "consentproxy" / "demo" / "config.yaml"
SECRET_ENV = "CONSENTPROXY_SECRET"

_HEAD_RE = re.compile(rb"<head>(.*?)</head>", re.DOTALL | re.IGNORECASE)
_BODY_RE = re.compile(
    rb"<body[^>]*>(.*)</body>", re.DOTALL | re.IGNORECASE
)  # greedy: the last </body>


def config(upstream: str = "http://127.0.0.1:9") -> Config:
    return load_config(DEMO_CONFIG).with_overrides(upstream=upstream)


def engine(secret: str, upstream: str = "http://127.0.0.1:9") -> Engine:
    return Engine(config(upstream), [secret.encode()])


def all_consent(eng: Engine) -> ConsentState:
    """Every optional category accepted (what "Accept all" records)."""
    cats = [c.name for c in eng.config.categories if not c.required]
    return eng.signer.decide(cats, [], time.time())


def consent_cookie(eng: Engine) -> str:
    return f"{eng.config.consent.cookie_name}={eng.signer.encode(all_consent(eng))}"


STATES = {"none": lambda eng: NO_DECISION, "all": all_consent}


def corpus_pages() -> dict[str, bytes]:
    """The corpus HTML files (uncompressed, as on disk), by name."""
    return {p.stem: p.read_bytes() for p in sorted(CORPUS.glob("*.html"))}


def _ordinary_block(i: int) -> bytes:
    """Markup with no tracker: what most of a real page is (nav, cards, links, images)."""
    items = "".join(
        f'<li class="nav-item"><a class="nav-link" href="/section/{i}/{j}" '
        f'title="Section {j}">Section {j}</a></li>'
        for j in range(6)
    )
    return (
        f'<div class="card" id="card-{i}"><ul class="nav">{items}</ul>'
        f'<h2 class="card-title"><a href="/news/{i}">Local news item number {i}</a></h2>'
        f'<img src="/img/{i}.jpg" srcset="/img/{i}@2x.jpg 2x" alt="Photo {i}" width="320" '
        f'height="200" loading="lazy"><p class="lead">The market opens at eight on '
        f"<strong>Saturday</strong>; stalls sell <em>bread</em>, cheese &amp; vegetables "
        f'from the valley. <a href="/market#{i}">Read more</a></p>'
        f'<form action="/search" method="get"><input type="text" name="q" value="">'
        f'<button type="submit">Search</button></form>'
        f'<table class="hours"><tr><td>Mon</td><td>8-12</td></tr>'
        f"<tr><td>Sat</td><td>7-13</td></tr></table>"
        f'<link rel="stylesheet" href="/css/widget-{i}.css"></div>\n'
    ).encode()


def _tracker_snippets() -> list[bytes]:
    """Head and body contents of the corpus pages: real tracker tags, inline scripts,
    iframes, pixels, textareas and comments."""
    snippets = []
    for name, page in corpus_pages().items():
        if name in ("slow", "latin1"):
            continue
        for rx in (_HEAD_RE, _BODY_RE):
            m = rx.search(page)
            if m:
                snippets.append(m.group(1))
    return snippets


def _body(size: int) -> bytes:
    snippets = _tracker_snippets()
    parts, n, i = [], 0, 0
    while n < size:
        # about one tracker snippet per five ordinary blocks
        part = snippets[(i // 5) % len(snippets)] if i % 5 == 4 else _ordinary_block(i)
        parts.append(part)
        n += len(part)
        i += 1
    return b"".join(parts)


def page(size: int) -> bytes:
    """A document of about `size` bytes: many ordinary tags, trackers every few blocks."""
    head = (
        b'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        b'<title>Town hall - News</title>\n<link rel="stylesheet" href="/css/site.css">\n'
        b'<script src="/js/jquery.min.js"></script>\n'
        + _tracker_snippets()[0]
        + b'\n</head>\n<body class="home">\n'
    )
    tail = (
        b'<footer><p>&copy; Town hall</p><script src="/js/site.js"></script></footer>\n'
        b"</body>\n</html>\n"
    )
    return head + _body(size - len(head) - len(tail)) + tail


def typical_page() -> bytes:
    return page(100_000)


def big_page() -> bytes:
    return page(2_000_000)


def json_body(size: int = 1_000_000) -> bytes:
    rows: list[str] = []
    n = 0
    while n < size:
        i = len(rows)
        rows.append(
            json.dumps(
                {
                    "id": i,
                    "name": f"item {i}",
                    "price": i * 1.25,
                    "tags": ["a", "b", "c"],
                    "url": f"https://example.com/{i}",
                }
            )
        )
        n += len(rows[-1]) + 1
    return ("[" + ",".join(rows) + "]").encode()


def clean_page(size: int = 100_000) -> bytes:
    """Ordinary markup only: no tag the rewriter must look at (pure scanning)."""
    blocks, n, i = [], 0, 0
    while n < size:
        blocks.append(_ordinary_block(i))
        n, i = n + len(blocks[-1]), i + 1
    return (
        b'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n</head>\n'
        b"<body>\n" + b"".join(blocks) + b"</body>\n</html>\n"
    )


def dense_page(size: int = 100_000) -> bytes:
    """Tracker tags back to back: the worst case, every tag reaches the neutraliser."""
    snippets = _tracker_snippets()
    parts, n = [], 0
    while n < size:
        parts.append(snippets[len(parts) % len(snippets)])
        n += len(parts[-1])
    return b"<!DOCTYPE html><html><head></head><body>" + b"".join(parts) + b"</body></html>"


def page_with_tag(size: int, tag_size: int) -> bytes:
    """A page of about `size` bytes holding one start tag of `tag_size` bytes."""
    tag = b'<img src="/a.png" alt="' + b"x" * tag_size + b'">'
    body = b'<body class="home">\n'
    return page(size - len(tag)).replace(body, body + tag, 1)


def markdown_table(head: list[str], rows: list[list[str]]) -> str:
    """RESULTS.md's tables."""
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
