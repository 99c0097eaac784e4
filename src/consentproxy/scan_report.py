"""report.html of a scan: one self-contained file (CSS inline, screenshots as data: URLs)
that a DPO can read: a verdict per state first, then the evidence page by page."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Sequence
from html import escape
from pathlib import Path
from typing import Any

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.5em}h2{margin-top:2em;border-bottom:2px solid #ccc}h3{margin-top:1.5em}
table{border-collapse:collapse;width:100%;margin:.5em 0 1em}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top;
overflow-wrap:anywhere}th{background:#f3f3f3}
.ok{color:#176117;font-weight:600}.bad{color:#a31515;font-weight:600}
tr.bad td{background:#fdecec}img{max-width:420px;border:1px solid #ccc}
.meta{color:#555}td a{color:inherit}
"""


# No script runs in the report, whatever a page put in it (every string of a page's is
# escaped; this holds should one be missed): its styles and screenshots (data: URLs) alone.
REPORT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'"

# What each violation kind means, for a reader who has not read the README.
KINDS = {
    "request": "a third-party request of a service whose category the state does not allow",
    "cookie": "a cookie of a category the state does not allow",
    "storage": "a localStorage or sessionStorage key, an IndexedDB database or a Cache Storage "
    "cache named as a cookie of a category the state does not allow",
    "cookie-lifetime": "a cookie living longer than 13 months",
    "consent-lifetime": "the consent cookie living longer than max_age_days",
    "banner-missing": "no consent banner before a choice (state none)",
    "reject-not-first-layer": "a banner without a visible reject-all on its first layer",
    "reject-not-clickable": "the banner's reject-all not taking a click",
    "page-failed": "the page could not be scanned in full (what it did until then is listed)",
}


def _table(headers: Sequence[str], rows: Iterable[tuple[Sequence[Any], bool]]) -> str:
    body = "".join(
        f"<tr{' class=bad' if bad else ''}>"
        + "".join(f"<td>{escape('' if v is None else str(v))}</td>" for v in row)
        + "</tr>"
        for row, bad in rows
    )
    if not body:
        return "<p>none</p>"
    return (
        "<table><tr>"
        + "".join(f"<th>{escape(h)}</th>" for h in headers)
        + "</tr>"
        + body
        + "</table>"
    )


def _verdict(count: int) -> str:
    return (
        '<span class="ok">no violation</span>'
        if not count
        else f'<span class="bad">{count} violation{"s" * (count > 1)}</span>'
    )


def _screenshot(out: Path, name: str) -> str:
    """The page's first screen (a JPEG: see scan.SHOT_QUALITY), linking to the file beside
    the report."""
    data = base64.b64encode((out / name).read_bytes()).decode()
    return (
        f'<div><a href="{escape(name)}"><img alt="screenshot {escape(name)}" '
        f'src="data:image/jpeg;base64,{data}"></a></div>'
    )


def _in_state(item: dict[str, Any]) -> str:
    """Whether the state allows a request, a storage key, a database or a cache (a request
    the page's CSP blocked was never sent, whatever the state allows)."""
    if item.get("blocked_by_csp"):
        return "blocked by CSP"
    return "allowed" if item["allowed"] else "not allowed"


def _lets_through(state: dict[str, Any]) -> str:
    """What a state lets through, in words ("" in a report of an earlier version)."""
    allows = state.get("allows")
    if allows is None:
        return ""
    named = ", ".join([*allows["categories"], *(f"service {s}" for s in allows["services"])])
    if not allows["decided"]:
        return f"{named} only: no choice made yet, the banner asks"
    return f"{named}; refused: {', '.join(allows['refused'])}" if allows["refused"] else named


def _anchor(state: int, page: int) -> str:
    return f"s{state}p{page}"


def _pages_table(states: list[dict[str, Any]]) -> str:
    """Each page in each state: its violations, linked to its evidence below."""
    paths = list(dict.fromkeys(p["path"] for s in states for p in s["pages"]))
    cells: dict[tuple[str, int], tuple[str, str, int]] = {}
    for i, s in enumerate(states):
        for j, p in enumerate(s["pages"]):
            failed = any(v["kind"] == "page-failed" for v in p["violations"])
            count = len(p["violations"])
            text = ("failed" + (f" + {count - 1}" if count > 1 else "")) if failed else str(count)
            cells.setdefault((p["path"], i), (_anchor(i, j), text, count))
    rows = []
    for path in paths:
        row = [f"<td>{escape(path)}</td>"]
        for i in range(len(states)):
            if (path, i) not in cells:
                row.append("<td></td>")
                continue
            anchor, text, count = cells[path, i]
            row.append(f'<td{" class=bad" if count else ""}><a href="#{anchor}">{text}</a></td>')
        rows.append(f"<tr>{''.join(row)}</tr>")
    head = "".join(f"<th>{escape(s['state'])}</th>" for s in states)
    return f"<table><tr><th>page</th>{head}</tr>{''.join(rows)}</table>"


def _left_off(page: dict[str, Any], items: str) -> str:
    """What a page's list of `items` is, when it was cut (a report of an earlier version has
    no count of what was left off: nothing was)."""
    more = page.get(f"{items}_left_off")
    if not more:
        return ""
    return (
        f"<p>The first {len(page[items])}, those with a violation first (and {more} more, "
        "not kept).</p>"
    )


