"""The mitmproxy addon as mitmproxy drives it (taddons/tflow): options, which flows it
enforces in each mode, and the per-flow note. Its HTTP behaviour through a real mitmdump
is the shared suite in test_server.py, run against both adapters."""

from __future__ import annotations

import importlib.util
import json

import pytest
from mitmproxy import exceptions, http
from mitmproxy.proxy.mode_specs import ProxyMode
from mitmproxy.test import taddons, tflow, tutils

from tests.conftest import DEMO_CONFIG, ROOT

SITE = "www.example.com"
HTML = b'<html><body><iframe src="https://www.youtube.com/embed/x"></iframe></body></html>'


def load_addon_module():
    spec = importlib.util.spec_from_file_location("consent_addon", ROOT / "addons" / "consent.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def site_config(tmp_path):
    f = tmp_path / "site.yaml"
    f.write_text(DEMO_CONFIG.read_text().replace(
        "upstream: http://127.0.0.1:8080", f"sites: [{SITE}]"))
    return f


@pytest.fixture
def addon(monkeypatch):
    monkeypatch.setenv("CONSENTPROXY_SECRET", "addon-unit-secret-0123456789")
    return load_addon_module().ConsentAddon()


def flow(host=SITE, path="/", cookie=None, mode="regular", **headers):
    fields = [(b"Host", host.encode())]
    if cookie:
        fields.append((b"Cookie", cookie.encode()))
    fields += [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    f = tflow.tflow(req=tutils.treq(host=host, port=80, path=path.encode(),
                                    headers=http.Headers(fields), content=b""))
    f.client_conn.proxy_mode = ProxyMode.parse(mode)
    return f


async def serve(addon, f, status=200, headers=(("Content-Type", "text/html"),), body=HTML):
    """What mitmproxy does with a flow: request hooks, then the origin's answer (headers
    hook, body streamed through), then the response hook."""
    addon.requestheaders(f)
    await addon.request(f)
    if f.response is None:
        f.response = http.Response.make(status, b"", http.Headers(
            [(k.encode(), v.encode()) for k, v in headers]))
        addon.responseheaders(f)
        stream = f.response.stream
        out = stream(body) + stream(b"") if callable(stream) else body
        f.response.content = out
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


async def test_reverse_mode_enforces_every_host(addon):
    with taddons.context(addon) as tctx:
        tctx.configure(addon, consent_config=str(DEMO_CONFIG))
        f = await serve(addon, flow(host="127.0.0.1", cookie="_fbp=1",
                              mode="reverse:http://127.0.0.1:8080"))
    assert "Cookie" not in f.request.headers
    assert "request cookies stripped: _fbp" in f.comment


async def test_consent_state_option_forces_the_state(addon, site_config):
    with taddons.context(addon) as tctx:
        tctx.configure(addon, consent_config=str(site_config), consent_state="analytics")
        f = await serve(addon, flow(cookie="_ga=1; _fbp=2"), headers=[
            ("Content-Type", "text/html"), ("Set-Cookie", "_gid=3"), ("Set-Cookie", "_fbp=4")])
    assert f.request.headers["Cookie"] == "_ga=1"
    assert f.response.headers.get_all("Set-Cookie")[0] == "_gid=3"
    assert f.comment.startswith("consent analytics (forced)")


def test_a_bad_consent_state_is_refused_naming_the_valid_ones(addon, site_config):
    with taddons.context(addon) as tctx, pytest.raises(exceptions.OptionsError) as e:
        tctx.configure(addon, consent_config=str(site_config), consent_state="analytic")
    assert "consent_state: 'analytic' in 'analytic' is no category or service" in str(e.value)
    assert "analytics, advertising, social" in str(e.value)


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
        (f"http://{SITE}/a?x=1", 200), (f"http://{SITE}/b", 404)]
    assert lines[0]["request_cookies_dropped"] == ["_ga"] and lines[0]["banner"] is True
