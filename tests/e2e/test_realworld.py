"""109 real pages (../shared/realworld, outside the repo: nothing here is tuned to them)
through `serve` with every built-in service configured and the default CSP (report-only).

Each page is seen in three states in a real Chromium, every third-party request answered
by a stub and counted, never sent: at the origin directly, through the proxy before any
choice, and through the proxy after accept-all. Each page is served under its own site's
name (adac.de.kindersitze.html as http://adac.de:PORT/), so its own hosts are first-party
to the proxy as they would be in production. Before consent no request may reach a tracker
the knowledge base knows; every other third-party host is printed with its reason; the page
text must be the origin's (blank lines aside; a line that only a held tracker's inline script
writes, like an ad's "Advertisement" label, is printed instead); accept-all must keep the
page's text (no held script may blank it) and bring back >= 95% of the origin's tracker loads
(asserted on the next view, which no timing can spoil; the count brought back in place,
without a reload, is printed beside it), on the
pages where accept-all can be clicked: a page whose own scripts remove the banner is listed,
its loads printed apart. The page errors the proxy adds (the same stubs answer both
visits) are printed before any choice, after accept-all in place and on the next view; after
it, none may be added on the next view and in place one at most (see the assertion). Sites on
Chromium's HSTS preload list cannot be served
over plain http under their name: they are served as NAME.test (their own hosts then count as
third parties to the proxy, which is stricter). Run with -s to see the report (the README
records its figures).
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import os
import re
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import (
    Browser,
    ConsoleMessage,
    Locator,
    Page,
    Route,
    async_playwright,
)
from playwright.async_api import Error as PlaywrightError

from consentproxy import server
from consentproxy.config import catalog_config
from consentproxy.consent import NO_DECISION
from consentproxy.demo.origin import serve_app
from consentproxy.domains import _psl, registrable, same_site, site_of
from consentproxy.engine import Engine
from consentproxy.policy import Policy
from tests.conftest import ROOT
from tests.e2e.conftest import CHROMIUM, fake_response

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(2400)]

REALWORLD = Path(os.environ.get("CONSENTPROXY_REALWORLD", ROOT.parent / "shared" / "realworld"))
PAGES = sorted((REALWORLD / "pages").glob("*.html"))
TABS = 8  # pages visited at once
# A page error naming a global: one the guard has a stand-in for must not be missing.
NOT_DEFINED_RE = re.compile(r"([A-Za-z_$][\w$]*) is not defined")
# A time in seconds or milliseconds since 1970, of 2020-2040 (an id of 10 digits, Google
# Ads' conversion id say, outside that span stays itself: two loads are not made one).
TIME_RE = re.compile(r"(?<![0-9])([0-9]{10})([0-9]{3})?(?![0-9])")
TIMES = range(1_577_836_800, 2_208_988_800)
# What the test itself notes in a visit's errors (choose(), read(), click()): not the page's.
TEST_NOTES = ("accept-all:", "no banner", "not read", "clicked through JS")
QUIET_MS = 600  # no new request and the same text this long: the page has settled


# The page's own randomness (rotating teasers, A/B texts) the same on every visit.
SAME_RANDOM = """(() => { let a = 16;
  Math.random = () => { a = (a + 0x6D2B79F5) | 0; let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t; return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
})();"""


def site_of_file(name: str) -> str:
    """adac.de.kindersitze.html -> adac.de: the shortest label prefix ending in a real
    public suffix, as its registrable domain (else NAME.test)."""
    labels = name.removesuffix(".html").split(".")
    for k in range(2, len(labels) + 1):
        candidate = ".".join(labels[:k])
        if _psl().privatesuffix(candidate, accept_unknown=False):
            return registrable(candidate)
    return f"{labels[0]}.test"


@dataclass
class Visit:
    text: str = ""
    held_scripts: str = ""  # the text of the inline scripts the proxy held
    # Each element held (by the proxy or the guard): its tag, service, categories and the
    # hosts its markup and text name (//host).
    held: list[tuple[str, str, str, list[str]]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (host, path)
    errors: list[str] = field(default_factory=list)
    # After a choice: the cookie jar (context.cookies()), and whether the banner's first
    # layer is still shown and its "manage cookies" control is on the page.
    cookies: list[dict[str, object]] = field(default_factory=list)
    banner_shown: bool = False
    manage_shown: bool = False
    # What the last read saw beside the text (document.readyState, location.href, the body's
    # first 300 characters of markup), and the main frame's navigations: what a page read
    # blank after a choice is (a new document written over it, a navigation under way...).
    seen: list[str] = field(default_factory=list)
    navigations: list[str] = field(default_factory=list)


async def settle(page: Page, visit: Visit) -> None:
    """Until the page stops loading and its text stops changing (polled, so a slow machine
    only makes the test slower). No text is no end: an A/B tool's anti-flicker snippet
    (Kameleoon's "* { visibility: hidden }" for up to a second, brought back by accept-all
    on heise.de) hides the whole page while it waits for its engine, and two reads inside
    that second read as a page blanked by a held script."""
    text = None
    for _ in range(20):
        count = len(visit.requests)
        await page.wait_for_timeout(QUIET_MS)
        try:
            now = await page.evaluate("document.body ? document.body.innerText : ''")
        except PlaywrightError:  # the page navigated itself: read the next one
            continue
        if now == text and now.strip() and len(visit.requests) == count:
            return
        text = now


async def read(page: Page, visit: Visit) -> None:
    """The page's text, the text of the inline scripts the proxy holds on it, and what each
    held element waits for."""
    for attempt in range(40):  # a page may navigate itself (refresh, script): read the last
        try:
            visit.text, visit.held_scripts, visit.held, visit.seen = await page.evaluate(
                """[document.body ? document.body.innerText : '', Array.from(
                    document.querySelectorAll('script[data-consent-blocked]:not([src])'),
                    s => s.textContent).join('\\n'), Array.from(
                    document.querySelectorAll('[data-consent-blocked]'), e => [e.localName,
                    e.getAttribute('data-consent-blocked'),
                    e.getAttribute('data-consent-blocked-category'), [...new Set(Array.from(
                    e.outerHTML.matchAll(/\\/\\/([a-z0-9.-]+\\.[a-z]{2,})/gi),
                    m => m[1].toLowerCase()))]]), [document.readyState, location.href,
                    (document.body ? document.body.outerHTML : 'no body').slice(0, 300)]]"""
            )
            return
        except PlaywrightError as e:  # (polled: a slow machine only makes the test slower)
            if attempt == 39:
                visit.errors.append(f"not read: {e.message.splitlines()[0]} at {page.url}")
            await page.wait_for_timeout(500)


async def click(control: Locator, visit: Visit) -> None:
    """A visitor's click; under the page's own overlay, clicked through JS (noted)."""
    try:
        await control.click(timeout=5000)
    except PlaywrightError:
        if "clicked through JS" not in visit.errors:
            visit.errors.append("clicked through JS")
        await control.dispatch_event("click", timeout=10_000)


async def choose(page: Page, visit: Visit, action: str) -> None:
    """Make a choice in the banner as a visitor does: 'accept-all', 'reject-all', or
    'save:CATEGORY' (Customise, switch that category on, Save my choices). What went wrong
    goes to visit.errors as 'no banner: ...' or 'ACTION: ...'."""
    first = "customize" if action.startswith("save:") else action
    control = page.locator(f'[data-consent-action="{first}"]').first
    try:  # generous timeouts: a loaded machine parses a big page slowly
        await control.wait_for(state="attached", timeout=30_000)
    except PlaywrightError as e:
        visit.errors.append(f"no banner: {e.message.splitlines()[0]} at {page.url}")
        return
    # What the browser said of the choice's request (the one waited for below) meanwhile: why
    # a choice that never reached the proxy did not (a page's own CSP, upgrade-insecure-requests
    # on plain http).
    said: list[str] = []

    def heard(message: ConsoleMessage) -> None:
        if message.type == "error" and "/choice" in message.text:
            said.append(message.text.splitlines()[0][:200])

    page.on("console", heard)
    try:
        if first == "customize":
            await click(control, visit)
            category = action.removeprefix("save:")
            box = page.locator(f'input[data-consent-category="{category}"]').first
            await box.wait_for(state="attached", timeout=10_000)
            await click(box, visit)
            if not await box.is_checked():
                raise PlaywrightError(f"the {category} switch did not turn on")
            control = page.locator('[data-consent-action="save"]').first
        async with page.expect_response(lambda r: r.url.endswith("/choice"), timeout=30_000):
            await click(control, visit)
    except PlaywrightError as e:
        why = f" (the browser: {said[0]})" if said else ""
        visit.errors.append(f"{action}: {e.message.splitlines()[0]} at {page.url}{why}")
    finally:
        page.remove_listener("console", heard)


async def look(page: Page, visit: Visit) -> None:
    """The cookie jar and the banner as a visitor sees them (after a choice)."""
    with contextlib.suppress(PlaywrightError):
        visit.cookies = [dict(c) for c in await page.context.cookies()]
        visit.banner_shown = await page.locator("#consentproxy dialog.cp-banner").first.is_visible()
        visit.manage_shown = await page.locator(
            '#consentproxy [data-consent-action="open"]'
        ).first.is_visible()


async def visit(
    browser: Browser, url: str, accept: bool = False, action: str | None = None
) -> tuple[Visit, Visit, Visit]:
    """The page at url: before a choice, and after a choice made in the banner (accept:
    accept-all; action: any choice() takes), in place and on the next view."""
    action = action or ("accept-all" if accept else None)
    netloc = urlsplit(url).netloc
    context = await browser.new_context(service_workers="block")
    before, after, reloaded = Visit(), Visit(), Visit()
    current = before

    async def handle(route: Route) -> None:
        request = route.request
        parts = urlsplit(request.url)
        if parts.netloc == netloc:  # the site (a page that moves itself to https too)
            if parts.scheme == "http":
                await route.continue_()
            else:  # fetched by Playwright, which resolves names itself: by address
                local = f"http://127.0.0.1:{parts.port}{parts.path or '/'}" + (
                    f"?{parts.query}" if parts.query else ""
                )
                await route.fulfill(
                    response=await route.fetch(
                        url=local, headers={**request.headers, "host": netloc}
                    )
                )
            return
        if parts.scheme in ("http", "https"):
            current.requests.append((parts.hostname or "", same_load(parts.path)))
        await route.fulfill(**fake_response(parts.hostname or "", request.resource_type))

    try:
        await context.route("**/*", handle)
        await context.add_init_script(SAME_RANDOM)
        page = await context.new_page()
        page.on("pageerror", lambda e: current.errors.append(str(e)))
        page.on(
            "framenavigated",
            lambda f: f == page.main_frame and current.navigations.append(f.url),
        )
        try:
            await page.goto(url, wait_until="load", timeout=60_000)
        except PlaywrightError as e:
            if "ERR_SSL_PROTOCOL_ERROR" in e.message:  # HSTS-preloaded: no plain http
                raise
            # else a page that never finishes loading is still measured
        await settle(page, before)
        await read(page, before)
        if action:
            current = after
            await choose(page, after, action)
            await settle(page, after)
            await read(page, after)
            await look(page, after)
            current = reloaded
            with contextlib.suppress(PlaywrightError):
                await page.reload(wait_until="load", timeout=60_000)
            await settle(page, reloaded)
            await read(page, reloaded)
            await look(page, reloaded)
    finally:
        await context.close()
    return before, after, reloaded


def same_load(path: str) -> str:
    """A load's path as two visits' loads of one thing share it: its ;parameters dropped as
    its query is (an ad call's ";grp=RANDOM;misc=TIME"), a time in it as TIME (HubSpot's
    "/analytics/" + the time rounded to 5 minutes + "/ID.js": the origin's visit and the
    proxy's minutes apart on a loaded machine)."""
    return TIME_RE.sub(lambda m: "TIME" if int(m[1]) in TIMES else m[0], path.split(";")[0])


def text_lost(origin: str, proxied: str) -> list[str]:
    """The origin's lines (blanks ignored) missing or changed through the proxy."""
    a = [" ".join(line.split()) for line in origin.splitlines() if line.strip()]
    b = [" ".join(line.split()) for line in proxied.splitlines() if line.strip()]
    return [
        line
        for tag, i, j, _, _ in difflib.SequenceMatcher(None, a, b).get_opcodes()
        if tag != "equal"
        for line in a[i:j]
    ]


def origin_app() -> web.Application:
    async def page(request: web.Request) -> web.Response:
        path = REALWORLD / "pages" / request.match_info["name"]
        if path.parent != REALWORLD / "pages" or not path.is_file():
            return web.Response(status=404)
        return web.Response(body=path.read_bytes(), content_type="text/html")

    app = web.Application()
    app.router.add_get("/{name}", page)
    return app


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def setup() -> AsyncIterator[tuple[Browser, int, int, Policy]]:
    if not PAGES:
        pytest.skip(
            f"no real-world pages at {REALWORLD}: put the shared corpus at "
            "../shared/realworld from the repo root or set CONSENTPROXY_REALWORLD"
        )
    sites = sorted({site_of_file(p.name) for p in PAGES})
    rules = ", ".join(f"MAP {s} 127.0.0.1" for s in [*sites, "*.test"]) + ", MAP * ~NOTFOUND"
    async with serve_app(origin_app()) as origin_port:
        config = replace(
            catalog_config(), upstream=f"http://127.0.0.1:{origin_port}", csp="report-only"
        )
        engine = Engine(config, [secrets.token_bytes(32)])
        running = await server.start(engine, "127.0.0.1", 0)
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=CHROMIUM,
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    f"--host-resolver-rules={rules}",
                ],
            )
            try:
                yield browser, origin_port, running.port, Policy(config)
            finally:
                await browser.close()
                await running.stop()


