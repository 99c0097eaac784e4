"""The engine's steps timed inside a running `consentproxy serve`, beside the same steps run
hot in one loop: what each costs among the 100 KB bodies the server copies between two
requests (they evict the CPU's caches), against what an in-process profile says.

    bench/steps.py [--requests 2000] [--paths /page.txt,/page.html]

An instrument, like serve_one.py's copy-rewriter: the server (`steps.py --serve`, the demo
config, one worker, `serve`'s loop, telemetry and access log) runs with the thread's CPU
clock read around each step (CPU time: a step the kernel preempts on a busy machine is not
charged for the wait; each reading is a system call, ~0.3 µs more on each step). The
requests go one after the other over one connection; the hot column repeats the same steps
(the same request and origin headers, the same body) in this process, best of 5 runs.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import common
import proxy

# (owner, attribute) of each step, in the order a request meets them
STEPS = (
    ("server", "Request"),
    ("engine.Engine", "begin"),
    ("engine.Exchange", "upstream_headers"),
    ("engine.Exchange", "response"),
    ("engine.Exchange", "_rewrite_plan"),
    ("body.BodyTransform", "sliced"),  # (a page all at hand: rewritten and closed in one)
    ("body.BodyTransform", "more"),  # (the next slice of a long one)
    ("body.BodyTransform", "close"),
    ("telemetry.Telemetry", "request_done"),
)
HEADERS = {"/page.txt": {"Accept": "text/plain"}, "/page.html": proxy.BROWSER}
REPEATS = 5
CLOCK = time.thread_time


def serve(upstream: str, port: int, out: Path) -> int:
    """`consentproxy serve` with each step timed; SIGUSR1 zeroes the sums, SIGUSR2 appends
    them to `out` as a JSON line ({step: [seconds, calls]})."""
    from consentproxy import body, cli, engine, server, telemetry

    owners = {"server": server, "engine": engine, "body": body, "telemetry": telemetry}
    sums: dict[str, list[float]] = {}

    def timed(owner: Any, name: str) -> None:
        step, sums[name] = getattr(owner, name), [0.0, 0]

        def wrapper(*args: Any, **kw: Any) -> Any:
            started = CLOCK()
            try:
                return step(*args, **kw)
            finally:
                total = sums[name]
                total[0] += CLOCK() - started
                total[1] += 1

        setattr(owner, name, wrapper)

    for where, name in STEPS:
        module, _, cls = where.partition(".")
        timed(getattr(owners[module], cls) if cls else owners[module], name)

    def zero(*_: object) -> None:
        for total in sums.values():
            total[:] = [0.0, 0]

    def dump(*_: object) -> None:
        with out.open("a") as f:
            f.write(json.dumps(sums) + "\n")

    signal.signal(signal.SIGUSR1, zero)
    signal.signal(signal.SIGUSR2, dump)
    listen = f"127.0.0.1:{port}"
    config = str(common.DEMO_CONFIG)
    return cli.main(
        ["serve", "--config", config, "--upstream", upstream, "--listen", listen, "--workers", "1"]
    )


def origin_head(port: int, path: str) -> list[tuple[bytes, bytes]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in resp.getheaders()]


def hot(path: str, upstream: str, origin: list[tuple[bytes, bytes]], body: bytes) -> dict:
    """µs per step of the same request, in a loop in this process (best of REPEATS)."""
    from consentproxy import engine as eng
    from consentproxy.engine import Head, Request
    from consentproxy.server import RawHeaders, _head
    from consentproxy.telemetry import AccessLog, Telemetry

    e = common.engine(os.environ[common.SECRET_ENV], upstream)
    telemetry = Telemetry(lambda: e, AccessLog(io.StringIO()))
    head = [(b"Host", b"127.0.0.1"), (b"Accept-Encoding", b"identity")]
    head += [(k.encode(), v.encode()) for k, v in HEADERS[path].items()]
    best: dict[str, float] = {}

    def clock(step: str, fn: Callable[..., Any], *args: Any) -> Any:
        started = CLOCK()
        result = fn(*args)
        spent[step] = spent.get(step, 0.0) + CLOCK() - started
        return result

    def make_request(known: Head) -> Request:
        return Request("GET", path, known.headers, client_ip="127.0.0.1", head=known)

    # The visitor's and the origin's blocks, kept as serve keeps them (server._head).
    heads: dict[RawHeaders, Head] = {}
    origin_heads: dict[RawHeaders, Head] = {}
    n = 300
    for _ in range(REPEATS + 1):  # the first: warm-up
        spent: dict[str, float] = {}
        for _ in range(n):
            request_head = _head(heads, tuple(head))
            ex = clock("begin", e.begin, clock("Request", make_request, request_head))
            clock("upstream_headers", ex.upstream_headers)
            origin_head = _head(origin_heads, tuple(origin))
            plan = clock("response", ex.response, 200, origin_head.headers, origin_head)
            if isinstance(plan.body, eng.BodyTransform):
                clock("sliced", plan.body.sliced, body, True)  # (as serve does: a page at hand)
            report = ex.report
            clock("request_done", telemetry.request_done, "GET", path, 200, 0.0, 0, report)
        for step, seconds in spent.items():
            best[step] = min(best.get(step, 1e9), seconds / n * 1e6)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--paths", default="/page.txt,/page.html")
    ap.add_argument("--serve", nargs=3, metavar=("UPSTREAM", "PORT", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        sys.exit(serve(args.serve[0], int(args.serve[1]), Path(args.serve[2])))
    os.environ.setdefault(common.SECRET_ENV, "steps-bench-" + "k" * 32)
    with tempfile.TemporaryDirectory() as tmp:
        servers = proxy.Servers(dict(os.environ), Path(tmp), big_mib=1)
        servers.start("origin")
        origin = servers.ports["origin"]
        upstream, port, out = f"http://127.0.0.1:{origin}", proxy.free_port(), Path(tmp) / "s"
        args_ = [sys.executable, __file__, "--serve", upstream, str(port), str(out)]
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}  # (access log)
        timed_server = subprocess.Popen(args_, env=dict(os.environ), **quiet)
        try:
            proxy.wait_port(port, timed_server, "consentproxy (timed steps)")
            print("## The engine's steps inside `serve` and hot in a loop (µs a request)\n")
            print(f"{args.requests} requests, one connection, after 200 of warm-up.\n")
            for path in args.paths.split(","):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                for i in range(200 + args.requests):
                    if i == 200:
                        timed_server.send_signal(signal.SIGUSR1)
                        time.sleep(0.2)
                    conn.request("GET", path, headers=HEADERS[path])
                    conn.getresponse().read()
                conn.close()
                timed_server.send_signal(signal.SIGUSR2)
                time.sleep(0.5)
                inside = json.loads(out.read_text().splitlines()[-1])
                body = http.client.HTTPConnection("127.0.0.1", origin, timeout=30)
                body.request("GET", path)
                page = body.getresponse().read()
                looped = hot(path, upstream, origin_head(origin, path), page)
                rows = [
                    [
                        f"`{name}`",
                        f"{inside[name][0] / inside[name][1] * 1e6:.1f}",
                        f"{looped[name]:.1f}" if name in looped else "",
                    ]
                    for _, name in STEPS
                    if inside[name][1]
                ]
                print(f"### {path}\n")
                print(common.markdown_table(["step", "inside serve", "hot, in a loop"], rows))
                print()
        finally:
            timed_server.terminate()
            timed_server.wait(timeout=20)
            servers.stop()


if __name__ == "__main__":
    main()
