"""`consentproxy demo` really starts the legacy site behind the proxy and says where."""

import re
import subprocess
import sys
import urllib.request


def test_demo_prints_the_url_and_serves_the_protected_site():
    proc = subprocess.Popen([sys.executable, "-m", "consentproxy.cli", "demo", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
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
    finally:
        proc.terminate()
        proc.wait(timeout=10)
