"""System calls per request of each proxy, counted by strace, with the bytes they moved and
the page faults: the kernel's share of a response, which callgrind (instructions.py) leaves
out. Counts, not times: the machine's load moves them little (but for epoll_pwait: what one
wait of the event loop finds ready depends on timing).

    bench/syscalls.py [--requests 200] [--connections 1,16] [--servers passthrough,consentproxy]
        [--paths /page.txt,/page.html]

Each server gets WARMUP requests on each of its connections (opened first: neither a
connection's accept nor the origin connections it makes are counted), then `strace -f -c` is
attached to its processes while --requests requests go out over --connections keep-alive
connections (one after the other on each, all connections at once), and its summary is
divided by --requests. Bytes are what its reads and writes returned (the
visitor's and the origin's sockets, and the access log's lines), from a second trace of as
many requests, of these calls only.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import common
import proxy

STRACE = shutil.which("strace") or "strace"
# The calls that move bytes (the second trace's), and a trace line's call and what it returned:
# the bytes it moved.
MOVERS = ("read", "readv", "recvfrom", "recvmsg", "write", "writev", "sendto", "sendmsg")
READS = {b"read", b"readv", b"recvfrom", b"recvmsg"}
_MOVED = re.compile(rb"^\d+ +(\w+)\(.* = (\d+)$")
# Requests on each connection before counting, all connections at once: the proxy's pool of
# origin connections grows to its size under this load, and is not counted either.
WARMUP = 20


def _send(conns: list[http.client.HTTPConnection], path: str, shares: list[int]) -> None:
    """shares[i] requests one after the other on conns[i], all connections at once."""

    def get(conn: http.client.HTTPConnection, n: int) -> None:
        for _ in range(n):
            conn.request("GET", path, headers=proxy.BROWSER)
            conn.getresponse().read()

    with ThreadPoolExecutor(len(conns)) as pool:
        list(pool.map(get, conns, shares))


def _minflt(pids: list[int]) -> int:
    """Minor page faults of the processes so far (a page the kernel maps, zeroed)."""
    return sum(
        int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[7]) for pid in pids
    )


def _traced(pids: list[int], out: Path, options: list[str], send: Callable[[], None]) -> None:
    """Run send() with strace attached to pids, writing to out."""
    args = [STRACE, "-f", "-o", str(out), *options]
    for pid in pids:
        args += ["-p", str(pid)]
    tracer = subprocess.Popen(args, stderr=subprocess.PIPE)
    assert tracer.stderr is not None
    attached = 0
    while attached < len(pids):  # (strace says so on stderr, once for each process)
        line = tracer.stderr.readline()
        if not line:
            raise RuntimeError(f"strace exited: {tracer.wait()}")
        attached += b"attached" in line
    try:
        send()
    finally:
        tracer.send_signal(signal.SIGINT)
        tracer.communicate(timeout=60)


def _summary(text: str) -> Counter[str]:
    """strace -c's table as {system call: calls}."""
    calls: Counter[str] = Counter()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[3].isdigit() and fields[-1] != "total":
            calls[fields[-1]] += int(fields[3])
    return calls


def _bytes(trace: bytes) -> tuple[int, int]:
    """Bytes read and written, over a full trace's lines."""
    read = written = 0
    for line in trace.splitlines():
        if m := _MOVED.match(line):
            if m[1] in READS:
                read += int(m[2])
            else:
                written += int(m[2])
    return read, written


def measure(
    servers: proxy.Servers, name: str, path: str, requests: int, connections: int, tmp: Path
) -> dict[str, float]:
    """{system call, or "page faults" / "bytes read" / "bytes written": per request}."""
    pids = servers.pids(name)
    found: dict[str, float] = {}
    for full in (False, True):
        port = servers.ports[name]
        conns = [
            http.client.HTTPConnection("127.0.0.1", port, timeout=120) for _ in range(connections)
        ]
        _send(conns, path, [WARMUP] * connections)
        shares = [
            requests // connections + (i < requests % connections) for i in range(connections)
        ]
        out = tmp / f"strace.{servers.ports[name]}"
        faults = _minflt(pids)
        options = ["-s", "0", "-e", "trace=" + ",".join(MOVERS)] if full else ["-c"]
        _traced(pids, out, options, functools.partial(_send, conns, path, shares))
        for conn in conns:
            conn.close()
        if full:
            read, written = _bytes(out.read_bytes())
            found["bytes read"], found["bytes written"] = read / requests, written / requests
        else:
            faults = _minflt(pids) - faults
            calls = _summary(out.read_text())
            found.update({k: v / requests for k, v in calls.most_common()})
            found["all system calls"] = sum(calls.values()) / requests
            found["page faults"] = faults / requests
    return found


def table(results: dict[str, dict[str, float]]) -> list[str]:
    names = list(results)
    rows = ["| per request | " + " | ".join(names) + " |", "|---" * (1 + len(names)) + "|"]
    keys = dict.fromkeys(k for found in results.values() for k in found)
    last = ("all system calls", "page faults", "bytes read", "bytes written")
    for key in [k for k in keys if k not in last] + list(last):
        cells = [results[n].get(key, 0.0) for n in names]
        if key.startswith("bytes"):
            shown = [f"{c:,.0f}" for c in cells]
        else:
            shown = [f"{c:.2f}" for c in cells]
        if key in last or max(cells) >= 0.005:
            rows.append(f"| {key} | " + " | ".join(shown) + " |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--connections", default="1,16")
    ap.add_argument("--servers", default="passthrough,consentproxy")
    ap.add_argument("--paths", default="/page.txt,/page.html")
    args = ap.parse_args()
    if shutil.which(STRACE) is None:
        sys.exit("strace is not installed (make bench-tools)")
    os.environ[common.SECRET_ENV] = secrets.token_hex(32)
    with tempfile.TemporaryDirectory(prefix="consentproxy-sc-") as tmp:
        servers = proxy.Servers(dict(os.environ), Path(tmp), 16)
        try:
            servers.start("origin")
            for name in args.servers.split(","):
                servers.start(name)
            for path in args.paths.split(","):
                for connections in map(int, args.connections.split(",")):
                    results = {
                        name: measure(servers, name, path, args.requests, connections, Path(tmp))
                        for name in args.servers.split(",")
                    }
                    print(
                        f"\n### {path}: {args.requests} requests over {connections} "
                        f"connection{'s' if connections > 1 else ''} (strace)\n"
                    )
                    print("\n".join(table(results)), flush=True)
        finally:
            servers.stop()


if __name__ == "__main__":
    main()
