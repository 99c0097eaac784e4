"""Start one benchmark server and print "PORT <n>" once it listens; SIGTERM/SIGINT stops it.

    serve_one.py origin [--port N]
    serve_one.py passthrough --upstream http://127.0.0.1:N [--port N]
    serve_one.py consentproxy --upstream http://127.0.0.1:N [--port N]   (CONSENTPROXY_SECRET)
    serve_one.py copy-rewriter --upstream ...   consentproxy with HTML copied, not rewritten

The origin serves /page.html (the ~100 KB typical page with trackers; gzipped as
/page-gz.html), /data.json (1 MB),
/big.bin (64 MiB unless --big-mib, streamed) and /slow.html (a page sent in SLOW_PIECES pieces, SLOW_GAP apart,
chunked: time to first byte through a proxy must be shorter than the origin's last byte).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import logging
import os
import signal
from collections.abc import Awaitable, Callable

import common
import passthrough
from aiohttp import web

from consentproxy import engine, server
from consentproxy.runtime import run as run_loop  # the loop `serve` runs on

Stop = Callable[[], Awaitable[None]]


SLOW_PIECES, SLOW_GAP = 5, 0.2


async def start_origin(port: int, big_mib: int) -> tuple[int, Stop]:
    html, data = common.typical_page(), common.json_body()
    block = bytes(range(256)) * 1024  # 256 KiB

    html_gz = gzip.compress(html, 6)

    async def page(_: web.Request) -> web.Response:
        return web.Response(body=html, content_type="text/html", charset="utf-8")

    async def page_text(_: web.Request) -> web.Response:
        return web.Response(body=html, content_type="text/plain", charset="utf-8")

    async def page_gz(_: web.Request) -> web.Response:
        return web.Response(
            body=html_gz,
            content_type="text/html",
            charset="utf-8",
            headers={"Content-Encoding": "gzip"},
        )

    async def json(_: web.Request) -> web.Response:
        return web.Response(body=data, content_type="application/json")

    async def big(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        resp.content_length = big_mib << 20
        await resp.prepare(request)
        for _ in range(big_mib * 4):
            await resp.write(block)
        return resp

    async def slow(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/html; charset=utf-8"})
        await resp.prepare(request)
        step = -(-len(html) // SLOW_PIECES)
        for i in range(0, len(html), step):
            if i:
                await asyncio.sleep(SLOW_GAP)
            await resp.write(html[i : i + step])
        return resp

    app = web.Application()
    app.router.add_get("/page.html", page)
    app.router.add_get("/page-gz.html", page_gz)
    app.router.add_get("/page.txt", page_text)
    app.router.add_get("/data.json", json)
    app.router.add_get("/big.bin", big)
    app.router.add_get("/slow.html", slow)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, reuse_address=True).start()
    return runner.addresses[0][1], runner.cleanup


class CopyRewriter:
    """An instrument, not a product: the rewriter's interface, copying HTML unchanged. Through
    it, consentproxy's HTML path costs everything but the rewrite (the engine, the chunked
    response, the report), which is the ceiling any rewriter can approach."""

    def __init__(
        self,
        neutraliser: object,
        banner: bytes,
        inject: bool | None,
        head: bytes = b"",
        content_type: str | None = None,
        opener: object = None,
        declaration: bytes = b"",
    ):
        self.neutraliser, self.injected = neutraliser, False
        self.xml = False  # (read by the page's language sniff, as HtmlRewriter's)

    def feed(self, data: bytes) -> bytes:
        return data

    def close(self) -> bytes:
        return b""

    def finish(self, data: bytes) -> bytes:
        return data

    def pieces(self, data: bytes, last: bool) -> list[bytes]:
        return [data]


async def start_consentproxy(upstream: str, port: int) -> tuple[int, Stop]:
    running = await server.start(
        common.engine(os.environ[common.SECRET_ENV], upstream), "127.0.0.1", port
    )
    return running.port, running.stop


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=("origin", "passthrough", "consentproxy", "copy-rewriter"))
    ap.add_argument("--upstream", default="")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--big-mib", type=int, default=64, help="size of the origin's /big.bin")
    args = ap.parse_args()
    # wrk hangs up mid-response when its time is over; aiohttp logs each as a traceback
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    if args.kind == "origin":
        port, stop = await start_origin(args.port, args.big_mib)
    elif args.kind == "passthrough":
        port, stop = await passthrough.start(args.upstream, "127.0.0.1", args.port)
    else:
        if args.kind == "copy-rewriter":
            engine.HtmlRewriter = CopyRewriter  # type: ignore[misc,assignment]
        port, stop = await start_consentproxy(args.upstream, args.port)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    print(f"PORT {port}", flush=True)
    await done.wait()
    await stop()


if __name__ == "__main__":
    run_loop(main())  # the loop `consentproxy serve` uses (uvloop when installed): a fair floor
