"""Real-browser harness: Debian's Chromium driven by Playwright (async API), the legacy corpus
served by the demo origin, and a recorder that answers — never forwards — every third-party
request, so a test can see what a page *tried* to load without anything reaching the internet.

Everything here runs in one session-wide event loop: the browser and the servers are started once,
and pytest-asyncio 1.x needs every test and fixture that touches them to share their loop (see
``pytest_collection_modifyitems``). A fixture that starts a server for these tests (e.g. the
proxy) must therefore be declared ``@pytest_asyncio.fixture(scope="session", loop_scope="session")``.

Typical test::

    @pytest.mark.e2e
    @pytest.mark.corpus(third_party=True)          # parametrise over matching corpus pages
    @pytest.mark.parametrize("base_url", ["origin", "proxy"], indirect=True)
    async def test_x(tab, corpus_page):
        await tab.open(corpus_page.path)
        assert not tab.recorder.requests
"""

from __future__ import annotations

import asyncio
import pathlib
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    Response,
    Route,
    async_playwright,
)

from consentproxy import server
from consentproxy.banner.render import CONFIG_SLOT, Banner, minify_js, script_code, script_source
from consentproxy.config import load_config
from consentproxy.demo.origin import PageSpec, load_manifest, make_origin_app, serve_app
from consentproxy.engine import Engine
from consentproxy.scan import CHROMIUM
from consentproxy.scan import CHROMIUM_ARGS as BROWSER_FLAGS
from consentproxy.settings import FormerCmp
from tests.conftest import DEMO_CONFIG

# Where banner.js takes the guard's private tools (guard.js returns them in this order).
_TOOLS = re.compile(rb"var \[([\w\s,]+)\] = guard;")


def script_with_tools(banner: Banner) -> bytes:
    """banner's consent.js, and the guard's private tools (what banner.js gets, never the
    page) on window.__guard by banner.js's names for them (serviceOf, guardState, ...): for
    tests that classify URLs or set the state with no banner to click. Only tests build it."""
    head, tail = script_code().split(CONFIG_SLOT)
    tables = banner.script[len(head) : len(banner.script) - len(tail)]
    source = script_source()
    found = _TOOLS.search(source)
    assert found is not None, "banner.js takes the guard's tools otherwise now"
    names = [n.strip() for n in found[1].decode().split(",")]
    expose = "window.__guard = {" + ", ".join(f"{n}: {n}" for n in names) + "};"
    code = minify_js(source.replace(found[0], found[0] + expose.encode(), 1))
    return code.replace(CONFIG_SLOT, tables, 1)


E2E_DIR = pathlib.Path(__file__).parent
DEMO_PAGES = DEMO_CONFIG.parent / "pages"
CORPUS_DIR = E2E_DIR.parent / "corpus"
CORPUS = load_manifest(CORPUS_DIR)

FIRST_PARTY_HOST = "legacy.test"
CHROMIUM_ARGS = [
    *BROWSER_FLAGS,
    # legacy.test is our loopback servers; every other name fails to resolve, so even a request
    # the recorder somehow missed cannot leave the machine.
    f"--host-resolver-rules=MAP {FIRST_PARTY_HOST} 127.0.0.1, MAP * ~NOTFOUND",
]

# `expect` keys a corpus page has when pages.yaml leaves them out.
EXPECT_DEFAULTS: dict[str, Any] = {"document": True, "third_party": False, "direct": True}

