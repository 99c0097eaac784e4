"""The HTML rewriter in process: MB/s (1 MB = 10^6 bytes), cost growth, memory.

Throughput: each page fed whole, in 16 KB and in 1 KB chunks, for a visitor who decided
nothing ("none": trackers neutralised) and one who accepted all; "warm" is the steady
state of a proxy that has seen the site before, "cold" forgets the remembered inline
scripts and URLs before every page; "python" is the pure-Python fallback (no C skip loop).
Baselines on the same bytes in the same run: a bare `bytes.find(b"<")` loop and, when
installed, selectolax (lexbor) parsing the page. Best of REPEATS timings.

Growth: time and peak traced memory (fed in 16 KB chunks, output dropped) as the page
grows from 10 KB to 10 MB, with one large tag, as the configured services grow, and as
the tracker knowledge base grows (10 to 10,000 domains, and the built-in one).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import time
import tracemalloc
from collections.abc import Callable

import common

from consentproxy.catalog.knowledge import Knowledge, KnownTracker
from consentproxy.config import Service
from consentproxy.consent import ConsentState
from consentproxy.engine import Engine
from consentproxy.rewrite import neutralise
from consentproxy.rewrite.neutralise import Neutraliser
from consentproxy.rewrite.scanner import DEFAULT_SKIP, SKIPS, HtmlRewriter, Skip
from consentproxy.rewrite.selectors import OpenMarker, parse_selectors

CHUNKINGS = {"whole": 0, "16K": 16 * 1024, "1K": 1024}
REPEATS = 7
MIN_SAMPLE = 0.02  # seconds per timing sample (small pages run many times per sample)
CLOCK = time.perf_counter  # (--cpu: time.process_time)
SECRET = "bench-secret-0123456789abcdef0123"
SITE = "legacy.example"  # the page's own registrable domain, as the engine passes it


def find_scan(data: bytes) -> int:
    n, pos = 0, data.find(b"<")
    while pos != -1:
        n += 1
        pos = data.find(b"<", pos + 1)
    return n


def best_seconds(
    fn: Callable[[], object], repeats: int, clock: Callable[[], float] | None = None
) -> float:
    """Best per-call time: calibrate a loop count so one sample lasts >= MIN_SAMPLE.
    clock: wall time, or the process's CPU time (time.process_time) on a busy machine;
    default: CLOCK."""
    clock = clock or CLOCK
    loops = 1
    while True:
        t0 = clock()
        for _ in range(loops):
            fn()
        dt = clock() - t0
        if dt >= MIN_SAMPLE:
            break
        loops *= 2 if dt == 0 else max(2, min(100, int(MIN_SAMPLE / dt * 1.2) + 1))
    best = dt / loops
    for _ in range(repeats - 1):
        t0 = clock()
        for _ in range(loops):
            fn()
        best = min(best, (clock() - t0) / loops)
    return best


def forget(eng: Engine) -> None:
    """Cold: drop what the policy and the URL parser remember from earlier pages."""
    eng.policy._inline_cache.clear()
    eng.policy._url_hosts.clear()
    eng.policy.tag_memo.clear()
    neutralise._cached_url_target.cache_clear()
    neutralise._cached_inline_js.cache_clear()
    eng.policy.style_urls.clear()
    eng.policy.settled_hosts.clear()
    eng.policy.element_memo.clear()


def rewrite_fn(
    eng: Engine,
    state: ConsentState,
    data: bytes,
    chunk: int,
    cold: bool = False,
    skip: Skip = DEFAULT_SKIP,
    opener: OpenMarker | None = None,
) -> Callable[[], bytes]:
    chunks = [data] if not chunk else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    banner = eng.banner.render(state, "en", "/")
    head = eng.banner.script_tag(state)

    def run() -> bytes:
        if cold:
            forget(eng)
        rw = HtmlRewriter(
            Neutraliser(eng.policy, state, site=SITE),
            banner,
            True,
            head=head,
            skip=skip,
            opener=opener,
            declaration=b"<p>declaration</p>",
        )
        out = [rw.feed(c) for c in chunks]
        out.append(rw.close())
        return b"".join(out)

    return run


def selectolax_fn(data: bytes) -> Callable[[], object] | None:
    try:
        from selectolax.lexbor import LexborHTMLParser
    except ImportError:
        return None
    return lambda: LexborHTMLParser(data)


def pages(small: bool) -> dict[str, bytes]:
    if small:  # the test's tiny input
        return {"typical 100KB": common.page(3000), "clean 100KB": common.clean_page(3000)}
    return {
        "small 15KB": common.page(15_000),
        "typical 100KB": common.typical_page(),
        "big 2MB": common.big_page(),
        "tag-dense 100KB": common.dense_page(),
        "clean 100KB": common.clean_page(),
        "corpus (concat)": b"".join(common.corpus_pages().values()),
    }


def throughput(eng: Engine, repeats: int, small: bool) -> list[dict]:
    states = {name: make(eng) for name, make in common.STATES.items()}
    none = states["none"]
    rows = []
    for name, data in pages(small).items():
        mb = len(data) / 1e6
        row = {"page": name, "bytes": len(data)}
        for sname, state in states.items():
            for cname, chunk in CHUNKINGS.items():
                if sname == "all" and cname != "whole":
                    continue
                row[f"{sname}/{cname}"] = mb / best_seconds(
                    rewrite_fn(eng, state, data, chunk), repeats
                )
        row["none/whole cold"] = mb / best_seconds(
            rewrite_fn(eng, none, data, 0, cold=True), repeats
        )
        row["python"] = mb / best_seconds(
            rewrite_fn(eng, none, data, 0, skip=SKIPS["python"]), repeats
        )
        row["find(<)"] = mb / best_seconds(lambda d=data: find_scan(d), repeats)
        parse = selectolax_fn(data)
        row["selectolax"] = mb / best_seconds(parse, repeats) if parse else None
        rows.append(row)
    return rows


def peak_memory(eng: Engine, data: bytes, chunk: int = 16 * 1024) -> int:
    """Peak traced bytes while rewriting data in chunks, output dropped as it comes."""
    state = common.STATES["none"](eng)
    rw = HtmlRewriter(
        Neutraliser(eng.policy, state, site=SITE),
        eng.banner.render(state, "en", "/"),
        True,
        head=eng.banner.script_tag(state),
    )
    tracemalloc.start()
    tracemalloc.reset_peak()
    for i in range(0, len(data), chunk):
        rw.feed(data[i : i + chunk])
    rw.close()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def growth_by_size(eng: Engine, repeats: int, small: bool) -> list[dict]:
    sizes = [10_000, 100_000] if small else [10_000, 100_000, 1_000_000, 10_000_000]
    cases = [(f"{n // 1000:,} KB", common.page(n)) for n in sizes]
    big_tag = 10_000 if small else 1_000_000
    cases.append(
        (
            f"{sizes[-1] // 1000:,} KB, one {big_tag // 1000:,} KB tag",
            common.page_with_tag(sizes[-1], big_tag),
        )
    )
    none = common.STATES["none"](eng)
    rows = []
    for name, data in cases:
        seconds = best_seconds(rewrite_fn(eng, none, data, 16 * 1024), min(repeats, 3))
        rows.append(
            {
                "page": name,
                "bytes": len(data),
                "ms": seconds * 1e3,
                "mbs": len(data) / 1e6 / seconds,
                "peak": peak_memory(eng, data),
            }
        )
    return rows


def synthetic_services(n: int) -> tuple[Service, ...]:
    """n services of one host and one inline marker each (none of them on the page), with
    names as varied as real ones (hashes: no shared prefix to flatter the matcher)."""

    def word(i: int, kind: str) -> str:
        return hashlib.sha256(f"{kind}{i}".encode()).hexdigest()[:10]

    return tuple(
        Service(
            name=f"svc{i}",
            category="analytics",
            hosts=(f"{word(i, 'host')}.example",),
            inline=(f"{word(i, 'js')}(",),
        )
        for i in range(n)
    )


def growth_by_services(repeats: int, small: bool) -> list[dict]:
    base = common.config()
    data = common.page(3000) if small else common.typical_page()
    rows = []
    for n in (10, 100) if small else (10, 100, 1000):
        config = dataclasses.replace(base, services=base.services + synthetic_services(n))
        eng = Engine(config, [SECRET.encode()])
        none = common.STATES["none"](eng)
        mb = len(data) / 1e6
        rows.append(
            {
                "services": len(config.services),
                "warm": mb / best_seconds(rewrite_fn(eng, none, data, 0), repeats),
                "cold": mb / best_seconds(rewrite_fn(eng, none, data, 0, True), repeats),
            }
        )
    return rows


def growth_by_knowledge(repeats: int, small: bool) -> list[dict]:
    """The typical page's URLs looked up in knowledge bases of growing size (synthetic
    domains, none on the page, so every lookup walks all its labels), and the built-in."""

    def word(i: int) -> str:
        return hashlib.sha256(str(i).encode()).hexdigest()[:12]

    data = common.page(3000) if small else common.typical_page()
    rows = []
    for n in (10, 1000, 10_000, None):
        eng = common.engine(SECRET)
        if n is not None:
            eng.policy.knowledge = Knowledge(
                builtin=False,
                layers=[
                    [
                        KnownTracker(f"t{i}", "advertising", domains=(f"{word(i)}.example",))
                        for i in range(n)
                    ]
                ],
            )
        none = common.STATES["none"](eng)
        mb = len(data) / 1e6
        rows.append(
            {
                "domains": len(eng.policy.knowledge) if n is None else n,
                "label": "built-in" if n is None else "synthetic",
                "warm": mb / best_seconds(rewrite_fn(eng, none, data, 0), repeats),
                "cold": mb / best_seconds(rewrite_fn(eng, none, data, 0, True), repeats),
            }
        )
    return rows


def selector_cost(repeats: int, small: bool) -> list[dict]:
    """What looking for the operator's elements (banner.open_selectors, as the demo config
    names them, and banner.declaration_selectors) costs pages that hold none of them."""
    eng = common.engine(SECRET)
    none = common.STATES["none"](eng)
    opener = OpenMarker(
        *(
            tuple(s for text in texts for s in parse_selectors(text))
            for texts in ((".lien-cookies", "#manage-cookies"), ("#cookie-table",))
        )
    )
    rows = []
    for name, data in pages(small).items():
        if name not in ("typical 100KB", "clean 100KB"):
            continue
        mb = len(data) / 1e6
        rows.append(
            {
                "page": name,
                **{
                    label: mb / best_seconds(rewrite_fn(eng, none, data, 16384, opener=op), repeats)
                    for label, op in (("without", None), ("with", opener))
                },
            }
        )
    return rows


# --- report -------------------------------------------------------------------------------


def _cell(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.0f}" if v >= 100 else f"{v:.1f}"


def throughput_table(rows: list[dict]) -> str:
    cols = [c for c in rows[0] if c not in ("page", "bytes")]
    return common.markdown_table(
        ["page", "bytes", *cols, "none/whole ÷ find"],
        [
            [
                r["page"],
                str(r["bytes"]),
                *(_cell(r[c]) for c in cols),
                f"{r['none/whole'] / r['find(<)']:.2f}",
            ]
            for r in rows
        ],
    )


def size_table(rows: list[dict]) -> str:
    return common.markdown_table(
        ["page", "bytes", "ms (16 KB chunks)", "MB/s", "peak traced memory, KiB"],
        [
            [
                r["page"],
                str(r["bytes"]),
                f"{r['ms']:.2f}",
                f"{r['mbs']:.0f}",
                f"{r['peak'] / 1024:.0f}",
            ]
            for r in rows
        ],
    )


def services_table(rows: list[dict]) -> str:
    return common.markdown_table(
        ["services (hosts, markers)", "warm MB/s", "cold MB/s"],
        [[str(r["services"]), f"{r['warm']:.0f}", f"{r['cold']:.0f}"] for r in rows],
    )


def knowledge_table(rows: list[dict]) -> str:
    return common.markdown_table(
        ["known domains", "", "warm MB/s", "cold MB/s"],
        [[f"{r['domains']:,}", r["label"], f"{r['warm']:.0f}", f"{r['cold']:.0f}"] for r in rows],
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=REPEATS)
    ap.add_argument("--small", action="store_true", help="tiny inputs (the test's smoke run)")
    ap.add_argument(
        "--cpu",
        action="store_true",
        help="time by CPU time, not wall time (on a machine shared with other work)",
    )
    args = ap.parse_args()
    if args.cpu:
        global CLOCK
        CLOCK = time.process_time
    t0 = time.perf_counter()
    eng = common.engine(SECRET)
    print(f"C skip loop: {'built' if 'c' in SKIPS else 'NOT BUILT (pure Python)'}\n")
    rows = throughput(eng, args.repeats, args.small)
    print(f"## Rewriter throughput, MB/s (best of {args.repeats}; consent/chunking)\n")
    print(throughput_table(rows))
    print("\n## Cost growth with page size (no consent, 16 KB chunks)\n")
    print(size_table(growth_by_size(eng, args.repeats, args.small)))
    print("\n## Cost growth with configured services (typical page, whole, no consent)\n")
    print(services_table(growth_by_services(args.repeats, args.small)))
    print("\n## Cost growth with the tracker knowledge base (typical page, whole, no consent)\n")
    print(knowledge_table(growth_by_knowledge(args.repeats, args.small)))
    print(
        "\n## Looking for the operator's elements (open and declaration selectors; "
        "16 KB chunks, no consent)\n"
    )
    print(
        common.markdown_table(
            ["page", "without selectors MB/s", "with MB/s"],
            [
                [r["page"], f"{r['without']:.0f}", f"{r['with']:.0f}"]
                for r in selector_cost(args.repeats, args.small)
            ],
        )
    )
    by = {r["page"]: r for r in rows}
    typ, clean = by["typical 100KB"], by["clean 100KB"]
    print(
        f"\ntypical 100KB page, whole body, no consent: {typ['none/whole']:.0f} MB/s warm, "
        f"{typ['none/whole cold']:.0f} MB/s cold (goal >= 150); 1K chunks: "
        f"{typ['none/1K']:.0f} MB/s; pure Python: {typ['python']:.0f} MB/s"
    )
    print(f"clean 100KB page (no tag of interest): {clean['none/whole']:.0f} MB/s (goal >= 1000)")
    print(f"(rewriter bench took {time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
