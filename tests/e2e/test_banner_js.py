"""The banner in a real Chromium, without the proxy: the markup `Banner` renders and the
consent.js it builds, on pages shaped like what the proxy leaves behind.

Every request is answered by ``context.route``: the test page and ``/.consent/*`` on
legacy.test, and every third-party request is recorded and fulfilled with a stub — never
continued — so a test sees exactly what the page tried to load.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, Route, async_playwright

from consentproxy.banner.render import KNOWN_LISTED, Banner
from consentproxy.banner.texts import LANGUAGES, TEXTS
from consentproxy.catalog.knowledge import builtin_trackers
from consentproxy.config import RecordsSettings, parse_config
from consentproxy.consent import ConsentState
from consentproxy.policy import Policy
from consentproxy.scan import CHROMIUM_ARGS as BROWSER_FLAGS
from tests.e2e.conftest import CHROMIUM, GIF_1X1, axe_violations, jar_with

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

HOST = "legacy.test"
BASE = f"http://{HOST}/"
CHROMIUM_ARGS = [
    *BROWSER_FLAGS,
    # Belt and braces: nothing may resolve even if a request escaped the router.
    "--host-resolver-rules=MAP * ~NOTFOUND",
]
CONFIG = parse_config(
    """
upstream: http://127.0.0.1:9
categories:
  necessary: {required: true, title: {en: Strictly necessary, fr: Strictement nécessaires}}
  analytics: {title: {en: Audience measurement, fr: Mesure d'audience},
              description: {en: Counting visits., fr: Compter les visites.}}
  social: {title: {en: Social media, fr: Réseaux sociaux}}
  advertising: {title: Advertising}
services:
  - use: youtube
    purpose: Plays the videos embedded in our pages.
    retention: 6 months
  - use: vimeo
  - use: google-tag-manager
  - use: google-analytics
  - use: facebook-pixel
banner:
  privacy_url: /privacy
""",
    "test-banner.yaml",
)
BANNER = Banner(CONFIG, Policy(CONFIG), "version-shown")
_KEEPING = replace(CONFIG, records=RecordsSettings(":memory:"))
KEEPING_RECORDS = Banner(_KEEPING, Policy(_KEEPING))
ALL = ["analytics", "social", "advertising"]
# The response's mark, as the proxy writes it on the elements it neutralises, the banner
# and the guard's tag (see rewrite.neutralise.MARK_ATTR); a fragment fetched later has its
# own, sent in a header.
MARK = "page-mark-0123"
FRAGMENT_MARK = "fragment-mark-0123"
UNDECIDED: dict[str, Any] = {"decided": False, "categories": [], "services": []}
NONE = {"decided": True, "categories": [], "services": []}
DECIDED_ANALYTICS = {"decided": True, "categories": ["analytics"], "services": []}

# What the proxy leaves in a page: every tracker neutralised, in this order.
TRACKERS = """
<link data-consent-mark="page-mark-0123" data-consent-blocked="google-analytics" data-consent-blocked-category="analytics"
  rel=preconnect data-consent-href="https://www.google-analytics.com">
<script type="text/plain" data-consent-mark="page-mark-0123" data-consent-blocked="google-tag-manager"
  data-consent-blocked-category="analytics"
  data-consent-src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>
<script type="text/plain" data-consent-mark="page-mark-0123" data-consent-blocked="google-analytics"
  data-consent-blocked-category="analytics" class="site-inline">
  window.__ran = 1; (window.__order = window.__order || []).push('inline');
</script>
<script type="text/plain" data-consent-mark="page-mark-0123" data-consent-blocked="google-analytics"
  data-consent-blocked-category="analytics" data-consent-type="text/javascript"
  data-consent-src="https://www.google-analytics.com/analytics.js"></script>
<iframe data-consent-mark="page-mark-0123" data-consent-blocked="youtube" data-consent-blocked-category="social"
  data-consent-src="https://www.youtube.com/embed/abc" width=500 height=300
  allowfullscreen></iframe>
<img data-consent-mark="page-mark-0123" data-consent-blocked="facebook-pixel" data-consent-blocked-category="advertising"
  height="1" width="1" data-consent-src="https://www.facebook.com/tr?id=1"/>
"""
# Only the attributes the proxy renames come back, even on an element it marked.
AUDITED_LINK = """
<a id="audited" href="#top" data-consent-mark="page-mark-0123" data-consent-blocked="google-analytics"
  data-consent-blocked-category="analytics" data-consent-ping="https://www.google-analytics.com/p">x</a>
"""
# An event handler the proxy held (data-consent-on...) comes back with the element.
GADGET = """
<img id="gadget" data-consent-mark="page-mark-0123" data-consent-blocked="google-analytics" data-consent-blocked-category="analytics"
  data-consent-src="https://evil.example/x.gif" data-consent-onerror="window.__xss = 1">
"""
# Third-party script bodies, so a test can see that (and in which order) they ran.
SCRIPTS = {
    "www.googletagmanager.com": "(window.__order = window.__order || []).push('gtm');",
    "www.google-analytics.com": "(window.__order = window.__order || []).push('ga');",
}
# A legacy site's CSS at its worst: nothing of it may reach the banner.
SITE_CSS = (
    "button{background:red;padding:0} form{display:inline} dialog{position:static}"
    " *{font-family:serif !important; letter-spacing:3px}"
)


def consent(state: dict[str, Any]) -> ConsentState:
    return ConsentState(
        state["decided"], frozenset(state["categories"]), frozenset(state["services"])
    )


def page_html(
    state: dict[str, Any] = UNDECIDED,
    body: str = TRACKERS,
    *,
    lang: str = "en",
    banner: bool = True,
    doctype: str = "<!DOCTYPE html>",
    css: str = SITE_CSS,
    using: Banner = BANNER,
) -> str:
    s = consent(state)
    return (
        f"{doctype}<html lang=en><head><meta charset=utf-8><title>Legacy</title>"
        + using.script_tag(s, mark=MARK).decode()
        + f"<style>{css}</style></head><body>"
        '<h1>Legacy site</h1><a href="#" id="site-open" data-consent-action="open">Cookies</a>'
        f'<div id="content">{body}</div>'
        + (using.render(s, lang, "/", mark=MARK).decode() if banner else "")
        + "</body></html>"
    )


@dataclass
class Site:
    page: Page
    html: str = ""
    content_type: str = "text/html; charset=utf-8"
    fragment: str = ""
    next_state: dict[str, Any] = field(default_factory=lambda: dict(UNDECIDED))
    fail_choice: bool = False
    refuse_json: bool = False  # the endpoint answering a JSON choice 415 (a form still works)
    pages: dict[str, str] = field(default_factory=dict)  # more same-site pages, by path
    choices: list[dict[str, Any]] = field(default_factory=list)
    vias: list[str | None] = field(default_factory=list)
    langs: list[str | None] = field(default_factory=list)
    versions: list[str | None] = field(default_factory=list)
    erased: list[str | None] = field(default_factory=list)
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
                await route.fulfill(
                    body=SCRIPTS.get(url.hostname or "", ""), content_type="application/javascript"
                )
            elif req.resource_type == "image":
                await route.fulfill(body=GIF_1X1, content_type="image/gif")
            else:
                await route.fulfill(body="<p>third party</p>", content_type="text/html")
        elif url.path == "/.consent/consent.js":
            await route.fulfill(body=BANNER.script, content_type="text/javascript")
        elif url.path == "/.consent/choice":
            if req.method != "POST":
                await route.fulfill(status=405, body="use POST")
                return
            form = "json" not in (req.headers.get("content-type") or "")
            if not form and self.refuse_json:
                await route.fulfill(status=415, body="no JSON here")
                return
            choice = req.post_data if form else json.loads(req.post_data or "null")
            if isinstance(choice, dict):  # where, in which language, on which version
                self.vias.append(choice.pop("via", None))  # of the banner: checked on their own
                self.langs.append(choice.pop("lang", None))
                self.versions.append(choice.pop("shown", None))
            self.choices.append(choice)
            if self.fail_choice:
                await route.abort("connectionrefused")
            elif form:  # back to the page (the endpoint redirects: a route sees no redirect)
                self.loads += 1
                await route.fulfill(body=self.html, content_type=self.content_type)
            elif not isinstance(choice, dict) or not all(
                isinstance(choice.get(k, []), list) for k in ("categories", "services")
            ):
                await route.fulfill(status=400, body="unreadable choice")
            else:
                await route.fulfill(json=self.next_state)
        elif url.path == "/.consent/me/erase":
            self.erased.append(req.post_data)
            await route.fulfill(body="erased", content_type="text/plain")
        elif url.path == "/fragment":
            await route.fulfill(
                body=self.fragment,
                content_type=self.content_type,
                headers={"X-Consent-Mark": FRAGMENT_MARK},
            )
        elif url.path in self.pages:
            await route.fulfill(body=self.pages[url.path], content_type=self.content_type)
        elif url.path == "/":
            self.loads += 1
            await route.fulfill(body=self.html, content_type=self.content_type)
        else:
            await route.fulfill(status=404, body="not found")

    async def open(self, html: str) -> None:
        self.html = html
        await self.page.goto(BASE, wait_until="load")
        await self.page.wait_for_timeout(150)

    async def hosts(self) -> set[str]:
        return {urlsplit(u).hostname or "" for u in self.third_party}

    async def banner_hidden(self) -> bool:
        return await self.page.evaluate(
            "!document.getElementById('consentproxy').shadowRoot.querySelector('dialog').open"
        )

    async def choice_count(self, n: int) -> None:
        """Until the page has posted n choices (the route records them as they come)."""
        for _ in range(100):
            if len(self.choices) >= n:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{len(self.choices)} choices posted, not {n}")

    async def wait_hidden(self) -> None:
        await self.page.wait_for_function(
            "!document.getElementById('consentproxy').shadowRoot.querySelector('dialog').open"
        )

    async def focused(self, prop: str = "textContent") -> Any:
        """A property of the focused element, looking inside shadow roots."""
        return await self.page.evaluate(f"""(() => {{
            let a = document.activeElement;
            while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
            return a && a.{prop}; }})()""")


async def open_services(site: Site, category: str) -> None:
    await (
        site.page.locator(
            ".cp-category", has=site.page.locator(f"[data-consent-category={category}]")
        )
        .locator("summary")
        .click()
    )


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def banner_browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
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


@pytest_asyncio.fixture(loop_scope="session")
async def site_without_js(banner_browser: Browser) -> AsyncIterator[Site]:
    async for s in _site(banner_browser, java_script_enabled=False):
        yield s


# --- first layer -------------------------------------------------------------------------


async def test_nothing_third_party_before_a_choice_and_the_banner_is_first_in_line(
    site: Site,
) -> None:
    await site.open(page_html())
    await site.page.wait_for_load_state("networkidle")
    assert site.third_party == []
    assert not await site.banner_hidden()
    assert await site.page.evaluate("window.__ran") is None
    assert await site.page.locator("#content script[type='text/plain']").count() == 3
    # Non-modal (the page stays usable) but keyboard users land in it first.
    dialog = site.page.get_by_role("dialog", name="Your privacy choices")
    assert await dialog.is_visible()
    assert await dialog.get_attribute("aria-modal") is None
    assert await site.focused("id") == "cp-title"
    await site.page.keyboard.press("Tab")
    assert await site.focused("getAttribute('data-consent-action')") == "close"


async def test_accept_and_reject_look_alike_on_the_first_layer(narrow_site: Site) -> None:
    site = narrow_site
    await site.open(page_html(body="<p>A narrow legacy page.</p><button>site</button>"))
    accept = site.page.locator("[data-consent-action=accept-all]")
    reject = site.page.locator("[data-consent-action=reject-all]")
    a, r = await accept.bounding_box(), await reject.bounding_box()
    assert a and r and (a["width"], a["height"]) == (r["width"], r["height"])
    style = (
        "e => { const s = getComputedStyle(e); return [s.backgroundColor, s.color, "
        "s.fontSize, s.fontWeight, s.borderColor, s.fontFamily]; }"
    )
    assert await accept.evaluate(style) == await reject.evaluate(style)
    # The site's `button{background:red}` and `*{font-family:serif !important}` stay out...
    assert (await accept.evaluate(style))[0] != "rgb(255, 0, 0)"
    assert "serif" != (await accept.evaluate(style))[5]
    # ... and the banner's styles stay in: the site's own button is as the site made it.
    assert (
        await site.page.locator("#content button").evaluate(
            "e => getComputedStyle(e).backgroundColor"
        )
        == "rgb(255, 0, 0)"
    )
    # 320 px wide: no horizontal scrolling, the whole banner on screen.
    assert await site.page.evaluate("document.documentElement.scrollWidth") <= 320
    box = await site.page.locator("dialog").bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 320


async def test_no_box_is_pre_ticked_and_necessary_is_on_and_locked(site: Site) -> None:
    await site.open(page_html())
    boxes = await site.page.locator("input[type=checkbox]").evaluate_all(
        "bs => bs.map(b => [b.value, b.checked, b.disabled])"
    )
    assert ("necessary", True, True) in [tuple(b) for b in boxes]
    assert all(not checked for value, checked, disabled in boxes if not disabled)


async def test_accept_all_activates_everything_in_document_order(site: Site) -> None:
    await site.open(page_html(body=TRACKERS + GADGET + AUDITED_LINK))
    site.next_state = {"decided": True, "categories": ALL, "services": []}
    await site.page.click("text=Accept all")
    await site.page.wait_for_function("window.__ran === 1 && (window.__order || []).length === 3")
    await site.page.wait_for_load_state("networkidle")

    assert site.choices == [{"action": "accept-all", "categories": []}]
    assert await site.banner_hidden()
    # Scripts ran in document order although the first one was the slowest to load.
    assert await site.page.evaluate("window.__order") == ["gtm", "inline", "ga"]
    assert {
        "www.googletagmanager.com",
        "www.google-analytics.com",
        "www.youtube.com",
        "www.facebook.com",
        "evil.example",
    } <= await site.hosts()
    assert await site.page.locator("[data-consent-blocked]").count() == 0
    assert await site.page.locator("[data-consent-placeholder]").count() == 0
    assert await site.page.get_attribute("iframe", "src") == "https://www.youtube.com/embed/abc"
    assert await site.page.locator("iframe").is_visible()
    # Restored scripts keep their other attributes and get their original type back.
    assert await site.page.locator("script.site-inline:not([type])").count() == 1
    assert await site.page.locator("script[type='text/javascript'][src*=analytics]").count() == 1
    # Only the attributes the proxy renames are restored: an event handler it held among them
    # (a site's own data-consent-* on a tag it marks is renamed data-site-consent-*:
    # tests/adversarial/test_evasion.py).
    assert await site.page.get_attribute("#gadget", "onerror") == "window.__xss = 1"
    assert await site.page.get_attribute("#audited", "ping") == "https://www.google-analytics.com/p"
    assert await site.page.locator("input[data-consent-category]:checked").count() == 4
    assert site.loads == 1


async def test_reject_all_hides_and_loads_nothing(site: Site) -> None:
    await site.open(page_html())
    site.next_state = dict(NONE)
    await site.page.click("text=Reject all")
    await site.wait_hidden()
    await site.page.wait_for_load_state("networkidle")
    assert site.choices[0] == {"action": "reject-all", "categories": []}
    assert site.third_party == []
    assert site.loads == 1
    assert await site.page.locator("[data-consent-placeholder]").count() == 1
    assert await site.page.locator(".cp-manage").is_visible()


async def test_escape_or_the_close_control_refuses_an_open_question(site: Site) -> None:
    await site.open(page_html())
    site.next_state = dict(NONE)
    await site.page.keyboard.press("Escape")
    await site.wait_hidden()
    assert site.choices == [{"action": "reject-all", "categories": []}]
    # Later, with a choice made, closing changes nothing.
    await site.page.click(".cp-manage")
    await site.page.click("[data-consent-action=close]")
    await site.wait_hidden()
    assert len(site.choices) == 1

    await site.open(page_html())
    await site.page.click("[data-consent-action=close]")
    await site.wait_hidden()
    assert site.choices[-1] == {"action": "reject-all", "categories": []}
    assert site.vias == ["close", "close"]  # counted apart from "Reject all" (outcome close)


# --- second layer ------------------------------------------------------------------------


async def test_preferences_list_categories_with_their_services(site: Site) -> None:
    await site.open(page_html())
    await site.page.click("text=Customise")
    dialog = site.page.get_by_role("dialog")
    assert await dialog.get_attribute("aria-modal") == "true"
    assert await site.page.get_by_text("Counting visits.").is_visible()
    await open_services(site, "social")  # youtube, vimeo
    youtube = site.page.locator("li", has=site.page.locator("[data-consent-service=youtube]"))
    text = await youtube.inner_text()
    assert "YouTube" in text and "Plays the videos" in text and "6 months" in text
    assert "Google" in text  # the vendor, from the catalog
    assert await youtube.get_by_role("link", name="Privacy policy").count() == 1


async def test_save_posts_checked_categories_and_services(site: Site) -> None:
    await site.open(page_html())
    await site.page.click("text=Customise")
    await site.page.check("input[data-consent-category=analytics]")
    await open_services(site, "social")
    await site.page.check("input[data-consent-service=youtube]")
    site.next_state = {"decided": True, "categories": ["analytics"], "services": ["youtube"]}
    await site.page.click("text=Save my choices")
    await site.page.wait_for_function("(window.__order || []).length === 3")
    await site.page.wait_for_load_state("networkidle")
    assert site.choices[0] == {
        "action": "save",
        "categories": ["analytics"],
        "services": ["youtube"],
    }
    assert await site.hosts() == {
        "www.googletagmanager.com",
        "www.google-analytics.com",
        "www.youtube.com",
    }
    assert await site.page.locator("[data-consent-blocked]").count() == 1  # the pixel


async def test_a_category_switch_sets_its_services_and_follows_them(site: Site) -> None:
    await site.open(page_html())
    await site.page.click("text=Customise")
    await open_services(site, "social")
    social = site.page.locator("input[data-consent-category=social]")
    await social.check()
    assert (
        await site.page.locator("input[data-consent-service-category=social]:checked").count() == 2
    )
    await site.page.uncheck("input[data-consent-service=vimeo]")
    assert not await social.is_checked()
    await site.page.check("input[data-consent-service=vimeo]")
    assert await social.is_checked()


async def test_manage_reopens_as_a_modal_and_escape_gives_focus_back(site: Site) -> None:
    await site.open(page_html(NONE))
    assert await site.banner_hidden()
    manage = site.page.locator(".cp-manage")
    assert await manage.is_visible()
    await manage.focus()
    await site.page.keyboard.press("Enter")
    assert not await site.banner_hidden()
    assert await site.page.get_by_role("dialog").get_attribute("aria-modal") == "true"
    assert await site.focused("value") == "analytics"
    # Focus stays inside while the preferences are open.
    for _ in range(40):
        await site.page.keyboard.press("Tab")
        assert await site.page.evaluate("document.activeElement.id") == "consentproxy", (
            "focus left the dialog"
        )
    await site.page.keyboard.press("Escape")
    assert await site.banner_hidden()
    assert await site.focused("className") == "cp-manage"
    # A link the site itself marks works too, and does not navigate.
    await site.page.click("#site-open")
    assert not await site.banner_hidden()
    assert site.page.url == BASE
    await site.page.keyboard.press("Escape")
    assert await site.banner_hidden()
    assert await site.focused("id") == "site-open"
    assert site.choices == []


async def test_keyboard_only_from_the_page_to_a_saved_choice(site: Site) -> None:
    await site.open(page_html())
    await site.page.focus("#site-open")  # start in the page, tab into the banner
    for _ in range(12):
        await site.page.keyboard.press("Tab")
        if await site.focused("localName") == "summary":
            break
    else:
        pytest.fail("Customise never got focus")
    await site.page.keyboard.press("Enter")
    assert await site.focused("value") == "analytics"
    await site.page.keyboard.press("Space")
    site.next_state = {"decided": True, "categories": ["analytics"], "services": []}
    for _ in range(20):
        await site.page.keyboard.press("Tab")
        if await site.focused("textContent") == "Save my choices":
            break
    await site.page.keyboard.press("Enter")
    await site.wait_hidden()
    assert site.choices == [{"action": "save", "categories": ["analytics"], "services": []}]


async def test_focus_outline_is_visible(site: Site) -> None:
    await site.open(page_html())
    for _ in range(6):
        await site.page.keyboard.press("Tab")
        if await site.focused("textContent") == "Accept all":
            break
    outline = await site.page.evaluate("""(() => {
        let a = document.activeElement;
        while (a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
        const s = getComputedStyle(a); return [s.outlineStyle, parseFloat(s.outlineWidth)]; })()""")
    assert outline[0] != "none" and outline[1] >= 2


# --- what changes the page ---------------------------------------------------------------


async def test_allowed_service_is_activated(site: Site) -> None:
    await site.open(page_html({"decided": True, "categories": [], "services": ["youtube"]}))
    await site.page.wait_for_load_state("networkidle")
    assert await site.hosts() == {"www.youtube.com"}
    assert await site.page.locator("[data-consent-placeholder]").count() == 0


async def test_withdrawing_reloads_and_clears_the_cookies_and_storage_the_page_can_reach(
    site: Site,
) -> None:
    """And the localStorage and sessionStorage entries named as the withdrawn category's
    cookies (storing on the device needs consent as a cookie does); an entry nothing names
    (the site's own state) stays."""
    state = {"decided": True, "categories": ["analytics"], "services": []}
    await site.open(page_html(state, body="<p>analytics already running</p>"))
    await site.page.evaluate("""() => {
        document.cookie = '_ga=1; path=/';
        document.cookie = '_gid=2; path=/; domain=legacy.test';
        document.cookie = 'PHPSESSID=keep; path=/';
        localStorage.setItem('_ga', 'GA1.1'); localStorage.setItem('_gid', 'x');
        sessionStorage.setItem('_ga', 'GA1.2'); localStorage.setItem('cart', '3');
        sessionStorage.setItem('step', '2');
    }""")
    assert {"_ga", "_gid"} <= set(await jar_with(site.page.context, "_ga", "_gid"))
    site.next_state = dict(NONE)
    site.html = page_html(NONE, body="<p>reloaded</p>")
    await site.page.click(".cp-manage")
    async with site.page.expect_navigation():
        await site.page.click("text=Reject all")
    await site.page.wait_for_selector("text=reloaded")
    assert site.loads == 2
    assert site.choices[0] == {"action": "reject-all", "categories": ["analytics"]}
    names = {c["name"] for c in await site.page.context.cookies()}
    assert "_ga" not in names and "_gid" not in names
    kept = await site.page.evaluate(
        "() => [Object.keys(localStorage).sort(), Object.keys(sessionStorage).sort()]"
    )
    assert [[k for k in kept[0] if not k.startswith("consentproxy")], kept[1]] == [
        ["cart"],
        ["step"],
    ]


async def narrowed_in_place(site: Site) -> str:
    """The message shown when a grant (no reload) is saved narrowed."""
    await site.open(page_html())
    site.next_state = {"decided": True, "categories": [], "services": ["vimeo"], "narrowed": True}
    await site.page.click("text=Customise")
    await open_services(site, "social")
    await site.page.check("input[data-consent-service=vimeo]")
    await site.page.click("text=Save my choices")
    alert = site.page.locator(".cp-error[role=alert]")
    await alert.wait_for()
    return await alert.inner_text()


async def test_a_choice_saved_narrowed_is_said_after_the_reload_or_in_place(site: Site) -> None:
    """A choice too long for the consent cookie is saved with services left off (the
    endpoint answers "narrowed": true): the visitor is told, the preferences open as saved,
    on the page a withdrawal reloads (once: not on the next page) or in place."""
    message = TEXTS["en"]["narrowed"]
    await site.open(page_html({"decided": True, "categories": ["social"], "services": []}))
    site.next_state = {"decided": True, "categories": [], "services": [], "narrowed": True}
    site.html = page_html(NONE, body="<p>reloaded</p>")
    await site.page.click(".cp-manage")
    await open_services(site, "social")
    await site.page.uncheck("input[data-consent-service=youtube]")
    async with site.page.expect_navigation():
        await site.page.click("text=Save my choices")
    await site.page.wait_for_selector("text=reloaded")
    alert = site.page.locator(".cp-error[role=alert]")
    await alert.wait_for()
    assert await alert.inner_text() == message
    assert await site.page.evaluate(
        "document.getElementById('consentproxy').shadowRoot.querySelector('dialog:modal') !== null"
    )
    await site.page.reload()
    await site.page.wait_for_selector("text=reloaded")
    assert await alert.count() == 0 and await site.banner_hidden()
    assert await narrowed_in_place(site) == message and site.loads == 4  # (none more)


async def test_the_narrowed_message_is_for_the_page_that_chose_and_said_without_storage(
    site: Site,
) -> None:
    """The flag kept across the reload was taken by whichever same-origin document started
    first: a small frame of the site with the banner ate it, the page said nothing. It holds
    the page's address now, read by the top document only. And with storage refused the
    in-place path (no reload) said nothing: it is said from memory now."""
    message = TEXTS["en"]["narrowed"]
    alert = site.page.locator(".cp-error[role=alert]")
    site.pages["/widget"] = page_html(body="<p>store locator</p>")
    await site.open(page_html({"decided": True, "categories": [], "services": []}, "<p>x</p>"))
    flag = "sessionStorage.getItem('consentproxy:narrowed')"
    await site.page.evaluate("sessionStorage.setItem('consentproxy:narrowed', location.href)")
    await site.page.evaluate("""document.body.append(Object.assign(
        document.createElement('iframe'), {src: '/widget', width: 420, height: 260}))""")
    while len(site.page.frames) < 2:
        await site.page.wait_for_timeout(50)
    widget = site.page.frames[1]
    # (its banner started: undecided, it closed its first layer just before reading the
    # flag, or it took the flag and said the message)
    await widget.wait_for_function("""(() => {
        const r = document.getElementById('consentproxy'), s = r && r.shadowRoot;
        return s && (!s.querySelector('dialog').open || s.querySelector('.cp-error')); })()""")
    assert await site.page.evaluate(flag) == BASE  # (the frame left it)
    await site.page.reload()
    await alert.wait_for()
    assert await alert.inner_text() == message and await site.page.evaluate(flag) is None
    await site.page.add_init_script("""Object.defineProperty(window, 'sessionStorage',
        {get() { throw new DOMException('refused', 'SecurityError'); }})""")
    assert await narrowed_in_place(site) == message


async def test_the_narrowed_flag_is_taken_by_the_next_top_page_whatever_its_address(
    site: Site,
) -> None:
    """The flag held the page's whole address: a #hash set before the banner started lost
    the message, and a flag of another address (a router's replaceState dropping a query)
    lingered until a later page had that exact one, which then said a stale message."""
    message = TEXTS["en"]["narrowed"]
    alert = site.page.locator(".cp-error[role=alert]")
    flag = "sessionStorage.getItem('consentproxy:narrowed')"
    await site.open(page_html({"decided": True, "categories": [], "services": []}, "<p>x</p>"))
    await site.page.evaluate("sessionStorage.setItem('consentproxy:narrowed', location.href)")
    await site.page.evaluate("location.hash = 'reviews'")
    await site.page.reload()
    await alert.wait_for()
    assert await alert.inner_text() == message and await site.page.evaluate(flag) is None
    other = "location.href.split('#')[0] + '?page=2'"
    await site.page.evaluate(f"sessionStorage.setItem('consentproxy:narrowed', {other})")
    await site.page.reload()
    await site.page.wait_for_function(f"{flag} === null")
    assert await alert.count() == 0


async def test_the_guard_drops_cookie_writes_until_consent(site: Site) -> None:
    """(a first Max-Age of 0, a malformed one, or a past Expires read as a deletion: the
    browser takes the last valid Max-Age, over any Expires, and kept _ga for a year)"""
    await site.open(page_html(body="<p>x</p>"))
    await site.page.evaluate("document.cookie = '_ga=1; path=/'; document.cookie = 'x=1'")
    assert await site.page.evaluate("document.cookie") == ""  # unknown cookies: blocked
    for attributes in (
        "max-age=0; max-age=31536000",
        "max-age=031536000",
        "max-age=-1x",
        "expires=Thu, 01 Jan 1970 00:00:00 GMT; max-age=31536000",
        # (helper-88: each read here as a deletion, kept 400 days or for the session by the jar)
        "expires=Tue, 01 Jan 69 00:00:00 GMT",
        "expires=Thu, 01 Jan 1970 00:00:00 GMT; max-age=+50000000",
        "expires=Thu, 01 Jan 1970",
    ):
        await site.page.evaluate(f"document.cookie = '_ga=GA1.2.3; {attributes}; path=/'")
        assert await site.page.evaluate("document.cookie") == "", attributes
    # A refused cookie may be emptied: a site's own deletion of one goes through.
    await site.page.context.add_cookies([{"name": "_gid", "value": "1", "url": BASE}])
    await site.page.evaluate("document.cookie = '_gid=; expires=Thu, 01 Jan 1970 00:00:00 GMT'")
    assert "_gid" not in {c["name"] for c in await site.page.context.cookies()}
    await site.page.evaluate("document.cookie = 'PHPSESSID=1; path=/'")  # (necessary)
    await site.page.evaluate("document.cookie = 'PHPSESSID=1; max-age=5; max-age=0; path=/'")
    assert await site.page.evaluate("document.cookie") == ""  # (a deletion goes through)
    # The consent cookie is the proxy's (HttpOnly): a script's, minted anywhere, granted
    # what the visitor never chose (helper-99).
    name = CONFIG.consent.cookie_name
    await site.page.evaluate(f"document.cookie = '{name}=1.minted.elsewhere; path=/'")
    assert await site.page.evaluate("document.cookie") == ""


async def test_adding_a_category_does_not_reload(site: Site) -> None:
    state = {"decided": True, "categories": ["analytics"], "services": []}
    body = TRACKERS.replace(
        'data-consent-blocked-category="analytics"', 'data-consent-blocked-category="x-unused"'
    )
    await site.open(page_html(state, body=body))
    site.next_state = {"decided": True, "categories": ALL, "services": []}
    await site.page.click(".cp-manage")
    await site.page.click("text=Accept all")
    await site.page.wait_for_selector("iframe[src]", state="attached")
    assert site.loads == 1


async def test_accept_all_does_not_reload_for_services_it_covers(site: Site) -> None:
    await site.open(page_html({"decided": True, "categories": [], "services": ["youtube"]}))
    await site.page.wait_for_selector("iframe[src]", state="attached")
    site.next_state = {"decided": True, "categories": ALL, "services": []}
    await site.page.click(".cp-manage")
    await site.page.click("text=Accept all")
    await site.page.wait_for_function("(window.__order || []).length === 3")
    assert site.loads == 1


ORDERED = """
<script type="text/plain" data-consent-mark="page-mark-0123" data-consent-blocked="google-analytics" data-consent-blocked-category="analytics"
  defer data-consent-src="https://www.google-analytics.com/deferred.js"></script>
<script type="text/plain" data-consent-mark="page-mark-0123" data-consent-blocked="google-tag-manager" data-consent-blocked-category="analytics"
  data-consent-src="https://www.googletagmanager.com/gtm.js"></script>
<object data-consent-mark="page-mark-0123" data-consent-blocked="youtube" data-consent-blocked-category="social"
  data-consent-data="https://www.youtube.com/v/abc" width=400 height=200></object>
<noscript><img src="https://www.facebook.com/tr?id=noscript"></noscript>
"""


async def test_defer_runs_after_classic_scripts_objects_load_noscript_stays_inert(
    site: Site,
) -> None:
    await site.open(page_html(body=ORDERED))
    site.next_state = {"decided": True, "categories": ALL, "services": []}
    await site.page.click("text=Accept all")
    await site.page.wait_for_function("(window.__order || []).length === 2")
    await site.page.wait_for_load_state("networkidle")
    assert await site.page.evaluate("window.__order") == ["gtm", "ga"]  # deferred one last
    assert "www.youtube.com" in await site.hosts()
    assert not any("noscript" in u for u in site.third_party)


LATER = (
    '<div><iframe data-consent-mark="{mark}" data-consent-blocked="youtube"'
    ' data-consent-blocked-category="social" data-consent-src="https://www.youtube.com/embed/late">'
    '</iframe><img data-consent-mark="{mark}" data-consent-blocked="facebook-pixel"'
    ' data-consent-blocked-category="advertising" data-consent-src="https://www.facebook.com/tr?id=2">'
    "</div>"
)


async def test_elements_inserted_later_are_activated_when_allowed(site: Site) -> None:
    await site.open(
        page_html(
            {"decided": True, "categories": ["social"], "services": []},
            body="<p>no trackers yet</p>",
        )
    )
    assert site.third_party == []
    # A fragment the page fetches (the proxy rewrote it and sent its mark in a header).
    site.fragment = LATER.format(mark=FRAGMENT_MARK)
    await site.page.evaluate("""() => fetch('/fragment').then(r => r.text()).then(html => {
      document.getElementById('content').innerHTML += html; })""")
    await site.page.wait_for_selector(
        "iframe[src='https://www.youtube.com/embed/late']", state="attached"
    )
    await site.page.wait_for_load_state("networkidle")
    assert await site.hosts() == {"www.youtube.com"}
    assert await site.page.locator("img[data-consent-blocked]").count() == 1
    # Likewise a blocked embed inserted later gets its placeholder.
    site.fragment = (
        '<embed data-consent-mark="fragment-mark-0123" data-consent-blocked="facebook-pixel"'
        ' data-consent-blocked-category="advertising"'
        ' data-consent-src="https://www.facebook.com/plugin" width="200" height="100">'
    )
    await site.page.evaluate("""() => fetch('/fragment').then(r => r.text()).then(html => {
      document.body.insertAdjacentHTML('beforeend', html); })""")
    await site.page.wait_for_selector("[data-consent-placeholder=facebook-pixel]")


async def test_a_single_page_app_replacing_the_body_keeps_the_banner(site: Site) -> None:
    await site.open(page_html(NONE, body="<p>home</p>"))
    await site.page.evaluate("""() => {
        history.pushState({}, '', '/next');
        document.body.innerHTML = '<main><p>next view</p></main>';
    }""")
    await site.page.wait_for_function("document.getElementById('consentproxy') !== null")
    await site.page.click(".cp-manage")
    assert not await site.banner_hidden()


async def test_consent_mode_default_comes_first_then_updates_follow_the_choice(site: Site) -> None:
    await site.open(page_html(body="<p>x</p>"))
    consent = "() => window.dataLayer.filter(a => a[0] === 'consent').map(a => [a[1], a[2]])"
    first = await site.page.evaluate(consent)
    assert first[0][0] == "default" and len(first) == 1
    default = first[0][1]
    assert default.pop("wait_for_update") == 500
    assert default.pop("security_storage") == default.pop("functionality_storage") == "granted"
    assert set(default.values()) == {"denied"}
    site.next_state = {"decided": True, "categories": ["analytics"], "services": []}
    await site.page.click("text=Customise")
    await site.page.check("input[data-consent-category=analytics]")
    await site.page.click("text=Save my choices")
    await site.wait_hidden()
    update = (await site.page.evaluate(consent))[-1]
    assert update[0] == "update"
    assert update[1]["analytics_storage"] == "granted"
    assert update[1]["ad_storage"] == update[1]["ad_user_data"] == "denied"


async def test_each_choice_says_where_it_was_given(site: Site) -> None:
    await site.open(page_html(NONE))
    site.next_state = dict(NONE)
    await site.page.click(".cp-manage")
    await site.page.click("text=Save my choices")
    await site.wait_hidden()
    await site.page.get_by_role("button", name="Always allow YouTube").click()
    await site.choice_count(2)
    await site.open(page_html())
    await site.page.click("text=Reject all")
    await site.choice_count(3)
    assert site.vias == ["preferences", "placeholder", "banner"]


async def test_a_changed_policy_asks_again_and_closing_keeps_what_holds(site: Site) -> None:
    state = {"decided": True, "categories": ["analytics"], "services": ["youtube"]}
    s = ConsentState(
        True, frozenset(["analytics"]), frozenset(["youtube"]), decided_at=1, reask=True
    )  # (a choice of an older policy has a date: UNREAD, cookies planted by the dozen, none)
    html = page_html(state).replace(
        BANNER.render(consent(state), "en", "/", mark=MARK).decode(),
        BANNER.render(s, "en", "/", mark=MARK).decode(),
    )
    await site.open(html)
    assert not await site.banner_hidden()
    assert "policy has changed" in await site.page.locator("#cp-reask").inner_text()
    site.next_state = state
    await site.page.keyboard.press("Escape")
    await site.wait_hidden()
    assert site.choices == [
        {"action": "save", "categories": ["analytics"], "services": ["youtube"]}
    ]


async def test_the_page_api_and_event_tell_site_code_about_changes(site: Site) -> None:
    await site.open(page_html(body="<p>x</p>"))
    await site.page.evaluate("""() => {
        window.__events = []; window.__calls = [];
        document.addEventListener('consent:change', e => __events.push(e.detail));
        window.__off = window.consentproxy.onChange(s => __calls.push(s.categories));
    }""")
    assert await site.page.evaluate("window.consentproxy.get()") == UNDECIDED
    site.next_state = {"decided": True, "categories": ALL, "services": []}
    await site.page.click("text=Accept all")
    await site.page.wait_for_function("window.__events.length === 1")
    assert await site.page.evaluate("window.__events[0]") == site.next_state
    assert await site.page.evaluate("window.__calls") == [ALL]
    assert (await site.page.evaluate("window.consentproxy.get()"))["categories"] == ALL
    await site.page.evaluate("window.consentproxy.open()")
    assert not await site.banner_hidden()
    assert await site.page.get_by_role("dialog").get_attribute("aria-modal") == "true"


async def test_a_choice_says_the_banners_language(site: Site) -> None:
    await site.open(page_html(lang="de"))
    await site.page.click("[data-consent-action=reject-all]")
    await site.choice_count(1)
    assert site.langs == ["de"]
    assert site.versions == ["version-shown"]  # (the version of the banner it shows)


async def test_the_preferences_erase_button_posts_its_own_form_not_a_choice(site: Site) -> None:
    await site.open(page_html(DECIDED_ANALYTICS, using=KEEPING_RECORDS))
    await site.page.click("#site-open")
    assert await site.page.locator(".cp-records a").get_attribute("href") == "/.consent/me"
    async with site.page.expect_navigation():
        await site.page.get_by_role("button", name="Erase my records and my choice").click()
    assert site.erased == ["return=%2F"] and site.choices == []


# --- placeholders --------------------------------------------------------------------------


async def test_placeholder_has_the_embed_size_and_says_why(site: Site) -> None:
    await site.open(page_html(NONE))
    ph = site.page.locator("[data-consent-placeholder]")
    assert await ph.count() == 1  # the 1x1 pixel gets none, it is an <img> anyway
    text = await site.page.locator("[data-consent-placeholder] .cp-ph").inner_text()
    # The catalog's own words for the service, where it has them in the page's language.
    youtube = next(s for s in CONFIG.services if s.name == "youtube")
    assert youtube.placeholder["en"] in text and "Always allow YouTube" in text
    box = await ph.bounding_box()  # the iframe's box: 500x300 and its default 2px border
    assert box and (box["width"], box["height"]) == (504, 304)
    assert not await site.page.locator("iframe").is_visible()  # the empty frame is hidden
    assert (
        await site.page.evaluate(
            "document.querySelector('[data-consent-placeholder]').nextElementSibling.localName"
        )
        == "iframe"
    )


async def test_load_once_activates_only_that_embed_and_records_nothing(site: Site) -> None:
    body = TRACKERS + TRACKERS.replace("embed/abc", "embed/second")
    await site.open(page_html(NONE, body=body))
    async with site.page.expect_response("https://www.youtube.com/embed/abc"):  # (recorded)
        await (
            site.page.locator("[data-consent-placeholder]")
            .first.get_by_role("button", name="Load this once")
            .click()
        )
    # (its frame loaded, not networkidle: Playwright can lose that for a frame inserted late,
    # microsoft/playwright#42598)
    frame = await (await site.page.wait_for_selector("iframe[src$='/embed/abc']")).content_frame()
    assert frame is not None
    await frame.wait_for_load_state()
    assert [u for u in site.third_party if "youtube" in u] == ["https://www.youtube.com/embed/abc"]
    assert site.choices == []
    assert await site.page.locator("[data-consent-placeholder]").count() == 1


async def test_always_allow_records_the_service(site: Site) -> None:
    await site.open(
        page_html({"decided": True, "categories": ["analytics"], "services": ["vimeo"]})
    )
    site.next_state = {
        "decided": True,
        "categories": ["analytics"],
        "services": ["vimeo", "youtube"],
    }
    await site.page.get_by_role("button", name="Always allow YouTube").click()
    await site.page.wait_for_selector("iframe[src]", state="attached")
    assert site.choices == [
        {"action": "save", "categories": ["analytics"], "services": ["vimeo", "youtube"]}
    ]
    assert await site.page.locator("[data-consent-placeholder]").count() == 0
    assert site.loads == 1


async def test_placeholder_texts_follow_lang(site: Site) -> None:
    await site.open(page_html(lang="fr"))
    text = await site.page.locator("[data-consent-placeholder] .cp-ph").inner_text()
    # The catalog's own words for the service, in French.
    assert "Cette vidéo YouTube est masquée" in text and "Always" not in text
    assert "Toujours autoriser YouTube" in text
    assert await site.page.locator("[data-consent-action=reject-all]").inner_text() == (
        "Tout refuser"
    )


# --- robustness and accessibility --------------------------------------------------------


async def test_network_error_keeps_the_banner_with_a_message(site: Site) -> None:
    await site.open(page_html())
    site.fail_choice = True
    await site.page.click("text=Accept all")
    alert = site.page.get_by_role("alert")
    await alert.wait_for()
    assert "could not be saved" in await alert.inner_text()
    assert not await site.banner_hidden()
    assert site.third_party == []
    # And a retry works and clears the message.
    site.fail_choice = False
    site.next_state = dict(NONE)
    await site.page.click("text=Reject all")
    await site.wait_hidden()
    assert not await alert.is_visible()


async def test_without_the_banner_markup_nothing_happens(site: Site) -> None:
    await site.open(page_html(banner=False))
    await site.page.wait_for_load_state("networkidle")
    assert site.third_party == []
    assert await site.page.locator("[data-consent-blocked]").count() == 6
    assert await site.page.locator("[data-consent-placeholder]").count() == 0


async def test_hostile_site_css_cannot_hide_the_banner(site: Site) -> None:
    css = SITE_CSS + " div{display:none !important} #consentproxy{opacity:0 !important}"
    await site.open(page_html(body="<p>x</p>", css=css))
    assert await site.page.locator("[data-consent-action=accept-all]").is_visible()
    assert (
        await site.page.locator("#consentproxy").evaluate("e => getComputedStyle(e).opacity") == "1"
    )


async def test_works_in_quirks_mode(site: Site) -> None:
    await site.open(page_html(doctype=""))
    assert await site.page.evaluate("document.compatMode") == "BackCompat"
    site.next_state = {"decided": True, "categories": ALL, "services": []}
    await site.page.click("text=Accept all")
    await site.page.wait_for_function("(window.__order || []).length === 3")


async def test_works_in_real_xhtml_without_declarative_shadow_dom(site: Site) -> None:
    s = consent(UNDECIDED)
    site.content_type = "application/xhtml+xml"
    await site.open(
        '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 '
        'Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n'
        '<html xmlns="http://www.w3.org/1999/xhtml" lang="en"><head><title>Old</title>'
        + BANNER.script_tag(s, mark=MARK).decode()
        + "</head><body><p>XHTML</p>"
        + BANNER.render(s, "en", "/", mark=MARK).decode()
        + "</body></html>"
    )
    assert await site.page.evaluate("document.contentType") == "application/xhtml+xml"
    assert await site.page.locator("[data-consent-action=reject-all]").is_visible()
    site.next_state = dict(NONE)
    await site.page.click("[data-consent-action=reject-all]")
    await site.wait_hidden()
    assert site.choices == [{"action": "reject-all", "categories": []}]


async def test_without_javascript_the_banner_shows_and_posts_a_form(site_without_js: Site) -> None:
    site = site_without_js
    await site.open(page_html())
    assert await site.page.locator("[data-consent-action=reject-all]").is_visible()
    await site.page.click("text=Customise")
    assert await site.page.locator("input[data-consent-category=analytics]").is_visible()
    await site.page.click("text=Reject all")
    # the language read, the version shown
    assert site.choices == ["return=%2F&lang=en&shown=version-shown&action=reject-all"]


async def test_axe_finds_no_violations(site: Site, narrow_site: Site) -> None:
    await site.open(page_html(body='<input id="unlabelled">'))
    # The checker checks: the site's unlabelled field is caught, the banner is clean.
    assert [v["id"] for v in await axe_violations(site.page, ["#content"])] == ["label"]
    assert await axe_violations(site.page, ["#consentproxy"]) == []
    await site.page.click("text=Customise")
    await open_services(site, "social")
    assert await axe_violations(site.page, ["#consentproxy"]) == []
    await site.page.keyboard.press("Escape")
    site.next_state = dict(NONE)
    await site.wait_hidden()
    assert await axe_violations(site.page, ["#consentproxy", "[data-consent-placeholder]"]) == []
    await narrow_site.open(page_html(lang="fr"))
    assert await axe_violations(narrow_site.page, ["#consentproxy"]) == []


async def test_known_trackers_past_those_listed_are_one_more_item_axe_accepts(site: Site) -> None:
    """A category lists the first KNOWN_LISTED known trackers met and "+ N" for the rest."""
    policy = Policy(CONFIG)
    for entry in [e for e in builtin_trackers() if e.category == "analytics"][: KNOWN_LISTED + 5]:
        policy.known_service(entry)
    await site.open(page_html(using=Banner(CONFIG, policy)))
    await site.page.click("[data-consent-action=customize]")
    await open_services(site, "analytics")
    more = site.page.locator(".cp-more")
    assert await more.is_visible() and await more.inner_text() == "+ 5"
    assert await site.page.locator(".cp-known").count() == KNOWN_LISTED
    assert await axe_violations(site.page, ["#consentproxy"]) == []


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_axe_finds_no_violations_in_every_language(site: Site, lang: str) -> None:
    await site.open(page_html(lang=lang))
    assert await site.page.locator("#consentproxy").get_attribute("lang") == lang
    assert await axe_violations(site.page, ["#consentproxy"]) == []
    await site.page.click("[data-consent-action=customize]")
    await open_services(site, "social")
    assert await axe_violations(site.page, ["#consentproxy"]) == []
    await site.open(page_html(NONE, lang=lang))
    await site.page.locator("[data-consent-placeholder]").wait_for()
    assert await axe_violations(site.page, ["#consentproxy", "[data-consent-placeholder]"]) == []


# --- hostile pages ---------------------------------------------------------------------------


async def test_a_page_removing_body_children_it_did_not_make_does_not_fight_the_banner(
    site: Site,
) -> None:
    # Its observer removes the banner from <body> as soon as it is there: re-appending it to
    # <body> would loop forever (a hung tab); after <body> the page's script does not see it.
    police = (
        "<script>document.addEventListener('DOMContentLoaded', function () {"
        " var kill = function () { [].slice.call(document.body.children).forEach(function (n) {"
        " if (n.id !== 'content' && n.localName !== 'script') n.remove(); }); };"
        " kill(); new MutationObserver(kill).observe(document.body, {childList: true}); });"
        "</script>"
    )
    site.html = page_html(body="<p>x</p>" + police)
    await site.page.goto(BASE, wait_until="load")
    assert await site.page.evaluate(
        "document.getElementById('consentproxy').parentNode === document.documentElement"
    )
    assert not await site.banner_hidden()


async def test_a_base_elsewhere_does_not_send_the_choice_there(site: Site) -> None:
    base = "<base href='https://other.example/site/'>"
    await site.open(page_html(body="<p>x</p>").replace("<style>", base + "<style>", 1))
    assert await site.page.evaluate("document.baseURI") == "https://other.example/site/"
    shadow = "document.getElementById('consentproxy').shadowRoot"
    # Where the no-JS form posts and the Manage link goes, as the browser resolves them.
    urls = await site.page.evaluate(f"""[...{shadow}.querySelectorAll('[action], [href]')]
        .map(e => new URL(e.getAttribute('action') || e.getAttribute('href'), document.baseURI)
        .href)""")
    assert BASE + ".consent/choice" in urls
    assert any(u.startswith(BASE + ".consent/preferences") for u in urls)
    assert not [u for u in urls if "other.example" in u]
    site.next_state = dict(NONE)
    await site.page.click("text=Reject all")
    await site.wait_hidden()
    assert site.choices == [{"action": "reject-all", "categories": []}]
    assert "other.example" not in await site.hosts()


async def reject_with(site: Site, script: str) -> None:
    """Reject all on a page whose script (run right after the guard) tampered with globals."""
    await site.open(
        page_html(body="<p>x</p>").replace("<style>", f"<script>{script}</script><style>", 1)
    )
    site.next_state = dict(NONE)
    await site.page.click("text=Reject all")
    await site.choice_count(1)
    assert site.choices == [{"action": "reject-all", "categories": []}]
    await site.wait_hidden()


async def test_prototype_js_to_json_does_not_spoil_the_choice(site: Site) -> None:
    # Prototype.js: arrays serialise as strings, a body the endpoint refuses.
    await reject_with(
        site,
        "Array.prototype.toJSON = function () { var r = [];"
        " for (var i = 0; i < this.length; i++) r.push(JSON.stringify(this[i]));"
        " return '[' + r.join(', ') + ']'; };",
    )


async def test_a_fetch_wrapper_dropping_the_options_does_not_spoil_the_choice(site: Site) -> None:
    await reject_with(site, "var f = window.fetch; window.fetch = function (u) { return f(u); };")


async def test_inherited_request_options_are_not_read(site: Site) -> None:
    await reject_with(
        site,
        "Object.prototype.mode = 'no-cors'; Object.defineProperty(Object.prototype, 'signal',"
        " {get: function () { return AbortSignal.abort(); }, configurable: true});",
    )


async def test_a_refused_json_choice_falls_back_to_the_form(site: Site) -> None:
    await site.open(page_html(body="<p>x</p>"))
    site.refuse_json = True
    async with site.page.expect_navigation():
        await site.page.click("text=Reject all")
    assert site.choices == ["return=%2F&lang=en&shown=version-shown&action=reject-all"]
    assert site.loads == 2


REJECT_BOX = """(() => {
    const sr = document.getElementById('consentproxy').shadowRoot;
    const b = sr.querySelector('dialog .cp-buttons [data-consent-action=reject-all]');
    const r = b.getBoundingClientRect(), x = r.left + r.width / 2, y = r.top + r.height / 2;
    let hit = document.elementFromPoint(x, y);
    if (hit && hit.shadowRoot) hit = hit.shadowRoot.elementFromPoint(x, y);
    return {x, y, hit: hit === b, inside: r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight
            && r.right <= innerWidth};
})()"""


async def test_a_widget_at_the_highest_z_index_does_not_cover_the_banner(site: Site) -> None:
    widget = (
        "<footer style='position:fixed;left:0;right:0;bottom:0;height:260px;"
        "z-index:2147483647;background:#eee'>Chat with us</footer>"
    )
    await site.open(page_html(body=widget))
    box = await site.page.evaluate(REJECT_BOX)
    assert box["hit"]
    site.next_state = dict(NONE)
    await site.page.mouse.click(box["x"], box["y"])
    await site.wait_hidden()
    assert site.choices == [{"action": "reject-all", "categories": []}]


@pytest.mark.parametrize(
    "css",
    [
        "body{transform:translateZ(0)}",
        "body{contain:paint}",
        "html{filter:blur(3px)}",
        "body{opacity:0 !important}",
        # The host is a popover now: a site's popover styles reach it (each makes it the
        # containing block of the fixed dialog, a 0x0 box at the top).
        "[popover]{translate:0 -8px;transition:translate .2s}",
        "[popover]{will-change:transform}",
        "[popover]{scale:1.01}",
        "[popover]{rotate:1deg}",
        "[popover]{perspective:100px}",
        "[popover]{backdrop-filter:blur(1px)}",
        "[popover]{container-type:size}",
        "[popover]{content-visibility:auto}",
    ],
)
async def test_a_transformed_or_hidden_body_leaves_the_banner_in_view(site: Site, css: str) -> None:
    long = "<div style='height:3000px'>tall</div>"
    await site.open(page_html(body=long, css=css))
    box = await site.page.evaluate(REJECT_BOX)
    assert box["inside"] and box["hit"]
    # Out of <body> (its transform, contain, opacity) and in the top layer (html's filter).
    assert await site.page.evaluate("""(() => {
        const root = document.getElementById('consentproxy');
        return !document.body.contains(root) && root.matches(':popover-open'); })()""")


async def test_a_site_wide_backdrop_rule_does_not_dim_the_page_under_the_banner(
    site: Site,
) -> None:
    """The host stays an open popover (Manage cookies lives in it): a site's unscoped
    ::backdrop rule made its backdrop grey and blur the whole page for good."""
    await site.open(page_html(css="::backdrop{background:rgba(0,0,0,.6)}"))
    assert (
        await site.page.evaluate("""getComputedStyle(document.getElementById('consentproxy'),
        '::backdrop').display""")
        == "none"
    )


async def test_inert_siblings_of_the_app_leave_the_banner_usable(site: Site) -> None:
    inert = (
        "<script>addEventListener('load', function () { [].slice.call(document.body.children)"
        ".forEach(function (e) { if (e.id !== 'content') e.inert = true; }); });</script>"
    )
    await site.open(page_html(body="<p>x</p>" + inert))
    site.next_state = dict(NONE)
    await site.page.click("text=Reject all")
    await site.wait_hidden()


FRAME_OPEN = """(() => { const r = document.getElementById('consentproxy');
    return r.shadowRoot.querySelector('dialog').open; })()"""


async def test_a_same_origin_frame_leaves_the_first_layer_to_the_page(site: Site) -> None:
    # Over plain http no Sec-Fetch-Dest tells the proxy it serves a frame: its page has a banner.
    site.pages["/widget"] = page_html(body="<p>store locator</p>")
    frame = "<iframe src='/widget' width=420 height=260></iframe>"
    await site.open(page_html(body=frame))
    assert not await site.banner_hidden()
    widget = site.page.frames[1]
    await widget.wait_for_function("document.getElementById('consentproxy').shadowRoot")
    assert not await widget.evaluate(FRAME_OPEN)


async def test_an_english_banner_on_a_right_to_left_page_reads_left_to_right(site: Site) -> None:
    """The dialog inherited the page's direction (`all: initial` leaves it): the full stops
    went to the start of its lines and the Customise triangle was mirrored."""
    await site.open(
        page_html(body="<p>مرحبا</p>").replace("<html lang=en>", "<html lang=ar dir=rtl>")
    )
    directions = await site.page.evaluate(
        """[...document.getElementById('consentproxy').shadowRoot.querySelectorAll('dialog, p')]
        .map(e => getComputedStyle(e).direction)"""
    )
    assert directions and set(directions) == {"ltr"}


async def test_in_a_frameset_the_largest_frame_asks(site: Site) -> None:
    site.pages["/nav"] = page_html(body="<p>nav</p>")
    site.pages["/main"] = page_html(body="<p>main</p>")
    await site.open(
        "<!DOCTYPE html PUBLIC '-//W3C//DTD HTML 4.01 Frameset//EN'><html><head><title>f</title>"
        "</head><frameset cols='30%,70%'><frame src='/nav'><frame src='/main'></frameset></html>"
    )
    opened = {}
    for f in site.page.frames[1:]:
        await f.wait_for_function("document.getElementById('consentproxy').shadowRoot")
        opened[f.url.rsplit("/", 1)[1]] = await f.evaluate(FRAME_OPEN)
    assert opened == {"nav": False, "main": True}


async def test_a_csp_blocking_inline_styles_leaves_the_banner_styled(site: Site) -> None:
    csp = "<meta http-equiv=Content-Security-Policy content=\"style-src 'self'\">"
    await site.open(page_html(body="<p>x</p>").replace("<title>", csp + "<title>", 1))
    shadow = "document.getElementById('consentproxy').shadowRoot"
    assert (
        await site.page.evaluate(f"getComputedStyle({shadow}.querySelector('dialog')).position")
        == "fixed"
    )
    box = await site.page.evaluate(REJECT_BOX)
    assert box["inside"] and box["hit"]


def held(service: str, category: str, text: str = "", attrs: str = "") -> str:
    """A script as the proxy holds it (an inline one: text; an external one: attrs)."""
    return (
        f'<script type="text/plain" data-consent-mark="{MARK}" data-consent-blocked="{service}"'
        f' data-consent-blocked-category="{category}" {attrs}>{text}</script>'
    )


def loader(url: str) -> str:
    return (
        f"var s = document.createElement('script'); s.src = '{url}'; document.head.appendChild(s);"
    )


GTM = "https://www.googletagmanager.com/gtm.js?id=GTM-1"
WRITING = (
    '<p id="before">before</p>'
    + held(
        "google-analytics",
        "analytics",
        "document.write('<scr' + 'ipt src=\"https://www.google-analytics.com/analytics.js\">"
        "</scr' + 'ipt><b id=\"written\">ad</b>');",
    )
    + held("google-tag-manager", "analytics", attrs='data-consent-src="{GTM}"')
    + '<p id="after">after</p>'
)


async def test_a_held_script_writing_after_the_load_writes_in_its_place_not_over_the_page(
    site: Site,
) -> None:
    # Activated after the page has loaded, a document.write would open a new document:
    # the page gone, the held scripts after it with it.
    await site.open(page_html(body=WRITING.replace("{GTM}", GTM)))
    site.next_state = {"decided": True, "categories": ALL, "services": []}
    await site.page.click("text=Accept all")
    await site.page.wait_for_function("(window.__order || []).length === 2")
    assert await site.page.evaluate("window.__order") == ["ga", "gtm"]  # as the parser would
    assert await site.page.evaluate(
        """[document.getElementById('before').textContent, document.getElementById('after')
            .textContent, document.getElementById('written').previousElementSibling.src]"""
    ) == ["before", "after", "https://www.google-analytics.com/analytics.js"]
    assert await site.page.locator("#consentproxy").count() == 1


async def test_what_a_held_script_writes_after_the_load_is_held_if_its_service_is_refused(
    site: Site,
) -> None:
    """(document.write after the load goes in through the page's DOM: the guard holds it)"""
    writes = held(
        "google-analytics",
        "analytics",
        "document.write('<scr' + 'ipt src=\"https://connect.facebook.net/en_US/fbevents.js\">"
        '</scr\' + \'ipt><img id="pixel" src="https://www.facebook.com/tr?id=9">\');',
    )
    await site.open(page_html(body='<p id="before">before</p>' + writes))
    site.next_state = {"decided": True, "categories": ["analytics"], "services": []}
    await site.page.click("text=Accept all")
    await site.page.wait_for_selector("#pixel", state="attached")
    await site.page.wait_for_load_state("networkidle")
    assert await site.page.evaluate("document.getElementById('before').textContent") == "before"
    assert await site.hosts() == set()  # neither the script nor the pixel was fetched


# A held script that inserts an inline script of its own which writes: run by the parser,
# the write goes in at the parser's place, after the held script.
INSERTING = (
    '<p id="before">before</p>'
    + held(
        "google-analytics",
        "analytics",
        "var s = document.createElement('script');"
        " s.text = \"document.write('<b id=written>ad</b>')\"; document.body.appendChild(s);",
    )
    + '<p id="after">after</p>'
)


async def test_an_inline_script_a_held_one_inserts_writes_in_its_place_not_over_the_page(
    site: Site,
) -> None:
    # (its currentScript is the inserted script: a write of its own after the load opened
    # a new document, the page gone)
    await site.open(page_html(body=INSERTING))
    site.next_state = {"decided": True, "categories": ALL, "services": []}
    await site.page.click("text=Accept all")
    await site.page.wait_for_selector("#written", state="attached")
    await site.page.wait_for_timeout(300)
    assert await site.page.evaluate(
        """[document.getElementById('before').textContent, document.getElementById('after')
            .textContent, document.getElementById('written').nextElementSibling.id]"""
    ) == ["before", "after", "after"]
    assert await site.page.locator("#consentproxy").count() == 1


FROZEN = (
    "<script>Object.defineProperty(Document.prototype, 'createElement', {writable: false});"
    " Object.defineProperty(Document.prototype, 'write', {writable: false});</script>"
    + held("google-analytics", "analytics", "window.__first = 1;")
    + held("google-tag-manager", "analytics", "window.__second = 1;")
)


async def test_a_page_s_read_only_document_methods_stop_no_restore(site: Site) -> None:
    # (banner.js hooks createElement and write while a restored script runs: assigning
    # one the page made read-only threw in strict mode, and no held script came back)
    await site.open(page_html(body=FROZEN))
    site.next_state = {"decided": True, "categories": ALL, "services": []}
    await site.page.click("text=Accept all")
    await site.page.wait_for_function("window.__second === 1")
    assert await site.page.evaluate("window.__first") == 1


WAITING = (
    "<script>window.onload = function () { window.__siteOnload = (window.__siteOnload || 0) + 1;"
    " };</script>"
    + held(
        "google-analytics",
        "analytics",
        "window.addEventListener('load', function () {"
        + loader("https://www.google-analytics.com/analytics.js")
        + "}); document.addEventListener('DOMContentLoaded', function () { window.__ready = 1; });",
    )
    + held(
        "google-tag-manager",
        "analytics",
        "var old = window.onload; window.onload = function () { if (old) old();"
        + loader(GTM)
        + "};",
    )
)


async def test_a_held_script_waiting_for_the_load_event_runs_when_activated_after_it(
    site: Site,
) -> None:
    await site.open(page_html(body=WAITING))
    assert await site.page.evaluate("window.__siteOnload") == 1
    site.next_state = {"decided": True, "categories": ALL, "services": []}
    await site.page.click("text=Accept all")
    await site.page.wait_for_function("(window.__order || []).length === 2")
    assert sorted(await site.page.evaluate("window.__order")) == ["ga", "gtm"]
    assert await site.page.evaluate("window.__ready") == 1
    # The site's own handler, run at the load already, is not run again.
    assert await site.page.evaluate("window.__siteOnload") == 1


async def test_a_script_held_for_several_categories_comes_back_with_any_of_them(
    site: Site,
) -> None:
    """The proxy lists each category an inline script waits for when any one brings it
    back (policy.blocked_inline): the banner read the attribute as one category."""
    body = held("facebook-pixel", "advertising analytics", loader(GTM)) + held(
        "facebook-pixel", "advertising social", loader("https://www.google-analytics.com/a.js")
    )
    await site.open(page_html(body=body))
    site.next_state = {"decided": True, "categories": ["analytics"], "services": []}
    await site.page.click("text=Customise")
    await site.page.check("input[data-consent-category=analytics]")
    await site.page.click("text=Save my choices")
    await site.page.wait_for_function("(window.__order || []).length === 1")
    await site.page.wait_for_timeout(300)
    assert await site.hosts() == {"www.googletagmanager.com"}


@pytest.mark.parametrize(
    ("categories", "services", "runs"),
    [(["analytics"], ["facebook-pixel"], False), (["advertising", "analytics"], [], True)],
)
async def test_a_script_holding_code_of_several_categories_comes_back_with_all_of_them(
    site: Site, categories: list[str], services: list[str], runs: bool
) -> None:
    """policy.blocked_inline's "a+b": the code of refused services of two categories (a
    marker each). The mark named the first alone, and accepting it ran the other's code."""
    body = held("facebook-pixel", "advertising+analytics", "window.__both = 1;") + held(
        "google-analytics", "analytics", loader(GTM)
    )
    await site.open(page_html(body=body))
    site.next_state = {"decided": True, "categories": categories, "services": services}
    await site.page.click("text=Accept all")
    await site.page.wait_for_function("(window.__order || []).length === 1")
    await site.page.wait_for_timeout(300)
    assert await site.page.evaluate("window.__both === 1") is runs


STYLED = (
    f'<style data-consent-mark="{MARK}" data-consent-blocked="google-analytics"'
    ' data-consent-blocked-category="analytics" data-consent-css="[&quot;'
    "https://www.google-analytics.com/a.css&quot;,null,&quot;https://www.facebook.com/b.png"
    "&quot;]\">@import url(about:invalid);p{background:url('about:invalid')}"
    "q{background:url(about:invalid)}</style><p>styled</p>"
)


async def test_a_held_stylesheet_comes_back_in_place_but_what_is_still_refused(
    site: Site,
) -> None:
    await site.open(page_html(body=STYLED))
    assert site.third_party == []
    site.next_state = {"decided": True, "categories": ["analytics"], "services": []}
    await site.page.click("text=Accept all")
    await site.page.wait_for_function("!document.querySelector('style[data-consent-blocked]')")
    await site.page.wait_for_load_state("networkidle")
    assert await site.page.evaluate("document.querySelector('#content style').textContent") == (
        "@import url(https://www.google-analytics.com/a.css);"
        "p{background:url('about:invalid')}q{background:url(about:invalid)}"
    )
    assert await site.hosts() == {"www.google-analytics.com"}


STYLE_ATTRIBUTE = (
    f'<div id=styled data-consent-mark="{MARK}" data-consent-blocked="google-analytics"'
    ' data-consent-blocked-category="analytics" data-consent-style="[&quot;'
    "https://www.google-analytics.com/a.png&quot;,null,&quot;https://www.facebook.com/b.png"
    "&quot;]\" style=\"background-image:url(about:invalid),url('about:invalid'),"
    'url(about:invalid)">styled</div>'
)


async def test_a_held_style_attribute_comes_back_in_place_but_what_is_still_refused(
    site: Site,
) -> None:
    await site.open(page_html(body=STYLE_ATTRIBUTE))
    assert site.third_party == []
    site.next_state = {"decided": True, "categories": ["analytics"], "services": []}
    await site.page.click("text=Accept all")
    await site.page.wait_for_function("!document.querySelector('#styled[data-consent-blocked]')")
    await site.page.wait_for_load_state("networkidle")
    assert await site.page.evaluate("document.querySelector('#styled').getAttribute('style')") == (
        "background-image:url(https://www.google-analytics.com/a.png),url('about:invalid'),"
        "url(about:invalid)"
    )
    names = "[...document.querySelector('#styled').attributes].map(a => a.name).sort()"
    assert await site.page.evaluate(names) == ["id", "style"]  # (claimed: its mark gone too)
    assert await site.hosts() == {"www.google-analytics.com"}


DEPENDING = (
    "<script>window.__early = (window.__early || 0) + 1; window.site.loadTag('x');</script>"
    + held(
        "google-tag-manager",
        "analytics",
        "window.site = {loadTag: function (id) {" + loader(GTM) + "}};",
    )
    + "<script>window.__fine = (window.__fine || 0) + 1;</script>"
    + "<script>window.__late = (window.__late || 0) + 1; window.site.loadTag('GTM-1');</script>"
)


async def test_the_sites_script_that_failed_for_want_of_a_held_one_runs_again_after_it(
    site: Site,
) -> None:
    # A site's function kept beside a tracker's URL is held with it: the site's own script
    # calling it fails before consent, and runs again once that script is back.
    await site.open(page_html(body=DEPENDING))
    assert len(site.errors) == 2  # (window.site is undefined)
    site.errors.clear()
    site.next_state = {"decided": True, "categories": ALL, "services": []}
    await site.page.click("text=Accept all")
    await site.page.wait_for_function("(window.__order || []).length === 1")
    await site.page.wait_for_load_state("networkidle")
    assert await site.page.evaluate("[window.__early, window.__fine, window.__late]") == [1, 1, 2]
    assert await site.page.evaluate("window.__order") == ["gtm"]
