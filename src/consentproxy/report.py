"""What was done to one exchange: the one record every adapter, log line, metric and QA
report reads (cookies stripped or deleted, elements neutralised, the banner, timings)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from consentproxy.printable import printable

SUMMARY_NAMES = 20  # a summary's names of each kind (the others counted)


@dataclass(slots=True)  # one a request: slots make building it a third cheaper
class Report:
    """What was done to one exchange (for logs, mitmproxy notes, QA reports). Its lists are
    empty tuples until something is put in them (a new list then): most requests have
    nothing to report, and ten empty lists were a third of building one."""

    state: str = "none"  # the consent enforced, in parse_state's syntax
    state_from: str = "cookie"  # cookie | forced (--state) | header (X-Consent-State)
    local: bool = False  # answered by the proxy itself (the reserved prefix)
    request_cookies_dropped: Sequence[str] = ()
    set_cookies_dropped: Sequence[str] = ()
    cookies_deleted: Sequence[str] = ()
    cookies_capped: Sequence[str] = ()  # lifetime cut to cap_cookie_lifetime_days
    neutralised: Sequence[tuple[str, str]] = ()
    banner: bool = False
    rewritten: bool = False
    # Filled only when observing (Engine(observe=...)): every cookie name sent or set, and
    # the hosts the page loads from that no service names.
    cookies_seen: Sequence[str] = ()
    hosts_seen: Sequence[str] = ()
    decision: str = ""  # the action of a consent choice answered here
    # ...its first-layer outcome (record.OUTCOMES, "" for none), the categories it grants
    # and refuses; and whether a page showed the banner's first layer (an impression).
    outcome: str = ""
    categories_granted: Sequence[str] = ()
    categories_refused: Sequence[str] = ()
    impression: bool = False
    csp_violations: Sequence[tuple[str, str]] = ()  # (directive, host)
    upstream_seconds: float = 0.0  # until the origin's response headers
    rewrite_bytes: int = 0
    rewrite_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One line for people (mitmweb's flow comment, logs)."""
        parts = [f"consent {self.state} ({self.state_from})"]
        if self.local:
            parts.append("answered by consentproxy")
        for what, names in (
            ("request cookies stripped", self.request_cookies_dropped),
            ("Set-Cookie dropped", self.set_cookies_dropped),
            ("cookies deleted", self.cookies_deleted),
            ("lifetime capped", self.cookies_capped),
        ):
            if names:
                parts.append(f"{what}: {_listed(names)}")
        if self.neutralised:
            parts.append(f"neutralised: {_listed([f'{s} <{t}>' for s, t in self.neutralised])}")
        if self.banner:
            parts.append("banner injected")
        return "; ".join(parts)


def _listed(names: Sequence[str]) -> str:
    """Names as a summary shows them: a visitor, an origin and a page name cookies and tags
    as they like, and mitmproxy's console showed their control characters raw, the
    thousands of an origin's Set-Cookie lines (or a page's pixels) as one comment; each
    name once, printable, SUMMARY_NAMES."""
    distinct = list(dict.fromkeys(names))
    shown = ", ".join(printable(n) for n in distinct[:SUMMARY_NAMES])
    more = len(distinct) - SUMMARY_NAMES
    return f"{shown} and {more} more" if more > 0 else shown


def grown[T](items: Sequence[T], more: Iterable[T]) -> list[T]:
    """A report's list with more items after it: a new list for an empty tuple (Report's
    default), else the same list extended (linear in a hostile origin's thousands of
    Set-Cookie lines)."""
    out = items if isinstance(items, list) else list(items)
    out.extend(more)
    return out
