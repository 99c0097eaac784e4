"""The `serve` runtime: the event loop (uvloop when installed), signals (TERM/INT stop,
HUP reloads the config), worker processes sharing a port, the metrics server, the access
log's flusher and glibc's heap kept for the next responses (`keep_heap`), around the aiohttp
adapter (server.py). The command line (cli.py) parses arguments, checks them and builds the
engine."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from consentproxy import server
from consentproxy.adapter import (
    Config,
    Engine,
    UserError,
    host_port,
    own_address,
    without_passwords,
)
from consentproxy.telemetry import FLUSH_SECONDS, AccessLog, Telemetry

log = logging.getLogger("consentproxy")

# glibc's malloc (mallopt): a block above MMAP_THRESHOLD bytes is mapped and unmapped on its
# own, and free memory above TRIM_THRESHOLD at the heap's top goes back to the system. Left
# to glibc, both follow the largest block freed so far (a 256 KB read, a 1 MB body joined),
# and each response's buffers were mapped again: ~250 page faults, a 4 KB page zeroed by
# the kernel each, per MB streamed (a third of a 1 MB response's CPU time, bench/RESULTS.md).
# Fixed here, the heap keeps up to TRIM_THRESHOLD free for the next response.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
TRIM_THRESHOLD = 16 << 20
MMAP_THRESHOLD = 4 << 20


def keep_heap() -> bool:
    """Set the thresholds above (glibc only: elsewhere nothing changes); whether they were."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):  # not glibc (musl has it as a no-op; macOS has none)
        return False
    return bool(
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )


def run(main: Coroutine[Any, Any, Any]) -> Any:
    """asyncio.run, on uvloop when it is installed (faster sockets, same behaviour; aiohttp
    writes scattered on it, server.scattered_writes), with the heap kept between responses
    (keep_heap)."""
    keep_heap()
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    server.scattered_writes()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


async def until_stopped() -> None:
    """Returns on SIGINT or SIGTERM."""
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()


def _unbound(source: str, key: str, host: str, port: int, e: OSError) -> UserError:
    """What to do depends on why: something listens there, the address is none of this
    machine's (or no name), or the port is privileged."""
    other = f"{key} another address" + (" (or --listen)" if key == "listen" else "")
    if isinstance(e, socket.gaierror) or e.errno == errno.EADDRNOTAVAIL:
        advice = f"{host} is no address of this machine; give {other}, e.g. 0.0.0.0:{port}"
    elif e.errno == errno.EACCES:
        advice = f"ports below 1024 need root (or CAP_NET_BIND_SERVICE); give {other}"
    else:
        advice = f"stop what listens there or give {other}"
    return UserError(
        (f"{source}: " if source else "")
        + f"{key} {host_port(host, port)} cannot be bound ({e.strerror or e}); {advice}"
    )


def listen_named(config: Config) -> tuple[str, str]:
    """Where the listen address was given, as errors name it: (file, key) or the flag."""
    return ("", "--listen") if config.listen_flag else (config.source, "listen")


def port_free(source: str, host: str, port: int, key: str = "listen") -> None:
    """Refuse a port something already listens on, before `--workers` bind it with
    SO_REUSEPORT: that option would let them share it with another serve started by the
    same user (the kernel then spreads visitors over both, old config and new) where one
    process alone gets "address in use". `key`: what set the port (demo's --port)."""
    try:
        for family, kind, proto, _, address in socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        ):
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # (as aiohttp)
                probe.bind(address)
    except OSError as e:
        raise _unbound(source, key, host, port, e) from None


