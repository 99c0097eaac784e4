"""A site's former consent tool: what its stored choice said, so returning visitors are not
asked again when consentproxy takes over (`former_cmp: {tool, import}` in the config).

Only a choice the visitor made counts: OneTrust's OptanonConsent with the banner closed
(OptanonAlertBoxClosed, the time of the choice) and no reconsent pending; Cookiebot's
CookieConsent given explicitly (`method:'explicit'`) with its time (`utc`); Didomi's
didomi_token naming the site's purposes enabled or disabled, with the time of its last update
(`updated`), unless a didomi_dcs (not read) replaced it; vanilla-cookieconsent's cc_cookie
(written only when a category is accepted or refused: a button, or the site's call) with the
time of its last change; any IAB TCF CMP's euconsent-v2 holding a consent (written only after
the visitor acted) with the day of its last update and the vendors it consents to (not for a
purpose its publisher restrictions bar them from); Iubenda's _iub_cs-<id> answering its
purposes one by one, with its time; CookieYes' cookieyes-consent once the visitor acted and
consented, Klaro's klaro (written only when the visitor saves), Complianz's cmplz_<category>
once its banner was dismissed, none with a time. Defaults that were never answered, implied
consent and regions where the tool asked nothing are no choice.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TypeGuard
from urllib.parse import parse_qsl, unquote

from consentproxy.httpheaders import number

TOOLS = (
    "onetrust",
    "cookiebot",
    "didomi",
    "vanilla-cookieconsent",
    "tcf",
    "iubenda",
    "cookieyes",
    "klaro",
    "complianz",
)
# The tools whose cookie keeps no time of the choice: an import from them needs `until`, the
# time it is taken as made (README).
UNDATED = ("cookieyes", "klaro", "complianz")
# The groups each tool stores, as its documentation names them (OneTrust's ids are the
# site's own: C0002, 2, or any the site created; Didomi's purposes too: its ids, or the
# site's own custom ones, audiencem-hJxaeGrR; vanilla-cookieconsent's categories too:
# the names the site's CookieConsent.run gave them, analytics; CookieYes' category slugs,
# analytics, advertisement or the site's own; Klaro's service names, from its klaroConfig).
COOKIEBOT_GROUPS = ("preferences", "statistics", "marketing")
# The IAB TCF's purposes (policy 2.2: 1 store or access information on a device ... 11 use
# limited data to select content); the TC string has a bit for 24.
TCF_PURPOSES = tuple(str(n) for n in range(1, 12))
TCF_MAX_VENDOR = 65535  # (a vendor id is 16 bits)
# Iubenda's purposes (1 strictly necessary, 2 basic interactions and functionalities,
# 3 experience enhancement, 4 measurement, 5 targeting and advertising).
IUBENDA_PURPOSES = ("1", "2", "3", "4", "5")
# Complianz's categories a visitor answers (functional is always allowed).
COMPLIANZ_GROUPS = ("preferences", "statistics", "marketing")
# The tools whose groups are fixed, by the name their documentation gives them.
FIXED_GROUPS = {
    "cookiebot": ("Cookiebot", COOKIEBOT_GROUPS),
    "tcf": ("IAB TCF", TCF_PURPOSES),
    "iubenda": ("Iubenda", IUBENDA_PURPOSES),
    "complianz": ("Complianz", COMPLIANZ_GROUPS),
}
# Each from a field's start (from every character, 8 KB of one a visitor sends cost 200 ms
# a request: helper-111).
_OPTANON_GROUP_RE = re.compile(r"(?<![^,])([^:,]++):([01])")
_COOKIEBOT_FIELD_RE = re.compile(r"(?<!\w)(\w++):(true|false|'[^']*+'|-?\d++)")
_SITE_ID_RE = re.compile(r"[0-9]++")  # (str.isdigit takes "²" too)
# cookieyes-consent's fields that are no category: its log id, whether the visitor consented
# and acted, and (written by the script of CookieYes' web app) the site's consent renewal.
_COOKIEYES_META = ("consentid", "consent", "action", "lastRenewedDate")


@dataclass(frozen=True)
class TcfVendors:
    """The IAB TCF vendors a TC string gives consent to: its bit field as it came (a "1" a
    vendor, from vendor 1: a forged string of 12,000 runs would cost 5 ms a request made
    into ranges), or its ranges, sorted and disjoint (one may name 65,535 vendors: none is
    spelt out)."""

    bits: str = ""
    ranges: tuple[tuple[int, int], ...] = ()

    def __contains__(self, vendor: object) -> bool:
        if not isinstance(vendor, int) or vendor < 1:
            return False
        if vendor <= len(self.bits):
            return self.bits[vendor - 1] == "1"
        at = bisect.bisect_right(self.ranges, (vendor, TCF_MAX_VENDOR)) - 1
        return at >= 0 and self.ranges[at][1] >= vendor

    def __bool__(self) -> bool:
        return "1" in self.bits or bool(self.ranges)


@dataclass(frozen=True)
class FormerChoice:
    tool: str
    granted: frozenset[str]  # the tool's groups the visitor accepted
    refused: frozenset[str]
    decided_at: int | None  # unix seconds, when the visitor chose (None: the tool keeps no time)
    # How much later the choice may have been made than decided_at says (a TC string keeps
    # only its day): what `until` compares, so a string of the switch's day is not the tool's.
    vague: int = 0
    vendors: TcfVendors = TcfVendors()  # (a TC string's vendor consent section)
    # The vendors whose consent does not reach a purpose: the publisher restrictions that
    # flatly disallow it or require legitimate interest (purpose, vendors), by purpose.
    barred: tuple[tuple[str, TcfVendors], ...] = ()


# The cookies each tool keeps its visitor's choice in (a trailing * stands for the site's id:
# Iubenda's _iub_cs-50053366).
TOOL_COOKIES = {
    "onetrust": ("OptanonConsent", "OptanonAlertBoxClosed"),
    "cookiebot": ("CookieConsent",),
    # (its Consent String, which replaces the token once a site enables it: not read)
    "didomi": ("didomi_token", "didomi_dcs"),
    "vanilla-cookieconsent": ("cc_cookie",),
    "tcf": ("euconsent-v2",),
    "iubenda": ("_iub_cs-*",),
    "cookieyes": ("cookieyes-consent",),
    "klaro": ("klaro",),
    # (its banner's status and its categories first, read; then the rest it writes, erased)
    "complianz": (
        "cmplz_banner-status",
        *(f"cmplz_{group}" for group in COMPLIANZ_GROUPS),
        "cmplz_functional",
        "cmplz_policy_id",
        "cmplz_id",
        "cmplz_consented_services",
        "cmplz_saved_categories",
        "cmplz_saved_services",
    ),
}


# Each consent tool's banner and its reject-all button, as the tool's own script builds them
# (a site scanned as it is may still show its own: that is a banner, not a missing one; the
# tools former_cmp reads, and CookieYes' legacy one).
BANNERS = {
    "OneTrust": ("#onetrust-banner-sdk", "#onetrust-reject-all-handler"),
    "Cookiebot": ("#CybotCookiebotDialog", "#CybotCookiebotDialogBodyButtonDecline"),
    "Didomi": ("#didomi-notice", "[id^=didomi-notice-disagree-button]"),
    # (its consent modal, class cm; the buttons' data-role: orestbida/cookieconsent v3's
    # src/core/modals/consentModal.js)
    "vanilla-cookieconsent": ("#cc-main .cm", "#cc-main .cm [data-role=necessary]"),
    # (its banner's id and its buttons' classes, as consent-clicking tools name them)
    "Iubenda": ("#iubenda-cs-banner", "#iubenda-cs-banner .iubenda-cs-reject-btn"),
    # (CookieYes' bar and its reject button, data-cky-tag=reject-button; Klaro's notice, or
    # its modal alone with mustConsent, their decline button gone with hideDeclineAll,
    # kiprotect/klaro src/components/consent-notice.js;
    # Complianz's banner and its deny button, complianz-gdpr's cookiebanner template)
    "CookieYes": (".cky-consent-container", ".cky-consent-container .cky-btn-reject"),
    "Klaro": (".klaro .cookie-notice, .klaro .cookie-modal", ".klaro .cn-decline"),
    "Complianz": (".cmplz-cookiebanner", ".cmplz-cookiebanner .cmplz-deny"),
    # (CookieYes' legacy bar, cookie-law-info before 3.x, and its reject buttons: its choices
    # are not read, README, but it is the site's banner; cookie-law-info 3.0.8
    # legacy/public/js/cookie-law-info-public.js: notify_div_id and reject_link, the
    # .cli_action_button whose data-cli_action is reject, and 2.x's Reject All,
    # .wt-cli-reject-btn, attachEvents)
    "CookieLawInfo": (
        "#cookie-law-info-bar",
        (
            "#cookie-law-info-bar :is(.cookie_action_close_header_reject, .wt-cli-reject-btn, "
            '[data-cli_action="reject"])'
        ),
    ),
}


def read_choice(tool: str, cookies: Mapping[str, str]) -> FormerChoice | None:
    """The choice a visitor made with the former tool, from their cookies (raw values)."""
    found = [
        cookies[names[0]] if len(names := _named(name, cookies)) == 1 else None
        for name in TOOL_COOKIES[tool]
    ]
    return _READERS[tool](*found)


def tool_cookies(tool: str, names: Collection[str]) -> list[str]:
    """The cookies among these the tool keeps its choice in, in the tool's order."""
    return [n for name in TOOL_COOKIES[tool] for n in _named(name, names)]


