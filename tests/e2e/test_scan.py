"""`consentproxy scan` of the bundled demo site in every state: the site as it is breaks the
rules in each of them (--direct), the same site through the proxy in none. Third-party
requests are answered by the scanner, never sent (its default)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from consentproxy.cli import main
from consentproxy.demo.origin import make_origin_app
from tests.adapters import app_in_thread
from tests.conftest import DEMO_CONFIG

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

DEMO_PAGES = DEMO_CONFIG.parent / "pages"
STATES = ["none", "reject", "all", "analytics", "advertising", "social"]
DEMO_PATHS = {"/", "/occasions", "/atelier", "/contact"}


@pytest.fixture(scope="module")
def demo_origin() -> Iterator[str]:
    with app_in_thread(make_origin_app(DEMO_PAGES)) as port:
        yield f"http://127.0.0.1:{port}/"


def scan(url: str, out: Path, *flags: str) -> tuple[int, dict]:
    flags = ("--wait", "0", *flags) if "--wait" not in flags else flags  # (the demo has no timer)
    code = main(["scan", url, "--config", str(DEMO_CONFIG), "--out", str(out), *flags])
    return code, json.loads((out / "report.json").read_text())


def kinds(state: dict) -> set[str]:
    return {v["kind"] for page in state["pages"] for v in page["violations"]}


def test_demo_site_as_it_is_violates_in_every_state(demo_origin, tmp_path):
    code, report = scan(demo_origin, tmp_path, "--direct")
    assert code == 1 and report["mode"] == "direct" and report["offline"] is True
    by_state = {s["state"]: s for s in report["states"]}
    assert list(by_state) == STATES
    assert kinds(by_state["none"]) >= {"banner-missing", "request", "cookie", "cookie-lifetime"}
    assert kinds(by_state["all"]) == {"cookie-lifetime"}  # _ga: two years
    hosts = {r["host"] for r in by_state["none"]["pages"][0]["requests"]}
    assert {"www.google-analytics.com", "connect.facebook.net"} <= hosts
    jar = {c["name"] for c in by_state["none"]["pages"][0]["cookies"]}
    assert {"_ga", "_fbp", "PHPSESSID"} <= jar
    assert all(s["violations"] for s in report["states"])


def test_demo_site_through_the_proxy_has_no_violation_in_any_state(demo_origin, tmp_path):
    code, report = scan(demo_origin, tmp_path, "--crawl", "3")
    problems = [
        (s["state"], p["path"], v)
        for s in report["states"]
        for p in s["pages"]
        for v in p["violations"]
    ]
    assert code == 0 and problems == [] and report["violations"] == 0
    by_state = {s["state"]: s for s in report["states"]}
    assert list(by_state) == STATES
    for state in report["states"]:
        assert {p["path"] for p in state["pages"]} == DEMO_PATHS
        for page in state["pages"]:
            assert page["status"] == 200 and (tmp_path / page["screenshot"]).is_file()
            assert page["banner"]["present"]
    none = by_state["none"]["pages"][0]
    assert none["banner"] == {"present": True, "shown": True, "reject_first_layer": True}
    assert none["requests"] == []
    consent = [c for c in none["set_cookies"] if c["name"] == "consent"]
    assert consent and consent[0]["lifetime_days"] == 182  # set by the reject-all click
    assert not by_state["reject"]["pages"][0]["banner"]["shown"]
    everything = {r["category"] for p in by_state["all"]["pages"] for r in p["requests"]}
    assert {"analytics", "advertising", "social"} <= everything
    analytics = {r["category"] for p in by_state["analytics"]["pages"] for r in p["requests"]}
    assert analytics == {"analytics"}
    html = (tmp_path / "report.html").read_text()
    assert "Summary per state" in html and "data:image/png;base64," in html


def test_a_chromium_that_does_not_start_is_named_with_what_to_do(demo_origin, tmp_path, capsys):
    """(a Playwright traceback, exit 1)"""
    chromium = tmp_path / "chromium"
    args = ["scan", demo_origin, "--config", str(DEMO_CONFIG), "--direct"]
    assert main([*args, "--out", str(tmp_path / "o"), "--chromium", str(chromium)]) == 2
    assert (
        f"scan: cannot start Chromium {chromium} (Failed to launch chromium because executable "
        "doesn't exist"
    ) in capsys.readouterr().err
    chromium.write_text("not a browser")
    chromium.chmod(0o755)
    assert main([*args, "--out", str(tmp_path / "o"), "--chromium", str(chromium)]) == 2
    assert "or give --chromium its path" in capsys.readouterr().err


def test_a_bad_state_stops_the_scan_naming_the_valid_ones(demo_origin, tmp_path, capsys):
    code = main(
        [
            "scan",
            demo_origin,
            "--config",
            str(DEMO_CONFIG),
            "--out",
            str(tmp_path),
            "--states",
            "none;analytcs",
        ]
    )
    assert code == 2
    assert "--states: 'analytcs' in 'analytcs' is no category or service" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "report.json").exists()


LATE_GA = (
    "<script>setTimeout(function () { var s = document.createElement('script'); "
    "s.src = 'https://www.google-' + 'analytics.com/analytics.js'; "
    "document.head.appendChild(s); }, 1500);</script>"
)
TRICKY = {  # path -> (status, content type, body)
    "/late": (200, "text/html", LATE_GA),
    "/ws": (200, "text/html", "<script>new WebSocket('wss://ws.hot' + 'jar.com/x');</script>"),
    "/setter": (200, "text/html", "<script>document.cookie = '_ga=1; path=/';</script>"),
    "/after": (200, "text/html", "<p>nothing of its own</p>"),
    "/linking": (200, "text/html", '<a href="/after">after</a>'),
    "/boom": (500, "text/html", "<p>oops</p>"),
    "/data.json": (200, "application/json", "{}"),
    "/to-https": (  # (a plain-http copy of a site whose script moves it to https)
        200,
        "text/html",
        "<script>location.replace('https://' + location.host + location.pathname);</script>",
    ),
    "/xhr": (
        200,
        "text/html",
        "<script>var x = new XMLHttpRequest(); x.open('GET', 'https://api.example.net/d');"
        + "x.send();</script>",
    ),
    "/hanging": (  # a frame that never finishes: the page's load event never comes
        200,
        "text/html",
        '<script src="https://www.google-analytics.com/analytics.js"></script>'
        + '<iframe src="/slow"></iframe>',
    ),
}


@pytest.fixture(scope="module")
def tricky_origin() -> Iterator[str]:
    from aiohttp import web

    async def page(request: web.Request) -> web.StreamResponse:
        if request.path == "/loop":
            raise web.HTTPFound("/loop")
        if request.path == "/slow":  # headers and a start, then nothing for 10 s (> LOAD_MS here)
            response = web.StreamResponse(headers={"Content-Type": "text/html"})
            await response.prepare(request)
            await response.write(b"<!doctype html><p>still coming")
            await asyncio.sleep(10)
            return response
        status, kind, body = TRICKY[request.path]
        if kind == "text/html":
            body = f"<!doctype html><html><head><title>t</title></head><body>{body}</body></html>"
        return web.Response(status=status, text=body, content_type=kind)

    app = web.Application()
    for path in [*TRICKY, "/loop", "/slow"]:
        app.router.add_get(path, page)
    with app_in_thread(app) as port:
        yield f"http://localhost:{port}/"


def test_a_scan_sees_late_trackers_and_sockets_and_never_calls_a_failed_page_clean(
    tricky_origin, tmp_path
):
    """A tracker a timer started 1.5 s in and a WebSocket went unreported; a page answering
    500 was "OK"; a redirect loop ended the whole scan with a traceback; cookies set by one
    page were charged to every page after it; JSON got banner-missing."""
    paths = "/late,/ws,/setter,/after,/boom,/loop,/data.json"
    code, report = scan(
        tricky_origin, tmp_path, "--direct", "--states", "none", "--paths", paths, "--wait", "2"
    )
    assert code == 1
    pages = {p["path"]: p for p in report["states"][0]["pages"]}
    assert list(pages) == paths.split(",")
    hosts = {path: {r["host"] for r in p["requests"]} for path, p in pages.items()}
    assert "www.google-analytics.com" in hosts["/late"] and "ws.hotjar.com" in hosts["/ws"]
    found = {path: {v["kind"] for v in p["violations"]} for path, p in pages.items()}
    assert "page-failed" in found["/boom"] and "page-failed" in found["/loop"]
    assert pages["/loop"]["error"] and not pages["/data.json"]["html"]
    assert found["/data.json"] == set()  # (no banner goes in JSON)
    assert "_ga" in {c["name"] for c in pages["/setter"]["cookies"]}
    assert "_ga" not in {c["name"] for c in pages["/after"]["cookies"]}
    assert len({p["screenshot"] for p in pages.values() if p["screenshot"]}) == 6


def test_a_page_that_never_finishes_loading_is_still_scanned(tricky_origin, tmp_path, monkeypatch):
    """A page Playwright never saw fire its load event (a frame still loading, or one it lost
    track of: 1 view in 8 of chip.de's real page, which the browser had loaded completely)
    was page-failed, "nothing was scanned", though it was displayed and its trackers ran."""
    monkeypatch.setattr("consentproxy.scan.LOAD_MS", 1500, raising=False)
    code, report = scan(
        tricky_origin, tmp_path, "--direct", "--states", "none", "--paths", "/hanging"
    )
    (page,) = report["states"][0]["pages"]
    assert (page["status"], page["error"]) == (200, "") and page["screenshot"]
    assert {v["kind"] for v in page["violations"]} == {"request", "banner-missing"}
    assert code == 1


def test_a_page_that_moves_itself_where_nothing_loads_says_so(tricky_origin, tmp_path):
    """meedia.de's and rechtambild.de's real pages, served over http, move themselves to https:
    page-failed said "SecurityError: Failed to read the 'localStorage' property" (Chromium's
    error page, read as if it were the site's)."""
    code, report = scan(
        tricky_origin, tmp_path, "--direct", "--states", "none", "--paths", "/to-https"
    )
    (page,) = report["states"][0]["pages"]
    assert page["error"].startswith(f"the page moved itself to https{tricky_origin[4:]}to-https (")
    assert "nothing of where it went was scanned" in page["error"]
    assert [v["kind"] for v in page["violations"]] == ["page-failed"] and code == 1


def test_the_proxy_adds_no_console_error_to_a_page_reading_a_third_party(tricky_origin, tmp_path):
    """The guard read its x-consent-mark header of every XMLHttpRequest's response: for a
    cross-origin one Chromium logs 'Refused to get unsafe header "x-consent-mark"', a console
    error the site never had, in the page's console and the scan report (theguardian.com)."""
    code, report = scan(tricky_origin, tmp_path, "--states", "all", "--paths", "/xhr")
    (page,) = report["states"][0]["pages"]
    assert [r["host"] for r in page["requests"]] == ["api.example.net"]
    assert page["console_errors"] == [] and code == 0


def test_a_scan_through_the_proxy_of_a_named_host_runs(tricky_origin, tmp_path):
    """(offline, only the site's name resolved: the in-process proxy at 127.0.0.1 did not)"""
    code, report = scan(
        tricky_origin, tmp_path, "--states", "none", "--paths", "/late", "--wait", "2"
    )
    (page,) = report["states"][0]["pages"]
    assert page["status"] == 200 and page["requests"] == [] and page["banner"]["shown"]
    assert code == 0


@pytest.mark.parametrize("direct", [True, False])
def test_a_crawl_follows_the_sites_links_alone(tricky_origin, tmp_path, direct):
    """Through the proxy, the crawl also visited the banner's links and the proxy's own
    pages (/.consent/preferences...): its report no longer compared with a --direct one."""
    flags = ("--direct",) if direct else ()
    _, report = scan(
        tricky_origin, tmp_path, *flags, "--states", "none", "--paths", "/linking", "--crawl", "5"
    )
    assert [p["path"] for p in report["states"][0]["pages"]] == ["/linking", "/after"]


NAMED = {  # a local copy of www.shop.example: its own hosts, a Domain cookie, absolute links
    "/": "<script>document.cookie = '_ga=1; domain=.shop.example; path=/';</script>"
    '<script src="http://static.shop.example/app.js"></script>'
    '<script src="https://www.google-analytics.com/analytics.js"></script>'
    '<a href="http://www.shop.example/after">after</a>',
    "/after": "<p>nothing of its own</p>",
}


@pytest.fixture(scope="module")
def named_copy() -> Iterator[int]:
    from aiohttp import web

    async def page(request: web.Request) -> web.Response:
        body = f"<!doctype html><html><head><title>t</title></head><body>{NAMED[request.path]}"
        return web.Response(text=body + "</body></html>", content_type="text/html")

    app = web.Application()
    for path in NAMED:
        app.router.add_get(path, page)
    with app_in_thread(app) as port:
        yield port


@pytest.mark.parametrize("direct", [True, False])
def test_a_local_copy_is_scanned_under_the_sites_own_name(named_copy, tmp_path, direct):
    """There was no way to scan a copy of www.shop.example served at 127.0.0.1:PORT under its
    name: as http://127.0.0.1:PORT/ its Domain=.shop.example cookie was refused by the browser
    (no cookie violation), its absolute links were not followed by --crawl and its own hosts
    were third parties."""
    flags = ("--direct",) if direct else ()
    code, report = scan(
        "http://www.shop.example/",
        tmp_path,
        *flags,
        "--resolve",
        f"127.0.0.1:{named_copy}",
        "--states",
        "none",
        "--crawl",
        "2",
    )
    pages = report["states"][0]["pages"]
    assert [(p["path"], p["status"], p["error"]) for p in pages] == [
        ("/", 200, ""),
        ("/after", 200, ""),
    ]
    assert pages[0]["url"] == "http://www.shop.example/"
    hosts = {r["host"]: r["allowed"] for r in pages[0]["requests"]}
    kinds = {v["kind"] for v in pages[0]["violations"]}
    if direct:
        assert hosts == {"static.shop.example": True, "www.google-analytics.com": False}
        assert {"_ga"} <= {c["name"] for c in pages[0]["cookies"]}
        assert {"request", "cookie", "banner-missing"} <= kinds and code == 1
    else:
        assert hosts == {"static.shop.example": True}
        assert pages[0]["banner"]["shown"] and pages[1]["banner"]["shown"]
        assert code == 0 and report["violations"] == 0, [p["violations"] for p in pages]


def test_a_bad_resolve_address_is_a_usage_error(tmp_path, capsys):
    args = ["scan", "http://www.shop.example/", "--config", str(DEMO_CONFIG), "--direct"]
    assert main([*args, "--out", str(tmp_path), "--resolve", "127.0.0.1:99999"]) == 2
    assert "--resolve '127.0.0.1:99999' must be an address" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--paths", "/a,//evil.example/,http://other.example/x"], "--paths takes the site's own"),
        (["--resolve", "127.0.0.1:8080"], "names an address already; drop --resolve"),
    ],
)
def test_paths_off_the_site_or_a_resolve_of_an_address_are_usage_errors(
    demo_origin, tmp_path, capsys, flags, said
):
    """Paths of other sites were visited and their pages charged to the site (banner
    missing); --resolve of a URL with an address went to port 80."""
    args = ["scan", demo_origin, "--config", str(DEMO_CONFIG), "--out", str(tmp_path), *flags]
    assert main(args) == 2
    assert said in capsys.readouterr().err and not (tmp_path / "report.json").exists()


@pytest.mark.parametrize("direct", [[], ["--direct"]])
def test_a_site_that_does_not_answer_is_said_so_before_any_scan(tmp_path, capsys, direct):
    """Through the proxy it was reported as 'the site answered 502: nothing was scanned'."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/"
    args = ["scan", url, "--config", str(DEMO_CONFIG), "--out", str(tmp_path), *direct]
    assert main(args) == 2
    assert f"scan: the site at {url.rstrip('/')} does not answer" in capsys.readouterr().err
