"""The mitmproxy adapter: the same engine behind a real mitmdump in reverse mode."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

from consentproxy.demo.origin import make_origin_app, serve_app
from tests.conftest import CORPUS, DEMO_CONFIG, ROOT

MITMDUMP = Path(sys.executable).parent / "mitmdump"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def mitm_proxy(tmp_path):
    """mitmdump with addons/consent.py in front of the corpus origin; yields its base URL."""
    async with serve_app(make_origin_app(CORPUS)) as origin_port:
        port = free_port()
        proc = await asyncio.create_subprocess_exec(
            str(MITMDUMP), "--mode", f"reverse:http://127.0.0.1:{origin_port}@127.0.0.1:{port}",
            "-s", str(ROOT / "addons" / "consent.py"), "--set", f"consent_config={DEMO_CONFIG}",
            "--set", f"confdir={tmp_path}", "-q",
            env={"PATH": "/usr/bin:/bin", "CONSENTPROXY_SECRET": "addon-test-secret-0123456789",
                 "HOME": str(tmp_path), "PYTHONPATH": str(ROOT / "src")},
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        try:
            for _ in range(150):  # up to 30 s for mitmdump to listen
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.close()
                    break
                except OSError:
                    assert proc.returncode is None, (await proc.stderr.read()).decode()
                    await asyncio.sleep(0.2)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 10)


async def test_addon_neutralises_strips_cookies_and_injects_the_banner(mitm_proxy):
    async with (aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as s,
                s.get(mitm_proxy + "/embeds", headers={"Cookie": "_ga=1; PHPSESSID=x"}) as r):
        page = await r.text()
        cookies = r.headers.getall("Set-Cookie", [])
    assert page.count('id="consentproxy"') == 1
    assert 'data-consent-blocked="youtube"' in page and "data-consent-src=" in page
    assert not any(c.startswith(("_ga=GA", "_fbp=fb")) for c in cookies)
    assert any(c.startswith("_ga=; Max-Age=0") for c in cookies)


async def test_addon_serves_the_consent_endpoints_with_the_same_cookie(mitm_proxy):
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as s:
        async with s.post(mitm_proxy + "/.consent/choice", data=json.dumps(
                {"action": "accept-all"}), headers={"Content-Type": "application/json",
                                                     "Origin": mitm_proxy}) as r:
            assert r.status == 200 and (await r.json())["decided"]
            consent = r.headers["Set-Cookie"].split(";")[0]
        async with s.get(mitm_proxy + "/api/echo-cookies",
                         headers={"Cookie": f"{consent}; _ga=1"}) as r:
            assert "_ga" in (await r.json())["cookies"]