def _list(
    page: dict[str, Any],
    items: str,
    title: str,
    headers: Sequence[str],
    cells: Callable[[dict[str, Any]], Sequence[Any]],
) -> str:
    """One of a page's lists under its heading, with what was cut, each row marked where
    the state did not allow it (a report of an earlier version may have no such list)."""
    listed = page.get(items, [])
    rows = ((cells(x), _in_state(x) == "not allowed") for x in listed)
    return "\n".join([f"<h4>{title}</h4>", _left_off(page, items), _table(headers, rows)])


def _category(key: dict[str, Any]) -> str:
    """A storage key's category, and whose it is when consentproxy's own (a report of an
    earlier version names no owner)."""
    owner = key.get("owner")
    return f"{key['category']}: {owner}'s own" if owner else str(key["category"])


def _named(x: dict[str, Any]) -> tuple[str, str, str]:
    """A page's IndexedDB database or cache."""
    return (x["key"], x["category"], _in_state(x))


def _page(page: dict[str, Any], out: Path, anchor: str = "") -> str:
    banner = page["banner"]
    own = f" (the site's own {banner['tool']})" if banner.get("tool") else ""
    parts = [
        (
            f"<h3{f' id={anchor}' if anchor else ''}>{escape(page['path'])} <span class=meta>HTTP {page['status']}</span> "
            f"{_verdict(len(page['violations']))}</h3>"
        ),
        _screenshot(out, page["screenshot"]) if page["screenshot"] else "",
        (
            f"<p>Banner: {'shown' if banner.get('shown') else 'not shown'}"
            f"{escape(own)}"
            f"{', reject-all on the first layer' if banner.get('reject_first_layer') else ''}.</p>"
        ),
        "<h4>Violations</h4>",
        _table(["kind", "detail"], (((v["kind"], v["detail"]), True) for v in page["violations"])),
        _list(
            page,
            "requests",
            "Third-party requests",
            ["host", "service", "category", "in this state", "rule", "type", "initiator", "url"],
            lambda r: (
                r["host"],
                r["service"],
                r["category"],
                _in_state(r),
                r.get("verdict", ""),
                r["resource_type"],
                r["initiator"],
                r["url"],
            ),
        ),
        _list(
            page,
            "cookies",
            "Cookies in the browser",
            ["name", "domain", "category", "lifetime (days)"],
            lambda c: (c["name"], c["domain"], c["category"], c["lifetime_days"]),
        ),
        _list(
            page,
            "set_cookies",
            "Set-Cookie headers",
            ["name", "domain", "category", "lifetime (days)", "from"],
            lambda c: (c["name"], c["domain"], c["category"], c["lifetime_days"], c["url"]),
        ),
        (
            f"<p>Not in the cookie declaration: "
            f"{escape(', '.join(page.get('undeclared', [])) or 'nothing')}.</p>"
        ),
        _list(
            page,
            "storage",
            "Storage keys this page added",
            ["key", "storage", "category", "in this state"],
            lambda s: (s["key"], s["area"], _category(s), _in_state(s)),
        ),
        _list(
            page,
            "databases",
            "IndexedDB databases this page created",
            ["name", "category", "in this state"],
            _named,
        ),
        _list(
            page,
            "caches",
            "Cache Storage caches this page created",
            ["name", "category", "in this state"],
            _named,
        ),
        (
            _table(["not recorded"], (((w,), False) for w in page["warnings"]))
            if page.get("warnings")
            else ""
        ),
        f"<p>Console errors: {len(page['console_errors'])}"
        + (
            f" (and {page['console_errors_left_off']} more, not kept)"
            if page.get("console_errors_left_off")
            else ""
        )
        + ".</p>",
        _table(["console error"], (((e,), False) for e in page["console_errors"])),
    ]
    return "\n".join(parts)


def render(report: dict[str, Any], out: Path) -> str:
    """The HTML for a report.json dict; screenshots are read from `out`."""
    mode = (
        "the site as it is (--direct)"
        if report["mode"] == "direct"
        else "through consentproxy, each state but none forced (none: a fresh visitor, "
        "whose reject-all click is real)"
    )
    legend = _table(["kind", "means"], (((k, v), False) for k, v in KINDS.items()))
    summary = _table(
        ["state", "lets through", "pages", "third-party requests", "violations", "verdict"],
        (
            (
                (
                    s["state"],
                    _lets_through(s),
                    len(s["pages"]),
                    s["third_party_requests"],
                    s["violations"],
                    "OK" if not s["violations"] else "FAIL",
                ),
                bool(s["violations"]),
            )
            for s in report["states"]
        ),
    )
    states = "\n".join(
        f"<h2>State {escape(s['state'])}"
        f"{f' ({escape(through)})' if (through := _lets_through(s)) else ''}: "
        f"{_verdict(s['violations'])}</h2>\n"
        + "\n".join(_page(p, out, _anchor(i, j)) for j, p in enumerate(s["pages"]))
        for i, s in enumerate(report["states"])
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="Content-Security-Policy" content="{REPORT_CSP}">'
        f"<title>Consent scan of {escape(report['url'])}</title><style>{CSS}</style></head>"
        f"<body><h1>Consent scan of {escape(report['url'])}: "
        f"{_verdict(report['violations'])}</h1>"
        f"<p class=meta>Scanned {escape(mode)}, {escape(report['started_at'])}; "
        f"config {escape(report['config'])}; third-party requests were "
        f"{'answered by the scanner, never sent' if report['offline'] else 'sent'}.</p>"
        f"<h2>Summary per state</h2>{summary}\n"
        f"<h2>Violations per page and state</h2>{_pages_table(report['states'])}\n"
        f"<h3>Violation kinds</h3>{legend}\n"
        f"{states}</body></html>\n"
    )
