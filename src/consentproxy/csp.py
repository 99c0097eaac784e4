"""Content-Security-Policy from the consented services: defence in depth.

The HTML rewrite stops what is in the markup; this stops what first-party scripts
load at run time. CSP has no deny-list, so the policy allows the site itself, the
services the visitor consented to and the operator's `csp_allow` hosts, and nothing
else. It restricts hosts only: inline code and eval stay as the site had them. The
origin's own CSP header is kept, and browsers enforce both; it is changed only so that what
the proxy injects runs (`admit_injected`: its script by nonce, its endpoints) and so that no
violation report goes to a service not consented to (`without_reports_to`). An embed loaded
in place gets a policy of its own (`frame_header`).
"""

from __future__ import annotations

import base64
import hashlib
import re
import string
from collections.abc import Callable, Iterable

# The longest policy value the known trackers met on the site may grow it to: the site's
# markup decides which are met, and a page naming hundreds of them would otherwise make a
# header that front proxies refuse (nginx's head buffer is 4-8 KB unless raised, and the
# README asks for 16 KB).
MAX_VALUE = 8192
# What admit_injected may add to the origin's own value besides four copies of it (a
# default-src's sources go into four directives of their own): a hostile value of thousands
# of small distinct policies grew 45-fold (a 64 KB line went out as 2.9 MB, past any
# browser's head), and is passed on as it came.
MAX_ADMITTED = 16384
# The most distinct policies a value may list for admit_injected to change it (past it, it goes
# as it came) and for consent.js to bring held scripts back under it (past it, none): each is
# read on its own, and a 64 KB line of 5,000 small ones held serve's loop 60 ms. Sites send one
# or two.
MAX_POLICIES = 64
# The most distinct report-uri directives a value's are read for by without_reports_to: past
# it, the rest are dropped unread. A browser reads a policy's first alone (CSP 3: a directive
# repeated is ignored), and sites send one; four 64 KB lines of distinct ones held serve's
# loop 0.1 s.
MAX_REPORT_DIRECTIVES = 64


def header(
    mode: str,
    allowed_hosts: Iterable[str],
    extra_hosts: Iterable[str],
    report_uri: str = "",
    met_hosts: Iterable[str] = (),
) -> tuple[str, str] | None:
    """The (name, value) header for a rewritten page, or None when CSP is off; violations
    are reported to report_uri (report-uri: sent at once and over http too, where the
    Reporting API's report-to needs https and batches reports). The consented services'
    hosts and extra_hosts (the operator's) are always listed; met_hosts (the known trackers
    met) in their order while the value stays within MAX_VALUE."""
    if mode == "off":
        return None
    head, tail = "default-src 'self' data: blob:", " 'unsafe-inline' 'unsafe-eval'"
    if report_uri:
        tail += f"; report-uri {report_uri}"
    listed = set(host_sources([*allowed_hosts, *extra_hosts]))
    room = MAX_VALUE - len(head) - len(tail) - sum(len(s) + 1 for s in listed)
    for host in met_hosts:
        new = [s for s in host_sources([host]) if s not in listed]
        room -= sum(len(s) + 1 for s in new)
        if room < 0:
            break
        listed.update(new)
    value = " ".join([head, *sorted(listed)]) + tail
    name = "Content-Security-Policy" if mode == "enforce" else "Content-Security-Policy-Report-Only"
    return name, value


def host_sources(hosts: Iterable[str]) -> list[str]:
    """Our host entries as CSP host-sources: "host/path" is a prefix for us; in CSP a path
    is a prefix only when it ends with '/', and has no wildcard: "host/*/sdk.js" (a '*'
    segment is any one for us) is allowed as "host/" (the rewriter and the guard still
    tell its paths apart)."""
    out = {h.split("/*", 1)[0] + "/" if "/*" in h else h for h in hosts}
    out |= {f"{h}/" for h in out if "/" in h and not h.endswith("/")}
    return sorted(out)


def frame_header(hosts: Iterable[str], script: str = "") -> str:
    """The policy of the proxy's frame document (endpoints._frame): it may frame the
    service's hosts and nothing else, runs no script but `script` (by its hash), and only
    the site frames it."""
    scripts = f"script-src {script_source(script)}; " if script else ""
    return (
        f"default-src 'none'; frame-src {' '.join(host_sources(hosts))}; {scripts}"
        "style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'self'"
    )


def script_source(code: str) -> str:
    """The source expression that lets an inline script of exactly this code run."""
    digest = base64.b64encode(hashlib.sha256(code.encode()).digest()).decode()
    return f"'sha256-{digest}'"


