"""End-to-end throughput: origin direct, a bare aiohttp passthrough proxy, consentproxy.

Each server is its own process (bench/serve_one.py) on 127.0.0.1; the load generator is
wrk (`-t1 -c16 --latency`) if /usr/bin/wrk exists, else a bounded aiohttp client loop.
Passthrough and consentproxy runs alternate, ROUNDS times, and the best round of each is
kept, so both see the same machine noise; the ratio is consentproxy / passthrough.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import common

HERE = Path(__file__).resolve().parent
WRK = "/usr/bin/wrk"
CONNECTIONS = 16
ROUNDS = 2

BROWSER = {"Accept": "text/html", "Sec-Fetch-Dest": "document"}


def spawn(kind: str, env: dict[str, str], upstream: str = "") -> tuple[subprocess.Popen, int]:
    args = [sys.executable, str(HERE / "serve_one.py"), kind]
    if upstream:
        args += ["--upstream", upstream]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "PORT n", printed once listening
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"{kind} did not start: {line!r}")
    return proc, int(line.split()[1])


def fetch(url: str, headers: dict[str, str]) -> tuple[int, bytes]:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
        return r.status, r.read()


_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    assert m, text
    return float(m.group(1)) * _UNIT[m.group(2)]


def run_wrk(url: str, headers: dict[str, str], seconds: float) -> dict[str, float]:
    args = [WRK, "-t1", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "--latency", "--timeout", "5s"]
    for k, v in headers.items():
        args += ["-H", f"{k}: {v}"]
    out = subprocess.run(args + [url], capture_output=True, text=True, check=True,
                         timeout=seconds + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if bad or errors:
        print(f"  warning, {url}: {bad and bad.group(0)} {errors and errors.group(0)}")
    return {"rps": rps, "p50": p50, "p99": p99}


async def _client_loop(url: str, headers: dict[str, str], seconds: float) -> dict[str, float]:
    import aiohttp

    lat: list[float] = []
    deadline = time.perf_counter() + seconds
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        async def worker() -> None:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                async with session.get(url, headers=headers) as r:
                    await r.read()
                lat.append((time.perf_counter() - t0) * 1e3)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
        elapsed = time.perf_counter() - t0
    lat.sort()
    return {"rps": len(lat) / elapsed, "p50": lat[len(lat) // 2],
            "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))]}


def load(url: str, headers: dict[str, str], seconds: float) -> dict[str, float]:
    if shutil.which(WRK):
        return run_wrk(url, headers, seconds)
    return asyncio.run(_client_loop(url, headers, seconds))


def bench(seconds: float, rounds: int) -> list[dict]:
    secret = secrets.token_hex(32)
    env = dict(os.environ, **{common.SECRET_ENV: secret})
    cookie = common.consent_cookie(common.engine(secret))
    cases = {
        "HTML 100KB, no consent": ("/page.html", BROWSER),
        "HTML 100KB, all consent": ("/page.html", dict(BROWSER, Cookie=cookie)),
        "JSON 1MB": ("/data.json", {"Accept": "application/json"}),
    }
    procs = []
    try:
        origin, oport = spawn("origin", env)
        procs.append(origin)
        upstream = f"http://127.0.0.1:{oport}"
        ports = {"origin": oport}
        for kind in ("passthrough", "consentproxy"):
            proc, ports[kind] = spawn(kind, env, upstream)
            procs.append(proc)
        check(ports, cases)
        rows = []
        for case, (path, headers) in cases.items():
            row: dict = {"case": case}
            for kind, port in ports.items():
                load(f"http://127.0.0.1:{port}{path}", headers, 1)  # warm-up
            for _ in range(rounds):
                for kind, port in ports.items():
                    if kind == "origin" and kind in row:
                        continue  # the origin is a reference only: one round
                    r = load(f"http://127.0.0.1:{port}{path}", headers, seconds)
                    if kind not in row or r["rps"] > row[kind]["rps"]:
                        row[kind] = r
            rows.append(row)
        return rows
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()


def check(ports: dict[str, int], cases: dict) -> None:
    """Each server answers 200 and consentproxy really rewrites (or not) as expected."""
    for case, (path, headers) in cases.items():
        bodies = {}
        for kind, port in ports.items():
            status, bodies[kind] = fetch(f"http://127.0.0.1:{port}{path}", headers)
            assert status == 200, (kind, case, status)
        assert bodies["passthrough"] == bodies["origin"], case
        rewritten = bodies["consentproxy"] != bodies["origin"]
        assert rewritten == path.endswith(".html"), case
        print(f"  check {case}: origin {len(bodies['origin'])} B, consentproxy "
              f"{len(bodies['consentproxy'])} B, "
              f"tags neutralised {bodies['consentproxy'].count(b'data-consent-blocked=')}")


def table(rows: list[dict]) -> str:
    head = ["case", "origin req/s", "passthrough req/s", "consentproxy req/s",
            "cp/pt ratio", "pt p50/p99 ms", "cp p50/p99 ms"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        o, p, c = r["origin"], r["passthrough"], r["consentproxy"]
        lines.append("| " + " | ".join([
            r["case"], f"{o['rps']:.0f}", f"{p['rps']:.0f}", f"{c['rps']:.0f}",
            f"{c['rps'] / p['rps']:.2f}x", f"{p['p50']:.1f} / {p['p99']:.1f}",
            f"{c['p50']:.1f} / {c['p99']:.1f}"]) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=ROUNDS)
    args = ap.parse_args()
    t0 = time.perf_counter()
    gen = f"wrk -t1 -c{CONNECTIONS} -d{args.seconds:g}s" if shutil.which(WRK) else "aiohttp loop"
    rows = bench(args.seconds, args.rounds)
    print(f"\n## Proxy throughput ({gen}; best of {args.rounds} alternating rounds; "
          f"nproc {os.cpu_count()})\n")
    print(table(rows))
    html = rows[0]
    ratio = html["consentproxy"]["rps"] / html["passthrough"]["rps"]
    print(f"\nHTML 100KB, no consent: consentproxy = {ratio:.2f}x passthrough req/s "
          f"(goal >= 0.8x)")
    print(f"(proxy bench took {time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
