"""The two adapters as tests start them: `consentproxy.server` in-process, and a real mitmdump
process running addons/consent.py (reverse or regular mode), both on 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

from tests.conftest import ROOT

MITMDUMP = Path(sys.executable).parent / "mitmdump"
ADAPTERS = ("aiohttp", "mitmdump")
START_SECONDS = 60  # (a hang guard: mitmdump starts in 2-4 s, far slower beside a browser)


_HANDED_OUT: set[int] = set()


def free_port(span: int = 1) -> int:
    """A port free now, with the span - 1 ports after it free too (workers each take the
    next one: metrics ports), and none of them handed out before in this run: the kernel
    may give a port just closed again, and two picks for one test (listen and metrics)
    then collide."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        ports = range(port, port + span)
        if _HANDED_OUT.intersection(ports):
            continue
        try:
            for i in range(1, span):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port + i))
        except OSError:
            continue
        _HANDED_OUT.update(ports)
        return port


def wait_for_port(port: int, proc: subprocess.Popen[bytes], output: Path | None = None) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None:
                err = (
                    output.read_text()
                    if output
                    else proc.stderr.read().decode()
                    if proc.stderr
                    else ""
                )
                raise AssertionError(f"mitmdump exited: {err}") from None
            time.sleep(0.1)
    raise AssertionError(f"mitmdump did not listen on {port} within {START_SECONDS}s")


@dataclass(frozen=True)
class Started:
    port: int
    pid: int


def mitmdump_command(
    config: Path | None,
    mode: str,
    home: Path,
    secret: str,
    *options: str,
    scripts: tuple[Path, ...] = (),
    port: int = 0,
    quiet: bool = True,
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of mitmdump with the addon (and other `scripts`),
    `mode` without its listen address (``regular``, ``reverse:http://127.0.0.1:8080``), extra
    ``--set`` options; `config` None: no consent_config."""
    sets = [
        a
        for o in ([f"consent_config={config}"] if config else []) + [f"confdir={home}", *options]
        for a in ("--set", o)
    ]
    loads = [a for s in (ROOT / "addons" / "consent.py", *scripts) for a in ("-s", str(s))]
    return (
        [str(MITMDUMP), "--mode", f"{mode}@127.0.0.1:{port}", *loads, *sets]
        + (["-q"] if quiet else []),
        {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "CONSENTPROXY_SECRET": secret,
            "PYTHONPATH": str(ROOT / "src"),
            "PYTHONUNBUFFERED": "1",
        },
    )


@contextmanager
def mitmdump(
    config: Path | None,
    mode: str,
    home: Path,
    secret: str,
    *options: str,
    scripts: tuple[Path, ...] = (),
    output: Path | None = None,
) -> Iterator[Started]:
    """A running mitmdump (see mitmdump_command); yields where it runs. `output`: a file for
    what it prints (all of it, not only errors)."""
    port = free_port()
    args, env = mitmdump_command(
        config, mode, home, secret, *options, scripts=scripts, port=port, quiet=output is None
    )
    with open(output or os.devnull, "wb") as out:
        proc = subprocess.Popen(
            args, env=env, stdout=out, stderr=subprocess.STDOUT if output else subprocess.PIPE
        )
        try:
            wait_for_port(port, proc, output)
            yield Started(port, proc.pid)
        finally:
            proc.terminate()
            proc.wait(30)


def peak_rss_kib(pid: int) -> int:
    """The high-water mark of a process's resident memory (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmHWM for {pid}")


def peak_rss_from_now_kib(pid: int) -> int:
    """The high-water mark of a process's resident memory set back to what it holds now,
    which this returns: a peak read after it is the test's own, not one an earlier test in
    the same process left higher (which hid a growth under it). Linux: clear_refs 5."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return peak_rss_kib(pid)


@contextmanager
def app_in_thread(app: web.Application, ssl_context: ssl.SSLContext | None = None) -> Iterator[int]:
    """An aiohttp app on its own event loop and thread, so it outlives any test's loop
    (a session-wide origin both adapters share); yields its port. ssl_context: over HTTPS."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner = web.AppRunner(app, shutdown_timeout=1)

    async def start() -> int:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context).start()
        return runner.addresses[0][1]

    try:
        yield asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


async def until_up(url: str) -> None:
    """Poll a URL until it answers at all (any status): a server we started is up."""
    async with aiohttp.ClientSession() as client:
        for _ in range(400):
            try:
                async with client.get(url):
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
    raise AssertionError(f"{url} never answered")