# What the proxy injects, by the directive that governs it (the first one present wins,
# as browsers fall back: script-src-elem -> script-src -> default-src).
_FALLBACKS = {
    "script": ("script-src-elem", "script-src", "default-src"),
    "style": ("style-src-elem", "style-src", "default-src"),
    "connect": ("connect-src", "default-src"),
    "frame": ("frame-src", "child-src", "default-src"),  # the frame document of an embed
    "form": ("form-action",),
}
# Where what the proxy injects is let in when a fallback governs it: its own directive,
# the fallback's sources copied (default-src 'none' widened, frames, objects, workers and
# fonts took the nonce and the endpoints too; child-src, workers).
_OWN = {
    "script": "script-src",
    "style": "style-src",
    "connect": "connect-src",
    "frame": "frame-src",
}


def _allows_inline(sources: str) -> bool:
    """'unsafe-inline' counts only when no nonce, hash or 'strict-dynamic' cancels it
    (sources: a directive's, each after a space)."""
    low = f"{sources.lower()} "
    return " 'unsafe-inline' " in low and not any(
        t in low for t in (" 'nonce-", " 'sha256-", " 'sha384-", " 'sha512-", " 'strict-dynamic' ")
    )


# What separates a policy's tokens: ASCII whitespace only (CSP 3: a no-break space or
# U+2028 is part of a token, and a directive whose name holds one is ignored by browsers).
_ASCII_SPACE = " \t\n\f\r"
_ASCII_SPACES = re.compile(f"[{_ASCII_SPACE}]+")
_AS_SPACE = str.maketrans(dict.fromkeys(_ASCII_SPACE, " "))
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
# A report-uri directive as a policy's ';' and ',' split it (ASCII letters in any case), after
# the one that ends the directive before (searched for in ';' + the value).
_REPORT_URI_RE = re.compile(
    f"[;,]([{_ASCII_SPACE}]*report-uri(?![^{_ASCII_SPACE};,])[^;,]*)", re.ASCII | re.IGNORECASE
)
# Once its tokens are one space apart: 'none' among a directive's sources, and nonces.
_NONE_RE = re.compile(" 'none'(?= |$)", re.IGNORECASE)
_NONCES_RE = re.compile(" 'nonce-([^ ]*)'(?= |$)", re.IGNORECASE)


# A comma and the empty policies after it (white space alone), as one.
_EMPTY_POLICIES_RE = re.compile(f",(?:[{_ASCII_SPACE}]*+,)*+")


def _policies(value: str) -> list[str]:
    """A CSP value's policies, each once (a policy repeated is enforced once) and none empty
    (one enforces nothing: thousands of commas cost a lot, split one by one 3 ms a 64 KB
    line, read up to six times a response: helper-247)."""
    return [p for p in dict.fromkeys(_EMPTY_POLICIES_RE.split(value)) if p.strip(_ASCII_SPACE)]


def _directives(policy: str) -> tuple[str, str]:
    """One policy as browsers read it: its directives one ';' apart (the empty ones left
    out), their tokens one space apart; and the same with ASCII letters in lower case, a ';'
    at each end (see _first). Worked out in a few passes over the whole policy, none per
    directive or token: split, stripped and lowered one by one, 64 KB of `a;` or of ';' held
    serve's loop 0.2 s a line (helper-242)."""
    if not policy.isprintable():  # (a tab, a line end)
        policy = policy.translate(_AS_SPACE)
    while "  " in policy:  # (each pass halves a run: a few passes)
        policy = policy.replace("  ", " ")
    policy = policy.strip(" ").replace("; ", ";").replace(" ;", ";")
    while ";;" in policy:
        policy = policy.replace(";;", ";")
    policy = policy.strip(";")
    # (the same length as the policy: where a directive is in one, it is in the other)
    low = policy.lower() if policy.isascii() else policy.translate(_ASCII_LOWER)
    return policy, f";{low};"


def _first(names: str, chain: Iterable[str]) -> tuple[str, int, int] | None:
    """The first name of chain among a policy's directives (names: _directives' second), and
    where the first directive of that name starts and ends in the policy."""
    for name in chain:
        at = [i for i in (names.find(f";{name};"), names.find(f";{name} ")) if i >= 0]
        if at:
            return name, min(at), names.find(";", min(at) + 1) - 1
    return None


