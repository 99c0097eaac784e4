"""A site's former consent tool: what its stored choice said, so returning visitors are not
asked again when consentproxy takes over (`former_cmp: {tool, import}` in the config).

Only a choice the visitor made counts: OneTrust's OptanonConsent with the banner closed
(OptanonAlertBoxClosed, the time of the choice) and no reconsent pending; Cookiebot's
CookieConsent given explicitly (`method:'explicit'`) with its time (`utc`); Didomi's
didomi_token naming the site's purposes enabled or disabled, with the time of its last update
(`updated`). Defaults that were never answered, implied consent and regions where the tool
asked nothing are no choice.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl, unquote

from consentproxy.httpheaders import number

TOOLS = ("onetrust", "cookiebot", "didomi")
# The groups each tool stores, as its documentation names them (OneTrust's ids are the
# site's own: C0002, 2, or any the site created; Didomi's purposes too: its ids, or the
# site's own custom ones, audiencem-hJxaeGrR).
COOKIEBOT_GROUPS = ("preferences", "statistics", "marketing")
# Each from a field's start (from every character, 8 KB of one a visitor sends cost 200 ms
# a request: helper-111).
_OPTANON_GROUP_RE = re.compile(r"(?<![^,])([^:,]++):([01])")
_COOKIEBOT_FIELD_RE = re.compile(r"(?<!\w)(\w++):(true|false|'[^']*+'|-?\d++)")


@dataclass(frozen=True)
class FormerChoice:
    tool: str
    granted: frozenset[str]  # the tool's groups the visitor accepted
    refused: frozenset[str]
    decided_at: int  # unix seconds, when the visitor chose


# The cookies each tool keeps its visitor's choice in.
TOOL_COOKIES = {
    "onetrust": ("OptanonConsent", "OptanonAlertBoxClosed"),
    "cookiebot": ("CookieConsent",),
    "didomi": ("didomi_token",),
}


# Each tool's banner and its reject-all button, as the tool's own script builds them (a site
# scanned as it is may still show its own: that is a banner, not a missing one).
BANNERS = {
    "OneTrust": ("#onetrust-banner-sdk", "#onetrust-reject-all-handler"),
    "Cookiebot": ("#CybotCookiebotDialog", "#CybotCookiebotDialogBodyButtonDecline"),
}


def read_choice(tool: str, cookies: Mapping[str, str]) -> FormerChoice | None:
    """The choice a visitor made with the former tool, from their cookies (raw values)."""
    found = [cookies.get(name) for name in TOOL_COOKIES[tool]]
    return _READERS[tool](*found)


def _onetrust(consent: str | None, closed: str | None) -> FormerChoice | None:
    """OptanonConsent=isGpcEnabled=0&datestamp=...&groups=C0001%3A1%2CC0002%3A0&...;
    OptanonAlertBoxClosed=2024-07-29T03:03:35.027Z (set when the visitor chose)."""
    if not consent or not closed:
        return None
    fields = dict(parse_qsl(consent, keep_blank_values=True))
    if fields.get("AwaitingReconsent", "").lower() == "true":
        return None
    try:
        decided = datetime.fromisoformat(unquote(closed))  # Python 3.11+: "Z" too
    except ValueError:
        return None
    if decided.tzinfo is None:
        return None
    groups = dict(_OPTANON_GROUP_RE.findall(fields.get("groups", "")))
    if not groups:
        return None
    return FormerChoice(
        "onetrust",
        frozenset(g for g, v in groups.items() if v == "1"),
        frozenset(g for g, v in groups.items() if v == "0"),
        int(decided.timestamp()),
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


def _didomi(token: str | None) -> FormerChoice | None:
    """didomi_token=eyJ1c2VyX2lkIjoi... : base64 of {"user_id":"...","created":"2021-03-17T
    16:46:32.344Z","updated":"...","vendors":{"enabled":[...]},"purposes":{"enabled":[...],
    "disabled":[...]},"vendors_li":{...},"purposes_li":{...},"version":2} (Didomi's own
    description and example: support.didomi.io/en/didomi-cookies-storage-1; `updated` is "last
    consent update date"). Only purposes given consent count (not legitimate interest, which
    asks no one), and only when the token answers one: the standard IAB purposes are in
    euconsent-v2, not here."""
    if not token:
        return None
    try:  # (all linear; deep nesting a visitor sends is a RecursionError, not a 500)
        fields = json.loads(base64.b64decode(unquote(token), validate=True))
    except (ValueError, binascii.Error, RecursionError):
        return None
    if not isinstance(fields, dict) or not isinstance(fields.get("updated"), str):
        return None
    try:
        decided = datetime.fromisoformat(fields["updated"])
    except ValueError:
        return None
    purposes = fields.get("purposes")
    if decided.tzinfo is None or not isinstance(purposes, dict):
        return None
    answered = [purposes.get("enabled", []), purposes.get("disabled", [])]
    if not all(isinstance(ids, list) and all(isinstance(i, str) for i in ids) for ids in answered):
        return None
    granted, refused = frozenset(answered[0]), frozenset(answered[1])
    if not granted | refused or granted & refused:
        return None
    return FormerChoice("didomi", granted, refused, int(decided.timestamp()))


_READERS: dict[str, Callable[..., FormerChoice | None]] = {
    "onetrust": _onetrust,
    "cookiebot": _cookiebot,
    "didomi": _didomi,
}


def categories(choice: FormerChoice, table: Mapping[str, str]) -> frozenset[str]:
    """Our categories the former choice grants: a category is granted when every group the
    table maps to it was accepted (and the choice names them all); the rest is refused."""
    wanted: dict[str, list[str]] = {}
    for group, category in table.items():
        wanted.setdefault(category, []).append(group)
    return frozenset(c for c, groups in wanted.items() if all(g in choice.granted for g in groups))