def fixed_cookies(tool: str) -> list[str]:
    """The cookies the tool keeps its choice in whose names are known without a request's
    (not those named by a site's id), in the tool's order: the ones it reads first."""
    return [name for name in TOOL_COOKIES[tool] if not name.endswith("*")]


def _named(name: str, names: Collection[str]) -> list[str]:
    """The cookies among these a tool's cookie name names (with a trailing *, those with a
    site's id, ASCII digits, in its place: not Iubenda's _iub_cs-s or _iub_cs-7-uspr)."""
    if not name.endswith("*"):
        return [name] if name in names else []
    stem = name[:-1]
    return sorted(n for n in names if n.startswith(stem) and _SITE_ID_RE.fullmatch(n, len(stem)))


def _onetrust(consent: str | None, closed: str | None) -> FormerChoice | None:
    """OptanonConsent=isGpcEnabled=0&datestamp=...&groups=C0001%3A1%2CC0002%3A0&...;
    OptanonAlertBoxClosed=2024-07-29T03:03:35.027Z (set when the visitor chose)."""
    if not consent or not closed:
        return None
    fields = dict(parse_qsl(consent, keep_blank_values=True))
    if fields.get("AwaitingReconsent", "").lower() == "true":
        return None
    decided = _instant(unquote(closed))
    if decided is None:
        return None
    groups = dict(_OPTANON_GROUP_RE.findall(fields.get("groups", "")))
    if not groups:
        return None
    return FormerChoice(
        "onetrust",
        frozenset(g for g, v in groups.items() if v == "1"),
        frozenset(g for g, v in groups.items() if v == "0"),
        decided,
    )