# What the fake third-party scripts write into document.cookie, as the real ones would.
FAKE_SCRIPT_COOKIES = {
    "google-analytics.com": "_ga",
    "googletagmanager.com": "_ga",
    "facebook.net": "_fbp",
}
GIF_1X1 = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "corpus(**expect): parametrise `corpus_page` over corpus pages whose expect matches",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run every async test under tests/e2e in the session loop the browser lives in."""
    session_loop = pytest.mark.asyncio(loop_scope="session")
    for item in items:
        if pytest_asyncio.is_async_test(item) and E2E_DIR in item.path.parents:
            item.add_marker(session_loop, append=False)


def expectation(page: PageSpec, key: str) -> Any:
    return page.expect.get(key, EXPECT_DEFAULTS.get(key))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``corpus_page`` is parametrised over the corpus, filtered by ``@pytest.mark.corpus(...)``."""
    if "corpus_page" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("corpus")
    wanted = marker.kwargs if marker else {}
    pages = [
        p
        for p in CORPUS.values()
        if all(expectation(p, key) == value for key, value in wanted.items())
    ]
    metafunc.parametrize("corpus_page", pages, ids=[p.path for p in pages])


# --- third-party recorder -------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    url: str
    host: str
    resource_type: str  # Playwright's: script, image, document (iframes too), fetch, other…
    method: str


def host_ident(host: str) -> str:
    """``www.google-analytics.com`` -> ``www_google_analytics_com`` (for globals and cookies)."""
    return re.sub(r"[^A-Za-z0-9]", "_", host)


def fake_script_cookie(host: str) -> str:
    for suffix, name in FAKE_SCRIPT_COOKIES.items():
        if host == suffix or host.endswith("." + suffix):
            return name
    return f"_tp_{host_ident(host)}"


def fake_response(host: str, resource_type: str) -> dict[str, Any]:
    """Arguments for ``route.fulfill``: just enough for the page to believe the load worked.

    A fake script marks itself loaded (``window.__loaded_<host ident>``) and sets its tracking
    cookie with the value ``tp.<host>``, so tests can tell it apart from a Set-Cookie."""
    headers = {"Access-Control-Allow-Origin": "*"}
    if resource_type == "script":
        body = (
            f'window["__loaded_{host_ident(host)}"] = 1;'
            f'document.cookie = "{fake_script_cookie(host)}=tp.{host}; path=/";'
        )
        return {"body": body, "content_type": "application/javascript", "headers": headers}
    if resource_type == "image":
        return {"body": GIF_1X1, "content_type": "image/gif", "headers": headers}
    if resource_type in {"document", "other"}:  # iframes, <object>/<embed>, beacons
        body = f"<!DOCTYPE html><html><body><p>fake third party {host}</p></body></html>"
        return {"body": body, "content_type": "text/html", "headers": headers}
    return {"status": 204, "headers": headers}


@dataclass
class ThirdPartyRecorder:
    """Routes a whole browser context: first-party requests go through, all others are recorded
    and answered with a fake body. Nothing third-party is ever ``continue_()``-d."""

    first_party: frozenset[str] = frozenset({FIRST_PARTY_HOST})
    requests: list[RecordedRequest] = field(default_factory=list)

    async def install(self, context: BrowserContext) -> None:
        await context.route("**/*", self._handle)

    async def _handle(self, route: Route) -> None:
        request = route.request
        host = urlsplit(request.url).hostname or ""
        if host in self.first_party:
            await route.continue_()
            return
        self.requests.append(
            RecordedRequest(request.url, host, request.resource_type, request.method)
        )
        await route.fulfill(**fake_response(host, request.resource_type))

    @property
    def hosts(self) -> set[str]:
        return {r.host for r in self.requests}

    def to(self, domain: str) -> list[RecordedRequest]:
        """Requests to ``domain`` or any of its subdomains."""
        return [r for r in self.requests if r.host == domain or r.host.endswith("." + domain)]

    def clear(self) -> None:
        self.requests.clear()


# --- a browser tab on the site under test ----------------------------------------------------


