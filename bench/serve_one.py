"""Start one benchmark server and print "PORT <n>" once it listens; SIGTERM/SIGINT stops it.

    serve_one.py origin [--port N]
    serve_one.py passthrough --upstream http://127.0.0.1:N [--port N]
    serve_one.py consentproxy --upstream http://127.0.0.1:N [--port N]   (CONSENTPROXY_SECRET)

The origin serves /page.html (the ~100 KB typical page with trackers) and /data.json (1 MB).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable

import common
import passthrough
from aiohttp import web

from consentproxy import server

Stop = Callable[[], Awaitable[None]]


async def start_origin(port: int) -> tuple[int, Stop]:
    html, data = common.typical_page(), common.json_body()

    async def page(_: web.Request) -> web.Response:
        return web.Response(body=html, content_type="text/html", charset="utf-8")

    async def json(_: web.Request) -> web.Response:
        return web.Response(body=data, content_type="application/json")

    app = web.Application()
    app.router.add_get("/page.html", page)
    app.router.add_get("/data.json", json)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, reuse_address=True).start()
    return runner.addresses[0][1], runner.cleanup


async def start_consentproxy(upstream: str, port: int) -> tuple[int, Stop]:
    running = await server.start(common.engine(os.environ[common.SECRET_ENV], upstream),
                                 "127.0.0.1", port)
    return running.port, running.stop


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=("origin", "passthrough", "consentproxy"))
    ap.add_argument("--upstream", default="")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    # wrk hangs up mid-response when its time is over; aiohttp logs each as a traceback
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    if args.kind == "origin":
        port, stop = await start_origin(args.port)
    elif args.kind == "passthrough":
        port, stop = await passthrough.start(args.upstream, "127.0.0.1", args.port)
    else:
        port, stop = await start_consentproxy(args.upstream, args.port)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    print(f"PORT {port}", flush=True)
    await done.wait()
    await stop()


if __name__ == "__main__":
    asyncio.run(main())
