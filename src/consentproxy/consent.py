"""The visitor's consent: a signed cookie, so any number of proxies share no state.

Cookie value: ``2.ID.REVISION.DECIDED_AT.CATEGORIES.SERVICES.SIGNATURE`` where the lists
are joined by ``+`` (``-`` when empty), each category as ``NAME~DIGEST`` (a short digest of
the services it held when the visitor accepted it), and the signature is HMAC-SHA256 over
the rest. Expired, from a newer revision, tampered or unreadable is "no decision". From
an older revision the visitor is asked again, and the old choice grants nothing meanwhile
(a refusal stays one); for a category whose services changed since, asked again, the
unchanged categories still apply, never more.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache

from consentproxy.config import did_you_mean
from consentproxy.errors import ConfigError
from consentproxy.settings import STATE_WORDS, Config

FORMAT_VERSION = "2"
MAX_COOKIE_LEN = 1024
_FIELD_RE = re.compile(r"[a-z0-9_-]+")
_DIGESTED_RE = re.compile(r"[a-z0-9_-]+~[0-9a-f]{0,6}")
_ID_RE = re.compile(r"[A-Za-z0-9_-]{8,32}")
VERIFIED_CACHE = 4096  # cookie values remembered as verified (cleared when full)
CLOCK_SKEW = 300  # a decision "from the future" beyond this is forged or a broken clock


@dataclass(frozen=True)
class ConsentState:
    """What the visitor decided; `decided=False` means: ask, and allow only the necessary."""

    decided: bool = False
    categories: frozenset[str] = frozenset()
    services: frozenset[str] = frozenset()
    consent_id: str = ""
    decided_at: int = 0
    revision: int = 0
    reask: bool = False  # decided, but on an older policy: the banner asks again
    gpc: bool = False  # the browser's Global Privacy Control signal took categories away
    # The visitor is in an opt-out region (config `regions`): with no choice yet, the
    # categories hold what the regime allows until they opt out.
    opt_out: bool = False

    def allows(self, category: str, service: str | None = None) -> bool:
        """Whether a non-required category (or one service of it) may run."""
        return (self.decided or self.opt_out) and (
            category in self.categories or service in self.services
        )

    # (cached: a visitor's state is one object for all their requests, read several times
    # by each page's; a cached value is then a plain attribute, no call)
    @cached_property
    def asks(self) -> bool:
        """Whether the banner's first layer asks: no choice yet where consent comes first,
        or a choice made on an older policy."""
        return not (self.decided or self.opt_out) or self.reask

    @cached_property
    def policy_changed(self) -> bool:
        """Whether it asks again because the policy changed since a choice (it has a date):
        UNREAD asks again for cookies planted by the dozen, no change of policy."""
        return self.reask and self.decided_at > 0

    @cached_property
    def choice(self) -> tuple[bool, frozenset[str], frozenset[str], bool]:
        """All that allows() reads: visitors with the same choice are treated alike."""
        return self.decided, self.categories, self.services, self.opt_out

    @cached_property
    def description(self) -> str:
        """describe_state's text, kept: every request's report names its state, and a
        visitor's state is one object for all their requests (Signer keeps it)."""
        return describe_state(self)


NO_DECISION = ConsentState()
# Distinct consent cookies a request is read by (each an HMAC per key to check: 2,400 forged
# ones in a head cost 10 ms). Past it none is read (consent_values), and the state is
# UNREAD: a refusal the banner asks about again. (No decision was an opt-out region's every
# category: a sibling site's 8 junk cookies on the parent domain undid the visitor's opt-out.)
MAX_CONSENT_COOKIES = 8
UNREAD = ConsentState(True, reask=True)


def consent_values(cookies: Sequence[tuple[str, str]], name: str) -> list[str] | None:
    """The distinct values of the consent cookie `name` among a request's cookies, or None
    past MAX_CONSENT_COOKIES: then none is read (reading only some would let planted ones
    hide the visitor's: a sibling site's one cookie narrows the choice; more only refuse
    and ask again, UNREAD). The state and the records' ids are read from the same ones."""
    values = [value for n, value in cookies if n == name]
    if len(values) > 1:  # (one sent many times is read once)
        values = list(dict.fromkeys(values))
        if len(values) > MAX_CONSENT_COOKIES:
            return None
    return values


