"""The rewriter's C loop (rewrite/_skip.c) under valgrind's memcheck: `make memcheck`.

The loop reads 8 and 16 bytes at a time near the ends of buffers a hostile page fills; the
fuzz tests check what it outputs, this checks that it never reads or writes outside them.
Pages are rewritten whole, in chunks of 16 KB and of a random size, and cut anywhere (a
buffer then ends inside a tag, an attribute, a URL), with no consent and with all of it:
the test corpus, the real pages of ../shared/realworld/pages when present (or those of
--pages), and random soups of the tokens the loop looks for (--soups of them). Python's
own allocator is off (PYTHONMALLOC=malloc, set by the Makefile), so each bytes object is a
block of its own size and a read past one is an error. Deterministic: a fixed seed.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

from consentproxy.config import load_config
from consentproxy.engine import Engine, Request

ROOT = Path(__file__).resolve().parents[1]
REALWORLD = ROOT.parent / "shared" / "realworld" / "pages"
TOKENS = [
    *(bytes([c]) for c in b"<>/!-='\" \n\t\x00\x0b\x0c"),
    *b"script img iframe svg math style title textarea a body meta base link object".split(),
    *b"src href ping srcset background http-equiv content= url= xlink:href".split(),
    b"<!--",
    b"-->",
    b"</script",
    b"</svg",
    b"<svg",
    b"<![CDATA[",
    b"http://",
    b"https://",
    b"//www.google-analytics.com/a.js",
    b"https://www.youtube.com/embed/x",
    b"A" * 15,
    b"B" * 16,
    b"C" * 17,
]


def rewrite(engine: Engine, cookie: str, page: bytes, chunk: int) -> bytes:
    """The page through the engine as `serve` sends it, fed chunk bytes at a time."""
    headers = [("Host", "site.test"), ("Accept", "text/html"), ("Sec-Fetch-Dest", "document")]
    ex = engine.begin(Request("GET", "/", [*headers, ("Cookie", cookie)], client_ip="::1"))
    ex.upstream_headers()
    body = ex.response(200, [("Content-Type", "text/html; charset=utf-8")]).body
    assert body is not None
    out = [body.feed(page[i : i + chunk]) for i in range(0, len(page), chunk)]
    return b"".join([*out, body.close()])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--pages", type=Path, default=REALWORLD, help="a folder of more pages")
    ap.add_argument("--soups", type=int, default=3000, help="how many token soups")
    args = ap.parse_args()
    pages = sorted((ROOT / "tests" / "corpus").glob("*.html"))
    pages += sorted(args.pages.glob("*.html")) if args.pages.is_dir() else []
    config = load_config(ROOT / "src" / "consentproxy" / "demo" / "config.yaml")
    engine = Engine(config.with_overrides(upstream="http://127.0.0.1:9"), [b"m" * 32])
    optional = [c.name for c in config.categories if not c.required]
    accepted = engine.signer.encode(engine.signer.decide(optional, [], time.time()))
    cookies = ["", f"{config.consent.cookie_name}={accepted}"]  # no choice yet; all accepted
    rnd = random.Random(20261202)
    count = 0
    for path in pages:
        page = path.read_bytes()
        for cookie in cookies:
            for chunk in (len(page) or 1, 16384, rnd.randint(1, 4000)):
                rewrite(engine, cookie, page, chunk)
            for _ in range(3):
                cut = rnd.randint(0, len(page))
                rewrite(engine, cookie, page[:cut], max(cut, 1))
            count += 6
    for _ in range(args.soups):
        soup = b"".join(rnd.choice(TOKENS) for _ in range(rnd.randint(1, 60)))
        rewrite(engine, rnd.choice(cookies), soup, rnd.choice((len(soup) or 1, 1, 7, 16, 17)))
        count += 1
    print(f"{count} rewrites of {len(pages)} pages and {args.soups} token soups", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
