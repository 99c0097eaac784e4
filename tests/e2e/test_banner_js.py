"""The banner's client side (banner.js / banner.css) in a real Chromium, without the proxy.

Every request is answered by ``context.route``: the test page and ``/.consent/*`` on
legacy.test, and every third-party request is recorded and fulfilled with a stub — never
continued — so a test sees exactly what the page tried to load.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, Route, async_playwright

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

BANNER_DIR = pathlib.Path(__file__).parents[2] / "src" / "consentproxy" / "banner"
HOST = "legacy.test"
BASE = f"http://{HOST}/"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # Belt and braces: nothing may resolve even if a request escaped the router.
    "--host-resolver-rules=MAP * ~NOTFOUND",
]
GIF_1X1 = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
CATALOG = {
    "categories": [
        {"name": "necessary", "required": True, "title": "Strictly necessary"},
        {"name": "analytics", "required": False, "title": "Audience measurement"},
        {"name": "social", "required": False, "title": "Social media"},
        {"name": "advertising", "required": False, "title": "Advertising"},
    ],
    "services": [
        {"name": "youtube", "category": "social", "title": "YouTube"},
        {"name": "google-tag-manager", "category": "analytics", "title": "Google Tag Manager"},
        {"name": "google-analytics", "category": "analytics", "title": "Google Analytics"},
        {"name": "facebook-pixel", "category": "advertising", "title": "Facebook Pixel"},
    ],
}
ALL = ["necessary", "analytics", "social", "advertising"]
UNDECIDED = {"decided": False, "categories": [], "services": []}

# What the proxy leaves in a page: every tracker neutralised, in this order.
TRACKERS = """
<link data-consent-blocked="google-analytics" data-consent-blocked-category="analytics"
  rel=preconnect data-consent-href="https://www.google-analytics.com">
<script type="text/plain" data-consent-blocked="google-tag-manager"
  data-consent-blocked-category="analytics"
  data-consent-src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>
<script type="text/plain" data-consent-blocked="google-analytics"
  data-consent-blocked-category="analytics" class="site-inline">
  window.__ran = 1; (window.__order = window.__order || []).push('inline');
</script>
<script type="text/plain" data-consent-blocked="google-analytics"
  data-consent-blocked-category="analytics" data-consent-type="text/javascript"
  data-consent-src="https://www.google-analytics.com/analytics.js"></script>
<iframe data-consent-blocked="youtube" data-consent-blocked-category="social"
  data-consent-src="https://www.youtube.com/embed/abc" width=500 height=300
  allowfullscreen></iframe>
<img data-consent-blocked="facebook-pixel" data-consent-blocked-category="advertising"
  height="1" width="1" data-consent-src="https://www.facebook.com/tr?id=1"/>
"""
# A gadget a sanitiser keeping data-* attributes would let through: must not become onerror.
GADGET = """
<img id="gadget" data-consent-blocked="google-analytics" data-consent-blocked-category="analytics"
  data-consent-src="https://evil.example/x.gif" data-consent-onerror="window.__xss = 1">
"""
# Third-party script bodies, so a test can see that (and in which order) they ran.
SCRIPTS = {
    "www.googletagmanager.com": "(window.__order = window.__order || []).push('gtm');",
    "www.google-analytics.com": "(window.__order = window.__order || []).push('ga');",
}


def banner_markup(state: dict[str, Any], lang: str = "en") -> str:
    boxes = "".join(
        f'<label><input type="checkbox" name="category" value="{c["name"]}" '
        f'data-consent-category="{c["name"]}"'
        + (" checked disabled" if c["required"]
           else " checked" if c["name"] in state["categories"] else "")
        + f'> {c["title"]}</label>'
        for c in CATALOG["categories"]
    )
    return f"""
<div id="consentproxy" data-consentproxy-prefix="/.consent/"
 data-consentproxy-state='{json.dumps(state)}' data-consentproxy-catalog='{json.dumps(CATALOG)}'
 lang="{lang}">
 <link rel="stylesheet" href="/.consent/banner.css?v=0.1.0">
 <form class="cp-banner" method="post" action="/.consent/choice" role="dialog"
  aria-labelledby="cp-title" aria-describedby="cp-body"{" hidden" if state["decided"] else ""}>
   <input type="hidden" name="return" value="/">
   <h2 id="cp-title">Your privacy choices</h2>
   <p id="cp-body">We use cookies to measure our audience and show videos.</p>
   <details class="cp-details"><summary data-consent-action="customize">Customise</summary>
     <fieldset class="cp-categories"><legend>Categories</legend>{boxes}</fieldset>
     <button type="submit" name="action" value="save" data-consent-action="save">Save my choices</button>
   </details>
   <div class="cp-buttons">
     <button type="submit" name="action" value="accept-all" data-consent-action="accept-all">Accept all</button>
     <button type="submit" name="action" value="reject-all" data-consent-action="reject-all">Reject all</button>
   </div>
 </form>
 <button type="button" class="cp-manage" data-consent-action="open" aria-label="Manage cookies">Manage cookies</button>
