"""The rewriter on real pages nobody here wrote (../shared/realworld/pages): MB/s per page.

Each page fed in 16 KB chunks for a visitor who decided nothing, with every built-in
service configured, best of REPEATS per page, one core. Reported: median, 10th percentile,
aggregate (total bytes / total best time) and the slowest pages, beside two references fed
the same bytes in the same run: selectolax (lexbor) parsing them, and Cloudflare's lol-html
rewriting them through `lol-html-py`, the one binding of it this project's package index has
(an asyncio API over a Tokio task, with one fixed rewrite: it drops `<script>` elements; the
`lolhtml` bindings issue 20 measured, with element handlers, are on no index reachable here).
--cpu times each page by the process's CPU time (every thread's: lol-html's runs on its own)
instead of the wall clock: on a machine shared with other work, what the rewrite costs rather
than how long it waited for a core. --cold clears every memo before each run of a page: its
first view, when no inline script, style sheet or tag of it has been judged before (by
default the best run is a page seen again, as on a site's every view after its first).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import common
from rewriter import best_seconds, rewrite_fn, selectolax_fn

from consentproxy.config import catalog_config
from consentproxy.consent import NO_DECISION
from consentproxy.engine import Engine

PAGES = common.ROOT.parent / "shared" / "realworld" / "pages"
REPEATS = 5
CHUNK = 16 * 1024


def measure(
    pages: dict[str, bytes],
    repeats: int,
    clock: Callable[[], float] = time.perf_counter,
    cold: bool = False,
) -> list[dict]:
    eng = Engine(
        catalog_config().with_overrides(upstream="http://127.0.0.1:9"),
        [b"bench-secret-0123456789abcdef0123"],
    )
    rows = []
    for name, data in pages.items():
        mb = len(data) / 1e6
        ours = best_seconds(rewrite_fn(eng, NO_DECISION, data, CHUNK, cold), repeats, clock)
        parse = selectolax_fn(data)
        ref = best_seconds(parse, repeats, clock) if parse else None
        lol = lolhtml_fn(data)
        lol_seconds = best_seconds(lol, repeats, clock) if lol else None
        rows.append(
            {
                "page": name,
                "bytes": len(data),
                "seconds": ours,
                "mbs": mb / ours,
                "selectolax": mb / ref if ref else None,
                "ref_seconds": ref,
                "lolhtml": mb / lol_seconds if lol_seconds else None,
                "lol_seconds": lol_seconds,
            }
        )
    return rows


LOOP = asyncio.new_event_loop()  # lol-html-py's API is asyncio's: one loop for every call


def lolhtml_fn(data: bytes) -> Callable[[], object] | None:
    """lol-html rewriting `data` fed in CHUNK pieces, its output gathered (None: not installed)."""
    try:
        from lol_html import AsyncRewriter
    except ImportError:
        return None

    async def rewrite() -> bytes:
        rw = AsyncRewriter()

        async def feed() -> None:
            for i in range(0, len(data), CHUNK):
                await rw.feed(data[i : i + CHUNK])
            rw.close()

        async def gather() -> bytes:
            return b"".join([chunk async for chunk in rw])

        return (await asyncio.gather(feed(), gather()))[1]

    return lambda: LOOP.run_until_complete(rewrite())


def summary(rows: list[dict], key: str, seconds: str) -> tuple[float, float, float]:
    speeds = sorted(r[key] for r in rows)
    p10 = speeds[max(0, int(len(speeds) * 0.1) - 1)] if len(speeds) >= 10 else speeds[0]
    total = sum(r["bytes"] for r in rows) / 1e6 / sum(r[seconds] for r in rows)
    return statistics.median(speeds), p10, total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=REPEATS)
    ap.add_argument("--pages", type=Path, default=PAGES)
    ap.add_argument("--cpu", action="store_true", help="time by CPU time, not wall time")
    ap.add_argument("--cold", action="store_true", help="every memo cleared before each run")
    args = ap.parse_args()
    files = sorted(args.pages.glob("*.html"))
    if not files:
        print(f"no pages under {args.pages}: the real-world corpus is not here", file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    rows = measure(
        {p.name: p.read_bytes() for p in files},
        args.repeats,
        time.process_time if args.cpu else time.perf_counter,
        args.cold,
    )
    print(
        f"## Rewriter on {len(rows)} real pages, MB/s (16 KB chunks, no consent, "
        f"every built-in service; best of {args.repeats}"
        f"{', CPU time' if args.cpu else ''}"
        f"{', every memo cleared: a first view' if args.cold else ''})\n"
    )
    table = [
        [
            "consentproxy",
            *(f"{v:.0f}" for v in summary(rows, "mbs", "seconds")),
            f"{min(r['mbs'] for r in rows):.0f}",
        ]
    ]
    if all(r["selectolax"] for r in rows):
        table.append(
            [
                "selectolax (parse only)",
                *(f"{v:.0f}" for v in summary(rows, "selectolax", "ref_seconds")),
                f"{min(r['selectolax'] for r in rows):.0f}",
            ]
        )
    if all(r["lolhtml"] for r in rows):
        table.append(
            [
                "lol-html (lol-html-py: drops scripts, asyncio)",
                *(f"{v:.0f}" for v in summary(rows, "lolhtml", "lol_seconds")),
                f"{min(r['lolhtml'] for r in rows):.0f}",
            ]
        )
    print(common.markdown_table(["", "median", "p10", "aggregate", "slowest page"], table))
    print("\nslowest pages:\n")
    slow = sorted(rows, key=lambda r: r["mbs"])[:8]
    print(
        common.markdown_table(
            ["page", "KB", "ms", "MB/s"],
            [
                [
                    r["page"],
                    f"{r['bytes'] / 1e3:.0f}",
                    f"{r['seconds'] * 1e3:.2f}",
                    f"{r['mbs']:.0f}",
                ]
                for r in slow
            ],
        )
    )
    print(f"\n(real-world bench took {time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    code = main()
    # Out without the interpreter's finalization: lol-html-py's I/O thread, alive until then,
    # once aborted the process with a Rust panic (SIGABRT, in the unit suite on a loaded
    # machine), as a thread calling into a finalizing interpreter does.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