def _cookiebot(consent: str | None) -> FormerChoice | None:
    """CookieConsent={stamp:%27...%27%2Cnecessary:true%2Cpreferences:false%2C
    statistics:true%2Cmarketing:false%2Cmethod:%27explicit%27%2Cver:1%2Cutc:1616914016722
    %2Cregion:%27fr%27} (a JavaScript object, URL-encoded)."""
    if not consent:
        return None
    fields = dict(_COOKIEBOT_FIELD_RE.findall(unquote(consent.replace("+", " "))))
    stamp = fields.get("stamp", "").strip("'")
    if fields.get("method") != "'explicit'" or stamp in ("", "-1", "0"):
        return None
    utc = number(fields.get("utc", ""))
    if utc is None:
        return None
    states = {g: fields.get(g) for g in COOKIEBOT_GROUPS}
    if not all(v in ("true", "false") for v in states.values()):
        return None
    return FormerChoice(
        "cookiebot",
        frozenset(g for g, v in states.items() if v == "true"),
        frozenset(g for g, v in states.items() if v == "false"),
        utc // 1000,
    )


def _didomi(token: str | None, dcs: str | None) -> FormerChoice | None:
    """didomi_token=eyJ1c2VyX2lkIjoi... : base64 of {"user_id":"...","created":"2021-03-17T
    16:46:32.344Z","updated":"...","vendors":{"enabled":[...]},"purposes":{"enabled":[...],
    "disabled":[...]},"vendors_li":{...},"purposes_li":{...},"version":2} (Didomi's own
    description and example: support.didomi.io/en/didomi-cookies-storage-1; `updated` is "last
    consent update date"). Only purposes given consent count (not legitimate interest, which
    asks no one), and only when the token answers one: the standard IAB purposes are in
    euconsent-v2, not here. A token beside a didomi_dcs, which replaces it once a site
    enables it (developers.didomi.io/cmp/didomi-consent-string), may be older than the
    choice that holds: no choice."""
    if not token or dcs is not None:
        return None
    try:
        fields = _json(base64.b64decode(unquote(token), validate=True).decode())
    except (ValueError, binascii.Error):
        return None
    if not isinstance(fields, dict):
        return None
    decided, purposes = _instant(fields.get("updated")), fields.get("purposes")
    if decided is None or not isinstance(purposes, dict):
        return None
    answered = [purposes.get("enabled", []), purposes.get("disabled", [])]
    if not all(_names(ids) for ids in answered):
        return None
    granted, refused = frozenset(answered[0]), frozenset(answered[1])
    if not granted | refused or granted & refused:
        return None
    return FormerChoice("didomi", granted, refused, decided)