async def test_real_pages_hold_every_known_tracker_and_keep_their_text(setup) -> None:
    browser, origin_port, proxy_port, policy = setup
    gate = asyncio.Semaphore(TABS)

    async def one(path: Path) -> tuple[str, str, str, Visit, Visit, Visit, Visit]:
        site = name = site_of_file(path.name)
        async with gate:
            try:
                direct, _, _ = await visit(browser, f"http://{name}:{origin_port}/{path.name}")
            except PlaywrightError:  # HSTS-preloaded: served as NAME.test, a site of its own
                name = site.replace(".", "-") + ".test"
                direct, _, _ = await visit(browser, f"http://{name}:{origin_port}/{path.name}")
            held, accepted, reloaded = await visit(
                browser, f"http://{name}:{proxy_port}/{path.name}", accept=True
            )
        return path.name, site, name, direct, held, accepted, reloaded

    results = await asyncio.gather(*(one(p) for p in PAGES))
    leaks, others, text_diffs, no_accept = [], Counter[str](), [], []
    renamed = clicked_through_js = next_view = unjudged = 0
    written_by_held: list[tuple[str, str]] = []
    missing: list[str] = []
    # (page, its text's length before and after accept, whether it could not be read, what
    # the read saw beside the text and the main frame's navigations after the click)
    blanked: list[tuple[str, int, int, list[str], list[str], list[str]]] = []
    origin_loads = back = 0
    # The site's own code that threw only through the proxy (before any choice), and how
    # much of it was a held service's global the guard has a stand-in for.
    stand_ins = {g.split(".")[0].rstrip("()[]") for s in policy.config.services for g in s.globals}
    errors_added: list[tuple[str, str]] = []
    # The same after accept-all: in place (the test's own notes aside) and on the next view.
    errors_in_place: list[tuple[str, str]] = []
    errors_next_view: list[tuple[str, str]] = []
    for name, site, served_as, direct, held, accepted, reloaded in results:
        errors_added += [(name, e) for e in dict.fromkeys(held.errors) if e not in direct.errors]
        errors_in_place += [
            (name, e)
            for e in dict.fromkeys(accepted.errors)
            if e not in direct.errors and not e.startswith(TEST_NOTES)
        ]
        errors_next_view += [
            (name, e) for e in dict.fromkeys(reloaded.errors) if e not in direct.errors
        ]

        def tracker(host: str, path: str, served_as: str = served_as) -> bool:
            svc = policy.holder(host, path, site_of(served_as))
            return svc is not None and not policy.allows(svc, NO_DECISION)

        leaks += [(name, h, p) for h, p in held.requests if tracker(h, p)]
        renamed += served_as != site
        clicked_through_js += "clicked through JS" in accepted.errors
        for h, p in held.requests:
            if not tracker(h, p):
                others[
                    f"{h}: "
                    + (
                        f"the site's own host (the page was served as {served_as}: HSTS)"
                        if same_site(h, site) and served_as != site
                        else policy.verdict(h, p, site)
                    )
                ] += 1
        lost = text_lost(direct.text, held.text)
        if any(line not in held.held_scripts for line in lost):
            text_diffs.append((name, lost[:5]))
        elif lost:
            written_by_held += [(name, line) for line in lost]
        refused = [(name, e) for e in accepted.errors if e.startswith(("accept-all", "no banner"))]
        no_accept += refused
        if not refused and len(accepted.text) < len(held.text) / 2:
            # (a held script's document.write, run after the load, opened a new document)
            unread = [e for e in accepted.errors if e.startswith("not read")]
            blanked.append(
                (
                    name,
                    len(held.text),
                    len(accepted.text),
                    unread,
                    accepted.seen,
                    accepted.navigations,
                )
            )
        wanted = {(h, p) for h, p in direct.requests if tracker(h, p)}
        if refused:  # no choice made: a page the test cannot judge activation on
            unjudged += len(wanted)
            continue
        came = set(held.requests) | set(accepted.requests)
        origin_loads += len(wanted)
        back += len(wanted & came)
        next_view += len(wanted & set(reloaded.requests))
        if wanted - came:
            missing.append(
                f"{name}: {len(wanted & came)}/{len(wanted)} back; not: "
                + ", ".join(f"{h}{p[:30]}" for h, p in sorted(wanted - came)[:4])
            )
    print(
        f"\nreal-world pages: {len(results)}; tracker loads at the origin: {origin_loads}; "
        f"known-tracker requests before consent: {len(leaks)}; after accept-all back in "
        f"place: {back}/{origin_loads} ({back / max(1, origin_loads):.1%}), on the next "
        f"view: {next_view} ({next_view / max(1, origin_loads):.1%}); text differs on "
        f"{len(text_diffs)} pages; other third-party hosts before consent: "
        f"{len({o.split(':')[0] for o in others})}; tracker loads of pages where no choice "
        f"could be made (not counted above): {unjudged}; served as NAME.test "
        "(HSTS-preloaded "
        f"sites): {renamed}; accept-all clicked through JS (the page's own overlay on top): "
        f"{clicked_through_js}"
    )
    for line in missing:
        print(f"  after accept-all, {line}")
    print(
        f"  page errors through the proxy only, before any choice: {len(errors_added)} on "
        f"{len({n for n, _ in errors_added})} pages"
    )
    for name, error in errors_added:
        print(f"    {name}: {error.splitlines()[0][:120]}")
    for when, added in (("in place", errors_in_place), ("on the next view", errors_next_view)):
        print(
            f"  page errors through the proxy only, after accept-all {when}: {len(added)} on "
            f"{len({n for n, _ in added})} pages"
        )
        for name, error in added:
            print(f"    {name}: {error.splitlines()[0][:120]}")
    missing_globals = [
        (n, e) for n, e in errors_added if (m := NOT_DEFINED_RE.search(e)) and m[1] in stand_ins
    ]
    for name, error in no_accept:  # its loads stay held
        print(f"  no choice made on {name}: {error}")
    for name, line in written_by_held:
        print(f"  text only a held tracker script writes, on {name}: {line!r}")
    if text_diffs:
        print("text differs:", *text_diffs)
    for line, count in sorted(others.items()):
        print(f"  {count:4} x {line}")
    assert not leaks, leaks[:20]
    assert not missing_globals, missing_globals  # (ga, fbq, googletag...: a stand-in's)
    assert not text_diffs, text_diffs
    assert not blanked, blanked
    assert not [n for n, e in no_accept if e.startswith("no banner")], no_accept
    assert next_view >= 0.95 * origin_loads, (next_view, origin_loads)
    # After accept-all the site's code throws nothing the origin's does not: on the next view
    # none, in place 1 at most. That one is laviedesidees.fr's: its jQuery is not in the
    # corpus, so its inline `$(...)` throws at the origin too ("$ is not defined"); after the
    # choice it runs again (a failed script after a held one brought back, README: What it
    # does) and throws again, worded otherwise ("$ is not a function": a later script's
    # `var $` threw after declaring it).
    assert not errors_next_view, errors_next_view
    assert len(errors_in_place) <= 1, errors_in_place
