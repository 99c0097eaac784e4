"""The mitmproxy addon as mitmproxy drives it (taddons/tflow): options, which flows it
enforces in each mode, and the per-flow note. Its HTTP behaviour through a real mitmdump
is the shared suite in test_server.py, run against both adapters."""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import datetime
import importlib.util
import json
import logging
import re
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from http.client import HTTPConnection, HTTPException
from pathlib import Path

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from mitmproxy import exceptions, http, websocket
from mitmproxy.flow import Error
from mitmproxy.proxy.mode_specs import ProxyMode
from mitmproxy.test import taddons, tflow, tutils
from wsproto.frame_protocol import Opcode

from consentproxy.adapter import ORIGIN_HEAD_BYTES, UPSTREAM_FAILED, access_line
from consentproxy.records import open_store
from consentproxy.report import Report
from tests.adapters import START_SECONDS, app_in_thread, free_port, mitmdump, mitmdump_command
from tests.conftest import DEMO_CONFIG, ROOT
from tests.http2 import h2_ask, h2_origin

SITE = "www.example.com"
HTML = b'<html><body><iframe src="https://www.youtube.com/embed/x"></iframe></body></html>'
REPORT_LINE_FIELDS = {
    "time",
    "method",
    "url",
    "status",
    *(f.name for f in dataclasses.fields(Report)),
}