def _vanilla_cookieconsent(cookie: str | None) -> FormerChoice | None:
    """cc_cookie=%7B%22categories%22%3A%5B%22necessary%22%2C%22analytics%22%5D%2C%22revision
    %22%3A0%2C...%22consentTimestamp%22%3A%22...%22%2C...%22services%22%3A%7B%22necessary%22
    %3A%5B%5D%2C%22analytics%22%3A%5B%5D%7D%2C...%22lastConsentTimestamp%22%3A%22...%22%7D:
    URL-encoded JSON of the accepted categories and, in `services`, every category the site
    defined (orestbida/cookieconsent v3, src/utils/cookies.js saveCookiePreferences and
    setCookie: written only by acceptCategory, from its buttons or the site's own call;
    src/utils/general.js gives every category a `services` key; v2's cookie, `level` and
    `last_consent_update`, is not read)."""
    if not cookie:
        return None
    fields = _json(unquote(cookie))
    if not isinstance(fields, dict):
        return None
    decided = _instant(fields.get("lastConsentTimestamp"))
    accepted, services = fields.get("categories"), fields.get("services")
    if decided is None or not _names(accepted) or not isinstance(services, dict):
        return None
    granted = frozenset(accepted)
    if not granted <= services.keys():
        return None
    return FormerChoice("vanilla-cookieconsent", granted, frozenset(services) - granted, decided)


