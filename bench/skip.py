"""The C skip loop alone (`Skipper.skip`, rewrite/_skip.c): MB/s and ns per '<'.

The floor of the whole rewriter: how fast the loop steps over markup that passes through
untouched. Measured on three inputs, each by CPU time (time.process_time), best of REPEATS:
 - clean_page(): 100 KB of ordinary markup with no stop at all, one call from 0;
 - typical_page(): the synthetic page, walked to its end: skip, then past each stop with
   scanner.TAG_RE (or one byte) as the rewriter would;
 - the real pages (../shared/realworld/pages, or --pages), each walked the same way.
The walks' stop positions are found first; only the skip calls from them are timed (with
quiet_ok 7, the head done, no host settled), so Python's share is one call per stop. MB/s is
the input's bytes over that time; ns per '<' divides the same time by the '<' bytes in it.
--compare DIR times the loop built in another checkout (DIR/src/consentproxy/rewrite) in
the same process, the two taking turns: on a shared machine, a before/after that one
run's noise does not decide.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path

import common
from realworld import PAGES
from rewriter import best_seconds

from consentproxy.rewrite import scanner

REPEATS = 7
QUIET = scanner.QUIET_ALL | scanner.QUIET_KEYED | scanner.QUIET_FOREIGN


def other_skip(checkout: Path) -> scanner.Skip:
    """The skip loop built in another checkout, with this one's arguments."""
    name = "consentproxy.rewrite._skip"
    built = sorted((checkout / "src" / "consentproxy" / "rewrite").glob("_skip*.so"))
    if not built:
        raise SystemExit(f"no C skip loop built under {checkout} (make install there)")
    loader = importlib.machinery.ExtensionFileLoader(name, str(built[0]))
    spec = importlib.util.spec_from_file_location(name, built[0], loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    try:
        return module.Skipper(*scanner.SKIPPER_ARGS).skip
    except TypeError:  # a loop built before hosted_urls (the last): it takes those before it
        return module.Skipper(*scanner.SKIPPER_ARGS[:-1]).skip


def starts(skip: scanner.Skip, data: bytes) -> list[int]:
    """Where the rewriter calls skip on data: 0, then past each stop."""
    out, pos, n = [], 0, len(data)
    while pos < n:
        out.append(pos)
        pos = skip(data, pos, QUIET, {}, set())
        if pos >= n:
            break
        tag = scanner.TAG_RE.match(data, pos)
        pos = tag.end() if tag else pos + 1
    return out


def rows(name: str, pages: list[bytes], skips: dict[str, scanner.Skip], repeats: int) -> list:
    """One row per loop, the loops timed in turns on the same walks (the first one's)."""
    walks = [(data, starts(next(iter(skips.values())), data)) for data in pages]
    settled: dict[bytes, bool] = {}
    seen: set[str] = set()

    def walk(skip: scanner.Skip) -> Callable[[], None]:
        def run() -> None:
            for data, at in walks:
                for pos in at:
                    skip(data, pos, QUIET, settled, seen)

        return run

    runs = {label: walk(skip) for label, skip in skips.items()}
    best = dict.fromkeys(skips, float("inf"))
    for _ in range(repeats):
        for label, run in runs.items():
            best[label] = min(best[label], best_seconds(run, 1, time.process_time))
    size = sum(len(d) for d in pages)
    tags = sum(d.count(b"<") for d in pages)
    calls = sum(len(at) for _, at in walks)
    return [
        [
            name + (f" ({label})" if len(skips) > 1 else ""),
            f"{size / 1e3:,.0f}",
            f"{tags:,}",
            f"{calls:,}",
            f"{seconds * 1e6:,.0f}",
            f"{size / 1e6 / seconds:,.0f}",
            f"{seconds / tags * 1e9:.1f}",
        ]
        for label, seconds in best.items()
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=REPEATS)
    ap.add_argument("--pages", type=Path, default=PAGES)
    ap.add_argument("--compare", type=Path, help="another checkout whose loop to time too")
    args = ap.parse_args()
    if "c" not in scanner.SKIPS:
        print("the C skip loop is not built (make install)", file=sys.stderr)
        return 1
    skips = {"this": scanner.SKIPS["c"]}
    if args.compare:
        skips[args.compare.name] = other_skip(args.compare)
    inputs = {"clean_page()": [common.clean_page()], "typical_page()": [common.typical_page()]}
    files = sorted(args.pages.glob("*.html"))
    if files:
        inputs[f"{len(files)} real pages"] = [p.read_bytes() for p in files]
    else:
        print(f"(no pages under {args.pages}: real pages left out)", file=sys.stderr)
    table = [
        row for name, pages in inputs.items() for row in rows(name, pages, skips, args.repeats)
    ]
    print(f"## The C skip loop alone (CPU time, best of {args.repeats})\n")
    head = ["input", "KB", "'<'", "skip calls", "µs", "MB/s", "ns per '<'"]
    print(common.markdown_table(head, table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