async def serve_forever(
    make_engine: Callable[[], Engine], banner: str, *, reuse_port: bool = False, worker: int = 0
) -> Engine:
    """Serve until SIGINT/SIGTERM (requests in flight finish, records are flushed);
    SIGHUP builds a new engine from the config file, or keeps the running one if the
    new config is refused. Returns the engine in use at the end."""
    engine = make_engine()
    config = engine.config  # (as started: a reload cannot change what `kept` below names)
    try:
        running = await server.start(engine, config.listen_host, config.listen_port, reuse_port)
    except OSError as e:
        raise _unbound(*listen_named(config), config.listen_host, config.listen_port, e)
    access_log = AccessLog(sys.stderr) if config.access_log else None
    telemetry = Telemetry(lambda: running.proxy.engine, access_log)
    running.proxy.on_done = telemetry.request_done
    metrics = None
    if config.metrics_listen:
        host, port = config.metrics_listen
        try:
            metrics = await server.start_metrics(telemetry.scrape, host, port + worker)
        except OSError as e:
            await running.stop()
            raise _unbound(config.source, "metrics.listen", host, port + worker, e)
    if worker == 0:
        print(banner.format(port=running.port), flush=True)
    origin = asyncio.create_task(say_if_down(running.proxy)) if worker == 0 else None

    reloading = asyncio.Lock()  # one at a time, in the order asked
    pending: set[asyncio.Task[None]] = set()

    def reload() -> None:
        task = asyncio.get_running_loop().create_task(apply_reload())
        pending.add(task)
        task.add_done_callback(pending.discard)

    async def apply_reload() -> None:
        async with reloading:
            try:
                fresh = make_engine()
                # (the file's listen is checked by the config; the proxy listens where it
                # started until a restart: an upstream of that address looped, all 508s)
                loop = own_address(fresh.config.upstream, config.listen_host, running.port)
                if loop:
                    raise UserError(f"{config.source}: {loop}")
                await running.proxy.reload(fresh)
            except UserError as e:
                log.error("reload refused, the running config stays: %s", without_passwords(str(e)))
                telemetry.reloads["refused"] += 1
                return
            except Exception:  # (a bug must not be a traceback, nor stop later reloads)
                log.exception("reload refused, the running config stays")
                telemetry.reloads["refused"] += 1
                return
            telemetry.reloads["applied"] += 1
        new = fresh.config
        kept = [  # (against what was started: a change reverted since is no change)
            what
            for what, now, then in (
                (
                    "listen",
                    (new.listen_host, new.listen_port),
                    (config.listen_host, config.listen_port),
                ),
                ("metrics", new.metrics_listen, config.metrics_listen),
                ("access_log", new.access_log, config.access_log),
                ("consent.secret_env", new.consent.secret_env, config.consent.secret_env),
            )
            if now != then
        ]
        log.info("reloaded %s", config.source)
        if kept:
            log.warning(
                "%s: a change to %s takes effect only on a restart (the rest is reloaded)",
                config.source,
                " and ".join(kept),
            )

    async def flush_every_second() -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            try:
                telemetry.flush()
            except Exception:  # (a failed write must not end the flushing)
                log.exception("the access log could not be written")

    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload)
    flusher = asyncio.create_task(flush_every_second())
    await until_stopped()
    for sig in (signal.SIGINT, signal.SIGTERM):  # a second one: no grace for anyone
        asyncio.get_running_loop().add_signal_handler(sig, running.proxy.hurry)
    await running.stop()
    flusher.cancel()
    if origin is not None:
        origin.cancel()
    telemetry.flush()
    if metrics is not None:
        await metrics.cleanup()
    return running.proxy.engine


async def say_if_down(proxy: server.ProxyServer) -> None:
    """An origin down as serve starts (a typo in upstream, the site not started) was said
    by nothing but the visitors' 502s: the log says it once."""
    if not await proxy.upstream_reachable():
        log.warning(
            "upstream %s does not answer now: visitors get a 502 until it does (%sreadyz a "
            "503); start the site, or fix upstream",
            without_passwords(proxy.upstream),
            proxy.engine.config.prefix,
        )


def workers(count: int, serve: Callable[[int], None]) -> int:
    """`serve --workers N`: N processes, one event loop each, sharing the port through
    SO_REUSEPORT. The parent only passes signals on (TERM/INT: stop, HUP: reload) and
    waits; a worker that dies takes the others down with it, so a supervisor restarts
    the whole, never a half."""
    children: dict[int, int] = {}  # pid: worker
    for worker in range(count):
        pid = os.fork()
        if pid == 0:  # the child: serve, and never return into the parent's code
            code = 0
            try:
                serve(worker)
            except UserError as e:  # (what the operator must fix: one line, as serve's)
                print(f"consentproxy: worker {worker}: {e}", file=sys.stderr, flush=True)
                code = 2
            except BaseException:
                log.exception("worker %d failed", worker)
                code = 1
            os._exit(code)
        children[pid] = worker

    def forward(sig: int, _: object) -> None:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)
    status = 0
    while children:
        pid, code = os.wait()
        worker = children.pop(pid)
        if code and not status:
            code = os.waitstatus_to_exitcode(code)
            status = code if code > 0 else 1
            log.error(  # (the operator's one clue when the kernel's OOM killer chose it)
                "worker %d (pid %d) %s; stopping the others",
                worker,
                pid,
                f"was killed by signal {-code}" if code < 0 else f"exited with status {code}",
            )
            forward(signal.SIGTERM, None)
    return status
