"""Attacks through the page, in Chromium through the proxy with `csp: off` (no CSP to fall back
on): stored markup posing as the proxy's marks, and first-party code loading trackers by every
run-time route the guard hooks. Each attack is shown to load its tracker from the origin itself
first, so a test that passes proves the proxy stopped it. Third-party requests are answered by
the recorder (and WebSockets only counted), never sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, Route

from tests.e2e.conftest import (
    FIRST_PARTY_HOST,
    pages_origin,
    recorded,
    secure_chromium,
    start_proxy,
)

pytestmark = pytest.mark.e2e

# Built at run time, so the rewrite cannot see them in the page: the guard is on its own.
JS_URLS = (
    "var T = 'https://www.' + 'facebook.com/tr?id=1', G = 'https://www.google-' + "
    "'analytics.com/', SVG = 'http://www.w3.org/2000/svg', "
    "box = document.getElementById('box');"
)
BOX = "<div id=box style='width:20px;height:20px'></div>"


def script(js: str) -> str:
    return f"{BOX}<script>{JS_URLS}\ntry {{ {js} }} catch (e) {{ window.__error = String(e); }}</script>"


def frame(js: str) -> str:
    """js run with f, an about:blank frame of the page, already in the document."""
    return script("var f = document.createElement('iframe'); document.body.appendChild(f); " + js)


# Path -> body: first-party code loading a tracker at run time (what the guard holds).
GUARD = {
    "/document-write-classic-ga-snippet": (
        '<script>var gaJsHost = (("https:" == document.location.protocol) ? "https://ssl." : '
        '"http://www.");\ndocument.write(unescape("%3Cscript src=\'" + gaJsHost + "google-'
        "analytics.com/ga.js' type='text/javascript'%3E%3C/script%3E\"));</script>"
    ),
    "/document-write-url-split-across-writes": script(
        'document.write("<script src=\'" + G.slice(0, 15)); '
        'document.write(G.slice(15) + "ga.js\'><\\/script>");'
    ),
    "/document-write-url-split-across-arguments": script(
        'document.write("<img src=\'https://www.", "facebook.com/tr?id=1\'>");'
    ),
    "/inner-html": script('box.innerHTML = "<img src=\'" + T + "\'>";'),
    # A URL without a scheme ("//host/x"): markup is swept in a template, whose document's
    # base is about:blank, against which it named no host (until 2026-12-05 it loaded). No
    # JS_URLS in the write's script: a write naming a tracker's "host/path" is held by the
    # proxy whole, and the guard is not reached (as in the document-write tests above).
    "/inner-html-scheme-relative": script('box.innerHTML = "<img src=\'" + T.slice(6) + "\'>";'),
    "/document-write-scheme-relative": (
        "<script>var h = 'www.google-' + 'analytics.com'; document.write('<scr' + 'ipt src=\"//'"
        " + h + '/analytics.js\"></scr' + 'ipt>');</script>"
    ),
    # Legacy code's globals with a built-in's name: the guard's own URL parsing threw, and it
    # let every load through (a Promise or a Map polyfill is as common).
    "/page-var-url-then-loads": script(
        "var URL = '/api/'; var i = new Image(); i.src = T; box.appendChild(i); "
        "fetch(T, {mode: 'no-cors'}); navigator.sendBeacon(T); "
        "var s = document.createElement('script'); s.src = G + 'analytics.js'; "
        "document.head.appendChild(s);"
    ),
    "/page-replaces-built-ins-then-loads": script(
        "window.Promise = function () {}; var Map = 1, Set = 1, WeakMap = 1, WeakSet = 1, "
        "Symbol = 1, Proxy = 1, Reflect = 1, Event = 1, CustomEvent = 1, "
        "JSON = {parse: function () { throw 1; }, stringify: function () { throw 1; }}; "
        'box.innerHTML = "<img src=\'" + T + "\'>"; '
        "var f = document.createElement('iframe'); f.src = T; box.appendChild(f);"
    ),
    # (the guard knew no background: a table built by jQuery-era code loaded its tracker)
    "/table-background-inner-html": script(
        'box.innerHTML = "<table><tr background=\'" + T + "\'><td>x</td></tr></table>";'
    ),
    "/table-cell-background-attribute": script(
        "box.innerHTML = '<table><tr><td>cell</td></tr></table>'; "
        "box.querySelector('td').setAttribute('background', T);"
    ),
    "/body-background-property": script("document.body.background = T;"),
    "/outer-html": script('box.outerHTML = "<img src=\'" + T + "\'>";'),
    "/insert-adjacent-html": script(
        "box.insertAdjacentHTML('beforeend', \"<img src='\" + T + \"'>\");"
    ),
    "/set-html-unsafe": script('box.setHTMLUnsafe("<img src=\'" + T + "\'>");'),
    "/create-contextual-fragment": script(
        'box.appendChild(document.createRange().createContextualFragment("<img src=\'" + T + "\'>"));'
    ),
    "/dom-parser-node-adopted": script(
        "box.appendChild(new DOMParser().parseFromString(\"<img src='\" + T + \"'>\", 'text/html')"
        ".body.firstChild);"
    ),
    "/iframe-srcdoc": script(
        "var f = document.createElement('iframe'); f.srcdoc = \"<img src='\" + T + \"'>\"; "
        "document.body.appendChild(f);"
    ),
    "/iframe-data-url": script(
        "var f = document.createElement('iframe'); f.src = 'data:text/html,' + "
        'encodeURIComponent("<img src=\'" + T + "\'>"); document.body.appendChild(f);'
    ),
    "/set-attribute-ns": script("var i = new Image(); i.setAttributeNS(null, 'src', T);"),
    "/set-attribute-node": script(
        "var i = document.createElement('img'), a = document.createAttribute('src'); "
        "a.value = T; i.setAttributeNode(a); box.appendChild(i);"
    ),
    "/attribute-node-value": script(
        "var i = document.createElement('img'); i.setAttribute('src', '/x.png'); "
        "i.getAttributeNode('src').value = T; box.appendChild(i);"
    ),
    "/style-background-image": script("box.style.backgroundImage = 'url(' + T + ')';"),
    "/style-css-text": script(
        "box.style.cssText = 'width:9px;height:9px;background:url(' + T + ')';"
    ),
    "/style-set-property": script("box.style.setProperty('background', 'url(' + T + ')');"),
    "/stylesheet-insert-rule": script(
        "var s = document.createElement('style'); document.head.appendChild(s); "
        "s.sheet.insertRule('#box { background: url(' + T + ') }', 0);"
    ),
    "/style-element-text": script(
        "var s = document.createElement('style'); s.textContent = '#box{background:url(' + T + ')}'; "
        "document.head.appendChild(s);"
    ),
    "/svg-image-made-by-script": script(
        "var s = document.createElementNS(SVG, 'svg'), i = document.createElementNS(SVG, 'image'); "
        "i.setAttribute('href', T); s.appendChild(i); box.appendChild(s);"
    ),
    "/svg-image-xlink-href": script(
        "var s = document.createElementNS(SVG, 'svg'), i = document.createElementNS(SVG, 'image'); "
        "i.setAttributeNS('http://www.w3.org/1999/xlink', 'xlink:href', T); s.appendChild(i); "
        "box.appendChild(s);"
    ),
    "/svg-image-href-base-val": script(
        "var s = document.createElementNS(SVG, 'svg'), i = document.createElementNS(SVG, 'image'); "
        "i.href.baseVal = T; s.appendChild(i); box.appendChild(s);"
    ),
    "/svg-set-href-made-by-script": script(
        "var s = document.createElementNS(SVG, 'svg'), i = document.createElementNS(SVG, 'image'), "
        "a = document.createElementNS(SVG, 'set'); a.setAttribute('attributeName', 'href'); "
        "a.setAttribute('to', T); i.appendChild(a); s.appendChild(i); box.appendChild(s);"
    ),
    "/svg-animate-values-in-markup-from-script": script(
        "box.innerHTML = '<svg><image><animate attributeName=href dur=0.1s fill=freeze values=\"/a.png;' + T + "
        "'\"/></image></svg>';"
    ),
    "/event-source": script("new EventSource(T);"),
    "/web-socket": script("new WebSocket('wss://www.' + 'google-analytics.com/socket');"),
    "/import-map-and-import": script(
        "var m = document.createElement('script'); m.type = 'importmap'; "
        "m.textContent = JSON.stringify({imports: {tracker: G + 'analytics.js'}}); "
        "document.head.appendChild(m); var s = document.createElement('script'); "
        "s.type = 'module'; s.textContent = 'import \"tracker\";'; document.head.appendChild(s);"
    ),
    "/about-blank-frame-fetch": frame("f.contentWindow.fetch(T);"),
    "/about-blank-frame-image": frame("new f.contentWindow.Image().src = T;"),
    "/about-blank-frame-by-index-beacon": frame(
        "window.frames[window.frames.length - 1].navigator.sendBeacon(T);"
    ),
    "/about-blank-frame-document-write": frame(
        'var d = f.contentDocument; d.write("<img src=\'" + T + "\'>"); d.close();'
    ),
    "/parser-inserted-frame-fetch": "<iframe></iframe>" + script("window.frames[0].fetch(T);"),
    # The guard's own tools were on window.consentproxy, for every script of the page's: a
    # native fetch and setAttribute loaded past it, setState granted consent (helper-107).
    # (The origin has no consentproxy: there they are the plain ones, and load.)
    "/page-fetches-with-the-guards-fetch": script(
        "(window.consentproxy && consentproxy.fetch || fetch)(T, {mode: 'no-cors'});"
    ),
    "/page-sets-a-src-with-the-guards-setter": script(
        "var s = document.createElement('script'), set = window.consentproxy && "
        "consentproxy.setAttribute || function (e, n, v) { e.setAttribute(n, v); }; "
        "document.head.appendChild(s); set(s, 'src', G + 'analytics.js');"
    ),
    "/page-grants-itself-consent": script(
        "if (window.consentproxy && consentproxy.setState) consentproxy.setState({decided: true, "
        "categories: ['analytics', 'advertising', 'social'], services: []}); "
        "var i = new Image(); i.src = T; box.appendChild(i);"
    ),
}
# Not hookable from a script: CSP enforce is the layer (docs/SECURITY.md).
ENFORCE_ONLY = {
    "/dynamic-import": script("import(G + 'analytics.js');"),
    "/worker-fetch": script(
        "new Worker(URL.createObjectURL(new Blob(['fetch(' + JSON.stringify(T) + ')'], "
        "{type: 'text/javascript'})));"
    ),
    # (a worker lives under its script's policy: the page's did not reach it, SCRIPTS below)
    "/first-party-worker-fetch": script("new Worker('/worker.js');"),
}
# First-party scripts the origin serves as JavaScript.
SCRIPTS = {"/worker.js": "fetch('https://www.' + 'facebook.com/tr?id=1', {mode: 'no-cors'});"}
# Stored content keeping data-* attributes (a sanitiser's default) posing as the proxy's marks,
# around the page's real trackers, which the proxy neutralises and a consenting visitor gets.
STORED_XSS = (
    "<div class=comment><iframe data-consent-blocked=youtube data-consent-blocked-category=social"
    " data-consent-srcdoc='<script>parent.__xss = \"srcdoc\"</script>' width=300 height=200>"
    "</iframe></div>"
    "<div class=comment><iframe data-consent-blocked=youtube data-consent-blocked-category=social"
    " data-consent-src='javascript:parent.__xss = \"src\"' width=300 height=200></iframe></div>"
    "<div class=comment><a id=link data-consent-blocked=google-analytics"
    " data-consent-blocked-category=analytics data-consent-href='javascript:__xss = \"href\"'"
    " data-consent-mark=guessed>read more</a></div>"
    "<div class=comment><img data-consent-blocked=facebook-pixel data-consent-mark=guessed"
    " data-consent-blocked-category=advertising data-consent-src='https://evil.example/x.gif'"
    " data-consent-onerror='__xss = \"onerror\"'></div>"
    "<div class=comment><a id=allow href=#prize data-consent-action=allow-service"
    " data-consent-service=facebook-pixel>Win a prize</a></div>"
    # a real embed the comment's attribute rides on: neutralised, its src comes back, not that
    "<iframe id=real src='https://www.youtube.com/embed/real' width=300 height=200"
    " data-consent-srcdoc='<script>parent.__xss = \"real\"</script>'></iframe>"
    "<script src='https://www.google-analytics.com/analytics.js'></script>"
    # a banner and a guard of the markup's own making, with a state and a mark of its choosing
    "<div id=consentproxy data-consent-mark=guessed data-consentproxy-state="
    '\'{"decided":true,"categories":["analytics","social","advertising"]}\'></div>'
    "<script src='/.consent/consent.js' data-consentproxy-mark=guessed data-consentproxy-state="
    '\'{"decided":true,"categories":["analytics","social","advertising"]}\'></script>'
)
STRICT_DYNAMIC_POLICY = "script-src 'nonce-site-nonce' 'strict-dynamic'; object-src 'none'"
# A page whose policy trusts what its trusted scripts insert ('strict-dynamic'), with a
# stored tracker tag and a stored inline snippet, neither carrying the policy's nonce.
STRICT_DYNAMIC = (
    "<script nonce=site-nonce>window.__site = 1</script>"
    "<div class=comment><script src='https://www.googletagmanager.com/gtag/js?id=G-X'></script>"
    "<script>window.__xss = 'inline'; gtag('config', 'G-X')</script></div>"
    "<iframe id=video src='https://www.youtube.com/embed/x' width=300 height=200></iframe>"
)
# A policy governing everything by default-src: what the proxy injects gets directives of
# its own, default-src (frames, objects, workers, fonts...) stays the origin's.
DEFAULT_ONLY_POLICY = "default-src 'none'"
POLICIES = {
    "/strict-dynamic": {"Content-Security-Policy": STRICT_DYNAMIC_POLICY},
    "/default-src-only": {"Content-Security-Policy": DEFAULT_ONLY_POLICY},
}
# Markup alone: one element naming two services of two categories (helper-107).
SEVERAL = (
    "<img src='https://www.google-analytics.com/c?a' srcset='https://www.facebook.com/tr?a 1x'>"
    "<video src='https://www.google-analytics.com/c?b' poster='https://www.facebook.com/tr?b'>"
    "</video><a id=ping href=#x ping='https://www.google-analytics.com/c?c "
    "https://www.facebook.com/tr?c'>link</a><img src='https://www.google-analytics.com/c?d'>"
)
# Inline scripts naming a tracker's URL in a spelling the URL parser or the JavaScript string
# undoes, by loads no hook of the guard's holds (a module's import, an import map's, a
# navigation): the same spellings in an attribute were held, these loaded (helper-118).
SPELT = {
    "/module-import-percent-escaped-host": (
        '<script type=module>import "https://www.google%2Danalytics.com/analytics.js";</script>'
    ),
    "/module-import-ideographic-full-stop": (
        '<script type=module>import "https://www.google-analytics\u3002com/analytics.js";</script>'
    ),
    "/module-import-tab-escape-in-host": (
        '<script type=module>import "https://www.google-\\tanalytics.com/analytics.js";</script>'
    ),
    "/import-map-percent-escaped-host": (
        '<script type=importmap>{"imports": {"ga": '
        '"https://www.google%2Danalytics.com/analytics.js"}}</script>'
        '<script type=module>import "ga";</script>'
    ),
    "/navigation-fullwidth-full-stop": (
        "<script>location.href = 'https://www.youtube\uff0ecom/watch?v=1';</script>"
    ),
}
# Event handler attributes loading a tracker in a way no run-time hook holds (helper-118,
# under the default csp: report-only): the proxy holds the attribute (data-consent-on...),
# and the banner puts it back on consent. (element id h; the attribute it comes back as)
GA_IMPORT = "import('https://www.google-analytics.com/analytics.js')"
TO_YOUTUBE = "location.href='https://www.youtube.com/embed/x'"
HANDLERS = {
    "/handler-img-onerror": (f'<img id=h src="/missing.gif" onerror="{GA_IMPORT}">', "onerror"),
    "/handler-body-onload": (f'<p>x</p><body id=h onload="{TO_YOUTUBE}">', "onload"),
    "/handler-svg-onload": (f'<svg id=h onload="{GA_IMPORT}"></svg>', "onload"),
    "/handler-iframe-onload": (
        f'<iframe id=h src="/missing.gif" onload="{GA_IMPORT}"></iframe>',
        "onload",
    ),
    "/handler-details-ontoggle-entities": (
        '<details id=h open ontoggle="'
        + GA_IMPORT.replace("'", "&apos;")  # (entity-encoded quotes: the browser reads them)
        + '">x</details>',
        "ontoggle",
    ),
    "/handler-input-autofocus-onfocus": (
        f'<input id=h autofocus onfocus="{TO_YOUTUBE}">',
        "onfocus",
    ),
}
# Handlers that wait for a click: an import() the proxy holds, a pixel the guard holds.
CLICKS = {
    "/handler-onclick-import": f'<button id=h onclick="{GA_IMPORT}">go</button>',
    "/handler-onclick-pixel": (
        "<a id=h href=#p onclick=\"new Image().src='https://www.facebook.com/tr?id=1&ev=Click'\">"
        "go</a>"
    ),
}
# Markup alone: documents, hints and styles naming two services of two categories.
SEVERAL_MORE = (
    "<iframe srcdoc=\"<img src='https://www.google-analytics.com/c?s'>"
    "<img src='https://www.facebook.com/tr?s'>\"></iframe>"
    "<link rel=preload as=image href='https://www.google-analytics.com/c?l' "
    "imagesrcset='https://www.facebook.com/tr?l 1x'>"
    '<div style="width:9px;height:9px;background:url(https://www.google-analytics.com/c?y),'
    'url(https://www.facebook.com/tr?y)"></div>'
)
# Script alone: each element given two services' URLs, one attribute after the other, in
# both orders (the guard's hold named the last one only: helper-144).
SEVERAL_AT_RUN_TIME = script(
    "[[G + 'c?a', T + '&a'], [T + '&b', G + 'c?b']].forEach(function (p, i) {"
    " var v = document.createElement('video');"
    " if (i) { v.poster = p[0]; v.src = p[1]; } else { v.src = p[0]; v.poster = p[1]; }"
    " box.appendChild(v); });"
    "var f = document.createElement('iframe'); f.src = G + 'c?f';"
    "f.setAttribute('srcdoc', '<img src=' + T + '&f>'); box.appendChild(f);"
    "var m = document.createElement('script'); m.type = 'module';"
    "m.textContent = 'import \"' + G + 'm.js\"; import \"' + T + '&m\";';"
    "document.body.appendChild(m);"
)
ALL = GUARD | ENFORCE_ONLY | {"/stored-xss": STORED_XSS, "/strict-dynamic": STRICT_DYNAMIC}
ALL |= {path: body for path, (body, _) in HANDLERS.items()} | CLICKS
ALL |= SPELT
ALL["/several-services"] = SEVERAL
ALL["/several-services-at-run-time"] = SEVERAL_AT_RUN_TIME
ALL["/several-services-more"] = SEVERAL_MORE
ALL["/choice-while-loading"] = (
    "<script>addEventListener('DOMContentLoaded', function () { window.dcl = 1; });</script>"
    "<script defer src=/slow.js></script>"
    "<img src='https://www.google-analytics.com/c?late'><img src='https://www.facebook.com/tr?late'>"
    "<script src='https://www.google-analytics.com/analytics.js?late'></script>"
    "<script src='https://connect.facebook.net/en_US/fbevents.js'></script>"
)
ALL["/load-once-several"] = (
    "<iframe width=300 height=200 srcdoc=\"<iframe src='https://www.youtube.com/embed/x'></iframe>"
    "<img src='https://www.facebook.com/tr?once'>\"></iframe>"
)
ALL["/always-allow-several"] = (
    "<iframe width=300 height=200 srcdoc=\"<iframe src='https://www.youtube.com/embed/x'></iframe>"
    "<iframe src='https://player.vimeo.com/video/1'></iframe>\"></iframe>"
)
ALL["/always-allow-several-at-run-time"] = script(
    "var f = document.createElement('iframe'); f.width = 300; f.height = 200;"
    "f.srcdoc = ['https://www.' + 'youtube.com/embed/x', 'https://player.' + 'vimeo.com/video/1']"
    ".map(function (u) { return '<iframe src=' + u + '></iframe>'; }).join('');"
    "box.appendChild(f);"
)
# Two held scripts, the second brought back once the first has run (helper-144).
ALL["/two-held-scripts"] = (
    "<script src='https://www.google-analytics.com/analytics.js?slow'></script>"
    "<script src='https://www.googletagmanager.com/gtm.js?id=GTM-2'></script>"
)
ALL["/default-src-only"] = "<p>a page under default-src 'none'</p>"


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def attack_origin() -> AsyncIterator[str]:
    async with pages_origin(ALL, SCRIPTS, headers=POLICIES) as url:
        yield url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def proxy_without_csp(attack_origin: str) -> AsyncIterator[str]:
    running = await start_proxy(attack_origin, "off")
    yield f"http://{FIRST_PARTY_HOST}:{running.port}"
    await running.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def report_only_proxy(attack_origin: str) -> AsyncIterator[str]:
    running = await start_proxy(attack_origin, "report-only")
    yield f"http://{FIRST_PARTY_HOST}:{running.port}"
    await running.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def enforcing_proxy_for_attacks(attack_origin: str) -> AsyncIterator[str]:
    running = await start_proxy(attack_origin, "enforce")
    yield f"http://{FIRST_PARTY_HOST}:{running.port}"
    await running.stop()


async def tracker_hosts(browser: Browser, base_url: str, path: str) -> set[str]:
    """Third-party hosts the page tried to reach: requests (recorded, answered) and sockets."""
    async with recorded(browser, base_url) as (tab, recorder):
        sockets: list[str] = []
        tab.on("websocket", lambda ws: sockets.append(ws.url.split("/")[2]))
        await tab.goto(path)
        await settle(tab)
        return recorder.hosts | set(sockets)


async def settle(tab: Page) -> None:
    await tab.wait_for_load_state("networkidle")
    await tab.wait_for_timeout(300)


@pytest.mark.parametrize("path", GUARD)
async def test_guard_holds_run_time_load(browser, attack_origin, proxy_without_csp, path):
    assert await tracker_hosts(browser, attack_origin, path), (
        "the origin's page must load a tracker (else this test proves nothing)"
    )
    assert await tracker_hosts(browser, proxy_without_csp, path) == set()


@pytest.mark.parametrize("path", SPELT)
async def test_a_tracker_url_spelt_as_the_browser_reads_it_is_held_in_an_inline_script(
    browser, attack_origin, proxy_without_csp, path
):
    assert await tracker_hosts(browser, attack_origin, path), (
        "the origin's page must load a tracker (else this test proves nothing)"
    )
    assert await tracker_hosts(browser, proxy_without_csp, path) == set()


@pytest.mark.parametrize("path", ENFORCE_ONLY)
async def test_what_no_script_can_hook_is_stopped_by_enforce(
    browser, attack_origin, proxy_without_csp, enforcing_proxy_for_attacks, path
):
    assert await tracker_hosts(browser, attack_origin, path)
    assert await tracker_hosts(browser, proxy_without_csp, path), (
        "the guard cannot hook this: if it now does, move it to GUARD"
    )
    assert await tracker_hosts(browser, enforcing_proxy_for_attacks, path) == set()


async def test_guarded_loads_come_back_after_consent(browser, proxy_without_csp):
    """The harness sees what the guard lets through: with consent, the same code loads."""
    async with recorded(browser, proxy_without_csp) as (tab, recorder):
        await tab.goto("/inner-html")
        await tab.click("[data-consent-action=accept-all]")
        await tab.wait_for_selector("#box img[src]", state="attached")
        await tab.goto("/about-blank-frame-fetch")
        await settle(tab)
        assert {"www.facebook.com"} <= recorder.hosts


async def test_the_banner_works_on_a_page_that_named_its_globals_after_built_ins(
    browser, proxy_without_csp
):
    """`var URL` and friends after consent.js: Esc still refuses (the banner's script ran) and
    Accept all brings the page's trackers back."""
    async with recorded(browser, proxy_without_csp) as (tab, recorder):
        errors: list[str] = []
        tab.on("pageerror", lambda e: errors.append(str(e)))
        await tab.goto("/page-var-url-then-loads")
        await tab.click("[data-consent-action=accept-all]")
        await tab.wait_for_selector("#box img[src]", state="attached")
        await settle(tab)
        assert "www.facebook.com" in recorder.hosts
        assert all(e.startswith("consentproxy: no consent") for e in errors), errors


async def test_stored_markup_posing_as_marks_never_runs_after_accept_all(
    browser, attack_origin, proxy_without_csp
):
    async with recorded(browser, proxy_without_csp) as (tab, recorder):
        choices: list[str] = []
        tab.on(
            "request",
            lambda r: (
                choices.append(r.post_data or "") if r.url.endswith("/.consent/choice") else None
            ),
        )
        await tab.goto("/stored-xss")
        await settle(tab)
        assert recorder.hosts == set()  # the forged state allowed nothing
        await tab.click("#allow")  # the site's markup cannot give consent for the visitor
        await tab.wait_for_timeout(300)
        assert choices == []
        await tab.click("[data-consent-action=accept-all]")
        await tab.wait_for_selector("#real[src]", state="attached")
        # not networkidle: the frame activated in place may keep the page from ever
        # reaching it again; the two real trackers coming back is the sign to go on
        for _ in range(100):
            if len(recorder.hosts) >= 2:
                break
            await tab.wait_for_timeout(100)
        await tab.wait_for_timeout(300)
        await tab.click("#link")
        await tab.wait_for_timeout(300)
        assert await tab.evaluate("window.__xss") is None
        assert await tab.get_attribute("#link", "href") is None
        assert await tab.evaluate("document.querySelector('#real').hasAttribute('srcdoc')") is False
        # The real trackers, neutralised by the proxy in this response, are back.
        assert recorder.hosts == {"www.youtube.com", "www.google-analytics.com"}
        assert await tab.get_attribute("#real", "src") == "https://www.youtube.com/embed/real"
        assert len(choices) == 1


async def test_consent_to_one_category_brings_back_no_url_of_another_on_the_same_element(
    browser, attack_origin, proxy_without_csp
):
    """An element was held for the first service its URLs named: consent to analytics alone
    brought back, in place, the advertising pixel in its srcset, poster and ping."""
    assert "www.facebook.com" in await tracker_hosts(browser, attack_origin, "/several-services")
    async with recorded(browser, proxy_without_csp) as (tab, recorder):
        await tab.goto("/several-services")
        await tab.click("[data-consent-action=customize]")
        await tab.check("input[data-consent-category=analytics]")
        await tab.click("[data-consent-action=save]")
        await tab.wait_for_selector("img[src$='c?d']", state="attached")
        await tab.click("#ping")
        await settle(tab)
        assert recorder.hosts == {"www.google-analytics.com"}


@pytest.mark.parametrize(
    ("category", "host"),
    [("analytics", "www.google-analytics.com"), ("advertising", "www.facebook.com")],
)
@pytest.mark.parametrize("path", ["/several-services-at-run-time", "/several-services-more"])
async def test_consent_to_one_category_releases_no_hold_of_another(
    browser, attack_origin, proxy_without_csp, category, host, path
):
    """An element given two services' URLs, by a script or in the markup: held for both, it
    comes back with both (the guard's mark named the last one a script set: its consent alone
    released the other's URL)."""
    assert await tracker_hosts(browser, attack_origin, path) == {
        "www.google-analytics.com",
        "www.facebook.com",
    }
    async with recorded(browser, proxy_without_csp) as (tab, recorder):
        await tab.goto(path)
        await settle(tab)
        assert recorder.hosts == set()
        await tab.click("[data-consent-action=customize]")
        await tab.check(f"input[data-consent-category={category}]")
        await tab.click("[data-consent-action=save]")
        await settle(tab)
        assert recorder.hosts <= {host}, "in place"
        await tab.reload()
        await settle(tab)
        assert recorder.hosts == {host}, "on the next view"


async def test_a_withdrawal_made_before_the_restored_scripts_arrive_runs_none_of_them(
    browser, proxy_without_csp
):
    """Accept all, then Reject all while the first held script brought back is still loading
    (and the choice on its way): the banner's queue ran the second once the first had come,
    past the guard, though the visitor had refused it."""

    async def slow(route: Route, delay: float) -> None:
        await asyncio.sleep(delay)
        await route.fallback()

    async with recorded(browser, proxy_without_csp) as (tab, recorder):
        await tab.route("**/analytics.js?slow", lambda route: slow(route, 1.5))
        await tab.goto("/two-held-scripts")
        await tab.click("[data-consent-action=accept-all]")
        await tab.wait_for_timeout(300)
        await tab.route("**/.consent/choice*", lambda route: slow(route, 3))
        await tab.click("[data-consent-action=open]")
        async with tab.expect_event("load", timeout=10000):
            await tab.click("[data-consent-action=reject-all]")
        await settle(tab)
        assert recorder.hosts == {"www.google-analytics.com"}


async def test_a_choice_made_while_the_page_loads_brings_back_its_category_only(
    browser, proxy_without_csp
):
    """A category saved before DOMContentLoaded (a slow deferred script of the site's): its
    elements come back with it, another category's stay held."""

    async def slow(route: Route) -> None:
        await asyncio.sleep(3)
        await route.fallback()

    async with recorded(browser, proxy_without_csp) as (tab, recorder):
        await tab.route("**/slow.js", slow)
        await tab.goto("/choice-while-loading", wait_until="commit")
        await tab.click("[data-consent-action=customize]")
        await tab.check("input[data-consent-category=analytics]")
        await tab.click("[data-consent-action=save]")
        assert await tab.evaluate("!window.dcl")
        await settle(tab)
        assert recorder.hosts == {"www.google-analytics.com"}, "in place"
        assert len(recorder.requests) == 2
        recorder.clear()
        await tab.reload()
        await settle(tab)
        assert recorder.hosts == {"www.google-analytics.com"}, "on the next view"


async def test_an_embed_held_for_several_services_offers_no_load_once(
    browser, attack_origin, proxy_without_csp
):
    """A frame document naming YouTube and the Pixel: its placeholder names YouTube, and its
    Load this once loaded the Pixel too. Now it offers Always allow YouTube only, which brings
    nothing of the Pixel, in place or on the next view."""
    assert await tracker_hosts(browser, attack_origin, "/load-once-several") == {
        "www.youtube.com",
        "www.facebook.com",
    }
    async with recorded(browser, proxy_without_csp) as (tab, recorder):
        await tab.goto("/load-once-several")
        await tab.click("[data-consent-action=reject-all]")
        await tab.wait_for_selector("[data-consent-action=allow-service]")
        assert await tab.locator("[data-consent-action=load-once]").count() == 0
        await tab.click("[data-consent-action=allow-service]")
        await settle(tab)
        await tab.reload()
        await settle(tab)
        assert recorder.hosts == set()


@pytest.mark.parametrize("path", ["/always-allow-several", "/always-allow-several-at-run-time"])
async def test_always_allow_on_an_embed_held_for_two_services_of_a_category_brings_neither(
    browser, attack_origin, proxy_without_csp, path
):
    """A frame document naming YouTube and Vimeo (both social): Always allow YouTube, on its
    placeholder, brings back nothing of Vimeo, in place or on the next view."""
    assert await tracker_hosts(browser, attack_origin, path) == {
        "www.youtube.com",
        "player.vimeo.com",
    }
    async with recorded(browser, proxy_without_csp) as (tab, recorder):
        await tab.goto(path)
        await tab.click("[data-consent-action=reject-all]")
        await tab.click("[data-consent-action=allow-service]")
        await settle(tab)
        assert "player.vimeo.com" not in recorder.hosts, "in place"
        await tab.reload()
        await settle(tab)
        assert "player.vimeo.com" not in recorder.hosts, "on the next view"


COOKIE_STORE = (
    "cookieStore.set('_fbp', 'fb.1.2.3').then(() => cookieStore.set({name: '_ga', "
    "value: 'GA1.2.3'})).then(() => cookieStore.getAll()).then(a => a.map(c => c.name))"
)


async def test_cookie_store_writes_wait_for_consent(attack_origin, proxy_without_csp):
    """cookieStore needs a secure context: this browser takes both origins as ones."""
    async with secure_chromium(attack_origin, proxy_without_csp) as browser:
        names = {}
        for base in (attack_origin, proxy_without_csp):
            tab = await browser.new_page(base_url=base)
            await tab.goto("/inner-html")
            names[base] = await tab.evaluate(COOKIE_STORE)
        assert sorted(names[attack_origin]) == ["_fbp", "_ga"]
        assert names[proxy_without_csp] == []


# A page script writing a tracker's cookie: (the script, the names the origin's jar gets,
# the names the proxy's gets). Each got past the guard (helper-107): setState on window;
# a value of white space JavaScript's trim() empties (an emptying, let through) and Chromium
# keeps (it trims spaces and tabs only); a name the guard read, then the browser read again.
COOKIE_WRITES = {
    "the page grants itself consent": (
        (
            "try { consentproxy.setState({decided: true, categories: ['analytics', 'advertising', "
            "'social'], services: []}); } catch (e) {} document.cookie = '_ga=GA1.2.3; path=/';"
        ),
        {"_ga"},
        set(),
    ),
    "a value of white space but spaces and tabs": (
        "document.cookie = '_fbp=\\u2003\\u00a0; path=/';",
        {"_fbp"},
        set(),
    ),
    "set(options), a name another on its second reading": (
        (
            "var n = 0; await cookieStore.set({get name() { return n++ ? '_ga' : 'lang'; }, "
            "value: 'GA1.2.3', path: '/'});"
        ),
        {"lang"},  # (the browser reads it once)
        {"lang"},
    ),
    "set(name, value), a name another on its second reading": (
        "var n = 0; await cookieStore.set({toString() { return n++ ? '_ga' : 'lang'; }}, 'GA1');",
        {"lang"},
        {"lang"},
    ),
}


@pytest.mark.parametrize("how", COOKIE_WRITES)
async def test_a_page_script_writes_no_tracker_cookie_past_the_guard(
    attack_origin, proxy_without_csp, how
):
    js, at_origin, behind_proxy = COOKIE_WRITES[how]
    async with secure_chromium(attack_origin, proxy_without_csp) as browser:
        for base, expected in ((attack_origin, at_origin), (proxy_without_csp, behind_proxy)):
            tab = await browser.new_page(base_url=base)
            await tab.goto("/inner-html")
            await tab.evaluate(f"async () => {{ {js} }}")
            jar = {c["name"] for c in await tab.context.cookies()}
            assert {n for n in jar if not n.startswith("consent")} == expected, base
            await tab.context.close()


async def test_the_page_gets_the_documented_api_and_no_tool_of_the_guards(
    browser, proxy_without_csp
):
    """README's get(), open(), onChange(cb): the guard's tools (the GUARD pages above used
    them) are banner.js's alone, reachable from no global."""
    async with recorded(browser, proxy_without_csp) as (tab, _):
        await tab.goto("/inner-html")
        await tab.wait_for_load_state("load")
        api = "Object.getOwnPropertyNames(window.consentproxy).sort()"
        assert await tab.evaluate(api) == ["get", "onChange", "open"]
        assert await tab.evaluate("typeof guard + typeof __guard") == "undefinedundefined"


async def test_what_the_origin_s_strict_dynamic_policy_kept_out_stays_out_after_accept_all(
    browser, attack_origin, proxy_without_csp
):
    """(helper-101) consent.js, trusted by the proxy's nonce, brought back the stored tags it
    had held, and 'strict-dynamic' ran what a trusted script inserts: markup the origin's
    nonce kept out ran for every visitor who accepted. No held script is brought back in
    place on such a page; on the next, it comes as it came, and the origin's policy judges
    it. An embed, which the policy does not govern, comes back in place as ever."""
    for base in (attack_origin, proxy_without_csp):
        async with recorded(browser, base) as (tab, recorder):
            await tab.goto("/strict-dynamic")
            await settle(tab)
            assert await tab.evaluate("window.__site") == 1  # (the page's own nonce'd code)
            if base == proxy_without_csp:
                assert recorder.hosts == set()
                await tab.click("[data-consent-action=accept-all]")
                await tab.wait_for_selector("#video[src]", state="attached")
                # (not networkidle: the frame in place may keep the page from reaching it)
                await tab.wait_for_timeout(500)
                assert await tab.evaluate("window.__xss") is None
                await tab.reload(wait_until="load")
                await tab.wait_for_timeout(500)
            assert await tab.evaluate("window.__xss") is None
            assert recorder.hosts == {"www.youtube.com"}


async def test_under_an_origin_policy_of_default_src_alone_the_banner_shows_and_answers(
    browser, proxy_without_csp
):
    """(its script and style by the response's nonce in script-src and style-src, its
    choice posted to the endpoints connect-src lists: default-src itself stays 'none')"""
    async with recorded(browser, proxy_without_csp) as (tab, _):
        violations: list[str] = []
        tab.on("console", lambda m: violations.append(m.text) if "Policy" in m.text else None)
        response = await tab.goto("/default-src-only")
        assert response is not None
        assert response.headers["content-security-policy"].startswith("default-src 'none';")
        await tab.click("[data-consent-action=reject-all]")
        await settle(tab)
        state = await tab.evaluate("fetch('/.consent/state').then(r => r.json())")
        assert state["decided"] is True and state["categories"] == []
        assert violations == []


@pytest.mark.parametrize("path", HANDLERS)
async def test_an_event_handler_loading_a_tracker_waits_for_consent(
    browser, attack_origin, report_only_proxy, path
):
    """Before consent no request; after Accept all the handler is back on its element."""
    assert await tracker_hosts(browser, attack_origin, path), (
        "the origin's page must load a tracker (else this test proves nothing)"
    )
    attr = HANDLERS[path][1]
    async with recorded(browser, report_only_proxy) as (tab, recorder):
        await tab.goto(path)
        await settle(tab)
        assert recorder.hosts == set()
        await tab.click("[data-consent-action=accept-all]")
        await tab.wait_for_selector(f"#h[{attr}]", state="attached")
        assert await tab.get_attribute("#h", f"data-consent-{attr}") is None


@pytest.mark.parametrize(
    ("path", "host"),
    [
        ("/handler-onclick-import", "www.google-analytics.com"),
        ("/handler-onclick-pixel", "www.facebook.com"),
    ],
)
async def test_an_onclick_tracker_fires_on_click_only_after_consent(
    browser, attack_origin, report_only_proxy, path, host
):
    async with recorded(browser, attack_origin) as (tab, recorder):
        await tab.goto(path)
        await tab.click("#h")
        await settle(tab)
        assert host in recorder.hosts  # (the origin's page: the click loads it)
    async with recorded(browser, report_only_proxy) as (tab, recorder):
        await tab.goto(path)
        await tab.click("#h")
        await settle(tab)
        assert recorder.hosts == set()
        await tab.click("[data-consent-action=accept-all]")
        await tab.wait_for_selector("#h[onclick]", state="attached")
        await tab.click("#h")
        await settle(tab)
        assert host in recorder.hosts