def _iubenda(cookie: str | None) -> FormerChoice | None:
    """_iub_cs-50053366=%7B%22timestamp%22%3A%222025-02-05T15%3A40%3A00.391Z%22%2C%22version
    %22%3A%221.75.1%22%2C%22purposes%22%3A%7B%221%22%3Atrue%2C%223%22%3Atrue%2C%224%22%3Atrue
    %7D%2C%22id%22%3A50053366%2C%22cons%22%3A%7B%22rand%22%3A%22157518%22%7D%7D: URL-encoded
    JSON of the purposes consented and the time (as browsers send it, in public code: a
    scraper's Cookie header, its _iub_previous_preference_id naming the same moment; WooCommerce
    pixel manager's reader). Only a choice per purpose counts (perPurposeConsent: the
    all-or-nothing `consent: true` answers none); a purpose left out was not consented."""
    if not cookie:
        return None
    fields = _json(unquote(cookie))
    if not isinstance(fields, dict):
        return None
    decided, purposes = _instant(fields.get("timestamp")), fields.get("purposes")
    if decided is None or not isinstance(purposes, dict) or not purposes:
        return None
    if not purposes.keys() <= set(IUBENDA_PURPOSES) or not all(
        isinstance(v, bool) for v in purposes.values()
    ):
        return None
    granted = frozenset(p for p, v in purposes.items() if v)
    return FormerChoice("iubenda", granted, frozenset(IUBENDA_PURPOSES) - granted, decided)


def _cookieyes(cookie: str | None) -> FormerChoice | None:
    """cookieyes-consent=consentid:Z3k3...,consent:yes,action:yes,necessary:yes,functional:no,
    analytics:yes,performance:no,advertisement:no: each category slug of the site yes or no
    (CookieYes' WordPress plugin, cookie-law-info 3.x, lite/frontend/js/script.js:
    _ckySetInStore writes it; its first visit stores the default state with consent:no and no
    action, _ckyAcceptCookies sets action:yes and consent:yes unless the visitor rejected;
    _ckyActionClose, the banner's close button, sets action:yes alone, and under the GDPR
    nothing runs unless consent is yes). Only consent:yes after an action is a choice: a
    rejection and a close cannot be told apart, and neither grants anything."""
    if not cookie:
        return None
    fields: dict[str, str] = {}
    for item in unquote(cookie).split(","):
        key, colon, value = item.partition(":")
        if not colon or key in fields:
            return None
        fields[key] = value
    if fields.get("action") != "yes" or fields.get("consent") != "yes":
        return None
    states = {k: v for k, v in fields.items() if k not in _COOKIEYES_META}
    if not states or not all(v in ("yes", "no") for v in states.values()):
        return None
    granted = frozenset(k for k, v in states.items() if v == "yes")
    return FormerChoice("cookieyes", granted, frozenset(states) - granted, None)


def _klaro(cookie: str | None) -> FormerChoice | None:
    """klaro=%7B%22matomo%22%3Atrue%2C%22youtube%22%3Afalse%7D: URL-encoded JSON, each service
    of the site's klaroConfig consented or not (kiprotect/klaro 0.7.22, src/consent-manager.js
    saveConsents, called only when the visitor accepts, declines or saves in its notice or
    modal, or accepts a service where it is embedded; src/stores.js CookieStore). A service
    the cookie lacks (added since) was not answered."""
    if not cookie:
        return None
    consents = _json(unquote(cookie))
    if not isinstance(consents, dict) or not consents:
        return None
    if not all(isinstance(v, bool) for v in consents.values()):
        return None
    granted = frozenset(k for k, v in consents.items() if v)
    return FormerChoice("klaro", granted, frozenset(consents) - granted, None)


def _complianz(status: str | None, *answers: str | None) -> FormerChoice | None:
    """cmplz_banner-status=dismissed; cmplz_preferences=deny; cmplz_statistics=allow;
    cmplz_marketing=deny (really-simple-plugins/complianz-gdpr 7.2.0, cookiebanner/js/
    complianz.js: cmplz_set_consent writes a category's allow or deny when the visitor accepts,
    denies or saves, each of which dismisses the banner; a change of the site's cookie policy
    denies all and shows it again; its close button and, in opt-out regions, scrolling or a
    timeout dismiss it and answer nothing). A category not written was not answered. Where
    the site needs no consent for statistics (forceEnableStats) it writes statistics=allow on
    every page, unasked: statistics alone, after a close, is no choice."""
    if status != "dismissed":
        return None
    states = {g: v for g, v in zip(COMPLIANZ_GROUPS, answers, strict=False) if v is not None}
    if not states.keys() - {"statistics"} or not all(
        v in ("allow", "deny") for v in states.values()
    ):
        return None
    granted = frozenset(g for g, v in states.items() if v == "allow")
    return FormerChoice("complianz", granted, frozenset(states) - granted, None)


