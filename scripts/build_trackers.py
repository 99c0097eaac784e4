"""Regenerate src/consentproxy/catalog/trackers.tsv from the WhoTracks.me tracker database.

Source: trackerdb.sql in github.com/ghostery/whotracks.me at commit c0fee56f (Feb 2021, the
last commit that holds it), whose README licenses the content under CC BY 4.0. Usage, with
a clone or bare snapshot of that repository:

    python scripts/build_trackers.py /path/to/whotracks.me[.git]

What it does, so the output can be checked: loads the SQL dump into an in-memory SQLite
database; maps each tracker's WhoTracks.me category to the catalog's (CATEGORIES; "-" for
third parties that are known but not trackers: CDNs, hosting, essential, misc); drops public
suffixes (cloudfront.net is nobody's); and marks as "-" the few registrable domains of big
platforms that serve content to every site (SHARED: holding all of wp.com would hide the
images of every Jetpack site), whose tracking hosts stay listed on their own. One line per
tracker, sorted, so a rebuild gives a readable diff.
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from consentproxy.catalog.knowledge import LAYER_HEADER, KnownTracker, format_layer
from consentproxy.domains import is_public_suffix, registrable

COMMIT = "c0fee56f7da38627bc610a81672a650a49ec73be"
SQL_PATH = "whotracksme/data/assets/trackerdb.sql"
OUT = ROOT / "src" / "consentproxy" / "catalog" / "trackers.tsv"

# WhoTracks.me category -> the catalog's ("-": known, not a tracker to hold).
CATEGORIES = {
    "advertising": "advertising",
    "pornvertising": "advertising",
    "site_analytics": "analytics",
    "social_media": "social",
    "comments": "social",
    "audio_video_player": "functional",
    "customer_interaction": "functional",
    "essential": "-",
    "cdn": "-",
    "hosting": "-",
    "misc": "-",
    "unknown": "-",
    "extensions": "-",
}
# Registrable domains of platforms that serve pages, assets or payments to every kind of
# site: known, never held as a whole (their tracking hosts are listed on their own, or
# in the built-in catalog by path, like www.google.com/pagead).
SHARED = {
    "google.com": "search and services (ads by path in the catalog)",
    "wp.com": "WordPress.com content and image CDN (stats.wp.com, pixel.wp.com track)",
    "wordpress.com": "WordPress.com blogs and widgets",
    "w.org": "WordPress.org static assets (emoji images on every WordPress site)",
    "apple.com": "Apple's site and stores",
    "adobe.com": "Adobe's site and services",
    "github.com": "code hosting",
    "githubassets.com": "code hosting",
    "githubusercontent.com": "code hosting",
    "shopify.com": "Shopify stores' assets",
    "shopifycloud.com": "Shopify checkout",
    "squarespace.com": "Squarespace sites' assets",
    "yahoo.com": "Yahoo's portal (ads.yahoo.com, analytics.yahoo.com track)",
    "yahooapis.com": "Yahoo APIs",
    "tumblr.com": "Tumblr blogs",
    "paypal.com": "payments",
    "paypalobjects.com": "payments",
    "stripe.com": "payments",
    "stripe.network": "payments",
    "amazonpay.com": "payments",
    "payments-amazon.com": "payments",
}
_GOOGLE_CCTLD = re.compile(r"google\.(com?\.)?[a-z]{2,3}")


def load(repo: str) -> sqlite3.Connection:
    sql = subprocess.run(
        ["git", "-C", repo, "show", f"{COMMIT}:{SQL_PATH}"], check=True, capture_output=True
    ).stdout.decode("utf-8")
    db = sqlite3.connect(":memory:")
    db.executescript(sql)
    return db


def slug(value: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", value.lower()).strip("-")[:40] or "tracker"


def trackers(db: sqlite3.Connection) -> tuple[list[KnownTracker], dict[str, int]]:
    rows = db.execute("""
        SELECT t.id, t.name, COALESCE(co.name, t.name), c.name, d.domain
        FROM tracker_domains d JOIN trackers t ON d.tracker = t.id
        JOIN categories c ON t.category_id = c.id
        LEFT JOIN companies co ON t.company_id = co.id
        ORDER BY t.id, d.domain""").fetchall()
    dropped = {"public suffix": 0, "shared platform (known, not held)": 0}
    grouped: dict[tuple[str, str], dict[str, object]] = {}
    for tid, title, vendor, kind, domain in rows:
        domain = domain.strip().lower().rstrip(".")
        category = CATEGORIES[kind]
        if is_public_suffix(domain):
            dropped["public suffix"] += 1
            continue
        shared = domain in SHARED or _GOOGLE_CCTLD.fullmatch(domain)
        if shared:
            dropped["shared platform (known, not held)"] += 1
            category, kind = "-", "shared platform"
        entry = grouped.setdefault(
            (slug(tid), category), {"title": title, "vendor": vendor, "kind": kind, "domains": []}
        )
        entry["domains"].append(domain)  # type: ignore[attr-defined]
    out = [
        KnownTracker(
            name=name,
            category=cat,
            kind=str(e["kind"]),
            title=str(e["title"]),
            vendor=str(e["vendor"]),
            domains=tuple(sorted(e["domains"])),
        )  # type: ignore[call-overload]
        for (name, cat), e in sorted(grouped.items())
    ]
    return out, dropped


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("repo", help="a clone or snapshot (git dir) of ghostery/whotracks.me")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    entries, dropped = trackers(load(args.repo))
    header = (
        f"{LAYER_HEADER}\n# Built by scripts/build_trackers.py from WhoTracks.me "
        f"trackerdb.sql at commit {COMMIT}\n# (CC BY 4.0, see trackers.NOTICE.txt).\n"
    )
    args.out.write_text(header + format_layer(entries), encoding="utf-8")
    held = sum(len(e.domains) for e in entries if e.category != "-")
    known = sum(len(e.domains) for e in entries)
    print(
        f"{args.out}: {len(entries)} trackers, {known} domains ({held} held by category); "
        f"dropped: {dropped}; registrable check: "
        f"{sum(registrable(d) == d for e in entries for d in e.domains)} are registrable"
    )


if __name__ == "__main__":
    main()
