"""kill -9 in the middle of a stream of decisions: the store loses at most one batch,
and the next start says so. A real `consentproxy serve` process, SQLite records."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import aiohttp

from consentproxy.records import STALE_SECONDS, RecordWriter, SqliteStore
from tests.adapters import free_port

CONFIG = """
upstream: http://127.0.0.1:9
listen: 127.0.0.1:{port}
categories: {{necessary: {{required: true}}, analytics: {{}}}}
services: [{{use: google-analytics}}]
records: {{path: {path}}}
"""
BATCH = RecordWriter(SqliteStore(":memory:")).batch  # the writer's default batch size


async def wait_listening(port: int, proc: asyncio.subprocess.Process) -> None:
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            assert proc.returncode is None, "serve exited"
            await asyncio.sleep(0.05)
    raise AssertionError("serve did not start")


async def test_kill_9_mid_load_loses_at_most_one_batch(tmp_path):
    port, path = free_port(), tmp_path / "records.sqlite3"
    config = tmp_path / "site.yaml"
    config.write_text(CONFIG.format(port=port, path=path))
    env = {**os.environ, "CONSENTPROXY_SECRET": "s" * 32}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "consentproxy",
        "serve",
        "--config",
        str(config),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    acknowledged = 0
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_listening(port, proc)
        async with aiohttp.ClientSession() as client:
            for _ in range(200):  # ready: the records store is open (a balancer waits too)
                async with client.get(base + "/.consent/readyz") as resp:
                    if (await resp.json()).get("records") == "ok":
                        break
                await asyncio.sleep(0.05)

            async def decide() -> None:
                nonlocal acknowledged
                async with client.post(
                    base + "/.consent/choice",
                    json={"action": "accept-all"},
                    headers={"Origin": base},
                ) as resp:
                    if resp.status == 200:
                        acknowledged += 1

            # A steady 400 decisions a second (far above what a site sees), then the kill.
            # A burst of thousands a second outruns the writer: then what is queued is lost.
            for _ in range(40):
                await asyncio.gather(*(decide() for _ in range(10)), asyncio.sleep(0.025))
            proc.send_signal(signal.SIGKILL)
    finally:
        if proc.returncode is None:
            proc.kill()
        await asyncio.wait_for(proc.wait(), 10)
    assert acknowledged == 400
    store = SqliteStore(path)
    await store.open()
    # the crash is noticed (the writer that left no sign of life for STALE_SECONDS)...
    assert await store.beat("next", int(time.time()) + STALE_SECONDS + 1) == 1
    kept = len([r async for r in store.since(0)])
    await store.close()
    lost = acknowledged - kept
    print(
        f"kill -9 after {acknowledged} acknowledged decisions: {kept} recorded, {lost} lost "
        f"(batch size {BATCH})"
    )
    assert 0 <= lost <= BATCH