@dataclass
class Tab:
    """One page of a fresh browser context on ``base_url``, with its recorder and JS errors."""

    base_url: str
    context: BrowserContext
    page: Page
    recorder: ThirdPartyRecorder
    errors: list[str] = field(default_factory=list)

    async def open(self, path: str, *, settle: bool = True) -> Response | None:
        """Navigate to ``path`` (relative to base_url). ``settle`` waits for the network to go
        quiet, so late loads (async scripts, fetch()-inserted fragments) are recorded too."""
        response = await self.page.goto(path)
        if settle:
            await self.page.wait_for_load_state("networkidle")
        return response

    async def text(self) -> str:
        """The visible text, as a user would read (and copy) it."""
        return await self.page.evaluate("document.body ? document.body.innerText : ''")

    async def cookies(self) -> dict[str, str]:
        """Cookies of the site under test in the jar (HttpOnly ones included), name -> value."""
        return {c["name"]: c["value"] for c in await self.context.cookies(self.base_url)}

    async def fetch(self, path: str) -> Any:
        """``fetch()`` from inside the page (so with its cookies); JSON or text."""
        return await self.page.evaluate(
            """async (path) => {
                const r = await fetch(path);
                const type = r.headers.get('content-type') || '';
                return type.includes('json') ? await r.json() : await r.text();
            }""",
            path,
        )


@asynccontextmanager
async def chromium(args: list[str]) -> AsyncIterator[Browser]:
    """Debian's Chromium with these command-line arguments, closed after."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            yield browser
        finally:
            await browser.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with chromium(CHROMIUM_ARGS) as browser:
        yield browser


@asynccontextmanager
async def secure_chromium(*origins: str) -> AsyncIterator[Browser]:
    """Chromium taking these plain-http origins for secure contexts: the APIs only https
    pages get (cookieStore, worklets, fetchLater, the Cache API) are there."""
    secure = f"--unsafely-treat-insecure-origin-as-secure={','.join(origins)}"
    async with chromium([*CHROMIUM_ARGS, secure]) as browser:
        yield browser


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def origin() -> AsyncIterator[str]:
    """The legacy corpus served by the real origin app; yields ``http://legacy.test:PORT``."""
    async with serve_app(make_origin_app(CORPUS_DIR)) as port:
        yield f"http://{FIRST_PARTY_HOST}:{port}"


@asynccontextmanager
async def pages_origin(
    bodies: dict[str, str],
    scripts: dict[str, str] | None = None,
    redirects: dict[str, str] | None = None,
    headers: dict[str, dict[str, str]] | None = None,
) -> AsyncIterator[str]:
    """An origin serving each body at its path inside a bare HTML document (with the
    headers given for that path), each script as JavaScript, and each redirect as a 302 to
    its URL; yields ``http://legacy.test:PORT``."""

    async def page(request: web.Request) -> web.Response:
        return web.Response(
            text="<!doctype html><html><head><title>x</title></head><body>"
            f"{bodies[request.path]}</body></html>",
            content_type="text/html",
            headers=(headers or {}).get(request.path),
        )

    async def script(request: web.Request) -> web.Response:
        return web.Response(text=(scripts or {})[request.path], content_type="text/javascript")

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound((redirects or {})[request.path])

    app = web.Application()
    for path in bodies:
        app.router.add_get(path, page)
    for path in scripts or {}:
        app.router.add_get(path, script)
    for path in redirects or {}:
        app.router.add_get(path, redirect)
    async with serve_app(app) as port:
        yield f"http://{FIRST_PARTY_HOST}:{port}"


@asynccontextmanager
async def recorded(
    browser: Browser, base_url: str
) -> AsyncIterator[tuple[Page, ThirdPartyRecorder]]:
    """A tab in a fresh context on base_url, with its third-party recorder."""
    context = await browser.new_context(base_url=base_url)
    try:
        recorder = ThirdPartyRecorder()
        await recorder.install(context)
        yield await context.new_page(), recorder
    finally:
        await context.close()


