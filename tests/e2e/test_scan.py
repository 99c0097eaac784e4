"""`consentproxy scan` of the bundled demo site in every state: the site as it is breaks the
rules in each of them (--direct), the same site through the proxy in none. Third-party
requests are answered by the scanner, never sent (its default)."""

from __future__ import annotations

import json
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