def load_addon_module():
    spec = importlib.util.spec_from_file_location("consent_addon", ROOT / "addons" / "consent.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_addon_reaches_the_core_through_the_adapter_module_only():
    """The adapter contract (pyproject's import-linter contracts check server.py's, which
    cannot see a file outside the package)."""
    tree = ast.parse((ROOT / "addons" / "consent.py").read_text())
    ours = {
        n.module
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("consentproxy")
    }
    ours |= {
        a.name
        for n in ast.walk(tree)
        if isinstance(n, ast.Import)
        for a in n.names
        if a.name.startswith("consentproxy")
    }
    assert ours == {"consentproxy.adapter"}


@pytest.fixture
def site_config(tmp_path):
    f = tmp_path / "site.yaml"
    f.write_text(
        DEMO_CONFIG.read_text().replace("upstream: http://127.0.0.1:8080", f"sites: [{SITE}]")
    )
    return f


@pytest.fixture
async def addon(monkeypatch):
    monkeypatch.setenv("CONSENTPROXY_SECRET", "addon-unit-secret-0123456789")
    addon = load_addon_module().ConsentAddon()
    yield addon
    await addon.done()


def flow(host=SITE, path="/", cookie=None, mode="regular", **headers):
    fields = [(b"Host", host.encode())]
    if cookie:
        fields.append((b"Cookie", cookie.encode()))
    fields += [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    f = tflow.tflow(
        req=tutils.treq(
            host=host, port=80, path=path.encode(), headers=http.Headers(fields), content=b""
        )
    )
    f.client_conn.proxy_mode = ProxyMode.parse(mode)
    return f


def choice(action="accept-all"):
    """The banner's POST of a choice."""
    f = flow(path="/.consent/choice", Origin=f"http://{SITE}", Content_Type="application/json")
    f.request.method = "POST"
    f.request.content = json.dumps({"action": action}).encode()
    return f


async def serve(addon, f, status=200, headers=(("Content-Type", "text/html"),), body=HTML):
    """What mitmproxy does with a flow: request hooks, then the origin's answer (headers
    hook, body streamed through), then the response hook."""
    addon.requestheaders(f)
    await addon.request(f)
    if f.response is None:
        f.response = http.Response.make(
            status, b"", http.Headers([(k.encode(), v.encode()) for k, v in headers])
        )
        f.response.raw_content = None  # (its body not read yet, as the origin's in mitmproxy)
        addon.responseheaders(f)
        stream = f.response.stream
        if callable(stream):  # the addon keeps what it sent as the flow's content
            assert b"" not in [*stream(body), *stream(b"")]
        else:
            f.response.content = body
    addon.response(f)
    return f


def test_options_are_declared_with_help(addon):
    with taddons.context(addon) as tctx:
        for name in ("consent_config", "consent_state", "consent_report"):
            assert len(tctx.options._options[name].help) > 40


async def test_forward_mode_enforces_the_listed_sites(addon, site_config):
    with taddons.context(addon) as tctx:
        tctx.configure(addon, consent_config=str(site_config))
        f = await serve(addon, flow(cookie="_ga=1; PHPSESSID=s", Sec_Fetch_Dest="document"))
    assert f.request.headers["Cookie"] == "PHPSESSID=s"
    page = f.response.content
    assert b'data-consent-blocked="youtube"' in page and b'id="consentproxy"' in page
    assert f.comment.startswith("consent none (cookie); request cookies stripped: _ga")
    assert "neutralised: youtube <iframe>; banner injected" in f.comment
    assert f.metadata["consentproxy"]["neutralised"] == [("youtube", "iframe")]


async def test_forward_mode_leaves_other_hosts_untouched(addon, site_config):
    with taddons.context(addon) as tctx:
        tctx.configure(addon, consent_config=str(site_config))
        f = await serve(addon, flow(host="other.example.org", cookie="_ga=1"))
    assert f.request.headers["Cookie"] == "_ga=1"
    assert f.response.content == HTML and f.response.stream is False
    assert f.comment == "" and "consentproxy" not in f.metadata


IDN_SITE = "xn--bcher-kva.example"  # bücher.example, as `sites` must spell it


@pytest.mark.parametrize(
    ("mode", "host", "named"),
    [
        ("socks5", "127.0.0.1", SITE),  # (the client resolved the name: SOCKS5 gets an address)
        ("transparent", "127.0.0.1", SITE),
        ("regular", "bücher.example", IDN_SITE),  # (mitmproxy decodes the name's IDNA)
        ("regular", "bücher.example", None),
    ],
)
async def test_a_site_is_enforced_by_its_ascii_name_given_as_host_or_in_the_request(
    addon, tmp_path, mode, host, named
):
    """Sites were matched on the flow's host alone: an address in SOCKS5 and transparent
    modes, a Unicode name for an IDN site, never the name `sites` holds."""
    config = tmp_path / "site.yaml"
    config.write_text(
        DEMO_CONFIG.read_text().replace(
            "upstream: http://127.0.0.1:8080", f"sites: [{SITE}, {IDN_SITE}]"
        )
    )
    f = flow(host=named or IDN_SITE, cookie="_ga=1; PHPSESSID=s", mode=mode)
    f.request.data.host = host  # (what mitmproxy parsed; the Host header as the client sent)
    if named is None:
        del f.request.headers["Host"]
    with taddons.context(addon) as tctx:
        tctx.configure(addon, consent_config=str(config))
        f = await serve(addon, f)
    assert f.request.headers["Cookie"] == "PHPSESSID=s"


def test_a_mode_where_the_host_may_be_an_address_says_sites_go_by_the_request_s_name(
    addon, site_config, caplog
):
    with taddons.context(addon) as tctx:
        tctx.options.mode = ["socks5"]
        tctx.configure(addon, consent_config=str(site_config))
    assert any(
        f"SOCKS v5 proxy a flow's host may be an address: {SITE} enforced by the name each "
        "request gives" in r.getMessage()
        for r in caplog.records
    )


async def test_reverse_mode_enforces_every_host(addon):
    with taddons.context(addon) as tctx:
        tctx.configure(addon, consent_config=str(DEMO_CONFIG))
        f = await serve(
            addon, flow(host="127.0.0.1", cookie="_fbp=1", mode="reverse:http://127.0.0.1:8080")
        )
    assert "Cookie" not in f.request.headers
    assert "request cookies stripped: _fbp" in f.comment


async def test_consent_state_option_forces_the_state(addon, site_config):
    with taddons.context(addon) as tctx:
        tctx.configure(addon, consent_config=str(site_config), consent_state="analytics")
        f = await serve(
            addon,
            flow(cookie="_ga=1; _fbp=2"),
            headers=[
                ("Content-Type", "text/html"),
                ("Set-Cookie", "_gid=3"),
                ("Set-Cookie", "_fbp=4"),
            ],
        )
    assert f.request.headers["Cookie"] == "_ga=1"
    assert f.response.headers.get_all("Set-Cookie")[0] == "_gid=3"
    assert f.comment.startswith("consent analytics (forced)")


def test_a_bad_consent_state_at_startup_is_one_error_line_naming_the_valid_ones(
    addon, site_config, caplog
):
    """mitmdump exits on an error logged while it starts: one line, not a traceback."""
    with taddons.context(addon) as tctx:
        tctx.configure(addon, consent_config=str(site_config), consent_state="analytic")
    [error] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert error.getMessage().startswith(
        "consent_state: 'analytic' in 'analytic' is no category or service"
    )
    assert "analytics, advertising, social" in error.getMessage() and error.exc_info is None
    assert addon.engine is None


async def test_a_bad_option_once_running_is_refused_and_the_running_engine_stays(
    addon, site_config
):
    """mitmweb's option editor: mitmproxy puts the old value back."""
    with taddons.context(addon) as tctx:
        tctx.configure(addon, consent_config=str(site_config))
        addon.running()
        with pytest.raises(exceptions.OptionsError, match="check the path given to consent_config"):
            tctx.configure(addon, consent_config=str(site_config) + ".missing")
        with pytest.raises(exceptions.OptionsError, match="consent_report: cannot write"):
            tctx.configure(addon, consent_report=str(site_config.parent / "no" / "r.jsonl"))
        assert addon.engine.config.source == str(site_config) and addon.report_file is None


async def test_a_reloaded_script_stands_in_for_mitmproxys_own_once_and_puts_them_back(
    addon, site_config
):
    """mitmproxy reloads a script it watches without awaiting the old instance's done(): the
    new one took the old one's stand-ins for mitmproxy's own, wrapped them again (one layer
    a reload), and its done() put a stand-in back, not mitmproxy's (helper-177)."""
    from mitmproxy.proxy.layers.http import HttpStream, _http1
    from mitmproxy.proxy.layers.http._http2 import Http2Server

    def patched() -> list[object]:
        return [
            _http1.make_error_response,
            HttpStream.state_consume_request_body,
            Http2Server._handle_event,
            _http1.Http1Connection.read_body,
        ]

    own = patched()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, consent_config=str(site_config))
        addon.running()
        reloaded = load_addon_module().ConsentAddon()  # (the old one's done() not run)
        with taddons.context(reloaded) as again:
            again.configure(reloaded, consent_config=str(site_config))
            reloaded.running()
            assert [
                reloaded.error_response,
                reloaded.consume,
                reloaded.h2_handle,
                reloaded.read_body,
            ] == own
            await reloaded.done()
    assert patched() == own


async def test_a_records_store_that_can_never_open_is_refused_as_serve_does(
    addon, site_config, tmp_path
):
    """A typo in records.path's directory made it, and a new empty store in it, unsaid."""
    typo = tmp_path / "typo.yaml"
    typo.write_text(site_config.read_text() + f"records: {{path: {tmp_path / 'typo' / 'r.db'}}}\n")
    with taddons.context(addon) as tctx:
        tctx.configure(addon, consent_config=str(site_config))
        addon.running()
        with pytest.raises(
            exceptions.OptionsError,
            match=rf"{typo}:\d+: records.path {tmp_path / 'typo' / 'r.db'}: the directory "
            f"{tmp_path / 'typo'} does not exist; make it",
        ):
            tctx.configure(addon, consent_config=str(typo))
        assert addon.engine.config.source == str(site_config)
    assert not (tmp_path / "typo").exists()


@pytest.mark.parametrize("secret", [None, "short"])
def test_without_a_long_secret_the_addon_refuses_its_config_as_serve_does(
    addon, site_config, caplog, monkeypatch, secret
):
    """One rule for both adapters: no throw-away key that forgets every choice at restart."""
    if secret is None:
        monkeypatch.delenv("CONSENTPROXY_SECRET")
    else:
        monkeypatch.setenv("CONSENTPROXY_SECRET", secret)
    with taddons.context(addon) as tctx:
        tctx.configure(addon, consent_config=str(site_config))
    [error] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert (
        "set CONSENTPROXY_SECRET to a random secret"
        if secret is None
        else "CONSENTPROXY_SECRET holds a key shorter than 16"
    ) in error.getMessage()
    assert error.exc_info is None and addon.engine is None


async def test_a_new_config_keeping_records_elsewhere_closes_the_old_writer_after_flushing(
    addon, site_config, tmp_path
):
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(site_config.read_text() + f"records: {{path: {tmp_path / 'a.db'}}}\n")
    second.write_text(site_config.read_text() + f"records: {{path: {tmp_path / 'b.db'}}}\n")
    with taddons.context(addon) as tctx:
        tctx.configure(addon, consent_config=str(first))
        await serve(addon, choice())
        writer = addon.engine.records
        tctx.configure(addon, consent_config=str(first), consent_state="")  # same records
        await addon.opening
        assert addon.engine.records is writer
        tctx.configure(addon, consent_config=str(second))
        await addon.opening
        assert addon.engine.records not in (None, writer)
    assert writer.written == 1 and writer.queue.empty()
    store = open_store(str(tmp_path / "a.db"))
    await store.open()
    try:
        assert [r.action async for r in store.since(0)] == ["accept-all"]
    finally:
        await store.close()


async def test_a_page_and_a_choice_in_flight_across_a_reload_moving_the_store_go_to_the_new(
    addon, site_config, tmp_path
):
    """The reload closed the old engine's writer, which flows in flight still used: the
    choice was "not recorded" (its cookie set all the same) and the page's banner impression
    lost unsaid (helper-119). As serve's reload: they go to the new store."""
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(site_config.read_text() + f"records: {{path: {tmp_path / 'a.db'}}}\n")
    second.write_text(site_config.read_text() + f"records: {{path: {tmp_path / 'b.db'}}}\n")
    with taddons.context(addon) as tctx:
        tctx.configure(addon, consent_config=str(first))
        page, decision = flow(Sec_Fetch_Dest="document"), choice()
        addon.requestheaders(page)
        await addon.request(page)
        old = addon.engine.records
        page.response = http.Response.make(200, b"", {"Content-Type": "text/html"})
        page.response.raw_content = None
        addon.responseheaders(page)  # (its body streams across the reload)
        addon.requestheaders(decision)  # (its body comes after it)
        tctx.configure(addon, consent_config=str(second))
        await closed(old)  # (the reload is over: the old store closed)
        await addon.request(decision)
        assert decision.response.status_code == 200
        addon.response(decision)
        stream = page.response.stream
        assert b"consent" in b"".join([*stream(HTML), *stream(b"")])  # (the banner)
        addon.response(page)
        await addon.done()
    for db, want in (("a.db", ([], 0)), ("b.db", (["accept-all"], 1))):
        store = open_store(str(tmp_path / db))
        await store.open()
        try:
            got = [r.action async for r in store.since(0)]
            assert (got, sum((await store.stats(0)).impressions.values())) == want, db
        finally:
            await store.close()


async def closed(writer):
    for _ in range(250):
        if writer._closing and writer._task.done():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the writer was never closed")


async def test_the_banners_impressions_are_counted_before_any_choice(addon, site_config, tmp_path):
    """The records opened on the first choice or import: a page shown before was not
    counted (helper-89), so the addon's impressions fell short of serve's."""
    config = tmp_path / "a.yaml"
    config.write_text(site_config.read_text() + f"records: {{path: {tmp_path / 'a.db'}}}\n")
    with taddons.context(addon) as tctx:
        tctx.configure(addon, consent_config=str(config))
        page = await serve(addon, flow(Sec_Fetch_Dest="document"))
        assert "consent" in page.response.get_text()  # (the banner is on it)
        await addon.done()
    store = open_store(str(tmp_path / "a.db"))
    await store.open()
    try:
        assert sum((await store.stats(0)).impressions.values()) == 1
    finally:
        await store.close()


async def test_the_proxy_endpoints_answer_in_forward_mode_too(addon, site_config):
    with taddons.context(addon) as tctx:
        tctx.configure(addon, consent_config=str(site_config))
        f = await serve(addon, flow(path="/.consent/state"))
    assert f.response.status_code == 200 and json.loads(f.response.content)["decided"] is False
    assert f.comment == "consent none (cookie); answered by consentproxy"


async def test_every_enforced_flow_is_appended_to_the_report(addon, site_config, tmp_path):
    report = tmp_path / "flows.jsonl"
    with taddons.context(addon) as tctx:
        tctx.configure(addon, consent_config=str(site_config), consent_report=str(report))
        await serve(addon, flow(path="/a?x=1", cookie="_ga=1"))
        await serve(addon, flow(host="other.example.org"))
        await serve(addon, flow(path="/b"), status=404)
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    assert [(r["url"], r["status"]) for r in lines] == [
        (f"http://{SITE}/a?x=1", 200),
        (f"http://{SITE}/b", 404),
    ]
    assert lines[0]["request_cookies_dropped"] == ["_ga"] and lines[0]["banner"] is True


# --- through a real mitmdump ---------------------------------------------------------------

ORIGIN_PAGE = (
    b'<!doctype html><html><head><script src="https://cdn.unknown.example/a.js">'
    b'</script><script src="https://www.google-analytics.com/analytics.js"></script>'
    b"</head><body><p>hello</p></body></html>"
)
ORIGIN_DELAY = 0.05
SECRET = "addon-mitmdump-secret-0123456789"


async def _page(request: web.Request) -> web.Response:
    await asyncio.sleep(ORIGIN_DELAY)
    resp = web.Response(body=ORIGIN_PAGE, content_type="text/html")
    resp.headers.add("Set-Cookie", "PHPSESSID=s1; Path=/")
    resp.headers.add("Set-Cookie", "_ga=GA1.1.1; Path=/")
    return resp


async def _echo(request: web.Request) -> web.Response:
    """The request as the origin got it: its headers and its body's length."""
    body = await request.read()
    return web.json_response({"headers": list(request.headers.items()), "length": len(body)})


async def _bad_gzip(request: web.Request) -> web.Response:
    return web.Response(
        body=b"\x1f\x8b\x08\x00garbage",
        headers={"Content-Type": "text/html", "Content-Encoding": "gzip"},
    )


async def _big_head(request: web.Request) -> web.Response:
    """The page, its head padded by `pad` bytes of header names and values, its body by
    `body` bytes."""
    resp = await _page(request)
    resp.body = ORIGIN_PAGE + b" " * int(request.query.get("body", "0"))
    pad = int(request.query["pad"])
    for i in range(0, pad, 8000):
        name = f"X-Pad{i}"
        resp.headers[name] = "y" * (min(8000, pad - i) - len(name))
    return resp


ORIGIN_PATHS: list[str] = []  # every path the module's origin was asked for


@web.middleware
async def _seen(request: web.Request, handler):
    ORIGIN_PATHS.append(request.path)
    return await handler(request)


@pytest.fixture(scope="module")
def origin():
    app = web.Application(middlewares=[_seen])
    app.router.add_get("/page", _page)
    app.router.add_route("*", "/echo", _echo)
    app.router.add_get("/badgzip", _bad_gzip)
    app.router.add_get("/bighead", _big_head)
    with app_in_thread(app) as port:
        yield f"http://127.0.0.1:{port}"


def reverse_config(tmp_path, origin, extra=""):
    config = tmp_path / "site.yaml"
    config.write_text(
        DEMO_CONFIG.read_text().replace("upstream: http://127.0.0.1:8080", f"upstream: {origin}")
        + extra
    )
    return config


def reverse_mitmdump(tmp_path, origin, *options, output=None):
    """mitmdump with the addon in reverse mode in front of the module's origin."""
    config = reverse_config(tmp_path, origin)
    return mitmdump(config, f"reverse:{origin}", tmp_path, SECRET, *options, output=output)


def access_lines(log):
    """The JSON access lines in what mitmdump printed (its own lines may hold a visitor's
    bytes as they came)."""
    text = log.read_bytes().decode("utf-8", "replace")
    return [json.loads(x) for x in re.findall(r"^\[[\d:.]+\] (\{.*\})$", text, re.MULTILINE)]


def get(url, **headers):
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
        return r.status, r.headers, r.read()


def start_failure(tmp_path, config, *options):
    """mitmdump that must refuse to start: its exit code and everything it printed."""
    args, env = mitmdump_command(config, "regular", tmp_path, SECRET, *options, quiet=False)
    done = subprocess.run(args, env=env, capture_output=True, timeout=START_SECONDS, check=False)
    return done.returncode, (done.stdout + done.stderr).decode()


def test_a_config_path_that_cannot_be_read_stops_mitmdump_naming_the_option(tmp_path):
    code, out = start_failure(tmp_path, tmp_path / "missing.yaml")
    assert code == 1
    assert (
        f"{tmp_path / 'missing.yaml'}: cannot read the file (No such file or directory); "
        "check the path given to consent_config"
    ) in out
    assert "Traceback" not in out and "--config" not in out


def test_the_addon_loaded_twice_stops_mitmdump_naming_both_files(tmp_path, site_config):
    """A second -s naming the addon by another path (or a copy of it): mitmproxy refused the
    second with a traceback ("An addon called 'consentaddon' already exists"), naming
    neither file nor what to do."""
    copy = tmp_path / "consent.py"
    copy.write_text((ROOT / "addons" / "consent.py").read_text())
    args, env = mitmdump_command(site_config, "regular", tmp_path, SECRET, scripts=(copy,))
    done = subprocess.run(args, env=env, capture_output=True, timeout=START_SECONDS, check=False)
    out = (done.stdout + done.stderr).decode()
    assert done.returncode == 1
    assert (
        f"consentproxy: {copy} is a second copy of the addon, which "
        f"{ROOT / 'addons' / 'consent.py'} loaded already; load it once (one -s)"
    ) in out
    assert "Traceback" not in out


def test_a_report_path_that_cannot_be_written_stops_mitmdump(tmp_path, site_config):
    code, out = start_failure(tmp_path, site_config, f"consent_report={tmp_path}/no/r.jsonl")
    assert code == 1
    assert f"consent_report: cannot write {tmp_path}/no/r.jsonl (No such file" in out
    assert "Traceback" not in out


def test_without_a_config_the_addon_says_once_that_it_does_nothing(tmp_path):
    log = tmp_path / "mitmdump.log"
    with mitmdump(None, "regular", tmp_path, SECRET, "consent_report=", output=log):
        pass
    out = log.read_text()
    assert out.count("consent_config is not set, so this addon does nothing") == 1
    assert "enforcing" not in out


def test_startup_says_in_one_line_what_is_enforced_where(tmp_path, origin):
    config = tmp_path / "site.yaml"
    config.write_text(
        DEMO_CONFIG.read_text().replace(
            "upstream: http://127.0.0.1:8080", "sites: [localhost, myapp.test]"
        )
    )
    log = tmp_path / "mitmdump.log"
    with mitmdump(config, "regular", tmp_path, SECRET, "consent_state=none", output=log):
        pass
    out = log.read_text()
    assert (
        f"consentproxy: enforcing {config}; HTTP(S) proxy: sites localhost, myapp.test; "
        "CSP report-only; consent state forced to none (consent_state)\n"
    ) in out
    assert out.count("enforcing") == 1
    assert (
        "consentproxy: sites lists localhost: browsers send loopback requests straight to "
        "the site, never through a proxy"
    ) in out
    with reverse_mitmdump(tmp_path, origin, output=log):
        pass
    assert (
        f"enforcing {tmp_path / 'site.yaml'}; reverse proxy to {origin}: every flow; CSP "
        "report-only; consent from the visitor's cookie\n"
    ) in log.read_text()
    assert "loopback" not in log.read_text()


def test_every_report_field_is_filled_under_mitmdump(tmp_path, origin):
    report = tmp_path / "flows.jsonl"
    with reverse_mitmdump(tmp_path, origin, f"consent_report={report}") as m:
        get(f"http://127.0.0.1:{m.port}/page", Cookie="_ga=1; mystery=2", Sec_Fetch_Dest="document")
    [line] = [json.loads(x) for x in report.read_text().splitlines()]
    assert set(line) == REPORT_LINE_FIELDS
    assert line["upstream_seconds"] >= ORIGIN_DELAY
    assert line["rewrite_bytes"] == len(ORIGIN_PAGE) and line["rewrite_seconds"] > 0
    assert line["cookies_seen"] == ["_ga", "mystery", "PHPSESSID", "_ga"]
    assert line["hosts_seen"] == ["cdn.unknown.example"]
    assert line["neutralised"] == [["google-analytics", "script"]] and line["banner"]


def test_mitmdump_logs_the_same_access_line_as_serve(tmp_path, origin):
    """access_log (on by default): one JSON line per flow in mitmproxy's log, the fields and
    the values serve's access log gives (no IP, no query string)."""
    log = tmp_path / "mitmdump.log"
    with reverse_mitmdump(tmp_path, origin, output=log) as m:
        _, _, body = get(
            f"http://127.0.0.1:{m.port}/page?secret=1", Cookie="_ga=1", Sec_Fetch_Dest="document"
        )
        until(lambda: access_lines(log))  # (written once the flow has ended)
    [line] = access_lines(log)
    assert set(line) == set(access_line("GET", "/", 200, 0.0, 0, Report(state="none")))
    assert (line["method"], line["path"], line["status"]) == ("GET", "/page", 200)
    assert line["bytes"] == len(body) and line["ms"] >= line["upstream_ms"] >= ORIGIN_DELAY * 1000
    assert line["neutralised"] == ["google-analytics"] and line["banner"]
    assert line["request_cookies_stripped"] == ["_ga"]
    assert "secret" not in json.dumps(line) and "127.0.0.1" not in json.dumps(line)


def test_the_readme_documents_every_report_field():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## mitmproxy") : readme.index("## QA")]
    assert [f for f in sorted(REPORT_LINE_FIELDS) if f"`{f}`" not in section] == []


def test_a_rewritten_page_shows_its_size_in_mitmdump_not_content_missing(tmp_path, origin):
    log = tmp_path / "mitmdump.log"
    with reverse_mitmdump(tmp_path, origin, output=log) as m:
        _, _, body = get(f"http://127.0.0.1:{m.port}/page", Sec_Fetch_Dest="document")
    out = log.read_text()
    assert "content missing" not in out
    assert re.search(r"<< 200 OK \d+(\.\d+)?k", out), out
    assert len(body) > 1024


def test_an_edited_config_is_in_force_within_seconds_and_a_broken_edit_changes_nothing(
    tmp_path, origin
):
    config = reverse_config(tmp_path, origin, f"records: {{path: {tmp_path / 'r.db'}}}\n")
    log = tmp_path / "mitmdump.log"
    with mitmdump(config, f"reverse:{origin}", tmp_path, SECRET, output=log) as m:
        page = f"http://127.0.0.1:{m.port}/page"
        choose(m.port)
        assert "Content-Security-Policy-Report-Only" in get(page)[1]
        config.write_text(config.read_text().replace("csp: report-only", "csp: enforce"))
        until(lambda: "Content-Security-Policy" in get(page)[1])
        config.write_text(config.read_text() + "categories: [\n")
        until(lambda: "changed but is refused" in log.read_text())
        assert "Content-Security-Policy" in get(page)[1]
        choose(m.port)
    out = log.read_text()
    assert out.count("consentproxy: reloaded") == 1 and "Traceback" not in out
    assert f"{config}:" in out[out.index("changed but is refused") :]
    records = asyncio.run(_records(tmp_path / "r.db"))
    assert [r.action for r in records] == ["accept-all", "accept-all"]  # one writer, flushed


def ready(port: int) -> tuple[int, dict[str, str]]:
    """GET /.consent/readyz once: its status and what it says."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/.consent/readyz", timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_readyz_finds_the_records_open_at_start_and_after_a_reload_moving_them(tmp_path, origin):
    """The addon opened its records on the first request, in the background: right after
    it started, or after a reload that moved the store, readyz answered 503 `records:
    failing` (and /.consent/me a 503) for ~50 ms, where serve answers 200 (helper-119). The
    first request counts: no retry."""
    config = reverse_config(tmp_path, origin, f"records: {{path: {tmp_path / 'a.db'}}}\n")
    log = tmp_path / "mitmdump.log"
    with mitmdump(config, f"reverse:{origin}", tmp_path, SECRET, output=log) as m:
        assert ready(m.port) == (200, {"upstream": "ok", "records": "ok"})
        config.write_text(config.read_text().replace("a.db", "b.db"))
        until(lambda: "consentproxy: reloaded" in log.read_text(), 0.01)
        assert ready(m.port) == (200, {"upstream": "ok", "records": "ok"})
    assert (tmp_path / "b.db").exists() and "Traceback" not in log.read_text()


def test_a_choice_and_an_erasure_in_flight_across_a_reload_moving_the_store_are_kept(
    tmp_path, origin
):
    """The reload closed the old engine's writer, which requests in flight still used: a
    choice got its cookie and was "not recorded", an erasure a 503 (helper-119). As serve's
    (test_ops): they go to the new store, open before the old one is closed."""
    config = reverse_config(tmp_path, origin, f"records: {{path: {tmp_path / 'a.db'}}}\n")
    log = tmp_path / "mitmdump.log"
    with mitmdump(config, f"reverse:{origin}", tmp_path, SECRET, output=log) as m:
        cookie = post(m.port, "/.consent/choice", b'{"action": "reject-all"}')[1]
        cookie = cookie.split(";")[0]
        choosing = begin_post(m.port, "/.consent/choice", b'{"action": "accept-all"}')
        erasing = begin_post(m.port, "/.consent/me/erase", b"{}", cookie)
        config.write_text(config.read_text().replace("a.db", "b.db"))
        until(lambda: "consentproxy: reloaded" in log.read_text(), 0.01)
        assert ready(m.port)[0] == 200  # (the new store is open)
        chose, erased = choosing(), erasing()
        assert chose.startswith(b"HTTP/1.1 200") and b"Set-Cookie: consent=" in chose, chose
        assert erased.startswith(b"HTTP/1.1 200") and b'"erased": 0' in erased, erased
    out = log.read_text()
    assert "not recorded" not in out and "Traceback" not in out, out
    kept = [[r.action for r in asyncio.run(_records(tmp_path / db))] for db in ("a.db", "b.db")]
    assert kept == [["reject-all"], ["accept-all"]]


def post(port: int, path: str, body: bytes, cookie: str = "") -> tuple[int, str]:
    """A POST to the proxy's own endpoint: its status and Set-Cookie."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=body,
        headers={
            "Content-Type": "application/json",
            "Origin": f"http://127.0.0.1:{port}",
            **({"Cookie": cookie} if cookie else {}),
        },
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.headers.get("Set-Cookie", "")


def begin_post(port: int, path: str, body: bytes, cookie: str = ""):
    """Send the head of a POST (its Content-Length given), the body not yet; returns what
    sends the body and reads the whole answer."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    fields = [
        f"Host: 127.0.0.1:{port}",
        f"Origin: http://127.0.0.1:{port}",
        "Content-Type: application/json",
        *([f"Cookie: {cookie}"] if cookie else []),
        "Connection: close",
        f"Content-Length: {len(body)}",
    ]
    conn.sendall(
        (f"POST {path} HTTP/1.1\r\n" + "".join(f"{f}\r\n" for f in fields) + "\r\n").encode()
    )
    time.sleep(0.2)  # (mitmproxy has the head: the flow began on the running engine)

    def finish() -> bytes:
        with conn:
            conn.sendall(body)
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
            return answer

    return finish


def choose(port: int) -> None:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/.consent/choice",
        data=b'{"action": "accept-all"}',
        headers={"Content-Type": "application/json", "Origin": f"http://127.0.0.1:{port}"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200


def until(condition, step: float = 0.2, seconds: float = 60) -> None:
    """Wait for what mitmproxy does on its own thread; the deadline is a hang guard, far
    above a loaded machine's wait, no timing."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(step)


async def _records(path):
    store = open_store(str(path))
    await store.open()
    try:
        return [r async for r in store.since(0)]
    finally:
        await store.close()


async def test_consent_resolve_gives_a_name_or_its_subdomains_the_address_given(addon):
    """(an IDN name as consent_resolve spells it: IDNA, mitmproxy looking it up decoded)"""
    loop = asyncio.get_running_loop()

    async def address(host: str) -> str:
        return (await loop.getaddrinfo(host, 443, type=socket.SOCK_STREAM))[0][4][0]

    with taddons.context(addon) as tctx:
        tctx.configure(
            addon,
            consent_resolve=(
                "myapp.test=127.0.0.1, *.myapp.test=127.0.0.2, xn--bcher-kva.test=127.0.0.3"
            ),
        )
        addon.running()
        try:
            names = ("myapp.test", "a.b.myapp.test", "127.0.0.9", "bücher.test")
            found = [await address(h) for h in names]
            assert found == ["127.0.0.1", "127.0.0.2", "127.0.0.9", "127.0.0.3"]
            with pytest.raises(
                exceptions.OptionsError, match="consent_resolve: 'myapp.test' is not NAME=ADDRESS"
            ):
                tctx.configure(addon, consent_resolve="myapp.test")
        finally:
            await addon.done()
    assert "getaddrinfo" not in vars(loop)  # the loop's own again


def test_forward_mode_keeps_one_connection_to_a_resolved_site(tmp_path):
    """consent_resolve rewrote the server's address, which mitmproxy's connection reuse
    matches on: each request opened a connection to the site, and the 6th on one visitor
    connection waited for good (mitmproxy allows 5 per address): a page with more than five
    same-site resources never finished loading."""
    peers: set[object] = set()

    async def page(request: web.Request) -> web.Response:
        peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        return web.Response(body=b"<html><body>hi</body></html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/{name}", page)
    config = tmp_path / "site.yaml"
    config.write_text(
        DEMO_CONFIG.read_text().replace("upstream: http://127.0.0.1:8080", "sites: [myapp.test]")
    )
    with (
        app_in_thread(app) as port,
        mitmdump(config, "regular", tmp_path, SECRET, "consent_resolve=myapp.test=127.0.0.1") as m,
    ):
        visitor = HTTPConnection("127.0.0.1", m.port, timeout=10)
        statuses = []
        for i in range(8):
            visitor.request("GET", f"http://myapp.test:{port}/p{i}")
            answer = visitor.getresponse()
            answer.read()
            statuses.append(answer.status)
        visitor.close()
    assert statuses == [200] * 8 and len(peers) == 1


def self_signed(name: str, where: Path) -> tuple[Path, Path]:
    """A developer's self-signed certificate for `name`: (certificate, key) PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem, key_pem = where / f"{name}.pem", where / f"{name}.key"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return pem, key_pem


def test_the_forward_recipe_works_over_https_with_a_self_signed_dev_site(tmp_path):
    """The README's recipe: sites, consent_resolve, ssl_verify_upstream_trusted_ca."""
    pem, key = self_signed("myapp.test", tmp_path)
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(pem, key)
    app = web.Application()
    app.router.add_get("/page", _page)
    config = tmp_path / "site.yaml"
    config.write_text(
        DEMO_CONFIG.read_text().replace("upstream: http://127.0.0.1:8080", "sites: [myapp.test]")
    )
    with app_in_thread(app, served) as port:

        def fetch(proxy_port: int) -> tuple[int, bytes]:
            trust = ssl.create_default_context(cafile=tmp_path / "mitmproxy-ca-cert.pem")
            opener = urllib.request.build_opener(
                urllib.request.ProxyHandler({"https": f"http://127.0.0.1:{proxy_port}"}),
                urllib.request.HTTPSHandler(context=trust),
            )
            req = urllib.request.Request(
                f"https://myapp.test:{port}/page", headers={"Sec-Fetch-Dest": "document"}
            )
            try:
                with opener.open(req, timeout=10) as r:
                    return r.status, r.read()
            except urllib.error.HTTPError as e:
                return e.code, e.read()

        resolve = "consent_resolve=myapp.test=127.0.0.1"
        log = tmp_path / "mitmdump.log"
        with mitmdump(config, "regular", tmp_path, SECRET, resolve, output=log) as m:
            status, body = fetch(m.port)
        assert status == 502 and body == f"{UPSTREAM_FAILED} cannot be reached.\n".encode()
        assert "Certificate verify failed" in log.read_text()  # (why: in the log)
        with mitmdump(
            config, "regular", tmp_path, SECRET, resolve, f"ssl_verify_upstream_trusted_ca={pem}"
        ) as m:
            status, body = fetch(m.port)
    assert status == 200 and b'id="consentproxy"' in body
    assert b'data-consent-blocked="google-analytics"' in body


@pytest.mark.parametrize("hook", ["begin", "local_response", "upstream_headers"])
async def test_a_request_the_engine_fails_on_is_answered_500_never_sent_on(
    addon, site_config, monkeypatch, hook
):
    """mitmproxy logs an addon's exception and goes on with the flow: a request the engine
    failed on went to the origin as the visitor sent it, tracking cookies and all."""
    from consentproxy.engine import Engine, Exchange

    def fail(*_args, **_kwargs):
        raise ValueError("a bug")

    monkeypatch.setattr(Engine if hook == "begin" else Exchange, hook, fail)
    path = "/.consent/state" if hook == "local_response" else "/"
    with taddons.context(addon) as tctx:
        tctx.configure(addon, consent_config=str(site_config))
        f = flow(path=path, cookie="_ga=1; PHPSESSID=s")
        addon.requestheaders(f)
        await addon.request(f)
    assert f.response is not None and f.response.status_code == 500
    assert b"Traceback" not in f.response.content and b"a bug" not in f.response.content
    assert f.error is None  # (answered: mitmproxy connects to no origin)


async def test_a_response_the_engine_fails_on_is_cut_never_sent_unfiltered(
    addon, site_config, monkeypatch
):
    from consentproxy.engine import Exchange

    def fail(*_args, **_kwargs):
        raise ValueError("a bug")

    monkeypatch.setattr(Exchange, "response", fail)
    with taddons.context(addon) as tctx:
        tctx.configure(addon, consent_config=str(site_config))
        f = flow()
        addon.requestheaders(f)
        await addon.request(f)
        f.response = http.Response.make(
            200, b"", http.Headers([(b"Content-Type", b"text/html"), (b"Set-Cookie", b"_ga=1")])
        )
        addon.responseheaders(f)
    assert f.error is not None and f.error.msg == Error.KILLED_MESSAGE  # (a cut response)


# --- request bodies mitmproxy streams, responses other features make -----------------------

STREAM_LIMIT = 1024  # stream_large_bodies below: a body over it is streamed to the origin


def ask(port, method, target, body=None, **headers):
    """One request to the proxy on its own connection: (status, headers, body), or None
    when the proxy cut it."""
    visitor = HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        visitor.request(method, target, body=body, headers=headers)
        answer = visitor.getresponse()
        return answer.status, answer.headers, answer.read()
    except (ConnectionError, HTTPException):
        return None
    finally:
        visitor.close()


@pytest.mark.parametrize("mode", ["reverse", "regular"])
def test_a_request_body_mitmproxy_streams_is_sent_on_filtered_and_a_local_one_never(
    tmp_path, origin, mode
):
    """With stream_large_bodies, mitmproxy sends a large body's request head upstream before
    the `request` hook: the origin got the visitor's _ga, the X-Consent-State header, the
    proxy's Host and no X-Forwarded-*; a choice over the limit went to the origin (a 404)."""
    port = int(origin.rsplit(":", 1)[1])
    site = f"myapp.test:{port}" if mode == "regular" else ""
    config = tmp_path / "site.yaml"
    config.write_text(
        DEMO_CONFIG.read_text().replace(
            "upstream: http://127.0.0.1:8080",
            "sites: [myapp.test]" if site else f"upstream: {origin}",
        )
        + "testing: {state_header: true}\n"
    )
    report = tmp_path / "flows.jsonl"
    options = [f"stream_large_bodies={STREAM_LIMIT}", f"consent_report={report}"]
    if site:
        options.append("consent_resolve=myapp.test=127.0.0.1")
    with mitmdump(config, mode if site else f"reverse:{origin}", tmp_path, SECRET, *options) as m:
        visited = site or f"127.0.0.1:{m.port}"
        base = f"http://{site}" if site else ""
        sent = {
            "small": b"x" * 100,
            "declared": b"x" * 4 * STREAM_LIMIT,
            "chunked": iter([b"x" * 2 * STREAM_LIMIT] * 2),
        }
        seen = {}
        for name, body in sent.items():
            answer = ask(
                m.port,
                "POST",
                f"{base}/echo",
                body,
                Host=visited,
                Cookie="_ga=1; PHPSESSID=s",
                X_Consent_State="reject",
            )
            assert answer is not None and answer[0] == 200, (name, answer)
            seen[name] = json.loads(answer[2])
        choice = b'{"action": "accept-all"}'
        json_from = {"Content-Type": "application/json", "Origin": f"http://{visited}"}
        small = ask(m.port, "POST", f"{base}/.consent/choice", choice, Host=visited, **json_from)
        large = ask(
            m.port,
            "POST",
            f"{base}/.consent/choice",
            choice + b" " * 2 * STREAM_LIMIT,
            Host=visited,
            **json_from,
        )
    for name, got in seen.items():
        headers = {}
        for k, v in got["headers"]:
            headers.setdefault(k.lower(), []).append(v)
        assert headers["cookie"] == ["PHPSESSID=s"], name
        assert "x-consent-state" not in headers, name
        assert headers["host"] == [site or origin.removeprefix("http://")], name
        assert headers["x-forwarded-for"] == ["127.0.0.1"], name
        assert headers["x-forwarded-host"] == [visited], name
        assert got["length"] == (100 if name == "small" else 4 * STREAM_LIMIT), name
    lines = [json.loads(x) for x in report.read_text().splitlines()]
    echoed = [x for x in lines if x["url"].endswith("/echo")]
    assert [x["request_cookies_dropped"] for x in echoed] == [["_ga"]] * 3
    assert small is not None and small[0] == 200
    assert large is None or large[0] == 413
    assert "/.consent/choice" not in ORIGIN_PATHS


def test_a_response_another_mitmproxy_feature_makes_is_rewritten_whole(tmp_path, origin):
    """--map-local (as --server-replay) answers in the request hook, and mitmproxy then calls
    responseheaders itself: the addon set up a stream nothing fed, and the page went out
    empty."""
    mapped = tmp_path / "mapped.html"
    mapped.write_bytes(ORIGIN_PAGE)
    with reverse_mitmdump(tmp_path, origin, f"map_local=|/mapped|{mapped}") as m:
        status, headers, body = get(f"http://127.0.0.1:{m.port}/mapped", Sec_Fetch_Dest="document")
    assert status == 200 and b'id="consentproxy"' in body and b"<p>hello</p>" in body
    assert b'data-consent-blocked="google-analytics"' in body
    assert headers["Content-Length"] == str(len(body))


def test_a_head_to_a_path_another_mitmproxy_feature_answers_gets_the_head_alone(tmp_path, origin):
    """--map-local answered a HEAD with the file's body after the head: the visitor's next
    response on the connection began with it."""
    mapped = tmp_path / "mapped.html"
    mapped.write_bytes(ORIGIN_PAGE)
    with reverse_mitmdump(tmp_path, origin, f"map_local=|/mapped|{mapped}") as m:
        visitor = HTTPConnection("127.0.0.1", m.port, timeout=10)
        visitor.request("HEAD", "/mapped")
        head = visitor.getresponse()
        head.read()
        visitor.request("GET", "/echo")
        after = visitor.getresponse()
        echoed = after.read()
        visitor.close()
    assert head.status == 200 and after.status == 200 and json.loads(echoed)["length"] == 0


LOCAL_PATHS = [
    "/.consent/consent.js",
    "/.consent/state",
    "/.consent/healthz",
    "/.consent/readyz",
    "/.consent/preferences",
    "/.consent/declaration",
    "/.well-known/gpc.json",
]


def test_a_head_to_the_proxy_s_own_endpoints_gets_the_head_alone(tmp_path, origin):
    """The addon sent the body to a HEAD too: the visitor's next response on the connection
    began with it (curl: "Received HTTP/0.9"). serve sends the head only, its length kept."""
    with reverse_mitmdump(tmp_path, origin) as m:
        visitor = HTTPConnection("127.0.0.1", m.port, timeout=10)
        answers = []
        for path in LOCAL_PATHS:
            for method in ("HEAD", "GET"):
                visitor.request(method, path)
                answer = visitor.getresponse()
                answers.append((path, method, answer.status, answer.getheader("Content-Length")))
                answer.read()
        visitor.close()
    for head, got in zip(answers[::2], answers[1::2], strict=True):
        assert head[2:] == got[2:] and int(got[3]) > 0, (head, got)


def test_a_consent_resolve_address_with_a_port_stops_mitmdump_saying_what_to_write(
    tmp_path, site_config
):
    """It was taken, and every request to the name was then a 502 (Name or service not
    known): the table gives addresses; the port is the URL's."""
    code, out = start_failure(tmp_path, site_config, "consent_resolve=myapp.test=127.0.0.1:18080")
    assert code == 1 and "Traceback" not in out
    assert (
        "consent_resolve: 'myapp.test=127.0.0.1:18080' gives a port; write "
        "myapp.test=127.0.0.1 (an address only: the port is the URL's)"
    ) in out


def test_consent_resolve_takes_ipv6_addresses(addon):
    with taddons.context(addon) as tctx:
        tctx.configure(addon, consent_resolve="myapp.test=::1,b.test=[::1]")
    assert addon.resolve == {"myapp.test": "::1", "b.test": "::1"}


def test_consent_state_cookie_is_logged_as_following_the_cookie(addon, site_config, caplog):
    """`cookie` forces nothing (the visitor's cookie decides), yet the start-up line said
    "consent state forced to cookie"."""
    caplog.set_level(logging.INFO, "consentproxy")
    with taddons.context(addon) as tctx:
        tctx.configure(addon, consent_config=str(site_config), consent_state="cookie")
    [line] = [r.getMessage() for r in caplog.records if "enforcing" in r.getMessage()]
    assert "consent from the visitor's cookie" in line and "forced" not in line


def test_mitmdump_logs_a_visitors_path_no_utf_8_reads_and_its_controls_escaped(tmp_path, origin):
    """mitmproxy reads a path's bytes as UTF-8 with surrogate escapes: orjson refused
    `/\\xff` (TypeError), the flow's access line and report line were lost to an addon
    error; C1 controls (U+009B, a CSI to xterm) went to the log raw. serve's encoder now
    (mitmproxy's own line of the flow still shows the bytes as they came)."""
    report, log = tmp_path / "flows.jsonl", tmp_path / "mitmdump.log"
    with reverse_mitmdump(tmp_path, origin, f"consent_report={report}", output=log) as m:
        with socket.create_connection(("127.0.0.1", m.port), timeout=10) as visitor:
            visitor.sendall(b"GET /p\xff\xc2\x9b2J HTTP/1.1\r\nHost: a\r\n\r\n")
            assert visitor.recv(12).startswith(b"HTTP/1.")  # (the origin refuses it)
        until(lambda: report.exists() and report.read_text())
        until(lambda: access_lines(log))
    [access] = access_lines(log)
    assert access["path"] == "/p\udcff\x9b2J"
    [ours] = [x for x in log.read_bytes().splitlines() if b'"path":"/p' in x]
    assert ours.isascii() and b"Traceback" not in log.read_bytes()  # (mitmproxy's: raw)


def test_a_response_cut_by_an_error_is_reported_with_no_status(tmp_path, origin):
    """A page whose gzip is corrupt is cut; the report and the access line said 200 (the
    status the visitor never got whole), where null is what says the flow failed."""
    report, log = tmp_path / "flows.jsonl", tmp_path / "mitmdump.log"
    with reverse_mitmdump(tmp_path, origin, f"consent_report={report}", output=log) as m:
        answer = ask(m.port, "GET", "/badgzip", Sec_Fetch_Dest="document")
        until(lambda: report.exists() and report.read_text())
    assert answer is None  # (cut)
    [line] = [json.loads(x) for x in report.read_text().splitlines()]
    [access] = access_lines(log)
    assert (line["url"].endswith("/badgzip"), line["status"]) == (True, None)
    assert (access["path"], access["status"]) == ("/badgzip", None)


@pytest.mark.parametrize(
    "option", ["stickycookie=.", "modify_headers=/~q/Cookie/_ga=2; PHPSESSID=s1"]
)
def test_a_cookie_another_mitmproxy_feature_adds_is_filtered_too(tmp_path, origin, option):
    """mitmproxy's own addons run after a script's: --stickycookie replays the cookies
    flows set (in `request`), a _ga kept while the visitor accepted went to the origin after
    they refused; --modify-headers sets its own (in `requestheaders`)."""
    config = reverse_config(tmp_path, origin, "testing: {state_header: true}\n")
    with mitmdump(config, f"reverse:{origin}", tmp_path, SECRET, option) as m:
        get(f"http://127.0.0.1:{m.port}/page", **{"X-Consent-State": "all"})  # sets _ga
        _, _, body = get(f"http://127.0.0.1:{m.port}/echo", **{"X-Consent-State": "reject"})
    sent = [v for k, v in json.loads(body)["headers"] if k.lower() == "cookie"]
    assert sent == ["PHPSESSID=s1"]


def test_a_cookie_another_mitmproxy_feature_adds_to_a_streamed_request_is_filtered_too(
    tmp_path, origin
):
    """(mitmproxy sends a streamed body's head after `requestheaders`, before `request`)"""
    config = reverse_config(tmp_path, origin)
    options = [
        f"stream_large_bodies={STREAM_LIMIT}",
        "modify_headers=/~q/Cookie/_ga=2; PHPSESSID=s",
    ]
    with mitmdump(config, f"reverse:{origin}", tmp_path, SECRET, *options) as m:
        answer = ask(m.port, "POST", "/echo", b"x" * 4 * STREAM_LIMIT, Host=f"127.0.0.1:{m.port}")
    assert answer is not None and answer[0] == 200
    sent = [v for k, v in json.loads(answer[2])["headers"] if k.lower() == "cookie"]
    assert sent == ["PHPSESSID=s"]


# --- an HTTP/2 origin ----------------------------------------------------------------------

H2_PAGE_HEAD = [(":status", "200"), ("content-type", "text/html"), ("set-cookie", "_ga=1")]


def h2_page(_head):
    """The origin's page, in one DATA frame."""
    return H2_PAGE_HEAD, [ORIGIN_PAGE]


def h2_get(port, path="/", **headers):
    """A navigation over HTTP/2 (mitmproxy then speaks HTTP/2 to an HTTP/2 origin too)."""
    head = [(":method", "GET"), (":path", path), (":scheme", "https")]
    head += [(":authority", "myapp.test"), ("sec-fetch-dest", "document")]
    return h2_ask(port, head + [(k.replace("_", "-").lower(), v) for k, v in headers.items()])


@contextmanager
def before_h2_origin(tmp_path, answer, *options, output=None):
    """mitmdump in reverse mode in front of a strict HTTP/2 origin: (origin, mitmdump)."""
    pem, key = self_signed("myapp.test", tmp_path)
    with h2_origin(pem, key, answer) as o:
        url = f"https://127.0.0.1:{o.port}"
        config = reverse_config(tmp_path, url)
        with mitmdump(
            config, f"reverse:{url}", tmp_path, SECRET, "ssl_insecure=true", *options, output=output
        ) as m:
            yield o, m


def test_an_http2_visitor_gets_the_plain_502_when_the_origin_cannot_be_reached(tmp_path):
    """mitmproxy's HTTP/2 layer writes its own error page: its version in `server` and the
    error as it read it, the origin's address with it (`[Errno 111] Connect call failed
    ('127.0.0.1', port)`), where an HTTP/1 visitor gets serve's plain sentence."""
    url = f"https://127.0.0.1:{free_port()}"  # (nothing listens there)
    config = reverse_config(tmp_path, url)
    with mitmdump(config, f"reverse:{url}", tmp_path, SECRET, "ssl_insecure=true") as m:
        answer = h2_get(m.port)
    assert answer is not None
    status, headers, body = answer
    assert (status, body) == (502, f"{UPSTREAM_FAILED} cannot be reached.\n".encode())
    assert dict(headers)["content-type"] == "text/plain; charset=utf-8"
    assert "server" not in dict(headers)


def test_an_http2_origin_gets_its_own_authority_and_no_host_header(tmp_path):
    """The origin got :authority myapp.test (the visitor's) and Host 127.0.0.1:port (its
    own): a strict one answered a protocol error, a 502. mitmproxy also logged a line per
    upper-case header name the addon added."""
    log = tmp_path / "mitmdump.log"
    with before_h2_origin(tmp_path, h2_page, output=log) as (o, m):
        answer = h2_get(m.port)
    assert o.refused == [] and answer is not None and answer[0] == 200
    [head] = o.requests
    assert dict(head)[":authority"] == f"127.0.0.1:{o.port}" and "host" not in dict(head)
    assert dict(head)["x-forwarded-host"] == "myapp.test"
    assert "Lowercased" not in log.read_text()


def test_an_empty_http2_data_frame_mid_body_does_not_end_the_page(tmp_path):
    """mitmproxy passes an empty DATA frame (legal without END_STREAM) to the stream as b'',
    as it does the end: the addon closed the body there, and the rest of the page went out
    unrewritten, the tracker's tag live and the banner inside it."""
    cut = ORIGIN_PAGE.index(b"analytics.js")  # (inside the tracker's tag)
    frames = [ORIGIN_PAGE[:cut], b"", ORIGIN_PAGE[cut:], b""]
    with before_h2_origin(tmp_path, lambda _: (H2_PAGE_HEAD, frames)) as (_, m):
        answer = h2_get(m.port)
    assert answer is not None and answer[0] == 200
    page = answer[2]
    assert b'data-consent-blocked="google-analytics"' in page
    assert page.index(b'id="consentproxy"') > page.index(b"<p>hello</p>")
    assert b'<script src="https://www.google-analytics.com/analytics.js">' not in page


def head_bytes(headers):
    """A head's size as the proxies judge it: its lines, each with its ": " and CRLF."""
    return sum(len(k) + len(v) + 4 for k, v in headers.items())


@pytest.mark.parametrize("streamed", [False, True])
def test_an_origin_head_too_large_is_a_502_and_one_just_under_passes(tmp_path, origin, streamed):
    """The head was judged in `response`: with stream_large_bodies the origin's answer had
    gone out already (its _ga, its live tag) while the log said 502; without, the body was
    read whole first, and the proxy's own headers counted (a head just under the limit: a
    502, where serve passes it); and its lines were counted without their ": " and CRLF,
    which serve counts (a head over the limit by less than 4 bytes a line passed)."""
    over = ORIGIN_HEAD_BYTES + 8000
    _, unpadded, _ = get(f"{origin}/bighead?pad=0")
    rest = ORIGIN_HEAD_BYTES - head_bytes(unpadded)
    under = rest - 4 * -(-rest // 8004)  # (a head just under the limit: 8000 bytes a line)
    options = [f"stream_large_bodies={STREAM_LIMIT}"] if streamed else []
    log = tmp_path / "mitmdump.log"
    with reverse_mitmdump(tmp_path, origin, *options, output=log) as m:
        big = ask(m.port, "GET", f"/bighead?pad={over}&body={4 * STREAM_LIMIT}")
        small = ask(m.port, "GET", f"/bighead?pad={under}", Sec_Fetch_Dest="document")
        over_by_its_crlfs = ask(m.port, "GET", f"/bighead?pad={under + 64}")
        until(lambda: len(access_lines(log)) == 3)
    assert big is not None and big[0] == 502 and big[1]["Set-Cookie"] is None
    assert big[2].startswith(f"{UPSTREAM_FAILED} sent a head of ".encode())
    assert small is not None and small[0] == 200 and b'id="consentproxy"' in small[2]
    assert over_by_its_crlfs is not None and over_by_its_crlfs[0] == 502
    assert [a["status"] for a in access_lines(log)] == [502, 200, 502]


def test_an_http2_post_to_the_proxy_s_own_endpoint_of_no_declared_length_never_reaches_the_origin(
    tmp_path,
):
    """HTTP/2 needs no Content-Length: mitmproxy streamed a choice over stream_large_bodies
    to the origin (the visitor's _ga with it), and the origin's answer came back."""
    head = [(":method", "POST"), (":path", "/.consent/choice"), (":scheme", "https")]
    head += [(":authority", "myapp.test"), ("origin", "https://myapp.test")]
    head += [("content-type", "application/json"), ("cookie", "_ga=1")]
    body = b'{"action": "accept-all"}' + b" " * 4 * STREAM_LIMIT
    limit = f"stream_large_bodies={STREAM_LIMIT}"
    with before_h2_origin(tmp_path, h2_page, limit) as (o, m):
        answer = h2_ask(m.port, head, (body[:2048], body[2048:]))
    assert o.requests == []
    assert answer is None or answer[0] == 413


def test_an_http2_choice_of_no_declared_length_is_read_up_to_the_endpoints_limit(tmp_path):
    """An HTTP/2 body needs no content-length: a small choice sets its cookie; one over the
    endpoints' limit is refused (413) as it comes, in serve's words (tests/adversarial/
    test_faults.py measures a chunked one of 64 MiB). Its access line said status null, and
    its answer mitmproxy's 'Payload Too Large.', where serve's say 413 and 'request body too
    large'."""
    head = [(":method", "POST"), (":path", "/.consent/choice"), (":scheme", "https")]
    head += [(":authority", "myapp.test"), ("origin", "https://myapp.test")]
    head += [("content-type", "application/json")]
    choice = b'{"action": "accept-all"}'
    log = tmp_path / "mitmdump.log"
    with before_h2_origin(tmp_path, h2_page, output=log) as (o, m):
        small = h2_ask(m.port, head, (choice[:10], choice[10:]))
        large = h2_ask(m.port, head, (choice, *[b" " * 16000] * 3))  # (DATA frames of 16 KB)
        until(lambda: len(access_lines(log)) == 2)  # (written once the flow has ended)
    assert small is not None and small[0] == 200
    assert any(k == "set-cookie" and v.startswith("consent=") for k, v in small[1])
    assert large is not None and (large[0], large[2]) == (413, b"request body too large\n")
    assert o.requests == []
    assert [line["status"] for line in access_lines(log)] == [200, 413]


@pytest.mark.parametrize("limit", [(), ("stream_large_bodies=1k",)])
def test_an_http2_body_of_no_declared_length_reaches_an_http1_origin_whole(tmp_path, origin, limit):
    """Found by helper-127: mitmproxy sent an HTTP/2 body with no content-length on to an
    HTTP/1.1 origin with neither a Content-Length nor chunks: the origin read an empty POST,
    then the body as a second request, whose _ga went unfiltered (request smuggling)."""
    smuggled = b"GET /echo?smuggled HTTP/1.1\r\nHost: x\r\nCookie: _ga=SMUGGLED\r\n\r\n"
    body = smuggled + b"x" * 2048
    head = [(":method", "POST"), (":path", "/echo"), (":scheme", "https")]
    head += [(":authority", "myapp.test"), ("cookie", "_ga=1")]
    seen = len(ORIGIN_PATHS)
    with reverse_mitmdump(tmp_path, origin, *limit) as m:
        answer = h2_ask(m.port, head, (body[:1000], body[1000:]))
    assert answer is not None and answer[0] == 200, answer
    assert json.loads(answer[2])["length"] == len(body)
    assert ORIGIN_PATHS[seen:] == ["/echo"]  # (no second request)


def test_an_http2_body_of_no_declared_length_reaches_an_http2_origin_whole(tmp_path):
    """(chunked framing is refused by an HTTP/2 origin: a connection-specific header)"""
    head = [(":method", "POST"), (":path", "/x"), (":scheme", "https")]
    head += [(":authority", "myapp.test")]
    with before_h2_origin(tmp_path, h2_page) as (o, m):
        answer = h2_ask(m.port, head, (b"a" * 100, b"b" * 100))
    assert o.refused == [] and answer is not None and answer[0] == 200, (o.refused, answer)
    [request] = o.requests
    assert ("content-length", "200") in request


def test_an_http2_body_mitmproxy_may_stream_over_tls_is_cut_a_request_with_none_passes(tmp_path):
    """Its head goes before the `request` hook that could give it a length, and its origin
    may speak HTTP/1.1 (where it went unframed) or HTTP/2 (which refuses chunks): a POST of
    no declared length is cut. A preflight passes (helper-128: OPTIONS, DELETE, an empty
    POST were cut too)."""
    head = [(":method", "POST"), (":path", "/x"), (":scheme", "https")]
    head += [(":authority", "myapp.test")]
    with before_h2_origin(tmp_path, h2_page, "stream_large_bodies=1k") as (o, m):
        answer = h2_ask(m.port, head, (b"a" * 1000, b"b" * 2000))
        preflight = h2_ask(m.port, [(":method", "OPTIONS"), *head[1:]])
        delete = h2_ask(m.port, [(":method", "DELETE"), *head[1:]], (b"x" * 2000,))
    assert answer is None or answer[0] >= 400, answer
    assert preflight is not None and preflight[0] == 200, preflight
    assert delete is not None and delete[0] == 200, delete
    assert [dict(r)[":method"] for r in o.requests] == ["OPTIONS", "DELETE"]


def test_an_http2_get_s_body_is_dropped_never_read_as_a_request(tmp_path, origin):
    """(no browser sends a GET with a body; chunked framing would be on every GET)"""
    smuggled = b"GET /echo?smuggled HTTP/1.1\r\nHost: x\r\nCookie: _ga=SMUGGLED\r\n\r\n"
    head = [(":method", "GET"), (":path", "/echo"), (":scheme", "https")]
    head += [(":authority", "myapp.test")]
    seen = len(ORIGIN_PATHS)
    with reverse_mitmdump(tmp_path, origin) as m:
        answer = h2_ask(m.port, head, (smuggled,))
        time.sleep(0.3)
    assert answer is not None and answer[0] == 200, answer
    assert json.loads(answer[2])["length"] == 0
    assert ORIGIN_PATHS[seen:] == ["/echo"]


@pytest.mark.parametrize("path", ["/echo x", "/echo\tx"])
def test_an_http2_path_with_a_space_is_a_400_never_a_request_line_split(tmp_path, origin, path):
    """An HTTP/2 :path is no request line: mitmproxy took `/echo x` and sent an HTTP/1.1
    origin `GET /echo x HTTP/1.1`, a request line of four parts (serve's visitors speak
    HTTP/1.1, whose request line no such path survives)."""
    head = [(":method", "GET"), (":path", path), (":scheme", "https")]
    head += [(":authority", "myapp.test")]
    seen = len(ORIGIN_PATHS)
    with reverse_mitmdump(tmp_path, origin) as m:
        answer = h2_ask(m.port, head)
        time.sleep(0.3)
    assert answer is not None and answer[0] == 400, answer
    assert b"in the request target" in answer[2]
    assert ORIGIN_PATHS[seen:] == []


async def test_an_origin_s_answer_to_the_proxy_s_own_endpoint_is_cut(addon, site_config):
    """(however the request reached it: mitmproxy streamed it there before `request`)"""
    with taddons.context(addon) as tctx:
        tctx.configure(addon, consent_config=str(site_config))
        f = flow(path="/.consent/choice", cookie="_ga=1")
        addon.requestheaders(f)
        f.response = http.Response.make(200, b"", http.Headers([(b"Set-Cookie", b"_ga=2")]))
        f.response.raw_content = None  # (its body not read yet, as the origin's in mitmproxy)
        addon.responseheaders(f)
    assert f.error is not None and f.error.msg == Error.KILLED_MESSAGE


def test_a_page_recorded_through_the_addon_is_rewritten_once_when_replayed_through_it(
    tmp_path, origin
):
    """--server-replay of a flow saved behind the addon rewrote the page again: two guard
    scripts, two banners. (The proxy's mark is believed on a replayed response only: an
    origin's is dropped.)"""
    flows = tmp_path / "flows.mitm"
    with reverse_mitmdump(tmp_path, origin, f"save_stream_file={flows}") as m:
        _, _, recorded = get(f"http://127.0.0.1:{m.port}/page", Sec_Fetch_Dest="document")
    with reverse_mitmdump(tmp_path, origin, f"server_replay={flows}") as m:
        _, _, replayed = get(f"http://127.0.0.1:{m.port}/page", Sec_Fetch_Dest="document")
    assert recorded.count(b'id="consentproxy"') == 1
    assert replayed.count(b'id="consentproxy"') == 1
    assert replayed.count(b"/.consent/consent.js") == recorded.count(b"/.consent/consent.js")


class _Read(list):
    """A WebSocket's messages, counting the reads of one (the trim's work)."""

    reads = 0

    def __getitem__(self, i):
        self.reads += 1
        return super().__getitem__(i)


async def test_a_websockets_messages_are_trimmed_in_constant_time_each(addon, site_config):
    """The trim walked back over up to KEEP_MESSAGES messages for each one (~50 µs each, 256
    reads); it now keeps their bytes' total, and reads the new one and those it drops. What
    is kept is as before: the latest KEEP_MESSAGES, no more bytes than the view keeps, the
    newest always (helper-175)."""
    module = load_addon_module()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, consent_config=str(site_config))
        f = flow()
        f.websocket = websocket.WebSocketData(messages=_Read())
        messages = f.websocket.messages

        def send(*sizes: int) -> list[int]:
            for size in sizes:
                messages.append(websocket.WebSocketMessage(Opcode.TEXT, True, b"x" * size))
                addon.websocket_message(f)
            return [len(list.__getitem__(messages, i).content) for i in range(len(messages))]

        assert send(*range(1, 1001)) == list(range(1001 - module.KEEP_MESSAGES, 1001))
        assert messages.reads < 3 * 1000, messages.reads
        view = module.KEEP_FOR_VIEW
        assert send(view // 3, view // 3, view // 3, view // 3) == [view // 3] * 3
        assert send(2 * view) == [2 * view]  # (the newest, over the bytes kept)
        assert send(1) == [1]
        addon.websocket_end(f)
        assert addon.ws_kept == {}  # (none kept past its end)
        # one enforced once it has messages (a config reload): those count from the start
        messages.extend(
            websocket.WebSocketMessage(Opcode.TEXT, True, b"x" * (view // 2)) for _ in "ab"
        )
        assert send(1) == [view // 2, 1]
        # a stretch not enforced (a reload dropped its host) is counted once it is again: its
        # count stayed at the messages before, and the bytes bound missed the stretch's
        # (helper-177)
        site, f.request.host = f.request.host, "elsewhere.example"
        del f.request.headers["Host"]
        assert not addon._enforced(f)
        assert send(view // 2, view // 2) == [view // 2, 1, view // 2, view // 2]
        f.request.host = site
        assert send(1) == [view // 2, 1]