async def start_proxy(
    origin: str,
    csp: str = "report-only",
    observe: Callable[[str], None] | None = None,
    tracker_lists: tuple[str, ...] = (),
    former_cmp: FormerCmp | None = None,
) -> server.Running:
    """consentproxy (the aiohttp adapter) with the demo config in front of an origin
    (observe: serve --observe's lines go there; tracker_lists: the layer files it reads;
    former_cmp: the site's former consent tool)."""
    port = origin.rsplit(":", 1)[1]
    config = replace(
        load_config(DEMO_CONFIG).with_overrides(upstream=f"http://127.0.0.1:{port}"),
        csp=csp,
        tracker_lists=tracker_lists,
        former_cmp=former_cmp,
    )
    return await server.start(
        Engine(config, [b"e2e-secret-key-0123456789"], observe=observe), "127.0.0.1", 0
    )


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def proxy(origin: str) -> AsyncIterator[str]:
    """consentproxy in front of the corpus origin (CSP report-only, the default), as
    http://legacy.test:PORT."""
    running = await start_proxy(origin)
    yield f"http://{FIRST_PARTY_HOST}:{running.port}"
    await running.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def enforcing_proxy(origin: str) -> AsyncIterator[str]:
    running = await start_proxy(origin, "enforce")
    yield f"http://{FIRST_PARTY_HOST}:{running.port}"
    await running.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def demo_site() -> AsyncIterator[str]:
    """The bundled demo legacy site behind consentproxy, as `consentproxy demo` runs it."""
    async with serve_app(make_origin_app(DEMO_PAGES)) as port:
        running = await start_proxy(f"http://127.0.0.1:{port}")
        yield f"http://{FIRST_PARTY_HOST}:{running.port}"
        await running.stop()


@pytest.fixture
def base_url(request: pytest.FixtureRequest) -> str:
    """The site under test: the ``origin`` fixture unless indirectly parametrised with the name
    of another fixture yielding a base URL (e.g. ``"proxy"``)."""
    return request.getfixturevalue(getattr(request, "param", "origin"))


@pytest.fixture
def recorder() -> ThirdPartyRecorder:
    return ThirdPartyRecorder()


@pytest_asyncio.fixture(loop_scope="session")
async def context(
    browser: Browser, base_url: str, recorder: ThirdPartyRecorder
) -> AsyncIterator[BrowserContext]:
    """A fresh context (empty cookie jar) on base_url; service workers are blocked so every
    request goes through the recorder."""
    context = await browser.new_context(base_url=base_url, service_workers="block")
    await recorder.install(context)
    yield context
    await context.close()


@pytest_asyncio.fixture(loop_scope="session")
async def tab(context: BrowserContext, base_url: str, recorder: ThirdPartyRecorder) -> Tab:
    page = await context.new_page()
    tab = Tab(base_url, context, page, recorder)
    page.on("pageerror", lambda error: tab.errors.append(str(error)))
    return tab


AXE_JS = E2E_DIR / "node_modules" / "axe-core" / "axe.min.js"
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


async def axe_violations(page: Page, include: list[str]) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.2 A/AA violations inside the given elements (shadow roots
    included), as {id, help, targets}; [] means none. Needs `make e2e` (npm ci)."""
    if not await page.evaluate("typeof window.axe === 'object'"):
        await page.evaluate(AXE_JS.read_text())
    result = await page.evaluate(
        """async ([include, tags]) => {
            const r = await axe.run({include: include.map(s => [s])},
                                    {runOnly: {type: 'tag', values: tags}});
            return r.violations.map(v => ({id: v.id, help: v.help,
                                            targets: v.nodes.map(n => n.target)}));
        }""",
        [include, WCAG_AA],
    )
    return list(result)


async def jar_with(context: BrowserContext, *wanted: str) -> dict[str, Any]:
    """The browser's cookie jar (name -> cookie) once it holds each wanted "name" or
    "name=value", or after 5 s: Chromium sends a document.cookie write to its jar without
    waiting, so a jar read at once may not have it yet (it came late under load)."""
    for _ in range(100):
        jar = {c["name"]: c for c in await context.cookies()}
        pairs = {f"{n}={c['value']}" for n, c in jar.items()}
        if all(w in jar or w in pairs for w in wanted):
            break
        await asyncio.sleep(0.05)
    return jar
