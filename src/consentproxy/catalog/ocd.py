"""The Open Cookie Database (jkwakman/Open-Cookie-Database, Apache-2.0): cookie names
with their platform and category, for the cookies no service names.

Built once into a dict of exact names and a dict of wildcard rows (a wildcard row's
name is a prefix), probed longest prefix first: a lookup costs a few dict probes,
whatever the size of the database.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from consentproxy.errors import ConfigError

DATABASE_FILE = Path(__file__).with_name("open-cookie-database.csv")
UPSTREAM = "https://github.com/jkwakman/Open-Cookie-Database"
PLATFORM, CATEGORY, NAME = "Platform", "Category", "Cookie / Data Key name"
RETENTION, WILDCARD = "Retention period", "Wildcard match"
# The upstream file is some 0.7 MiB: more is a wrong path (a log, /dev/zero read for ever).
MAX_DATABASE_BYTES = 32 << 20
# The columns we keep (the upstream CSV has more: ids, descriptions, domains, portals).
COLUMNS = (PLATFORM, CATEGORY, NAME, RETENTION, WILDCARD)
# The database's categories, mapped to the catalog's.
CATEGORIES = {
    "Functional": "necessary",
    "Security": "necessary",
    "Analytics": "analytics",
    "Marketing": "advertising",
    "Personalization": "functional",
}
# Platforms whose marketing cookies are social-network tracking, not ad networks.
SOCIAL_PLATFORMS = frozenset(
    {
        "Facebook",
        "Meta",
        "Instagram",
        "Twitter",
        "X",
        "LinkedIn",
        "TikTok",
        "Pinterest",
        "Snapchat",
        "Reddit",
        "YouTube",
        "Youtube",
        "Vimeo",
        "Tumblr",
        "VK",
        "Vkontakte",
        "Xing",
        "AddThis",
        "ShareThis",
        "AddToAny",
        "Disqus",
        "SoundCloud",
        "Spotify",
    }
)


@dataclass(frozen=True)
class CookieRecord:
    name: str
    platform: str
    category: str  # the catalog's: necessary, analytics, advertising, social, functional
    source_category: str  # the database's own (Marketing, Analytics...)
    retention: str
    wildcard: bool  # the name is a prefix: "_ga_" matches "_ga_ABC123"


def parse_database(text: str, source: str) -> tuple[CookieRecord, ...]:
    """Rows of an Open Cookie Database CSV (the upstream file or our snapshot); a row the csv
    module cannot read (a carriage return alone in a field, a field past its size limit) is
    a ConfigError at its line, as a row of an unknown category is."""
    reader = csv.DictReader(io.StringIO(text))
    try:
        return _records(reader, source)
    except csv.Error as e:  # (its words, less its hint to Python programmers: " - do you...")
        raise ConfigError(
            source,
            reader.line_num + 1,  # (the line being read: line_num counts those read)
            f"not a CSV row ({str(e).partition(' - ')[0]}); download "
            f"open-cookie-database.csv again from {UPSTREAM}, or fix the row",
        ) from None


def _records(reader: csv.DictReader[str], source: str) -> tuple[CookieRecord, ...]:
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise ConfigError(
            source,
            1,
            f"not an Open Cookie Database CSV (no column "
            f"{', '.join(repr(c) for c in missing)}); download "
            f"open-cookie-database.csv from {UPSTREAM}",
        )
    out = []
    for row in reader:
        name, raw = (row[NAME] or "").strip(), (row[CATEGORY] or "").strip()
        if not name:
            continue
        category = CATEGORIES.get(raw)
        if category is None:
            raise ConfigError(
                source,
                reader.line_num,
                f"cookie {name!r} has category "
                f"{raw!r}, which consentproxy does not map (known: "
                f"{', '.join(CATEGORIES)}); report it, or fix the row",
            )
        platform = (row[PLATFORM] or "").strip()
        if category == "advertising" and platform in SOCIAL_PLATFORMS:
            category = "social"
        out.append(
            CookieRecord(
                name,
                platform,
                category,
                raw,
                (row[RETENTION] or "").strip(),
                (row[WILDCARD] or "").strip() == "1",
            )
        )
    if not out:
        raise ConfigError(
            source,
            None,
            f"the file holds no cookies; download open-cookie-database.csv from {UPSTREAM}",
        )
    return tuple(out)


def snapshot_text(records: Iterable[CookieRecord]) -> str:
    """Our snapshot's CSV: the kept columns, in the upstream order of rows."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in records:
        w.writerow((r.platform, r.source_category, r.name, r.retention, int(r.wildcard)))
    return buf.getvalue()


class CookieDatabase:
    """Name -> record, exact names first, then the longest wildcard prefix."""

    def __init__(self, records: Iterable[CookieRecord]):
        self.exact: dict[str, CookieRecord] = {}
        self.prefixes: dict[str, CookieRecord] = {}
        for r in records:
            (self.prefixes if r.wildcard else self.exact).setdefault(r.name, r)
        # The lengths of the prefixes, longest first, by their first two characters (those
        # shorter than two under ''): a name none starts like is not sliced and looked up for
        # each of 38 lengths (a Cookie header of thousands of names nobody names, a visitor's
        # to send, cost 5 ms a thousand: helper-247).
        self._lengths: dict[str, list[int]] = {}
        for p in sorted(self.prefixes, key=len, reverse=True):
            lengths = self._lengths.setdefault(p[:2] if len(p) > 1 else "", [])
            if len(p) not in lengths:
                lengths.append(len(p))

    def __len__(self) -> int:
        return len(self.exact) + len(self.prefixes)

    def lookup(self, name: str) -> CookieRecord | None:
        found = self.exact.get(name)
        if found is None:
            for n in [*self._lengths.get(name[:2], ()), *self._lengths.get("", ())]:
                if n <= len(name) and (found := self.prefixes.get(name[:n])) is not None:
                    break
        return found


@cache
def cookie_database() -> CookieDatabase:
    """The snapshot shipped with the package (read once)."""
    return CookieDatabase(
        parse_database(DATABASE_FILE.read_text(encoding="utf-8"), str(DATABASE_FILE))
    )
