"""`consentproxy demo` really starts the legacy site behind the proxy and says where."""

import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def demo(*args: str) -> Iterator[subprocess.Popen[str]]:
    """`consentproxy demo ARGS` running, its stdout to read; stopped after."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "consentproxy", "demo", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_demo_prints_the_url_and_serves_the_protected_site():
    with demo("--port", "0") as proc:
        url = None
        for _ in range(5):
            line = proc.stdout.readline()
            m = re.search(r"Open (http://127\.0\.0\.1:\d+/)", line)
            if m:
                url = m.group(1)
                break
        assert url, "the demo did not print the URL to open"
        with urllib.request.urlopen(url, timeout=10) as resp:
            page = resp.read().decode()
            cookies = resp.headers.get_all("Set-Cookie")
        assert 'id="consentproxy"' in page and "Garage Dupont" in page
        assert 'data-consent-blocked="google-analytics"' in page
        assert not any(c.startswith(("_ga=", "_fbp=")) for c in cookies)


def test_demo_origin_on_ipv6_prints_a_url_that_opens():
    """--origin [::1]:PORT printed http://::1:PORT/, no URL a browser or curl opens."""
    with demo("--origin", "[::1]:0") as proc:
        line = proc.stdout.readline()
        m = re.search(r"origin: (\S+) \(unprotected\)", line)
        assert m and m.group(1).startswith("http://[::1]:"), line
        with urllib.request.urlopen(m.group(1), timeout=10) as resp:
            assert "Garage Dupont" in resp.read().decode()


def test_the_demo_pages_hold_nothing_written_for_the_proxy_and_the_config_wires_them():
    """A legacy site: its "Gérer mes cookies" links are plain links, marked by the rewriter
    through banner.open_selectors in the demo config."""
    from consentproxy.cli import DEMO_DIR
    from consentproxy.config import load_config
    from consentproxy.engine import Engine, Request

    pages = sorted((DEMO_DIR / "pages").glob("*.html"))
    assert pages and not any(b"data-consent" in p.read_bytes() for p in pages)
    config = load_config(DEMO_DIR / "config.yaml")
    assert config.banner.open_selectors == ("a.lien-cookies",)
    engine = Engine(config, [b"k" * 32])
    ex = engine.begin(
        Request("GET", "/", [("Host", "garage.test"), ("Sec-Fetch-Dest", "document")])
    )
    plan = ex.response(200, [("Content-Type", "text/html; charset=utf-8")])
    page = plan.body.feed((DEMO_DIR / "pages" / "index.html").read_bytes()) + plan.body.close()
    assert page.count(b'<a data-consent-action="open" href="#cookies" class="lien-cookies"') == 1


def test_demo_refuses_a_short_secret_as_serve_does():
    """A CONSENTPROXY_SECRET of a few characters signed the demo's consent cookies unsaid
    (serve and check-config refuse it; only an unset one makes the demo a throw-away key)."""
    env = {**os.environ, "CONSENTPROXY_SECRET": "short"}
    done = subprocess.run(
        [sys.executable, "-m", "consentproxy", "demo", "--port", "0"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "CONSENTPROXY_SECRET holds a key shorter than 16 characters" in done.stderr


def test_the_origins_docstring_names_every_key_a_page_may_have():
    """demo/origin.py's docstring is the manifest's reference (pages.yaml, tests/corpus):
    `headers`, which the corpus uses for a site's own CSP, was missing from it."""
    from consentproxy.demo import origin

    named = set(re.findall(r"``(\w+)``", origin.__doc__ or ""))
    assert sorted(origin._KNOWN_KEYS - named) == []
