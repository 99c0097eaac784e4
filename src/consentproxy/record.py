"""A proof-of-consent record, as the core makes it and the stores keep it (no I/O here:
the stores and the writer are records.py's, run by the adapters)."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol

# What a visitor shown the first layer (no choice yet, or asked again) did with it.
OUTCOMES = ("accept-all", "reject-all", "customise", "close")
UA_FAMILIES = (
    ("bot", re.compile(r"bot|crawl|spider|slurp|headless", re.IGNORECASE)),
    ("Edge", re.compile(r"Edg/(\d{1,4})")),
    ("Opera", re.compile(r"OPR/(\d{1,4})")),
    ("Firefox", re.compile(r"Firefox/(\d{1,4})")),
    ("Chrome", re.compile(r"Chrom(?:e|ium)/(\d{1,4})")),
    ("Safari", re.compile(r"Version/(\d{1,4}).*Safari/")),
)


def user_agent_family(user_agent: str | None) -> str:
    """ "Firefox 133", "bot", "other": enough to understand a record, too little to
    single anyone out."""
    for family, pattern in UA_FAMILIES:
        m = pattern.search(user_agent or "")
        if m:
            return family if family == "bot" else f"{family} {m.group(1)}"
    return "other"


@dataclass(frozen=True)
class ConsentRecord:
    consent_id: str
    decided_at: int  # unix seconds when the visitor answered (the clock that signs cookies)
    revision: int  # consent.revision of the config
    config_digest: str  # which categories/services the visitor was shown
    action: str  # accept-all | reject-all | save | erase
    # where the visitor gave it: banner, preferences, placeholder, do-not-sell (the opt-out
    # control of an opt-out region), form (the no-JS form) or import:TOOL (the choice made
    # with the site's former consent tool)
    method: str
    granted_categories: tuple[str, ...]
    refused_categories: tuple[str, ...]
    granted_services: tuple[str, ...]
    refused_services: tuple[str, ...]
    withdrawal: bool  # something granted before is no longer
    gpc: bool  # the browser sent Sec-GPC: 1
    user_agent: str  # family and major version only
    language: str = ""  # the banner's language ("" in records older than it)
    shown_digest: str = ""  # the archived version of every text and choice shown (proof.py)
    outcome: str = ""  # one of OUTCOMES for an answer to the first layer, else ""


@dataclass(frozen=True)
class Stats:
    """What `records stats` reads from a store: decisions grouped by day, first-layer outcome
    and the categories granted and refused (few distinct groups), impressions by day."""

    decisions: list[tuple[str, str, tuple[str, ...], tuple[str, ...], int]]
    impressions: dict[str, int]


def utc_day(unix: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(unix))


def summarise(stats: Stats, categories: Sequence[str]) -> list[dict[str, Any]]:
    """Per day, then "total": banner impressions, decisions, each first-layer outcome,
    `ignored` (impressions no first-layer answer followed: page views that showed the
    banner and got no answer, never below 0), and per category how many decisions granted
    and refused it and the opt-in rate (granted / both; None without decisions)."""
    days: dict[str, dict[str, Any]] = {}

    def row(day: str) -> dict[str, Any]:
        if day not in days:
            days[day] = {
                "day": day,
                "impressions": 0,
                "decisions": 0,
                **dict.fromkeys(OUTCOMES, 0),
                "ignored": 0,
                "categories": {c: {"granted": 0, "refused": 0, "rate": None} for c in categories},
            }
        return days[day]

    for day, outcome, granted, refused, count in stats.decisions:
        for key in (day, "total"):
            r = row(key)
            r["decisions"] += count
            if outcome in OUTCOMES:
                r[outcome] += count
            for answer, names in (("granted", granted), ("refused", refused)):
                for name in names:
                    if name in r["categories"]:
                        r["categories"][name][answer] += count
    for day, count in stats.impressions.items():
        row(day)["impressions"] += count
        row("total")["impressions"] += count
    for r in days.values():
        r["ignored"] = max(0, r["impressions"] - sum(r[o] for o in OUTCOMES))
        for c in r["categories"].values():
            asked = c["granted"] + c["refused"]
            c["rate"] = round(c["granted"] / asked, 4) if asked else None
    return sorted(days.values(), key=lambda r: (r["day"] == "total", r["day"]))


LISTS = ("granted_categories", "refused_categories", "granted_services", "refused_services")
COLUMNS = tuple(f.name for f in fields(ConsentRecord))


class Records(Protocol):
    """The proof-of-consent store as the core uses it. records.keep_records makes the one
    implementation (a queue in front of SQLite or PostgreSQL); the adapter opens it, hands it
    to the engine and closes it. submit() and impression() never wait; the coroutines are
    awaited by the adapter, never by the core."""

    ready: bool  # the store is open (a visitor's own records can be read and erased)
    # Decisions never recorded: the queue was full, or at shutdown the store had never
    # opened, was down, or did not answer in time.
    dropped: int

    def submit(self, record: ConsentRecord, shown: tuple[str, str] | None = None) -> None: ...

    def impression(self) -> None: ...

    async def writable(self) -> bool: ...

    async def by_id(self, *consent_ids: str, latest: int | None = None) -> list[ConsentRecord]:
        """The records of these ids (a visitor's), oldest first, in one read; `latest`: only
        the latest so many of them."""
        ...

    async def erase(self, *consent_ids: str) -> int:
        """The records of all these ids (one visitor's), or none of them: one transaction."""
        ...

    def queued(self) -> int:
        """Decisions waiting to be written."""
        ...

    async def close(self) -> None:
        """Write what is queued (bounded in time), then close the store: the adapter's."""
        ...