class Signer:
    """Signs and verifies consent cookies; the first key signs, every key verifies."""

    def __init__(
        self,
        keys: Sequence[bytes],
        max_age_days: int,
        revision: int,
        digests: Mapping[str, str] | None = None,
    ):
        if not keys:
            raise ValueError("at least one key is needed")
        self.keys = list(keys)
        self.max_age = max_age_days * 86400
        self.revision = revision
        self.digests = dict(digests or {})  # category -> digest of its services now
        # Cookie values already verified (a visitor sends the same one on every request):
        # the HMAC and parsing are done once; only the age is checked again.
        self._verified: dict[str, ConsentState] = {}

    def _sign(self, key: bytes, payload: str) -> str:
        digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def sign(self, payload: str) -> str:
        """The first key's signature of payload (the frame grants of endpoints.py too: their
        payloads never start like a cookie's)."""
        return self._sign(self.keys[0], payload)

    def derived_id(self, text: str) -> str:
        """A pseudonymous id standing for text (a former tool's cookies), the same in every
        process: a visitor's first requests, in parallel, import one choice under one id."""
        cid = self.sign(f"id\n{text}")[:16]
        return "_" + cid[1:] if cid.startswith("-") else cid

    def verify(self, payload: str, signature: str) -> bool:
        """Whether any key signed payload."""
        return signature.isascii() and any(
            hmac.compare_digest(self._sign(k, payload), signature) for k in self.keys
        )

    def encode(self, state: ConsentState) -> str:
        payload = ".".join(
            (
                FORMAT_VERSION,
                state.consent_id,
                str(state.revision),
                str(state.decided_at),
                "+".join(f"{c}~{self.digests.get(c, '')}" for c in sorted(state.categories)) or "-",
                "+".join(sorted(state.services)) or "-",
            )
        )
        return f"{payload}.{self.sign(payload)}"

    def fitting(self, state: ConsentState) -> tuple[ConsentState, str]:
        """state and its cookie, or (that cookie over the MAX_COOKIE_LEN the proxy reads
        back: held on no page) state narrowed to fit and its cookie: the services granted one
        by one dropped, last in name order first. It grants less, never more: refusing the
        choice instead left the previous one, withdrawn services and all, in force. The
        categories alone always fit (config: longest_cookie), so none is dropped. The cut is
        counted, not searched: each name dropped shortens the cookie by itself and its `+`
        (the last one: by itself less the `-` left), so two encodes, whatever the list."""
        value = self.encode(state)
        over = len(value) - MAX_COOKIE_LEN
        if over <= 0:
            return state, value
        kept = sorted(state.services)
        while kept and over > 0:
            over -= len(kept.pop()) + (1 if kept else -1)
        state = replace(state, services=frozenset(kept))
        return state, self.encode(state)

    def decode(self, value: str | None, now: float) -> ConsentState:
        """The state a cookie value proves, or NO_DECISION if it proves nothing."""
        known = self._verified.get(value or "")
        if known is not None:
            return known if self._fresh(known.decided_at, now) else NO_DECISION
        state = self._decode(value, now)
        if state.decided:
            if len(self._verified) >= VERIFIED_CACHE:
                self._verified.clear()
            self._verified[value or ""] = state
        return state

    def _fresh(self, decided_at: int, now: float) -> bool:
        """Decided within max_age, and not later than the clock allows."""
        return now - self.max_age <= decided_at <= now + CLOCK_SKEW

    def _fields(self, value: str | None) -> list[str] | None:
        """The fields of a cookie value this deployment signed (its id checked), else None."""
        if not value or len(value) > MAX_COOKIE_LEN or not value.isascii():
            return None  # (compare_digest raises on non-ASCII text)
        payload, _, signature = value.rpartition(".")
        if not self.verify(payload, signature):
            return None
        parts = payload.split(".")
        if len(parts) != 6 or parts[0] != FORMAT_VERSION or not _ID_RE.fullmatch(parts[1]):
            return None
        return parts

    def record_id(self, value: str | None) -> str | None:
        """The pseudonymous id of a cookie this deployment signed, however old or of
        whatever revision: `me` and `me/erase` answer for every cookie the browser still
        sends. (It keeps ours as long as the consent, six months; the records are kept
        thirteen, past which only the id ties them to the visitor.)"""
        parts = self._fields(value)
        return None if parts is None else parts[1]

    def _decode(self, value: str | None, now: float) -> ConsentState:
        parts = self._fields(value)
        if parts is None:
            return NO_DECISION
        _, cid, rev, ts, cats, svcs = parts
        if not (rev.isdigit() and ts.isdigit()):
            return NO_DECISION
        decided_at = int(ts)
        if int(rev) > self.revision or not self._fresh(decided_at, now):
            return NO_DECISION
        accepted, services = _names(cats, True), _names(svcs)
        if accepted is None or services is None:
            return NO_DECISION
        if int(rev) < self.revision:
            # The operator bumped the revision to ask everyone again: a choice made under
            # the old policy grants nothing until the visitor answers (a refusal stays one).
            return ConsentState(
                True, consent_id=cid, decided_at=decided_at, revision=int(rev), reask=True
            )
        # Only categories whose services are those the visitor saw still count.
        pairs = [c.split("~") for c in accepted]
        categories = frozenset(
            name for name, digest in pairs if digest == self.digests.get(name, "")
        )
        reask = len(categories) < len(accepted)
        return ConsentState(True, categories, services, cid, decided_at, int(rev), reask)

    def decide(
        self,
        categories: Iterable[str],
        services: Iterable[str],
        now: float,
        previous: ConsentState = NO_DECISION,
    ) -> ConsentState:
        """A new decision; the visitor keeps their pseudonymous id across changes of mind."""
        return ConsentState(
            True,
            frozenset(categories),
            frozenset(services),
            previous.consent_id or new_consent_id(),
            int(now),
            self.revision,
        )