def admit_injected(value: str, nonce: str, own: str) -> str:
    """The origin's CSP header value, changed only so that what the proxy injects runs:
    its script and style by nonce (or by URL where adding a nonce would switch off the
    site's own 'unsafe-inline'), its endpoints (own: "scheme://host/prefix/") for fetch
    and form posts, in the directives that govern them (one of their own where a fallback
    did). Every other source and directive is the origin's, untouched. A value that would
    grow by more than four times its length and MAX_ADMITTED, or of more than MAX_POLICIES
    policies, is returned as it came (its policies then keep what the proxy injects out, the
    banner included)."""
    policies, room, given = [], 5 * len(value) + MAX_ADMITTED, _policies(value)
    if len(given) > MAX_POLICIES:
        return value
    for policy in given:
        policy, names = _directives(policy)
        edits, added = [], []  # (where sources are replaced: start, end, by what), directives
        for kind, chain in _FALLBACKS.items():
            found = _first(names, chain)
            if found is None:
                continue
            name, start, end = found
            start += len(name)
            sources = _NONE_RE.sub("", policy[start:end])
            if kind in ("script", "style") and not _allows_inline(sources):
                add = f"'nonce-{nonce}'"
            elif kind == "style":
                continue  # its 'unsafe-inline' already lets the inline <style> in
            else:
                add = own
            if f" {add} " not in f"{sources} ":
                sources += f" {add}"
            if name in ("default-src", "child-src"):
                added.append(_OWN[kind] + sources)
            else:
                edits.append((start, end, sources))
        for start, end, sources in sorted(edits, reverse=True):  # (the last first: in place)
            policy = policy[:start] + sources + policy[end:]
        policies.append("; ".join([policy.replace(";", "; "), *added]))
        room -= len(policies[-1]) + 2
        if room < 0:
            return value
    # (a policy repeated is enforced once: each copy would get the nonce and the endpoints,
    # and 400 copies of `default-src 'none'` made a 32 KB header front proxies refuse)
    return ", ".join(dict.fromkeys(policies))


def scripts_back_in_place(value: str) -> frozenset[str] | None:
    """Which held <script>s consent.js may bring back in place under the policies of this CSP
    value: all (None), or only those carrying one of the nonces returned (none, if empty).
    Where a policy trusts what a trusted script inserts ('strict-dynamic' where script
    elements are governed), consent.js (trusted by the proxy's nonce) bringing one back ran
    it whatever its nonce: a tag injected in a forum post, once the visitor accepted; one
    the origin gave its nonce is its own. Where a policy requires Trusted Types, consent.js
    cannot set a script's text or URL: none (the page's own held code failed to come back).
    Of more than MAX_POLICIES policies: none."""
    kept: frozenset[str] | None = None
    given = _policies(value)
    if len(given) > MAX_POLICIES:
        return frozenset()
    for policy in given:
        policy, names = _directives(policy)  # (the first of a name counts)
        found = _first(names, _FALLBACKS["script"])
        sources = policy[found[1] + len(found[0]) : found[2]] if found is not None else ""
        if _first(names, ("require-trusted-types-for",)) is not None:
            nonces: frozenset[str] = frozenset()
        elif " 'strict-dynamic' " in f"{sources.lower()} ":
            nonces = frozenset(_NONCES_RE.findall(sources))
        else:
            continue
        kept = nonces if kept is None else kept & nonces  # (every policy must allow it)
    return kept


def without_reports_to(value: str, held: Callable[[str], bool]) -> str:
    """The origin's CSP header value without the `report-uri` URLs that held says go to a
    service the visitor did not consent to (a directive left with none goes): a browser
    posts every violation there, with the page's URL, and no policy governs where reports
    go, not even `csp: enforce`'s. The value is returned as it came when nothing is held.
    A directive repeated is read once and a URL asked about once (each asked as often as it
    came, 64 KiB of `report-uri a a a...` took 20 ms a line: helper-242), and past
    MAX_REPORT_DIRECTIVES distinct ones the rest go unread (helper-247)."""
    if "report-uri" not in value.lower():
        return value
    edits: dict[str, str | None] = {}  # a directive changed: what it becomes (None: none)
    verdicts = dict[str, bool]()
    for n, directive in enumerate(dict.fromkeys(_REPORT_URI_RE.findall(f";{value}"))):
        if n >= MAX_REPORT_DIRECTIVES:
            edits[directive] = None
            continue
        tokens = _ASCII_SPACES.split(directive.strip(_ASCII_SPACE))
        for t in dict.fromkeys(tokens[1:]):
            if t not in verdicts:
                verdicts[t] = held(t)
        kept = [t for t in tokens[1:] if not verdicts[t]]
        if len(kept) < len(tokens) - 1:
            edits[directive] = " ".join([tokens[0], *kept]) if kept else None
    if not edits:
        return value
    policies = []
    for policy in value.split(","):
        directives = [edits.get(d, d) for d in policy.split(";")]
        policies.append(";".join([d for d in directives if d is not None]))
    return ",".join(policies)