</div>
<script src="/.consent/banner.js?v=0.1.0" defer></script>"""


def page_html(state: dict[str, Any] = UNDECIDED, body: str = TRACKERS, *, lang: str = "en",
              banner: bool = True) -> str:
    return (
        "<!DOCTYPE html><html><head><meta charset=utf-8><title>Legacy</title>"
        "<style>button{background:red;padding:0}form{display:block}</style></head><body>"
        '<h1>Legacy site</h1><a href="#" id="site-open" data-consent-action="open">Cookies</a>'
        f'<div id="content">{body}</div>'
        + (banner_markup(state, lang) if banner else "") + "</body></html>"
    )


@dataclass
class Site:
    page: Page
    html: str = ""
    next_state: dict[str, Any] = field(default_factory=lambda: dict(UNDECIDED))
    fail_choice: bool = False
    choices: list[dict[str, Any]] = field(default_factory=list)
    third_party: list[str] = field(default_factory=list)
    loads: int = 0
    errors: list[str] = field(default_factory=list)

    async def handle(self, route: Route) -> None:
        req = route.request
        url = urlsplit(req.url)
        if url.hostname != HOST:
            self.third_party.append(req.url)
            if url.hostname == "www.googletagmanager.com":
                await asyncio.sleep(0.3)  # slow, so document order actually has to be kept
            if req.resource_type == "script":
                await route.fulfill(body=SCRIPTS.get(url.hostname, ""),
                                    content_type="application/javascript")
            elif req.resource_type == "image":
                await route.fulfill(body=GIF_1X1, content_type="image/gif")
            else:
                await route.fulfill(body="<p>third party</p>", content_type="text/html")
        elif url.path == "/.consent/banner.js":
            await route.fulfill(path=BANNER_DIR / "banner.js",
                                content_type="application/javascript")
        elif url.path == "/.consent/banner.css":
            await route.fulfill(path=BANNER_DIR / "banner.css", content_type="text/css")
        elif url.path == "/.consent/choice":
            self.choices.append({"body": json.loads(req.post_data or "null"),
                                 "content_type": req.headers.get("content-type")})
            if self.fail_choice:
                await route.abort("connectionrefused")
            else:
                await route.fulfill(json=self.next_state)
        elif url.path == "/":
            self.loads += 1
            await route.fulfill(body=self.html, content_type="text/html; charset=utf-8")
        else:
            await route.fulfill(status=404, body="not found")

    async def open(self, html: str) -> None:
        self.html = html
        await self.page.goto(BASE, wait_until="load")
        await self.page.wait_for_timeout(150)

    async def hosts(self) -> set[str]:
        return {urlsplit(u).hostname or "" for u in self.third_party}

    async def banner_hidden(self) -> bool:
        return await self.page.eval_on_selector("#consentproxy form", "f => f.hidden")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def banner_browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


async def _site(browser: Browser, **context_args: Any) -> AsyncIterator[Site]:
    context = await browser.new_context(**context_args)
    page = await context.new_page()
    site = Site(page)
    page.on("pageerror", lambda e: site.errors.append(str(e)))
    await context.route("**/*", site.handle)
    yield site
    await context.close()
    assert not site.errors, site.errors


@pytest_asyncio.fixture(loop_scope="session")
async def site(banner_browser: Browser) -> AsyncIterator[Site]:
    async for s in _site(banner_browser):
        yield s


@pytest_asyncio.fixture(loop_scope="session")
async def narrow_site(banner_browser: Browser) -> AsyncIterator[Site]:
    async for s in _site(banner_browser, viewport={"width": 320, "height": 640}):
        yield s


async def test_nothing_third_party_before_a_choice(site: Site) -> None:
    await site.open(page_html())
    await site.page.wait_for_load_state("networkidle")
    assert site.third_party == []
    assert not await site.banner_hidden()
    assert await site.page.evaluate("window.__ran") is None
    assert await site.page.locator("script[type='text/plain']").count() == 3
    assert await site.page.locator("[data-consent-blocked]").count() == 6


async def test_accept_all_activates_everything_in_document_order(site: Site) -> None:
    await site.open(page_html(body=TRACKERS + GADGET))
    site.next_state = {"decided": True, "categories": ALL, "services": []}
    await site.page.click("text=Accept all")
    await site.page.wait_for_function("window.__ran === 1 && (window.__order || []).length === 3")
    await site.page.wait_for_load_state("networkidle")

    assert site.choices == [{"body": {"action": "accept-all", "categories": []},
                             "content_type": "application/json"}]
    assert await site.banner_hidden()
    # Scripts ran in document order although the first one was the slowest to load.
    assert await site.page.evaluate("window.__order") == ["gtm", "inline", "ga"]
    assert {"www.googletagmanager.com", "www.google-analytics.com", "www.youtube.com",
            "www.facebook.com", "evil.example"} <= await site.hosts()
    assert await site.page.locator("[data-consent-blocked]").count() == 0
    assert await site.page.locator(".cp-placeholder").count() == 0
    assert await site.page.get_attribute("iframe", "src") == "https://www.youtube.com/embed/abc"
    # Restored scripts keep their other attributes and get their original type back.
    assert await site.page.locator("script.site-inline:not([type])").count() == 1
    assert await site.page.locator("script[type='text/javascript'][src*=analytics]").count() == 1
    # Only the attributes the proxy renames are restored, never event handlers.
    assert await site.page.get_attribute("#gadget", "onerror") is None
    assert await site.page.evaluate("window.__xss") is None
    assert await site.page.locator("input[data-consent-category]:checked").count() == 4
    assert site.loads == 1


async def test_reject_all_hides_and_loads_nothing(site: Site) -> None:
    await site.open(page_html())
    site.next_state = {"decided": True, "categories": ["necessary"], "services": []}
    await site.page.click("text=Reject all")
    await site.page.wait_for_function("document.querySelector('#consentproxy form').hidden")
    await site.page.wait_for_load_state("networkidle")
    assert site.choices[0]["body"] == {"action": "reject-all", "categories": []}
    assert site.third_party == []
    assert site.loads == 1
    assert await site.page.locator(".cp-placeholder").count() == 1
    assert await site.page.locator(".cp-manage").is_visible()


async def test_save_posts_checked_categories_and_activates_only_those(site: Site) -> None:
    await site.open(page_html())
    await site.page.click("summary")
    await site.page.check("input[value=analytics]")
    site.next_state = {"decided": True, "categories": ["necessary", "analytics"], "services": []}
    await site.page.click("text=Save my choices")
    await site.page.wait_for_function("(window.__order || []).length === 3")
    await site.page.wait_for_load_state("networkidle")
    assert site.choices[0]["body"] == {"action": "save", "categories": ["analytics"]}
    assert await site.hosts() == {"www.googletagmanager.com", "www.google-analytics.com"}
    assert await site.page.locator("[data-consent-blocked]").count() == 2  # iframe + pixel


async def test_allowed_service_is_activated(site: Site) -> None:
    await site.open(page_html({"decided": True, "categories": ["necessary"],
                               "services": ["youtube"]}))
    await site.page.wait_for_load_state("networkidle")
    assert await site.hosts() == {"www.youtube.com"}
    assert await site.page.locator(".cp-placeholder").count() == 0


async def test_open_reshows_the_banner_and_escape_closes_it(site: Site) -> None:
    await site.open(page_html({"decided": True, "categories": ["necessary"], "services": []}))
    assert await site.banner_hidden()
    manage = site.page.locator(".cp-manage")
    assert await manage.is_visible()
    await manage.focus()
    await site.page.keyboard.press("Enter")
    assert not await site.banner_hidden()
    assert await site.page.eval_on_selector("details", "d => d.open")
    assert await site.page.evaluate("document.activeElement.value") == "analytics"
    await site.page.keyboard.press("Escape")
    assert await site.banner_hidden()
    assert await site.page.evaluate("document.activeElement.className") == "cp-manage"
    # A link the site itself marks works too (delegation), and does not navigate.
    await site.page.click("#site-open")
    assert not await site.banner_hidden()
    assert site.page.url == BASE
    await site.page.keyboard.press("Escape")
    assert await site.banner_hidden()
    assert site.choices == []


async def test_escape_does_not_close_an_undecided_banner(site: Site) -> None:
    await site.open(page_html())
    await site.page.keyboard.press("Escape")
    assert not await site.banner_hidden()


async def test_customise_is_keyboard_reachable(site: Site) -> None:
    await site.open(page_html())
    await site.page.focus("#content")  # start of the page, then tab into the banner
    for _ in range(12):
        await site.page.keyboard.press("Tab")
        if await site.page.evaluate("document.activeElement.localName") == "summary":
            break
    else:
        pytest.fail("summary never got focus")
    await site.page.keyboard.press("Enter")
    assert await site.page.eval_on_selector("details", "d => d.open")


async def test_withdrawing_a_category_reloads(site: Site) -> None:
    state = {"decided": True, "categories": ["necessary", "analytics"], "services": []}
    await site.open(page_html(state, body='<p>analytics already running</p>'))
    site.next_state = {"decided": True, "categories": ["necessary"], "services": []}
    site.html = page_html(site.next_state, body="<p>reloaded</p>")
    await site.page.click(".cp-manage")
    async with site.page.expect_navigation():
        await site.page.click("text=Reject all")
    await site.page.wait_for_selector("text=reloaded")
    assert site.loads == 2
    assert site.choices[0]["body"] == {"action": "reject-all", "categories": ["analytics"]}


async def test_adding_a_category_does_not_reload(site: Site) -> None:
    state = {"decided": True, "categories": ["necessary", "analytics"], "services": []}
    body = TRACKERS.replace('data-consent-blocked-category="analytics"',
                            'data-consent-blocked-category="x-unused"')
    await site.open(page_html(state, body=body))
    site.next_state = {"decided": True, "categories": ALL, "services": []}
    await site.page.click(".cp-manage")
    await site.page.click("text=Accept all")
    await site.page.wait_for_selector("iframe[src]", state="attached")
    assert site.loads == 1


async def test_accept_all_does_not_reload_for_services_it_covers(site: Site) -> None:
    await site.open(page_html({"decided": True, "categories": [], "services": ["youtube"]}))
    await site.page.wait_for_selector("iframe[src]", state="attached")
    site.next_state = {"decided": True, "categories": ALL[1:], "services": []}
    await site.page.click(".cp-manage")
    await site.page.click("text=Accept all")
    await site.page.wait_for_function("(window.__order || []).length === 3")
    assert site.loads == 1


async def test_elements_inserted_later_are_activated_when_allowed(site: Site) -> None:
    await site.open(page_html({"decided": True, "categories": ["necessary", "social"],
                               "services": []}, body="<p>no trackers yet</p>"))
    assert site.third_party == []
    await site.page.evaluate("""() => {
      document.getElementById('content').innerHTML += '<div><iframe data-consent-blocked="youtube"'
        + ' data-consent-blocked-category="social" data-consent-src="https://www.youtube.com/embed/late">'
        + '</iframe><img data-consent-blocked="facebook-pixel" data-consent-blocked-category="advertising"'
        + ' data-consent-src="https://www.facebook.com/tr?id=2"></div>';
    }""")
    await site.page.wait_for_selector("iframe[src='https://www.youtube.com/embed/late']",
                                      state="attached")
    await site.page.wait_for_load_state("networkidle")
    assert await site.hosts() == {"www.youtube.com"}
    assert await site.page.locator("img[data-consent-blocked]").count() == 1
    # Likewise a blocked embed inserted later gets its placeholder.
    await site.page.evaluate("""() => document.body.insertAdjacentHTML('beforeend',
      '<embed data-consent-blocked="facebook-pixel" data-consent-blocked-category="advertising"'
      + ' data-consent-src="https://www.facebook.com/plugin" width="200" height="100">')""")
    await site.page.wait_for_selector(".cp-placeholder")


async def test_placeholder_button_posts_its_category(site: Site) -> None:
    await site.open(page_html({"decided": True, "categories": ["necessary"], "services": []}))
    ph = site.page.locator(".cp-placeholder")
    assert await ph.count() == 1  # the 1x1 pixel gets none, it is an <img> anyway
    assert await ph.locator("p").inner_text() == (
        "This content from YouTube is blocked until you accept Social media.")
    assert await ph.get_by_role("button").inner_text() == "Allow Social media"
    box = await ph.bounding_box()
    assert box and (box["width"], box["height"]) == (500, 300)
    # The placeholder sits just before its element.
    assert await site.page.evaluate(
        "document.querySelector('.cp-placeholder').nextElementSibling.localName") == "iframe"

    site.next_state = {"decided": True, "categories": ["necessary", "social"], "services": []}
    await ph.get_by_role("button").click()
    await site.page.wait_for_selector("iframe[src]", state="attached")
    await site.page.wait_for_load_state("networkidle")
    assert site.choices[0]["body"] == {"action": "save", "categories": ["necessary", "social"]}
    assert await site.page.locator(".cp-placeholder").count() == 0
    assert await site.hosts() == {"www.youtube.com"}
    assert site.loads == 1


async def test_placeholder_button_keeps_allowed_services(site: Site) -> None:
    await site.open(page_html({"decided": True, "categories": [], "services": ["youtube"]},
                              body=TRACKERS.replace('youtube"', 'vimeo"')))
    site.next_state = {"decided": True, "categories": ["social"], "services": ["youtube"]}
    await site.page.locator(".cp-placeholder button").click()
    await site.page.wait_for_selector("iframe[src]", state="attached")
    assert site.choices[0]["body"] == {"action": "save", "categories": ["social"],
                                       "services": ["youtube"]}
    assert site.loads == 1


async def test_placeholder_texts_follow_lang(site: Site) -> None:
    await site.open(page_html(lang="fr"))
    text = await site.page.locator(".cp-placeholder").inner_text()
    assert "bloqué" in text and "YouTube" in text and "Autoriser" in text


async def test_network_error_keeps_the_banner_with_a_message(site: Site) -> None:
    await site.open(page_html())
    site.fail_choice = True
    await site.page.click("text=Accept all")
    alert = site.page.get_by_role("alert")
    await alert.wait_for()
    assert "could not be saved" in await alert.inner_text()
    assert not await site.banner_hidden()
    assert site.third_party == []
    assert site.loads == 1
    # And a retry works and clears the message.
    site.fail_choice = False
    site.next_state = {"decided": True, "categories": ["necessary"], "services": []}
    await site.page.click("text=Reject all")
    await site.page.wait_for_function("document.querySelector('#consentproxy form').hidden")
    assert not await alert.is_visible()


async def test_without_the_banner_markup_nothing_happens(site: Site) -> None:
    html = page_html(banner=False).replace(
        "</body>", '<script src="/.consent/banner.js" defer></script></body>')
    await site.open(html)
    await site.page.wait_for_load_state("networkidle")
    assert site.third_party == []
    assert await site.page.locator("[data-consent-blocked]").count() == 6
    assert await site.page.locator(".cp-placeholder").count() == 0


async def test_equal_buttons_and_fit_on_320px(narrow_site: Site) -> None:
    site = narrow_site
    await site.open(page_html(body="<p>A narrow legacy page.</p>"))
    accept = await site.page.locator("text=Accept all").bounding_box()
    reject = await site.page.locator("text=Reject all").bounding_box()
    assert accept and reject
    assert (accept["width"], accept["height"]) == (reject["width"], reject["height"])
    styles = await site.page.evaluate("""() => ['Accept all', 'Reject all'].map(t => {
        const b = [...document.querySelectorAll('#consentproxy button')].find(x => x.textContent === t);
        const s = getComputedStyle(b);
        return [s.backgroundColor, s.color, s.fontSize, s.fontWeight, s.borderColor];
    })""")
    assert styles[0] == styles[1]
    # The site's `button{background:red}` does not leak into the banner.
    assert styles[0][0] != "rgb(255, 0, 0)"
    assert await site.page.evaluate("document.documentElement.scrollWidth") <= 320
    banner = await site.page.locator("#consentproxy form").bounding_box()
    assert banner and banner["x"] >= 0 and banner["x"] + banner["width"] <= 320
    # Opening the customise view keeps everything reachable (the bar scrolls).
    await site.page.click("summary")
    await site.page.locator("text=Save my choices").scroll_into_view_if_needed()
    assert await site.page.locator("text=Save my choices").is_visible()


async def test_focus_outline_is_visible(site: Site) -> None:
    await site.open(page_html())
    await site.page.focus("#content")
    await site.page.keyboard.press("Tab")  # somewhere; then tab to Accept all
    for _ in range(15):
        if await site.page.evaluate("document.activeElement.textContent") == "Accept all":
            break
        await site.page.keyboard.press("Tab")
    outline = await site.page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, parseFloat(s.outlineWidth)]; })()")
    assert outline[0] != "none" and outline[1] >= 2


async def test_css_is_scoped() -> None:
    css = (BANNER_DIR / "banner.css").read_text()
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    css = re.sub(r"@media[^{]*\{", "", css)
    for selectors in re.findall(r"([^{}]+)\{", css):
        for sel in selectors.split(","):
            sel = sel.strip()
            assert sel.startswith(("#consentproxy", ".cp-placeholder")), sel
