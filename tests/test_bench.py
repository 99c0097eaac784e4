"""The benchmark scripts run (on tiny inputs, not timed), so they cannot rot unnoticed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCH / args[0]), *args[1:]],
        cwd=BENCH,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_rewriter_benchmark_runs_and_reports_every_table():
    out = run("rewriter.py", "--small", "--repeats", "1")
    assert "C skip loop: built" in out
    for title in (
        "Rewriter throughput",
        "Cost growth with page size",
        "Cost growth with configured services",
    ):
        assert f"## {title}" in out


def test_the_real_pages_benchmark_runs_warm_and_cold():
    pages = BENCH.parent / "src" / "consentproxy" / "demo" / "pages"
    warm = run("realworld.py", "--repeats", "1", "--pages", str(pages))
    cold = run("realworld.py", "--repeats", "1", "--pages", str(pages), "--cold", "--cpu")
    assert "## Rewriter on 4 real pages" in warm and "first view" not in warm
    assert "CPU time, every memo cleared: a first view" in cold
    assert "| consentproxy |" in cold


def test_the_hostile_markup_benchmark_runs_every_construct():
    out = run("hostile.py")
    assert out.count("\n| ") >= 28 + 5 + 2 + 10 + 3 + 5  # the rows, and each table's header
    for title in (
        "Hostile markup",
        "Long waits sent one byte",
        "A start tag that never ends",
        "Style sheets read for the first time",
        "Cookie deletions by the request's path",
    ):
        assert f"## {title}" in out


def test_the_proxy_benchmark_runs_against_the_real_proxy():
    out = run(
        "proxy.py",
        "--seconds",
        "0.2",
        "--rounds",
        "1",
        "--big-mib",
        "2",
        "--servers",
        "passthrough,consentproxy,copy-rewriter",
    )
    assert "| HTML 100KB, no consent | consentproxy |" in out
    assert "| consentproxy |" in out.split("## 2 MiB download")[1]
    assert "slow page: consentproxy's first byte at" in out
    assert "at the goals' machine speed (the passthrough's" in out
    assert "| text 100KB (the page as text/plain) | consentproxy |" in out
    assert "| consentproxy |" in out.split("## Added latency, one connection")[1]
    assert "| HTML 100KB, no consent | copy-rewriter |" in out


def test_the_steps_benchmark_times_each_step_inside_serve_and_in_a_loop():
    out = run("steps.py", "--requests", "20")
    text, page = out.split("### /page.txt")[1].split("### /page.html")
    for step in ("Request", "begin", "upstream_headers", "response", "request_done"):
        assert f"| `{step}` | " in text and f"| `{step}` | " in page
    assert "| `_rewrite_plan` | " in page and "| `_rewrite_plan` | " not in text
    assert "| `sliced` | " in page  # the page is rewritten (all at hand: in one step), the text not


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_the_syscalls_benchmark_counts_each_proxys_calls_and_bytes():
    out = run("syscalls.py", "--requests", "20", "--connections", "1,4", "--paths", "/page.txt")
    one, four = out.split("### /page.txt: 20 requests over 1 connection (strace)")[1].split(
        "### /page.txt: 20 requests over 4 connections (strace)"
    )
    for table in (one, four):
        assert "| per request | passthrough | consentproxy |" in table
        for row in ("read", "all system calls", "page faults"):
            assert f"\n| {row} | " in table
        read = table.split("\n| bytes read | ")[1].split(" |")[:2]
        assert all(int(cell.replace(",", "")) > 100_000 for cell in read)  # the 100 KB body
