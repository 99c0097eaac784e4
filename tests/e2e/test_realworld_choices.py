"""The 109 real pages of test_realworld (same corpus, same proxy, same stubbed Chromium, its
helpers), after the choices other than accept-all: the product's promise is per category.

Each page is seen at the origin, then through the proxy after *Reject all* (clicked in the
banner, as a visitor does): in place and on the next view no request may reach a tracker of
any optional category, the banner's first layer is gone and its *Manage cookies* control is on
the page, the page's text is the origin's (judged as test_realworld judges it), and the cookie
jar (context.cookies(), HttpOnly ones included) holds no cookie the catalog classes in an
optional category. Then, on each page whose origin loads a tracker, one optional category at a
time (*Customise*, that category's switch on, *Save my choices*): on the next view the
page's loads of that category's trackers come back (>= 95% of the origin's, as accept-all's
bound, for each category the corpus has at least JUDGED loads of; the count brought back in
place is printed beside it; a load whose path differs only in a time counts as the same; each
load that does not come back is printed with the held elements naming its host), and in place
and on the next view no request reaches a tracker of another optional category, nor does the
jar hold a cookie of one. Categories the corpus has no
tracker of are not visited (they could show nothing): the report names them. A page where no
choice can be made (the banner answered nothing) is counted apart, with why. Run with -s to
see the report.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from pathlib import Path

import pytest
from playwright.async_api import Error as PlaywrightError

from consentproxy.consent import NO_DECISION
from consentproxy.domains import site_of
from consentproxy.policy import Policy
from tests.e2e.test_realworld import (
    PAGES,
    TABS,
    Visit,
    setup,  # noqa: F401  (the fixture: the origin, the proxy and the browser)
    site_of_file,
    text_lost,
    visit,
)

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(3600)]

JUDGED = 20  # a category with fewer tracker loads in the whole corpus is printed, not judged
# A number of 9 digits or more in a path is a time (HubSpot's loader names its 5-minute
# slot, an ad server's misc=Date.now()): the load is the same at another time.
TIME = re.compile(r"\d{9,}")


def back(theirs: set[tuple[str, str]], seen: Visit) -> set[tuple[str, str]]:
    """The origin's loads among theirs that came back in a visit (at any time)."""
    again = {(h, TIME.sub("#", p)) for h, p in seen.requests}
    return {(h, p) for h, p in theirs if (h, TIME.sub("#", p)) in again}


def why(seen: Visit, host: str) -> str:
    """Why a load did not come back: the held elements that name its host."""
    held = [f"{tag} held for {svc} ({cat})" for tag, svc, cat, hosts in seen.held if host in hosts]
    return ", ".join(dict.fromkeys(held)) or "no held element names its host"


def trackers(
    policy: Policy, requests: list[tuple[str, str]], served_as: str
) -> dict[tuple[str, str], str]:
    """The requests to a tracker an optional category holds -> that category."""
    found = {}
    for host, path in requests:
        svc = policy.holder(host, path, site_of(served_as))
        if svc is not None and not policy.allows(svc, NO_DECISION):
            found[(host, path)] = svc.category
    return found


def jar_refused(policy: Policy, visit: Visit, allowed: set[str]) -> list[str]:
    """The cookies in the jar the catalog classes in an optional category not in allowed."""
    return [
        f"{c['name']} ({cat}, {c['domain']})"
        for c in visit.cookies
        if (cat := policy.cookie_category(str(c["name"]))) is not None
        and cat not in policy.required
        and cat not in allowed
    ]


def unchosen(visit: Visit, action: str) -> list[str]:
    return [e for e in visit.errors if e.startswith((action, "no banner"))]


