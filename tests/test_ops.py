"""Operating the proxy: several workers on one port, SIGHUP reload under load, health and
readiness probes, Prometheus metrics, JSON access log, graceful shutdown. Real processes
and sockets on 127.0.0.1, bounded in count and time."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import io
import json
import os
import platform
import random
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from consentproxy import server
from consentproxy.adapter import access_line
from consentproxy.cli import main
from consentproxy.config import parse_config
from consentproxy.engine import Engine, Request
from consentproxy.report import Report
from consentproxy.telemetry import AccessLog, Telemetry
from tests.adapters import free_port, until_up
from tests.pgserver import postgres_cluster

CONFIG = """
upstream: {upstream}
listen: 127.0.0.1:{port}
categories: {{necessary: {{required: true}}, analytics: {{}}, advertising: {{}}}}
services: [{{use: google-analytics}}, {{use: facebook-pixel}}]
metrics: {{listen: 127.0.0.1:{metrics}}}
banner: {{texts: {{en: {{title: {title}}}}}}}
"""
PAGE = (
    b"<!doctype html><html><head></head><body><p>hello</p>"
    b"<script src='https://www.google-analytics.com/analytics.js'></script></body></html>"
)


async def origin_app(slow: float = 0.0) -> web.Application:
    async def endless(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/html"})
        await resp.prepare(request)
        while True:
            await resp.write(b"<p>more</p>" * 100)
            await asyncio.sleep(0.05)

    async def page(request: web.Request) -> web.Response:
        await asyncio.sleep(slow if request.path == "/slow" else 0)
        resp = web.Response(body=PAGE, content_type="text/html")
        resp.set_cookie("_ga", "1")
        return resp

    app = web.Application()
    app.router.add_get("/endless", endless)
    app.router.add_route("*", "/{tail:.*}", page)
    return app


@pytest.fixture
async def origin() -> AsyncIterator[str]:
    runner = web.AppRunner(await origin_app(slow=1.0))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def start_serve(config: Path, *args: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "CONSENTPROXY_SECRET": "s" * 32}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "consentproxy",
        "serve",
        "--config",
        str(config),
        *args,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


def counter(scrape: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    m = re.search(
        rf"^{name}_total{{{re.escape(wanted)}}} (\S+)$" if labels else rf"^{name}_total (\S+)$",
        scrape,
        re.MULTILINE,
    )
    return float(m.group(1)) if m else 0.0


async def up(proc: asyncio.subprocess.Process, url: str) -> None:
    """until_up(url), or serve's own words when it exits first (a taken port, a bad config:
    the bare "never answered" after 20 s hid them)."""
    answered = asyncio.ensure_future(until_up(url))
    exited = asyncio.ensure_future(proc.wait())
    await asyncio.wait({answered, exited}, return_when=asyncio.FIRST_COMPLETED)
    if answered.done():
        exited.cancel()
        return answered.result()
    answered.cancel()
    assert proc.stderr is not None
    err = (await proc.stderr.read()).decode()
    raise AssertionError(f"serve exited {proc.returncode} before {url} answered:\n{err}")


async def stop(proc: asyncio.subprocess.Process) -> str:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    return err.decode()


async def stop_within(proc: asyncio.subprocess.Process, seconds: float) -> str:
    """Its stderr once it exits on its own (killed if it has not after seconds)."""
    try:
        _, err = await asyncio.wait_for(proc.communicate(), seconds)
    except TimeoutError:
        proc.kill()
        _, err = await proc.communicate()
    return err.decode()


async def test_two_workers_share_one_port_and_both_answer(origin: str, tmp_path: Path) -> None:
    port, metrics = free_port(), free_port(span=2)
    config = tmp_path / "site.yaml"
    config.write_text(CONFIG.format(upstream=origin, port=port, metrics=metrics, title="One"))
    proc = await start_serve(config, "--workers", "2")
    try:
        await up(proc, f"http://127.0.0.1:{port}/.consent/healthz")
        for m in (metrics, metrics + 1):  # both workers up, not just the first to answer
            await up(proc, f"http://127.0.0.1:{m}/metrics")
        # New connections each time: the kernel spreads them over the workers.
        for _ in range(60):
            async with (
                aiohttp.ClientSession() as client,
                client.get(f"http://127.0.0.1:{port}/.consent/healthz") as resp,
            ):
                assert resp.status == 200
        per_worker = []
        async with aiohttp.ClientSession() as client:
            for m in (metrics, metrics + 1):  # each worker scrapes on its own port
                async with client.get(f"http://127.0.0.1:{m}/metrics") as resp:
                    per_worker.append(
                        counter(await resp.text(), "consentproxy_requests", status="200")
                    )
        assert sum(per_worker) >= 60 and all(n > 0 for n in per_worker), per_worker
        children = [
            p
            for p in Path("/proc").iterdir()
            if p.name.isdigit() and f"PPid:\t{proc.pid}\n" in (p / "status").read_text()
        ]
        assert len(children) == 2
    finally:
        await stop(proc)


async def test_a_worker_that_dies_is_named_and_stops_the_others(
    origin: str, tmp_path: Path
) -> None:
    """(the parent exited 1 and nothing said which worker died, nor why: an OOM kill left
    no clue)"""
    port = free_port()
    config = tmp_path / "site.yaml"
    config.write_text(
        CONFIG.format(upstream=origin, port=port, metrics=free_port(span=2), title="A")
    )
    proc = await start_serve(config, "--workers", "2")
    try:
        await up(proc, f"http://127.0.0.1:{port}/.consent/healthz")
        children = [
            int(p.name)
            for p in Path("/proc").iterdir()
            if p.name.isdigit() and f"PPid:\t{proc.pid}\n" in (p / "status").read_text()
        ]
        os.kill(children[0], signal.SIGKILL)
        err = await stop_within(proc, 20)
    finally:
        await stop(proc)
    assert proc.returncode == 1
    assert f"(pid {children[0]}) was killed by signal 9; stopping the others" in err


async def test_healthcheck_asks_the_serve_of_its_config(origin: str, tmp_path: Path) -> None:
    """The Docker image's HEALTHCHECK asked 127.0.0.1:8000/.consent/healthz whatever the
    config said: another port or prefix was unhealthy for good."""
    port = free_port()
    config = tmp_path / "site.yaml"
    config.write_text(
        CONFIG.format(upstream=origin, port=port, metrics=free_port(), title="A")
        + "prefix: /_cp/\n"
    )
    check = ["healthcheck", "--config", str(config), "--timeout", "5"]
    assert await asyncio.to_thread(main, check) == 1  # (nothing listens yet)
    # no config there (compose's origin had the image's check): 1 too, Docker reserves 2
    assert main(["healthcheck", "--config", str(tmp_path / "none.yaml")]) == 1
    proc = await start_serve(config)
    try:
        await up(proc, f"http://127.0.0.1:{port}/_cp/healthz")
        assert await asyncio.to_thread(main, check) == 0
    finally:
        await stop(proc)


async def test_a_taken_port_is_one_clear_error_and_an_exit(origin: str, tmp_path: Path) -> None:
    """With records kept, serve hung on a taken port (its records writer's thread left
    running), else exited with a traceback about an unclosed session; the message named
    neither the file nor what to do."""
    taken = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = taken.sockets[0].getsockname()[1]
    config = tmp_path / "site.yaml"
    config.write_text(
        CONFIG.format(upstream=origin, port=port, metrics=free_port(), title="A")
        + f"records: {{path: {tmp_path / 'records.sqlite3'}}}\n"
    )
    try:
        proc = await start_serve(config)
        err = await stop_within(proc, 20)
    finally:
        taken.close()
    assert proc.returncode == 2
    assert f"site.yaml: listen 127.0.0.1:{port} cannot be bound" in err
    assert "give listen another address" in err
    assert "Traceback" not in err and "Unclosed" not in err


async def said_in(stream: asyncio.StreamReader, words: str) -> None:
    """Until a line of the stream holds the words."""
    while words not in (line := (await stream.readline()).decode()):
        assert line, f"the log ended without {words!r}"


async def test_an_origin_down_as_serve_starts_is_said_once_in_its_log(
    origin: str, tmp_path: Path
) -> None:
    """serve printed its address and nothing more while the origin it fronts was down (a
    typo in upstream, the site not started): the operator learnt of it from the visitors'
    502s. An origin that answers is said nothing of."""
    dead = f"http://127.0.0.1:{free_port()}"  # (nothing listens there)
    said = f"upstream {dead} does not answer now: visitors get a 502"
    for upstream in (dead, origin):
        port, config = free_port(), tmp_path / "site.yaml"
        config.write_text(
            CONFIG.format(upstream=upstream, port=port, metrics=free_port(), title="A")
        )
        proc = await start_serve(config)
        try:
            await up(proc, f"http://127.0.0.1:{port}/.consent/healthz")
            assert proc.stderr is not None
            if upstream == dead:  # (read until the line comes; 20 s only to fail at all)
                await asyncio.wait_for(said_in(proc.stderr, said), 20)
        finally:
            err = await stop(proc)
        assert said not in err and "Traceback" not in err, err


async def test_a_reload_sent_while_serve_imports_its_modules_does_not_end_it(
    origin: str, tmp_path: Path
) -> None:
    """HUP's default ends a process: `serve` ignores it from its first line, before the third
    of a second of imports (aiohttp, the rewriter) in which a `systemctl reload` or a
    logrotate used to kill it. The HUP is sent the moment the process ignores it."""
    port = free_port()
    config = tmp_path / "site.yaml"
    config.write_text(CONFIG.format(upstream=origin, port=port, metrics=free_port(), title="A"))
    proc = await start_serve(config)
    try:
        status = Path(f"/proc/{proc.pid}/status")
        for _ in range(10_000):  # (10 s at most)
            ignored = re.search(r"^SigIgn:\s*([0-9a-f]+)$", status.read_text(), re.MULTILINE)
            if ignored and int(ignored[1], 16) & 1 << (signal.SIGHUP - 1):
                break
            await asyncio.sleep(0.001)
        importing = "aiohttp" not in Path(f"/proc/{proc.pid}/maps").read_text()
        proc.send_signal(signal.SIGHUP)
        await up(proc, f"http://127.0.0.1:{port}/.consent/healthz")
        assert proc.returncode is None
        assert importing, "HUP was ignored only once aiohttp was loaded"
    finally:
        await stop(proc)


async def test_sighup_reloads_under_load_without_losing_a_request(
    origin: str, tmp_path: Path
) -> None:
    port, metrics = free_port(), free_port()
    config = tmp_path / "site.yaml"
    config.write_text(CONFIG.format(upstream=origin, port=port, metrics=metrics, title="Before"))
    proc = await start_serve(config)
    statuses: list[int] = []
    titles: list[str] = []
    try:
        await up(proc, f"http://127.0.0.1:{port}/.consent/healthz")
        async with aiohttp.ClientSession() as client:

            async def hit() -> None:
                async with client.get(
                    f"http://127.0.0.1:{port}/page", headers={"Sec-Fetch-Dest": "document"}
                ) as resp:
                    statuses.append(resp.status)
                    titles.append(re.search(r'id="cp-title"[^>]*>([^<]+)<', await resp.text())[1])

            for round_ in range(30):  # 30 rounds of 10 concurrent requests
                if round_ == 10:
                    config.write_text(
                        CONFIG.format(upstream=origin, port=port, metrics=metrics, title="After")
                    )
                    proc.send_signal(signal.SIGHUP)
                if round_ == 15:  # a save in another encoding: refused in one line
                    config.write_bytes(b"upstream: http://127.0.0.1:9\n# caf\xe9\n")
                    proc.send_signal(signal.SIGHUP)
                if round_ == 20:  # a broken config is refused, the running one stays
                    config.write_text("upstream: [\n")
                    proc.send_signal(signal.SIGHUP)
                if round_ == 25:  # what a reload cannot change is said so
                    config.write_text(
                        CONFIG.format(
                            upstream=origin, port=port + 1, metrics=metrics, title="After"
                        )
                    )
                    proc.send_signal(signal.SIGHUP)
                if round_ == 26:  # an upstream of where it still listens: every request
                    config.write_text(  # would come back (all 508s): refused
                        CONFIG.format(
                            upstream=f"http://127.0.0.1:{port}",
                            port=port + 1,
                            metrics=metrics,
                            title="Loop",
                        )
                    )
                    proc.send_signal(signal.SIGHUP)
                if round_ == 27:  # put back as it was started: nothing left to say
                    config.write_text(
                        CONFIG.format(upstream=origin, port=port, metrics=metrics, title="After")
                    )
                    proc.send_signal(signal.SIGHUP)
                await asyncio.gather(*(hit() for _ in range(10)))
            async with client.get(f"http://127.0.0.1:{metrics}/metrics") as resp:
                scrape = await resp.text()
    finally:
        log = await stop(proc)
    # (what alerting reads: a refused reload was in the log alone)
    assert 'consentproxy_config_reloads_total{result="applied"} 3.0' in scrape
    assert 'consentproxy_config_reloads_total{result="refused"} 3.0' in scrape
    assert re.search(r'consentproxy_build_info\{c_loop="yes",version="[^"]+"\} 1.0', scrape)
    assert statuses == [200] * 300
    assert titles[0] == "Before" and titles[-1] == "After"
    assert "reloaded" in log and "reload refused, the running config stays" in log
    assert "not valid YAML" in log and "not UTF-8 (byte 0xe9)" in log
    assert "is this proxy's own address" in log
    assert "Traceback" not in log
    assert log.count("a change to listen takes effect only on a restart") == 1
    # The access log, written in batches, has every request once the process has stopped.
    access = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert [a["status"] for a in access if a["path"] == "/page"] == [200] * 300
    assert '"GET /page HTTP/1.1"' not in log  # and aiohttp's own access log is off


async def test_a_refused_reload_logs_the_upstream_without_its_password(
    origin: str, tmp_path: Path
) -> None:
    """A reload refused for its upstream (a port out of range, the proxy's own address)
    logged the UserError whole: `upstream http://u:s3cret@...` in serve's log."""
    port, metrics = free_port(), free_port()
    config = tmp_path / "site.yaml"
    config.write_text(CONFIG.format(upstream=origin, port=port, metrics=metrics, title="T"))
    proc = await start_serve(config)
    try:
        await up(proc, f"http://127.0.0.1:{port}/.consent/healthz")
        async with aiohttp.ClientSession() as client:
            for refused, upstream in enumerate(["127.0.0.1:99999", f"127.0.0.1:{port}"], 1):
                config.write_text(
                    CONFIG.format(
                        upstream=f"http://u:s3cret@{upstream}",
                        port=port,
                        metrics=metrics,
                        title="T",
                    )
                )
                proc.send_signal(signal.SIGHUP)
                counted = f'consentproxy_config_reloads_total{{result="refused"}} {refused}.0'
                for _ in range(100):
                    async with client.get(f"http://127.0.0.1:{metrics}/metrics") as resp:
                        if counted in await resp.text():
                            break
                    await asyncio.sleep(0.1)
    finally:
        log = await stop(proc)
    assert log.count("reload refused, the running config stays") == 2, log
    assert "s3cret" not in log and "is this proxy's own address" in log, log
    assert log.count("http://u:***@127.0.0.1") == 2, log


async def test_probes_flip_when_the_upstream_or_the_store_goes_away(tmp_path: Path) -> None:
    runner = web.AppRunner(await origin_app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    upstream = f"http://127.0.0.1:{runner.addresses[0][1]}"
    pg = postgres_cluster(Path(tempfile.mkdtemp(prefix="consentproxy-pg-")))
    dsn = pg.__enter__()
    config = parse_config(
        CONFIG.format(upstream=upstream, port=0, metrics=0, title="T")
        + f"records: {{dsn: '{dsn}'}}\n"
    )
    running = await server.start(Engine(config, [b"k" * 32]), "127.0.0.1", 0)
    base = f"http://127.0.0.1:{running.port}/.consent/"
    try:
        async with aiohttp.ClientSession() as client:

            async def ready() -> tuple[int, dict[str, str]]:
                async with client.get(base + "readyz") as resp:
                    return resp.status, await resp.json()

            for _ in range(100):  # the store opens in the background
                status, body = await ready()
                if status == 200:
                    break
                await asyncio.sleep(0.05)
            assert (status, body) == (200, {"upstream": "ok", "records": "ok"})
            await runner.cleanup()  # the origin goes away
            assert await ready() == (503, {"upstream": "failing", "records": "ok"})
            pg.__exit__(None, None, None)  # and the database
            assert (await ready())[1]["records"] == "failing"
            async with client.get(base + "healthz") as resp:
                assert resp.status == 200  # alive all the same
    finally:
        await running.stop()
        pg.__exit__(None, None, None)


async def test_a_reload_keeps_the_report_hosts_labelled_and_the_rate_limits(origin: str) -> None:
    """Each reload emptied the CSP report hosts given a metrics label (the series live on:
    500 more a reload) and the rate limits (a flood started afresh)."""
    text = CONFIG.format(upstream=origin, port=0, metrics=0, title="T")
    running = await server.start(Engine(parse_config(text), [b"k" * 32]), "127.0.0.1", 0)
    base = f"http://127.0.0.1:{running.port}"
    report = {"csp-report": {"violated-directive": "img-src", "blocked-uri": "https://a.example/x"}}
    try:
        async with aiohttp.ClientSession() as client:
            async with client.post(
                base + "/.consent/csp-report",
                data=json.dumps(report),
                headers={"Content-Type": "application/csp-report"},
            ) as resp:
                assert resp.status == 204
            old = running.proxy.engine.endpoints
            assert "a.example" in old.hosts_seen
            await running.proxy.reload(Engine(parse_config(text), [b"k" * 32]))
            new = running.proxy.engine.endpoints
            assert new is not old and "a.example" in new.hosts_seen
            assert new.recorded is old.recorded and new.reports is old.reports
    finally:
        await running.stop()


async def test_a_reload_that_adds_or_moves_the_records_store_records_there(
    origin: str, tmp_path: Path
) -> None:
    """A reload kept the store `serve` started with (none, or the old path), and said
    nothing: each decision after it went to the old store, or to none."""
    import sqlite3

    def config(records: str) -> Engine:
        text = CONFIG.format(upstream=origin, port=0, metrics=0, title="T") + records
        return Engine(parse_config(text), [b"k" * 32])

    first, second = tmp_path / "a.sqlite3", tmp_path / "b.sqlite3"
    running = await server.start(config(""), "127.0.0.1", 0)
    base = f"http://127.0.0.1:{running.port}"

    async def choose(client: aiohttp.ClientSession) -> None:
        async with client.post(
            base + "/.consent/choice", headers={"Origin": base}, json={"action": "reject-all"}
        ) as resp:
            assert resp.status == 200

    try:
        async with aiohttp.ClientSession() as client:
            await running.proxy.reload(config(f"records: {{path: {first}}}\n"))
            await choose(client)
            await running.proxy.reload(config(f"records: {{path: {second}}}\n"))
            await choose(client)
            await choose(client)
    finally:
        await running.stop()
    for path, count in ((first, 1), (second, 2)):
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT count(*) FROM consent_records").fetchone() == (count,)


async def test_a_choice_in_flight_across_a_reload_that_moves_the_store_is_recorded(
    origin: str, tmp_path: Path
) -> None:
    """The request kept the engine it began with, whose writer the reload closed: the visitor
    got the cookie and no store the record (helper-108)."""
    import sqlite3

    def config(path: Path) -> Engine:
        text = CONFIG.format(upstream=origin, port=0, metrics=0, title="T")
        return Engine(parse_config(text + f"records: {{path: {path}}}\n"), [b"k" * 32])

    first, second = tmp_path / "a.sqlite3", tmp_path / "b.sqlite3"
    running = await server.start(config(first), "127.0.0.1", 0)
    body = b'{"action": "reject-all"}'
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
        writer.write(
            b"POST /.consent/choice HTTP/1.1\r\n"
            + f"Host: 127.0.0.1:{running.port}\r\nOrigin: http://127.0.0.1:{running.port}\r\n".encode()
            + b"Content-Type: application/json\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body[:5]
        )
        await writer.drain()
        await asyncio.sleep(0.2)  # (the request is in flight, on the first engine)
        await running.proxy.reload(config(second))
        writer.write(body[5:])
        await writer.drain()
        answer = await reader.read()
        writer.close()
        assert answer.startswith(b"HTTP/1.1 200") and b"Set-Cookie: consent=" in answer
    finally:
        await running.stop()
    counts = []
    for path in (first, second):
        with sqlite3.connect(path) as db:
            counts += db.execute("SELECT count(*) FROM consent_records").fetchone()
    assert counts == [0, 1]


async def test_readyz_finds_the_records_open_at_start_and_after_a_reload_moving_them(
    origin: str, tmp_path: Path
) -> None:
    """The store opened in the background: a readyz at once found it not open yet (503,
    `records: failing`). keep_records returns it open. The first request counts: no retry."""

    def config(path: Path) -> Engine:
        text = CONFIG.format(upstream=origin, port=0, metrics=0, title="T")
        return Engine(parse_config(text + f"records: {{path: {path}}}\n"), [b"k" * 32])

    running = await server.start(config(tmp_path / "a.sqlite3"), "127.0.0.1", 0)
    readyz = f"http://127.0.0.1:{running.port}/.consent/readyz"
    try:
        async with aiohttp.ClientSession() as client:
            async with client.get(readyz) as resp:
                assert (resp.status, await resp.json()) == (
                    200,
                    {"upstream": "ok", "records": "ok"},
                )
            await running.proxy.reload(config(tmp_path / "b.sqlite3"))
            async with client.get(readyz) as resp:
                assert (resp.status, await resp.json()) == (
                    200,
                    {"upstream": "ok", "records": "ok"},
                )
    finally:
        await running.stop()


async def test_metrics_and_access_log_follow_what_the_proxy_does(origin: str) -> None:
    config = parse_config(CONFIG.format(upstream=origin, port=0, metrics=0, title="T"))
    running = await server.start(Engine(config, [b"k" * 32]), "127.0.0.1", 0)
    log = io.StringIO()
    access_log = AccessLog(log)
    telemetry = Telemetry(lambda: running.proxy.engine, access_log)
    running.proxy.on_done = telemetry.request_done
    base = f"http://127.0.0.1:{running.port}"
    try:
        async with aiohttp.ClientSession() as client:
            async with client.get(
                base + "/page?email=someone@example.com",
                headers={"Sec-Fetch-Dest": "document", "Cookie": "_ga=old"},
            ) as resp:
                await resp.read()
            async with client.post(
                base + "/.consent/choice", headers={"Origin": base}, json={"action": "reject-all"}
            ) as resp:
                assert resp.status == 200
                choice = await resp.read()
            async with client.head(base + "/.consent/state") as resp:
                assert resp.status == 200 and await resp.read() == b""
        scrape = telemetry.scrape().decode()
    finally:
        await running.stop()
    assert log.getvalue() == ""  # batched until a flush
    access_log.flush()
    assert counter(scrape, "consentproxy_requests", status="200") == 3
    assert counter(scrape, "consentproxy_neutralised_elements", service="google-analytics") == 1
    assert counter(scrape, "consentproxy_set_cookies_stripped", category="analytics") == 1
    assert counter(scrape, "consentproxy_consent_decisions", action="reject-all") == 1
    assert counter(scrape, "consentproxy_rewrite_bytes") == len(PAGE)
    assert "consentproxy_upstream_seconds_count 1.0" in scrape
    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    page = lines[0]
    assert page["path"] == "/page" and page["status"] == 200  # no query string: no email
    assert page["neutralised"] == ["google-analytics"] and page["banner"] is True
    assert page["request_cookies_stripped"] == ["_ga"] and "someone" not in json.dumps(lines)
    assert lines[1]["decision"] == "reject-all"
    assert lines[1]["bytes"] == len(choice) > 0  # (the proxy's own answers logged 0 bytes)
    assert lines[2]["method"] == "HEAD" and lines[2]["bytes"] == 0  # (sent no body)


def test_each_neutralised_element_is_counted_under_its_service() -> None:
    """A page's elements are counted per service in one go (telemetry._count): each one
    counts, however many a service has; the access line names each service once."""
    engine = Engine(
        parse_config(CONFIG.format(upstream="http://127.0.0.1:9", port=0, metrics=0, title="T")),
        [b"k" * 32],
    )
    log = io.StringIO()
    telemetry = Telemetry(lambda: engine, AccessLog(log))
    for elements in (
        [("youtube", "iframe"), ("google-analytics", "script"), ("youtube", "img")],
        [("youtube", "iframe")],
    ):
        report = Report(neutralised=elements)
        telemetry.request_done("GET", "/", 200, 0.01, 10, report)
    telemetry.flush()
    scrape = telemetry.scrape().decode()
    assert counter(scrape, "consentproxy_neutralised_elements", service="youtube") == 3
    assert counter(scrape, "consentproxy_neutralised_elements", service="google-analytics") == 1
    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    assert [line["neutralised"] for line in lines] == [["google-analytics", "youtube"], ["youtube"]]


def test_the_same_services_seen_again_count_again_and_a_reload_names_them_anew() -> None:
    """The counts by service are kept by the services a response saw (not looked up element by
    element each time): seen again, they count again; after a reload that configures a
    service by name, the same elements are counted under it, not under "other" as before."""
    config = CONFIG.format(upstream="http://127.0.0.1:9", port=0, metrics=0, title="T")
    engines = [Engine(parse_config(config), [b"k" * 32])]
    telemetry = Telemetry(lambda: engines[-1])
    elements = [("acme-chat", "script"), ("google-analytics", "script"), ("acme-chat", "img")]
    for _ in range(2):
        telemetry.request_done("GET", "/", 200, 0.01, 10, Report(neutralised=elements))
    telemetry.settle()
    chat = "{name: acme-chat, category: analytics, hosts: [chat.acme.example]}"
    named = config.replace("services: [", f"services: [{chat}, ")
    engines.append(Engine(parse_config(named), [b"k" * 32]))
    telemetry.request_done("GET", "/", 200, 0.01, 10, Report(neutralised=elements))
    telemetry.settle()
    scrape = telemetry.scrape().decode()
    assert counter(scrape, "consentproxy_neutralised_elements", service="other") == 4
    assert counter(scrape, "consentproxy_neutralised_elements", service="acme-chat") == 2
    assert counter(scrape, "consentproxy_neutralised_elements", service="google-analytics") == 3


def test_a_cookie_name_no_utf_8_reads_is_logged_and_counted_with_the_others() -> None:
    """A visitor's `Cookie: x\\xff=1` (read as a surrogate escape) made the access line's JSON
    fail: that batch's lines were lost, the next scrape was a 500, and the flush at shutdown
    ended serve with a traceback."""
    engine = Engine(
        parse_config(CONFIG.format(upstream="http://127.0.0.1:9", port=0, metrics=0, title="T")),
        [b"k" * 32],
    )
    log = io.StringIO()
    telemetry = Telemetry(lambda: engine, AccessLog(log))
    for names in (("x\udcff",), ("_ga",)):
        report = Report(request_cookies_dropped=names, set_cookies_dropped=names)
        telemetry.request_done("GET", "/", 200, 0.01, 10, report)
    scrape = telemetry.scrape().decode()
    assert counter(scrape, "consentproxy_requests", status="200") == 2
    telemetry.flush()
    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    assert [line["request_cookies_stripped"] for line in lines] == [["x\udcff"], ["_ga"]]


def test_an_access_line_carries_a_visitors_controls_escaped() -> None:
    """orjson escapes C0 only: a path or cookie name with C1 controls (U+009B, a CSI to
    xterm; U+0085, a line break to str.splitlines) or U+2028 (one to a JavaScript log
    viewer) went to the log raw; they are JSON escapes now, the line reads back the same."""
    log = io.StringIO()
    access_log = AccessLog(log)
    path, name = '/\x9b2J\x85{"forged": 1}\u2028\u2029\x1b\u202e\u2067', "\x9b31m_ga"
    access_log.add({"path": path, "request_cookies_stripped": [name], "text": "é€"})
    access_log.flush()
    text = log.getvalue()
    assert text.endswith("\n") and text[:-1].isprintable(), repr(text)
    assert json.loads(text) == {"path": path, "request_cookies_stripped": [name], "text": "é€"}
    access_log.add({"path": "/a\x7fb"})  # (DEL in a line all ASCII: orjson leaves it too)
    access_log.flush()
    rest = log.getvalue()[len(text) :]
    assert rest[:-1].isprintable() and json.loads(rest) == {"path": "/a\x7fb"}, repr(rest)


def test_the_access_log_writes_hostile_lines_as_json_dumps_does() -> None:
    """What an operator reads of a visitor's path and cookie names, an origin's cookie
    names and a page's services, byte for byte: json.dumps' JSON (its non-ASCII as it is),
    with C0, DEL, C1, U+2028-U+202E and U+2066-U+2069 as \\u escapes; a line holding a
    lone surrogate all ASCII, as json.dumps writes it. On generated inputs of every kind
    (quotes, backslashes, controls, non-ASCII, 8 KB paths)."""
    from consentproxy.printable import UNPRINTABLE

    rng = random.Random(164)
    pieces = ['"', "\\", "\\u", "/", "\x00", "\x1f", "\n", "\x7f", "\x80", "\x85", "\x9b", "\x9f"]
    pieces += ["\xa0", "é", "€", "\u2028", "\u202e", "\u2066", "\u2069", "\ufeff", "😀", "\udcff"]
    pieces += ["a", "Z", "0", " ", "~", "%22", "?", "&", "{", "}"]

    def text(most: int) -> str:
        return "".join(rng.choice(pieces) for _ in range(rng.randint(0, most)))

    def reference(line: dict[str, object]) -> bytes:
        out = json.dumps(line, ensure_ascii=False, separators=(",", ":"))
        if re.search("[\ud800-\udfff]", out):
            return json.dumps(line, separators=(",", ":")).encode()
        return UNPRINTABLE.sub(lambda m: f"\\u{ord(m[0]):04x}", out).encode()

    log = io.StringIO()
    access_log = AccessLog(log)
    expected = []
    for i in range(3000):
        plain = i % 3 == 0  # (most requests' lines: nothing to escape)
        line = {
            "path": "/" + ("page.txt" if plain else text(8192 if i % 50 == 1 else 40)),
            "request_cookies_stripped": [] if plain else [text(10) for _ in range(i % 3)],
            "neutralised": [] if plain else [text(10) for _ in range(i % 2)],
            "bytes": rng.randint(0, 1 << 40),
            "ms": rng.randint(0, 10**7) / 10,
            "banner": bool(i % 2),
            "decision": None if plain else text(5),
        }
        access_log.add(line)
        expected.append(reference(line))
    access_log.flush()
    assert log.getvalue().encode().split(b"\n") == [*expected, b""]


def test_an_access_line_rounds_its_times_as_round_would_without_calling_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """round(x, n) cost ~4,300 instructions each, three a line (a third of a request's
    telemetry): the line rounds half up by hand, to the same figures."""
    from consentproxy import adapter

    rng = random.Random(20)
    times = [(rng.uniform(0, 3), rng.uniform(0, 2), rng.uniform(1.7e9, 1.8e9)) for _ in range(3000)]
    times += [(0.0, 0.0, 1.7e9), (59.99996, 1e-9, 1.7e9 + 0.9996), (1.0625, 0.5, 1.7e9 + 0.25)]
    expected = [(round(s * 1000, 1), round(u * 1000, 1), round(t, 3)) for s, u, t in times]

    def refused(*_: object) -> float:
        raise AssertionError("round() called")

    monkeypatch.setattr(adapter, "round", refused, raising=False)
    lines = [access_line("GET", "/", 200, s, 0, Report(upstream_seconds=u), t) for s, u, t in times]
    assert [(line["ms"], line["upstream_ms"], line["time"]) for line in lines] == expected


def test_the_access_log_goes_out_in_whole_lines_a_pipe_takes_whole() -> None:
    """serve's workers share stderr: one batch written at once (64 KB) was cut by another
    worker's lines, mid-line (a pipe keeps a write whole up to PIPE_BUF bytes only)."""
    from consentproxy.telemetry import ACCESS_LOG_BATCH, ATOMIC_WRITE

    class Writes(io.StringIO):
        def __init__(self) -> None:
            super().__init__()
            self.writes: list[str] = []

        def write(self, text: str) -> int:
            self.writes.append(text)
            return super().write(text)

    stream = Writes()
    access_log = AccessLog(stream)
    for i in range(ACCESS_LOG_BATCH - 1):
        access_log.add({"path": "/" + "x" * (i % 300)})
    access_log.flush()
    assert len(stream.writes) > 1
    assert all(len(w.encode()) <= ATOMIC_WRITE and w.endswith("\n") for w in stream.writes)
    assert len(stream.getvalue().splitlines()) == ACCESS_LOG_BATCH - 1


def test_unknown_third_parties_are_counted_under_other_whatever_their_number() -> None:
    """Blocked unknown hosts are services named after their domain, which the page chooses:
    by name, 2,000 of them were 2,000 series for good (a probe grew /metrics to 41 MB). Only
    the config's services and the knowledge base's trackers are labelled by name."""
    config = parse_config(
        CONFIG.format(upstream="http://127.0.0.1:9", port=0, metrics=0, title="T")
        + "unknown_third_parties: block\n"
    )
    engine = Engine(config, [b"k" * 32])
    telemetry = Telemetry(lambda: engine)
    for page in range(40):
        markup = b"".join(
            b"<img src='https://cdn.s%d-%d.example/p.gif'>" % (page, i) for i in range(50)
        )
        ex = engine.begin(Request("GET", "/", [("Host", "shop.example.com")]))
        plan = ex.response(200, [("Content-Type", "text/html")])
        assert plan.body is not None
        plan.body.feed(
            b"<html><head></head><body>" + markup + b"<script src='https://www.google-"
            b"analytics.com/analytics.js'></script><script src='https://static.chartbeat"
            b".com/chartbeat.js'></script></body></html>"
        )
        plan.body.close()
        telemetry.request_done("GET", "/", 200, 0.01, 10, ex.report)
    scrape = telemetry.scrape().decode()
    labels = re.findall(
        r'^consentproxy_neutralised_elements_total\{service="([^"]*)"', scrape, re.MULTILINE
    )
    assert sorted(labels) == ["chartbeat", "google-analytics", "other"]
    assert counter(scrape, "consentproxy_neutralised_elements", service="other") == 2000
    assert counter(scrape, "consentproxy_neutralised_elements", service="chartbeat") == 40
    assert counter(scrape, "consentproxy_neutralised_elements", service="google-analytics") == 40
    assert ".example" not in scrape


async def test_metrics_count_impressions_first_layer_answers_and_category_answers(
    origin: str,
) -> None:
    """An impression is a page whose banner opens on its first layer (not a prefetch, not
    a visitor who has chosen); an answer to it is counted by outcome; every decision gives
    each optional category's answer."""
    config = parse_config(CONFIG.format(upstream=origin, port=0, metrics=0, title="T"))
    running = await server.start(Engine(config, [b"k" * 32]), "127.0.0.1", 0)
    telemetry = Telemetry(lambda: running.proxy.engine)
    running.proxy.on_done = telemetry.request_done
    base = f"http://127.0.0.1:{running.port}"
    doc = {"Sec-Fetch-Dest": "document"}
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as client:

            async def page(**headers: str) -> None:
                async with client.get(base + "/page", headers={**doc, **headers}) as resp:
                    assert b'id="consentproxy"' in await resp.read()

            async def choose(via: str, cookie: str = "", **body: object) -> str:
                async with client.post(
                    base + "/.consent/choice",
                    json={**body, "via": via},
                    headers={"Origin": base, "Cookie": cookie},
                ) as resp:
                    assert resp.status == 200
                    return resp.headers["Set-Cookie"].split(";")[0]

            await page()
            await page()
            await page(**{"Sec-Purpose": "prefetch;prerender"})
            cookie = await choose("close", action="reject-all")
            await page(Cookie=cookie)  # decided: the banner is there, closed
            await choose("preferences", cookie, action="save", categories=["analytics"])
            await choose("banner", action="accept-all")
            await choose("preferences", action="reject-all")
        scrape = telemetry.scrape().decode()
    finally:
        await running.stop()
    assert counter(scrape, "consentproxy_banner_impressions") == 2
    assert counter(scrape, "consentproxy_banner_outcomes", outcome="close") == 1
    assert counter(scrape, "consentproxy_banner_outcomes", outcome="accept-all") == 1
    assert counter(scrape, "consentproxy_banner_outcomes", outcome="customise") == 1
    assert counter(scrape, "consentproxy_banner_outcomes", outcome="reject-all") == 0
    assert counter(scrape, "consentproxy_consent_decisions", action="save") == 1  # (changed)
    assert (
        counter(scrape, "consentproxy_category_answers", answer="granted", category="analytics")
        == 2
    )
    assert (
        counter(scrape, "consentproxy_category_answers", answer="refused", category="analytics")
        == 2
    )
    assert (
        counter(scrape, "consentproxy_category_answers", answer="refused", category="advertising")
        == 3
    )
    assert 'category="necessary"' not in scrape


async def test_stopping_lets_requests_in_flight_finish(origin: str) -> None:
    config = parse_config(CONFIG.format(upstream=origin, port=0, metrics=0, title="T"))
    running = await server.start(Engine(config, [b"k" * 32]), "127.0.0.1", 0)
    async with aiohttp.ClientSession() as client:

        async def slow() -> int:
            async with client.get(f"http://127.0.0.1:{running.port}/slow") as resp:
                await resp.read()
                return resp.status

        request = asyncio.create_task(slow())
        for _ in range(200):  # (10 s at most) until the proxy has it: the origin takes 1 s
            if running.proxy.in_flight:
                break
            await asyncio.sleep(0.05)
        await running.stop()
        assert await request == 200


async def test_stopping_cancels_what_outlasts_the_grace(
    origin: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An endless page: stop() takes the grace, then cancels it (aiohttp alone waited
    twice the grace, 22 s in all with the default, past systemd's TimeoutStopSec). The log
    says so (a stop cutting requests was silent)."""
    caplog.set_level("INFO", "consentproxy")
    monkeypatch.setattr(server, "SHUTDOWN_SECONDS", 3)
    config = parse_config(CONFIG.format(upstream=origin, port=0, metrics=0, title="T"))
    running = await server.start(Engine(config, [b"k" * 32]), "127.0.0.1", 0)
    async with aiohttp.ClientSession() as client:
        resp = await client.get(f"http://127.0.0.1:{running.port}/endless")
        await resp.content.read(1000)
        started = asyncio.get_running_loop().time()
        await running.stop()
        took = asyncio.get_running_loop().time() - started
        resp.close()
    assert 3 <= took < 6, f"stop took {took:.1f}s for a 3 s grace"  # (twice it: 6 s or more)
    assert running.proxy.in_flight == set()
    assert "stopping: 1 requests in flight get 3 s" in caplog.text
    assert "stopping: 1 requests cut" in caplog.text


async def test_a_second_sigterm_stops_serve_at_once(origin: str, tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "site.yaml"
    config.write_text(CONFIG.format(upstream=origin, port=port, metrics=free_port(), title="T"))
    proc = await start_serve(config)
    try:
        await up(proc, f"http://127.0.0.1:{port}/.consent/healthz")
        async with aiohttp.ClientSession() as client:
            resp = await client.get(f"http://127.0.0.1:{port}/endless")
            await resp.content.read(1000)
            proc.send_signal(signal.SIGTERM)
            assert proc.stderr is not None
            while b"stopping: 1 requests in flight" not in (line := await proc.stderr.readline()):
                assert line, "serve ended before it said it was stopping"
            # (the first SIGTERM is taken: the second comes to a stop under way)
            started = asyncio.get_running_loop().time()
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 8)
            resp.close()
        assert asyncio.get_running_loop().time() - started < 8  # (the grace is 10 s)
        assert proc.returncode == 0
    finally:
        await stop(proc)


DASHBOARD = Path(__file__).resolve().parent.parent / "deploy" / "grafana-dashboard.json"
PROMQL_WORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
}


def exported() -> dict[str, set[str]]:
    """Every sample name the exporter exposes, with its label names, once each metric has
    been fed (a labelled metric shows no sample before)."""
    from prometheus_client.parser import text_string_to_metric_families

    from consentproxy.report import Report

    config = parse_config(
        CONFIG.format(upstream="http://127.0.0.1:1", port=0, metrics=0, title="T")
    )
    engine = Engine(config, [b"k" * 32])
    telemetry = Telemetry(lambda: engine)
    telemetry.request_done(
        "GET",
        "/",
        200,
        0.1,
        10,
        Report(
            neutralised=[("google-analytics", "script")],
            set_cookies_dropped=["_ga"],
            decision="accept-all",
            outcome="accept-all",
            categories_granted=["analytics"],
            categories_refused=["advertising"],
            impression=True,
            upstream_seconds=0.1,
            rewrite_bytes=10,
            rewrite_seconds=0.01,
            csp_violations=[("script-src", "x.test")],
        ),
    )
    names: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(telemetry.scrape().decode()):
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    return names


def test_the_grafana_dashboard_queries_only_metrics_and_labels_the_proxy_exports():
    metrics = exported()
    assert {
        "consentproxy_banner_impressions_total",
        "consentproxy_banner_outcomes_total",
        "consentproxy_category_answers_total",
    } <= metrics.keys()
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 10
    used = set()
    for expr in exprs:
        plain = re.sub(r'"[^"]*"', "", expr)
        plain = re.sub(r"\[[^\]]*\]", "", plain)  # ranges
        groups = re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", plain)
        selectors = re.findall(r"([a-zA-Z_:][\w:]*)\{([^}]*)\}", plain)
        plain = re.sub(r"\b(?:by|without)\s*\([^)]*\)", "", re.sub(r"\{[^}]*\}", "", plain))
        names = {
            w
            for w in re.findall(r"(?<![\w.])([a-zA-Z_:][\w:]*)\b(?!\s*\()", plain)
            if w not in PROMQL_WORDS
        }
        unknown = names - metrics.keys()
        assert not unknown, f"{expr}: {sorted(unknown)} is not exported"
        labels = set().union(*(metrics[n] for n in names))
        for group in groups:
            wanted = {g.strip() for g in group.split(",") if g.strip()}
            assert wanted <= labels, f"{expr}: no label {sorted(wanted - labels)}"
        for name, matchers in selectors:
            wanted = set(re.findall(r"(\w+)\s*!?=~?", matchers))
            assert wanted <= metrics[name], f"{expr}: {name} has no label {wanted}"
        used |= names
    assert any(n.startswith("consentproxy_banner_outcomes") for n in used)


def test_finished_requests_are_counted_and_logged_in_batches_with_the_time_they_ended():
    """request_done keeps a request to count and log it with others (COUNT_BATCH, each
    flush, each scrape): its line still says when it ended, and no count waits past a
    scrape or a flush."""
    import time

    from consentproxy.report import Report
    from consentproxy.telemetry import COUNT_BATCH

    config = parse_config(
        CONFIG.format(upstream="http://127.0.0.1:1", port=0, metrics=0, title="T")
    )
    engine = Engine(config, [b"k" * 32])
    log = io.StringIO()
    access_log = AccessLog(log)
    telemetry = Telemetry(lambda: engine, access_log)
    ended = time.time()
    telemetry.request_done("GET", "/a", 200, 0.1, 10, Report())
    done = time.time()
    assert access_log.lines == []  # kept, not yet logged
    time.sleep(0.05)
    telemetry.flush()
    (line,) = [json.loads(x) for x in log.getvalue().splitlines()]
    assert line["path"] == "/a" and ended - 0.001 <= line["time"] <= done + 0.001
    for i in range(COUNT_BATCH - 1):
        telemetry.request_done("GET", f"/{i}", 404, 0.1, 10, Report())
    assert len(access_log.lines) == 0  # one short of a batch
    telemetry.request_done("GET", "/last", 404, 0.1, 10, Report())
    assert len(access_log.lines) == COUNT_BATCH  # a batch: counted and logged at once
    telemetry.request_done("GET", "/after", 500, 0.1, 10, Report())
    scrape = telemetry.scrape().decode()  # counts what waits, too
    assert counter(scrape, "consentproxy_requests", status="404") == COUNT_BATCH
    assert counter(scrape, "consentproxy_requests", status="500") == 1


def test_upstream_seconds_fill_the_histogram_buckets_at_or_above_them():
    from consentproxy.report import Report

    config = parse_config(
        CONFIG.format(upstream="http://127.0.0.1:1", port=0, metrics=0, title="T")
    )
    engine = Engine(config, [b"k" * 32])
    telemetry = Telemetry(lambda: engine)
    for status, seconds in ((200, 0.005), (200, 0.3), (404, 20.0), (200, 0.0)):
        telemetry.request_done("GET", "/", status, 0.1, 10, Report(upstream_seconds=seconds))
    scrape = telemetry.scrape().decode()
    buckets = dict(
        re.findall(
            r'^consentproxy_upstream_seconds_bucket\{le="([^"]+)"\} (\S+)$', scrape, re.MULTILINE
        )
    )
    assert buckets["0.005"] == "1.0" and buckets["0.25"] == "1.0"  # a bound is in its bucket
    assert buckets["0.5"] == buckets["10.0"] == "2.0" and buckets["+Inf"] == "3.0"
    assert "consentproxy_upstream_seconds_count 3.0" in scrape  # a local answer: not timed
    assert "consentproxy_upstream_seconds_sum 20.305" in scrape
    assert counter(scrape, "consentproxy_requests", status="200") == 3
    assert counter(scrape, "consentproxy_requests", status="404") == 1
    assert re.search(r'^consentproxy_requests_created\{status="404"\} \S+$', scrape, re.MULTILINE)


STREAM_BODIES = """
import os, resource
from consentproxy import runtime

def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

async def stream():
    for i in range(60):
        if i == 10:
            start = faults()
        # a body of 1-3.75 MB, read in 256 KB pieces (uvloop's reads) and joined
        pieces = [os.urandom(1) * (256 << 10) for _ in range(4 + i * 5 % 12)]
        body = b"".join(pieces)
        del pieces, body
    return (faults() - start) / 50

print(runtime.run(stream()))
"""


def test_serve_keeps_its_heap_instead_of_mapping_each_responses_buffers_anew() -> None:
    """Under `serve`'s loop (runtime.run), a response's buffers come from the heap and stay
    there for the next one: left to glibc's moving thresholds, blocks of a few hundred KB
    were mapped on their own or the heap's free top given back, and faulted in again, up to
    ~250 page faults per MB streamed (bench/RESULTS.md, branch px5; here ~150 a body)."""
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc: malloc's thresholds are not set")
    out = subprocess.run([sys.executable, "-c", STREAM_BODIES], capture_output=True, check=True)
    assert float(out.stdout) < 16  # a body is 256-960 pages: none faulted in again


@contextlib.asynccontextmanager
async def proxy_in_front_of(
    route: str, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> AsyncIterator[server.Running]:
    """serve's proxy (in this process) in front of an origin answering route with handler."""
    app = web.Application()
    app.router.add_get(route, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    upstream = f"http://127.0.0.1:{runner.addresses[0][1]}"
    config = parse_config(CONFIG.format(upstream=upstream, port=0, metrics=0, title="T"))
    running = await server.start(Engine(config, [b"k" * 32]), "127.0.0.1", 0)
    try:
        yield running
    finally:
        await running.stop()
        await runner.cleanup()


async def test_a_page_slow_to_rewrite_lets_other_requests_through_between_its_slices(
    monkeypatch,
) -> None:
    """One page rewritten in one step held the event loop for everyone (a hostile page at
    0.2 MB/s, 10 MB from a 1 MB gzip: 12 s). Its decoded HTML now goes through the rewriter
    a slice at a time: a request that comes meanwhile is answered before it ends. (Slices
    made small here, so that a fast rewrite has many.)"""
    from consentproxy import body

    monkeypatch.setattr(body, "SLICE_BYTES", (1024, 4096))
    big = b"<!doctype html><body>" + b"<p>x</p><img src=/a.png>" * 160_000 + b"</body>"
    ended: list[str] = []

    async def page(request: web.Request) -> web.Response:
        text = big if request.path == "/big" else PAGE
        return web.Response(
            body=gzip.compress(text, 1),
            content_type="text/html",
            headers={"Content-Encoding": "gzip"},
        )

    document = {"Sec-Fetch-Dest": "document", "Accept-Encoding": "identity"}
    async with proxy_in_front_of("/{tail:.*}", page) as running:
        running.proxy.on_done = lambda method, path, *_: ended.append(path)
        base = f"http://127.0.0.1:{running.port}"
        async with (
            aiohttp.ClientSession() as client,
            client.get(base + "/big", headers=document) as slow,
        ):
            await slow.content.readexactly(100)  # its head and first slice came
            async with client.get(base + "/small", headers=document) as fast:
                assert b'id="consentproxy"' in await fast.read()
            out = await slow.read()
    assert ended == ["/small", "/big"]
    assert out.count(b"<p>x</p><img src=/a.png>") == 160_000 and b'id="consentproxy"' in out


async def test_a_visitor_that_stops_reading_is_cut_and_frees_the_origin_connection(
    monkeypatch,
) -> None:
    """A visitor that asks for a long body and reads none of it held an origin connection
    (and megabytes) for ever: 200 of them took a legacy origin's worker pool."""
    import socket

    monkeypatch.setattr(server, "SEND_TIMEOUT", 0.3)
    origin_done = asyncio.Event()

    async def stream(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        await resp.prepare(request)
        try:
            for _ in range(256):  # 256 MiB: far more than any buffer on the way holds
                await resp.write(b"\0" * (1 << 20))
        except ConnectionError:
            pass
        finally:
            origin_done.set()
        return resp

    async with proxy_in_front_of("/stream", stream) as running:
        with socket.socket() as visitor:
            visitor.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            visitor.connect(("127.0.0.1", running.port))
            visitor.sendall(b"GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # reads nothing
            await asyncio.wait_for(origin_done.wait(), 15)
            assert not running.proxy.sending


async def test_workers_refuse_a_port_another_serve_listens_on(origin: str, tmp_path: Path) -> None:
    """(two `serve --workers` on one port both bound it through SO_REUSEPORT, and the kernel
    spread visitors over the two, each with its own config)"""
    port = free_port()
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text(
        CONFIG.format(upstream=origin, port=port, metrics=free_port(span=2), title="A")
    )
    second.write_text(
        CONFIG.format(upstream=origin, port=port, metrics=free_port(span=2), title="B")
    )
    proc = await start_serve(first, "--workers", "2")
    try:
        await up(proc, f"http://127.0.0.1:{port}/.consent/healthz")
        late = await start_serve(second, "--workers", "2")
        err = await stop_within(late, 20)
    finally:
        await stop(proc)
    assert late.returncode == 2, err
    assert f"second.yaml: listen 127.0.0.1:{port} cannot be bound" in err
    assert "Traceback" not in err


async def test_share_port_hands_over_without_a_gap(origin: str, tmp_path: Path) -> None:
    """--share-port: the new serve binds beside the running one; the old one stops and
    visitors are answered all along."""
    port, late_metrics = free_port(), free_port()
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text(
        CONFIG.format(upstream=origin, port=port, metrics=free_port(span=2), title="Oldtitle")
    )
    second.write_text(
        CONFIG.format(upstream=origin, port=port, metrics=late_metrics, title="Newtitle")
    )
    proc = await start_serve(first, "--workers", "2")
    late = None
    try:
        await up(proc, f"http://127.0.0.1:{port}/.consent/healthz")
        late = await start_serve(second, "--share-port")
        await up(late, f"http://127.0.0.1:{late_metrics}/metrics")
        await stop(proc)
        assert proc.returncode == 0
        async with aiohttp.ClientSession() as client:
            for _ in range(5):
                async with client.get(f"http://127.0.0.1:{port}/page") as resp:
                    assert resp.status == 200
                    text = await resp.text()
                    assert "Newtitle" in text and "Oldtitle" not in text
    finally:
        await stop(proc)
        if late is not None:
            await stop(late)


async def test_a_reload_after_one_that_left_no_records_writer_opens_one(tmp_path):
    """Found by helper-128: an engine left with no writer (its hand-over failed) passed its
    None on to the next engine of the same records settings, whose config keeps records:
    choices went unrecorded for good."""
    from consentproxy.adapter import take_over

    config = parse_config(
        "upstream: http://127.0.0.1:9\ncategories:\n  necessary: {required: true}\n"
        f"  analytics: {{}}\nrecords:\n  path: {tmp_path}/r.db\n"
    )
    previous, engine = Engine(config, [b"k" * 32]), Engine(config, [b"k" * 32])
    assert previous.records is None
    assert await take_over(previous, engine) is None
    try:
        assert engine.records is not None and engine.records.ready
    finally:
        if engine.records is not None:
            await engine.records.close()


@pytest.mark.parametrize("python", ["/nonexistent/python3.12", "sh"])
def test_a_python_named_by_python_that_does_not_work_is_refused_not_replaced(python) -> None:
    """README: `PYTHON=/path/to/python3.12` chooses the Python; one that is missing or no
    Python >= 3.12 was passed over in silence for another found on the PATH."""
    from tests.conftest import ROOT

    found = subprocess.run(
        [str(ROOT / "scripts" / "find-python")],
        env={**os.environ, "PYTHON": python},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert found.returncode == 1 and found.stdout == ""
    assert f"find-python: PYTHON={python} is no Python >= 3.12" in found.stderr
    chosen = subprocess.run(
        [str(ROOT / "scripts" / "find-python")],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert chosen.stdout.strip() == sys.executable


def test_ports_picked_in_one_run_never_repeat() -> None:
    """The kernel hands a port just closed out again (300 binds gave 298 ports here):
    a test that picked its listen and metrics ports alike then failed as a mistaken
    config (the CI on 5f996f4)."""
    picked = [free_port(span=2) for _ in range(300)]
    spans = {p + i for p in picked for i in range(2)}
    assert len(spans) == 600