# A TC string's core segment, base64url without padding, and each character's six bits.
_BASE64URL_RE = re.compile(r"[A-Za-z0-9_-]++")
_SEXTETS = {
    c: f"{i:06b}"
    for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
}
# The TC string's version 2 was published in April 2019 (the spec's version history): one
# created before is not a CMP's.
_TCF_V2_PUBLISHED = 1_554_076_800  # 2019-04-01T00:00Z
_COOKIE_CHARS = 4096  # the longest cookie a browser keeps (RFC 6265 6.1: at least 4096 B)


class _Malformed(ValueError):
    """A bit field shorter than its fields, or a field out of its bounds."""


class _Bits:
    """A TC string's bits, read in order (big-endian, left to right)."""

    def __init__(self, text: str) -> None:
        self.text, self.at = text, 0

    def take(self, count: int) -> str:
        field = self.text[self.at : self.at + count]
        if len(field) < count:
            raise _Malformed
        self.at += count
        return field

    def number(self, count: int) -> int:
        return int(self.take(count), 2)


def _tcf(tc_string: str | None) -> FormerChoice | None:
    """euconsent-v2=COxSKBCOxSKCCBcABCENAgCMAPzAAEPAAAqIDaQBQAMgAgABqAR0A2gDaQAwAMgAgANoAAA
    .elAAAAAAAWA (Sirdata's, its iabtcfv2 README): base64url of the core segment's bits,
    Version 6, Created and LastUpdated 36 (deciseconds), CmpId ... SpecialFeatureOptIns 12, PurposesConsent 24, PurposesLITransparency 24,
    PurposeOneTreatment 1, PublisherCC 12, then the vendors' consent and legitimate interest
    sections and the publisher restrictions (IAB Tech Lab, "Consent string and vendor list
    formats v2", The Core String). TCF 2.2 CMPs keep the day of the last change in both
    dates (iabtcf-es, TCModel.updated). The spec forbids positive consent before the
    visitor's affirmative action, so a string with none (a refusal, or a legitimate-interest
    only string written before any choice) is no choice; nor is one whose purpose 1 was
    never asked. Refused purpose 1 (storing or reading on the device) grants no purpose."""
    if not tc_string or len(tc_string) > _COOKIE_CHARS:
        return None
    core = tc_string.split(".", 1)[0]
    if not _BASE64URL_RE.fullmatch(core):
        return None
    bits = _Bits("".join(_SEXTETS[c] for c in core))
    try:
        version, created, updated = bits.number(6), bits.number(36), bits.number(36)
        bits.take(12 + 12 + 6 + 12 + 12 + 6 + 1 + 1)  # CmpId ... UseNonStandardStacks
        features, purposes = bits.take(12), bits.take(24)
        bits.take(24)  # PurposesLITransparency
        purpose_one_untold = bits.take(1) == "1"
        bits.take(12)  # PublisherCC
        vendors = _tcf_vendors(bits)
        _tcf_vendors(bits)  # their legitimate interest
        barred = _tcf_barred(bits)
    except _Malformed:
        return None
    if version != 2 or not _TCF_V2_PUBLISHED * 10 <= created <= updated or purpose_one_untold:
        return None
    if "1" not in features + purposes and not vendors:
        return None
    granted = frozenset(str(n) for n, bit in enumerate(purposes, 1) if bit == "1")
    if "1" not in granted:
        granted = frozenset()
    refused = frozenset(str(n) for n in range(1, 25)) - granted
    return FormerChoice("tcf", granted, refused, updated // 10, 86400, vendors, barred)


def _tcf_vendors(bits: _Bits) -> TcfVendors:
    """A TC string's vendor section (MaxVendorId 16, IsRangeEncoding 1, a bit a vendor or
    ranges): the vendors it names. Ranges the section cannot hold (backwards, from vendor 0,
    past its MaxVendorId) make it no choice."""
    most = bits.number(16)
    if bits.take(1) == "0":
        return TcfVendors(bits=bits.take(most))
    ranges = _tcf_ranges(bits)
    if any(end > most for _, end in ranges):
        raise _Malformed
    return _merged(ranges)


def _tcf_barred(bits: _Bits) -> tuple[tuple[str, TcfVendors], ...]:
    """A TC string's publisher restrictions (NumPubRestrictions 12, each PurposeId 6,
    RestrictionType 2 and its vendors' ranges): by purpose, the vendors a 0 (purpose flatly
    not allowed) or a 2 (require legitimate interest) bars from processing it on consent; a
    1 (require consent) bars nothing. Type 3 (undefined) or purpose 0 is no string's."""
    barred: dict[int, list[tuple[int, int]]] = {}
    for _ in range(bits.number(12)):
        purpose, kind = bits.number(6), bits.number(2)
        ranges = _tcf_ranges(bits)
        if purpose == 0 or kind == 3:
            raise _Malformed
        if kind != 1:
            barred.setdefault(purpose, []).extend(ranges)
    return tuple((str(p), _merged(barred[p])) for p in sorted(barred))


def _merged(ranges: list[tuple[int, int]]) -> TcfVendors:
    """Vendor ranges sorted and made disjoint; one backwards or from vendor 0 is malformed."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if not 1 <= start <= end:
            raise _Malformed
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return TcfVendors(ranges=tuple(merged))


def _tcf_ranges(bits: _Bits) -> list[tuple[int, int]]:
    """NumEntries 12, each IsARange 1, StartOrOnlyVendorId 16 and EndVendorId 16 if a range:
    the ranges of vendor ids (one alone, from itself to itself)."""
    ranges = []
    for _ in range(bits.number(12)):
        is_range = bits.take(1) == "1"
        start = bits.number(16)
        ranges.append((start, bits.number(16) if is_range else start))
    return ranges


def _json(text: str) -> object:
    """A JSON value a visitor sent, or None (all linear; deep nesting is a RecursionError,
    5000 digits a ValueError: each would be a 500)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _instant(text: object) -> int | None:
    """Unix seconds of an ISO date-time with its zone ("2021-03-17T16:46:32.344Z"), or None."""
    if not isinstance(text, str):
        return None
    try:
        when = datetime.fromisoformat(text)  # Python 3.11+: "Z" too
    except ValueError:
        return None
    return None if when.tzinfo is None else int(when.timestamp())


def _names(value: object) -> TypeGuard[list[str]]:
    """Whether a JSON value is a list of strings."""
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


_READERS: dict[str, Callable[..., FormerChoice | None]] = {
    "onetrust": _onetrust,
    "cookiebot": _cookiebot,
    "didomi": _didomi,
    "vanilla-cookieconsent": _vanilla_cookieconsent,
    "tcf": _tcf,
    "iubenda": _iubenda,
    "cookieyes": _cookieyes,
    "klaro": _klaro,
    "complianz": _complianz,
}


def categories(
    choice: FormerChoice, table: Mapping[str, str], vendors: Mapping[str, Collection[int]]
) -> frozenset[str]:
    """Our categories the former choice grants: a category is granted when every group the
    table maps to it was accepted (and the choice names them all) and every TCF vendor the
    config needs for it was given consent, for each of its purposes (none barred to it by a
    publisher restriction); the rest is refused."""
    wanted: dict[str, list[str]] = {}
    for group, category in table.items():
        wanted.setdefault(category, []).append(group)
    barred = dict(choice.barred)
    return frozenset(
        c
        for c, groups in wanted.items()
        if all(g in choice.granted for g in groups)
        and all(
            v in choice.vendors and not any(v in barred.get(g, ()) for g in groups)
            for v in vendors.get(c, ())
        )
    )