async def test_reject_all_and_each_category_let_through_what_they_say(setup) -> None:  # noqa: F811
    browser, origin_port, proxy_port, policy = setup
    optional = sorted(c.name for c in policy.config.categories if not c.required)
    gate = asyncio.Semaphore(TABS)

    async def at_origin_and_rejected(path: Path) -> tuple[str, str, Visit, Visit, Visit]:
        name = site_of_file(path.name)
        async with gate:
            try:
                direct, _, _ = await visit(browser, f"http://{name}:{origin_port}/{path.name}")
            except PlaywrightError:  # HSTS-preloaded: served as NAME.test, as test_realworld
                name = name.replace(".", "-") + ".test"
                direct, _, _ = await visit(browser, f"http://{name}:{origin_port}/{path.name}")
            _, rejected, next_view = await visit(
                browser, f"http://{name}:{proxy_port}/{path.name}", action="reject-all"
            )
        return path.name, name, direct, rejected, next_view

    first = await asyncio.gather(*(at_origin_and_rejected(p) for p in PAGES))

    # --- reject-all -------------------------------------------------------------------------
    origin_loads = 0
    per_category_origin = Counter[str]()
    leaks: list[str] = []
    banner: list[str] = []
    text_diffs: list[tuple[str, list[str]]] = []
    written_by_held: list[tuple[str, str]] = []
    jar: list[str] = []
    no_choice: list[tuple[str, str]] = []
    clicked_through_js = 0
    for name, served_as, direct, rejected, next_view in first:
        wanted = trackers(policy, direct.requests, served_as)
        origin_loads += len(wanted)
        per_category_origin.update(wanted.values())
        refused = unchosen(rejected, "reject-all")
        clicked_through_js += "clicked through JS" in rejected.errors
        if refused:
            no_choice += [(name, e) for e in refused]
            continue
        for where, seen in (("in place", rejected), ("next view", next_view)):
            leaks += [
                f"{name} {where}: {h}{p[:40]} ({cat})"
                for (h, p), cat in trackers(policy, seen.requests, served_as).items()
            ]
            if seen.banner_shown or not seen.manage_shown:
                banner.append(
                    f"{name} {where}: first layer shown {seen.banner_shown}, manage cookies "
                    f"shown {seen.manage_shown}"
                )
            jar += [f"{name} {where}: {c}" for c in jar_refused(policy, seen, set())]
            lost = text_lost(direct.text, seen.text)
            if any(line not in seen.held_scripts for line in lost):
                text_diffs.append((f"{name} {where}", lost[:5]))
            elif lost and where == "next view":
                written_by_held += [(name, line) for line in lost]
    judged_pages = len(first) - len({n for n, _ in no_choice})
    print(
        f"\nreal-world pages: {len(first)}; tracker loads at the origin: {origin_loads} "
        f"({', '.join(f'{c} {n}' for c, n in sorted(per_category_origin.items()))}); after "
        f"reject-all, on the {judged_pages} pages where it could be clicked: requests to a "
        f"tracker of an optional category (in place and next view): {len(leaks)}; banner "
        f"still shown or no manage-cookies control: {len(banner)}; text differs on "
        f"{len(text_diffs)}; cookies of a refused category in the jar: {len(jar)}; clicked "
        f"through JS (the page's own overlay on top): {clicked_through_js}"
    )
    for line in leaks[:30] + banner[:30] + jar[:30]:
        print(f"  after reject-all, {line}")
    for name, error in no_choice:
        print(f"  no choice made on {name}: {error}")
    for name, line in written_by_held:
        print(f"  text only a held tracker script writes, on {name}: {line!r}")
    if text_diffs:
        print("text differs:", *text_diffs)

    # --- one category at a time -------------------------------------------------------------
    visited = [c for c in optional if per_category_origin[c]]
    pages = [
        (name, served_as, direct)
        for name, served_as, direct, _, _ in first
        if trackers(policy, direct.requests, served_as)
    ]

    async def with_only(
        name: str, served_as: str, direct: Visit, category: str
    ) -> tuple[str, str, str, Visit, Visit, Visit]:
        async with gate:
            _, chosen, next_view = await visit(
                browser, f"http://{served_as}:{proxy_port}/{name}", action=f"save:{category}"
            )
        return name, served_as, category, direct, chosen, next_view

    second = await asyncio.gather(*(with_only(n, s, d, c) for n, s, d in pages for c in visited))
    wanted_n, in_place, on_next = Counter[str](), Counter[str](), Counter[str]()
    unjudged, own_jar = Counter[str](), Counter[str]()  # (own_jar: the jar check is live)
    other: list[str] = []
    other_jar: list[str] = []
    missing: list[str] = []
    no_choice_c: list[tuple[str, str, str]] = []
    for name, served_as, category, direct, chosen, next_view in second:
        theirs = {
            r for r, c in trackers(policy, direct.requests, served_as).items() if c == category
        }
        refused = unchosen(chosen, f"save:{category}")
        if refused:
            unjudged[category] += len(theirs)
            no_choice_c += [(name, category, e) for e in refused]
            continue
        for where, seen in (("in place", chosen), ("next view", next_view)):
            other += [
                f"{name} with {category} only, {where}: {h}{p[:40]} ({cat})"
                for (h, p), cat in trackers(policy, seen.requests, served_as).items()
                if cat != category
            ]
            other_jar += [
                f"{name} with {category} only, {where}: {c}"
                for c in jar_refused(policy, seen, {category})
            ]
        wanted_n[category] += len(theirs)
        own_jar[category] += sum(
            policy.cookie_category(str(c["name"])) == category for c in next_view.cookies
        )
        for where, seen, count in (
            ("in place", chosen, in_place),
            ("next view", next_view, on_next),
        ):
            came = back(theirs, seen)
            count[category] += len(came)
            missing += [
                f"{name} with {category} only, {where}: {len(came)}/{len(theirs)}; not "
                f"{h}{p[:30]}: {why(seen, h)}"
                for h, p in sorted(theirs - came)
            ]
    print(
        f"one category at a time, on the {len(pages)} pages whose origin loads a tracker "
        f"(categories visited: {', '.join(visited)}; not visited, no tracker of theirs in the "
        f"corpus: {', '.join(c for c in optional if c not in visited) or 'none'}):"
    )
    for category in visited:
        n = wanted_n[category]
        print(
            f"  {category}: the origin's loads {n}; back in place {in_place[category]}, on the "
            f"next view {on_next[category]} ({on_next[category] / max(1, n):.1%}); requests to "
            f"a tracker of another category: "
            f"{sum(f' with {category} only,' in line for line in other)}; cookies of another "
            f"category: {sum(f' with {category} only,' in line for line in other_jar)} (of its own, "
            f"on the next view: {own_jar[category]}); loads of "
            f"pages where no choice could be made: {unjudged[category]}"
        )
    for line in missing:
        print(f"  {line}")
    for line in other[:40] + other_jar[:40]:
        print(f"  {line}")
    for name, category, error in no_choice_c:
        print(f"  no choice made on {name} ({category}): {error}")

    assert not leaks, leaks[:20]
    assert not banner, banner[:20]
    assert not text_diffs, text_diffs
    assert not jar, jar[:20]
    assert not [n for n, e in no_choice if e.startswith("no banner")], no_choice
    assert not other, other[:20]
    assert not other_jar, other_jar[:20]
    assert not [n for n, _, e in no_choice_c if e.startswith("no banner")], no_choice_c
    for category in visited:
        if per_category_origin[category] >= JUDGED:
            assert on_next[category] >= 0.95 * wanted_n[category], (
                category,
                on_next[category],
                wanted_n[category],
            )
