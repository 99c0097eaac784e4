"""Instructions per request of each proxy, counted by callgrind: a measure of the work a
response costs that the machine's load does not move (CPU time per request moves by 10-30%
between rounds on 2 shared cores; this by well under 1%). It counts user-space instructions
only: system calls and the kernel's TCP work (the same for every proxy here) are left out.

    bench/instructions.py [--requests 200] [--servers passthrough,copy-rewriter,consentproxy]
        [--compare CHECKOUT] [--paths /page.html,/page.txt]

Each server runs under `valgrind --tool=callgrind` (slow: a minute or two to start), gets
WARMUP requests, then its counters are zeroed, --requests requests are sent one after the
other over one connection, and the counters are dumped. Servers run two at a time.
"""

from __future__ import annotations

import argparse
import http.client
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import common
import proxy

VALGRIND = shutil.which("valgrind") or "valgrind"
WARMUP = 30
HEADERS = proxy.BROWSER


def command(kind: str, checkout: Path, upstream: str, port: int) -> list[str]:
    python = str(checkout / ".venv" / "bin" / "python")
    if kind == "consentproxy":
        config = str(checkout / "src" / "consentproxy" / "demo" / "config.yaml")
        return [
            *(python, "-m", "consentproxy.cli", "serve", "--config", config),
            *("--upstream", upstream, "--listen", f"127.0.0.1:{port}", "--workers", "1"),
        ]
    serve_one = str(checkout / "bench" / "serve_one.py")
    return [python, serve_one, kind, "--upstream", upstream, "--port", str(port)]


def requests(port: int, path: str, n: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        for _ in range(n):
            conn.request("GET", path, headers=HEADERS)
            conn.getresponse().read()
    finally:
        conn.close()


def count(
    name: str, checkout: Path, upstream: str, paths: list[str], n: int, tmp: Path
) -> dict[str, float]:
    """{path: instructions per request} of one server."""
    kind = name.removesuffix(proxy.BEFORE)
    port = proxy.free_port()
    args = command(kind, checkout, upstream, port)
    out = tmp / f"cg.{port}"
    proc = subprocess.Popen(
        [VALGRIND, "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-instr=no", *args],
        cwd=checkout / "bench",
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        proxy.wait_port(port, proc, name, timeout=600)
        found: dict[str, float] = {}
        for path in paths:
            requests(port, path, WARMUP)
            subprocess.run(
                ["callgrind_control", "-z", str(proc.pid)], check=True, capture_output=True
            )
            requests(port, path, n)
            before = set(tmp.glob(f"cg.{port}.*"))
            subprocess.run(
                ["callgrind_control", "-d", str(proc.pid)], check=True, capture_output=True
            )
            deadline = time.monotonic() + 60
            while not (dumped := set(tmp.glob(f"cg.{port}.*")) - before):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name}: callgrind wrote no dump")
                time.sleep(0.5)
            time.sleep(1)  # let it finish writing
            (dump,) = dumped
            totals = [ln for ln in dump.read_text().splitlines() if ln.startswith("summary:")]
            found[path] = int(totals[0].split()[1]) / n
        return found
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--servers", default="passthrough,copy-rewriter,consentproxy")
    ap.add_argument("--paths", default="/page.html,/page.txt")
    ap.add_argument("--compare", type=Path, metavar="CHECKOUT", help="e.g. a worktree of main")
    args = ap.parse_args()
    if shutil.which(VALGRIND) is None:
        sys.exit("valgrind is not installed")
    here = Path(__file__).resolve().parent.parent
    names = args.servers.split(",")
    jobs = [(n, here) for n in names]
    if args.compare:
        jobs += [(n + proxy.BEFORE, args.compare.resolve()) for n in names if n != "passthrough"]
    paths = args.paths.split(",")
    env = {common.SECRET_ENV: secrets.token_hex(32)}
    os.environ.update(env)
    with tempfile.TemporaryDirectory(prefix="consentproxy-ir-") as tmp:
        servers = proxy.Servers(dict(os.environ), Path(tmp), 16)
        try:
            servers.start("origin")
            upstream = f"http://127.0.0.1:{servers.ports['origin']}"
            with ThreadPoolExecutor(2) as pool:
                results = dict(
                    zip(
                        [n for n, _ in jobs],
                        pool.map(
                            lambda job: count(
                                job[0], job[1], upstream, paths, args.requests, Path(tmp)
                            ),
                            jobs,
                        ),
                        strict=True,
                    )
                )
        finally:
            servers.stop()
    print(f"\n## Instructions per request (callgrind, {args.requests} requests, one connection)\n")
    print("| server | " + " | ".join(f"{p}: K instr. (passthrough's ÷ this)" for p in paths) + " |")
    print("|---" * (1 + len(paths)) + "|")
    base = results.get("passthrough")
    for name, found in results.items():
        cells = [
            f"{found[p] / 1000:,.0f}" + (f" ({base[p] / found[p]:.2f}x)" if base else "")
            for p in paths
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