def _names(field: str, digested: bool = False) -> frozenset[str] | None:
    if field == "-":
        return frozenset()
    names = field.split("+")
    pattern = _DIGESTED_RE if digested else _FIELD_RE
    return frozenset(names) if all(pattern.fullmatch(n) for n in names) else None


def category_digests(services_in: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """Per category (Policy.services_in), a short digest of the services in it: accepting
    a category is accepting those services, so a new one means asking again."""
    return {
        cat: hashlib.sha256(",".join(sorted(names)).encode()).hexdigest()[:6]
        for cat, names in services_in.items()
    }


def longest_cookie(
    categories: Iterable[str], services: Iterable[str], revision: int, digests: Mapping[str, str]
) -> int:
    """The length of the consent cookie granting these categories and services, with the
    longest id and date this proxy writes (config refuses categories whose cookie alone is
    over MAX_COOKIE_LEN; check-config warns of services one by one)."""
    signer = Signer([b"-"], 1, revision, digests)
    state = ConsentState(
        True, frozenset(categories), frozenset(services), new_consent_id(), 10**10 - 1, revision
    )
    return len(signer.encode(state))


def parse_state(spec: str, config: Config, source: str = "consent state") -> ConsentState | None:
    """A state forced for QA: ``none`` (no decision yet), ``all``, ``reject``, categories and
    ``service:NAME`` items (``analytics,service:youtube``). ``''`` or ``cookie``: None, follow
    the visitor's cookie. Every item is checked against the config, so a typo never passes."""
    spec = spec.strip()  # (STATE_WORDS: no category may take one of these names)
    if spec in ("", "cookie"):
        return None
    if spec == "none":
        return NO_DECISION
    optional = [c.name for c in config.categories if not c.required]
    if spec == "all":
        return ConsentState(True, frozenset(optional))
    if spec == "reject":
        return ConsentState(True)
    required = {c.name for c in config.categories if c.required}
    services = [s.name for s in config.services]
    categories: set[str] = set()
    named: set[str] = set()
    for item in (i.strip() for i in spec.split(",")):
        kind, colon, name = item.partition(":")
        if colon and kind == "service" and name in services:
            named.add(name)
        elif not colon and item in optional:
            categories.add(item)
        elif colon or item not in required:
            names = {*optional, *(f"service:{s}" for s in services)}
            raise ConfigError(
                source,
                None,
                f"{item!r} in {spec!r} is no category or service"
                + did_you_mean(item, names if "," in spec else {*STATE_WORDS, *names})
                + "; "
                "use none, all, reject, cookie, or a comma-separated list of "
                f"categories ({', '.join(optional)}) and service:NAME items "
                f"(NAME one of {', '.join(services) or 'no service configured'})",
            )
    return ConsentState(True, frozenset(categories), frozenset(named))


def describe_state(state: ConsentState) -> str:
    """The state in parse_state's syntax (for reports): none, reject or the items."""
    return _described(state.choice)


@lru_cache(maxsize=256)  # one per consent choice met
def _described(choice: tuple[bool, frozenset[str], frozenset[str], bool]) -> str:
    decided, categories, services, opt_out = choice
    if not (decided or opt_out):
        return "none"
    items = sorted(categories) + [f"service:{s}" for s in sorted(services)]
    return ",".join(items) or "reject"


def new_consent_id() -> str:
    """16 characters of base64url (A-Z a-z 0-9 - _), never starting with '-': a command
    line would take such an id for an option (`records show ID`). Ids minted before, one in
    64 starting with '-', stay valid."""
    while (consent_id := secrets.token_urlsafe(12)).startswith("-"):
        pass
    return consent_id


def keys_from_env(var: str, environ: dict[str, str] | None = None) -> list[bytes]:
    """HMAC keys from an environment variable: several, separated by commas or spaces,
    the first one signing (rotation: put the new key first, keep the old one after it).
    A key is the bytes as set, UTF-8 or not (one that is not was a UnicodeEncodeError)."""
    raw = (environ if environ is not None else os.environ).get(var, "")
    return [k.encode("utf-8", "surrogateescape") for k in re.split(r"[,\s]+", raw) if k]
