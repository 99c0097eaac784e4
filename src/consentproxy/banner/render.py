"""The banner markup injected into pages, and the one script that goes with it.

The banner is server-rendered into a declarative shadow root: it shows and its buttons
post a plain form with no JavaScript at all, and neither the site's CSS nor its scripts'
DOM walks reach inside. consent.js (guard.js, then banner.js) is the one asset: the guard
runs first in <head>, the banner part enhances the form once the page is parsed. Its code is
minified once a process (`script_code`: tdewolff's minify in a child interpreter, the one
process the core starts), the config's tables (`client_config`) filled into its one slot.
The DOM contract users' tests rely on: controls carry data-consent-action, category
checkboxes data-consent-category, service checkboxes data-consent-service.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from functools import cache
from html import escape
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from consentproxy.banner import domainset
from consentproxy.banner.texts import lifetime_shown
from consentproxy.banner.theme import css_variables
from consentproxy.consent import ConsentState
from consentproxy.errors import UsageError
from consentproxy.language import direction
from consentproxy.policy import NEVER, Policy, pattern_source
from consentproxy.rewrite.neutralise import new_mark
from consentproxy.settings import Category, Config, Service, translated

ASSET_DIR = Path(__file__).parent
SCRIPT = "consent.js"
SCRIPT_TYPE = "text/javascript; charset=utf-8"
# Per-request values spliced into a banner rendered once per choice and language.
RETURN = "\x00return\x00"
NONCE = "\x00nonce\x00"
MARK = "\x00mark\x00"
_RETURN, _NONCE, _MARK = (s.encode() for s in (RETURN, NONCE, MARK))
_SLOTS = re.compile(b"(" + b"|".join((_RETURN, _NONCE, _MARK)) + b")")
_ESCAPED = re.compile("[&<>\"']").search  # what html.escape(quote=True) replaces
# The response's mark (rewrite.neutralise.MARK_ATTR) on rewritten HTML, for guard.js to
# learn the marks of the fragments the page fetches.
MARK_HEADER = "X-Consent-Mark"
OPEN = ' open=""'  # boolean attributes in XML-safe form: pages may be XHTML
# Known trackers met listed by name per category (the count says how many in all): a page
# may name hundreds, and each row costs every later page ~90 bytes. With 10 a category the
# demo's banner, 512 met, is 5.2 KB gzipped at most (Polish), under README's 6 KB; all of
# them made it 9-11 KB.
KNOWN_LISTED = 10
CLIENT_TEXTS = ("blocked", "load-once", "always-allow", "error", "narrowed", "privacy")
CONFIG_SLOT = b"__CONSENTPROXY_CONFIG__"  # consent.js's last argument: the policy's tables
# consent.js's code minified by tdewolff's minify (Go, `pip install tdewolff-minify`): local
# names shortened too, 2.1 KB gzipped less than whitespace and comments alone. It runs in a
# child interpreter: a Go runtime loaded into this process would not survive the fork of
# `serve --workers N` (which builds the banner before forking, and again in each worker),
# whose workers hung on their first minify. Output syntax ES2015 at most.
_MINIFY = (
    "import sys, minify; minify.config({'js-version': 2015}); sys.stdout.buffer.write("
    "minify.string('application/javascript', sys.stdin.buffer.read().decode()).encode())"
)


@cache
def package_version() -> str:
    try:
        return version("consentproxy")
    except PackageNotFoundError:  # running from a source tree
        return "dev"


@cache
def asset(name: str) -> bytes:
    return (ASSET_DIR / name).read_bytes()


# The built-ins both scripts use, bound as they are when consent.js runs, before any of the
# page's code: a legacy page's `var URL = '/api/'` replaced window.URL, every URL the guard
# parsed threw, and it let every tracker through (a Promise or a Map polyfill alike).
NATIVES = (
    "URL",
    "Set",
    "Map",
    "WeakMap",
    "WeakSet",
    "Promise",
    "JSON",
    "Proxy",
    "Reflect",
    "Symbol",
    "Event",
    "CustomEvent",
    "Date",
    "Math",
    "Object",
    "Array",
    "String",
    "RegExp",
    "Error",
    "atob",
)


def script_source() -> bytes:
    """guard.js then banner.js, in one function that holds NATIVES as they were, and the
    tables as CONFIG: given last, after all the code (see Banner's tables)."""
    return (
        b"(function(" + ",".join(NATIVES).encode() + b",CONFIG){\n" + asset("guard.js") + b"\n"
        + asset("banner.js") + b"\n})(" + b",".join(b"window." + n.encode() for n in NATIVES)
        + b"," + CONFIG_SLOT + b");"
    )  # fmt: skip


@cache
def script_code() -> bytes:
    """script_source() minified, with CONFIG_SLOT for the tables: the same for every config,
    so minified once a process (forked workers inherit it)."""
    code = minify_js(script_source())
    if code.count(CONFIG_SLOT) != 1:  # (a global name: the minifier leaves it as it is)
        raise RuntimeError(f"consent.js: {CONFIG_SLOT.decode()} lost in minifying")
    return code


def minify_js(code: bytes) -> bytes:
    """code minified (see _MINIFY): what the page must download before its own scripts run
    is kept small. Global names, properties and strings stay as they are."""
    try:
        done = subprocess.run(
            # -P: no current directory on its path (a minify.py there was served as consent.js)
            [sys.executable, "-P", "-c", _MINIFY],
            input=code,
            capture_output=True,
            check=False,
            timeout=60,
        )
        why = done.stderr.decode(errors="replace").strip().rpartition("\n")[2]
    except (OSError, subprocess.TimeoutExpired) as e:
        done, why = None, str(e)
    if done is None or done.returncode or not done.stdout:
        raise UsageError(
            f"consent.js could not be minified in a child interpreter ({sys.executable}: "
            f"{why or 'no output'}); install consentproxy's dependencies in this Python, "
            "e.g. pip install 'tdewolff-minify>=2.24.12'"
        )
    return done.stdout


def client_config(policy: Policy) -> dict[str, object]:
    """What guard.js needs to classify URLs and cookies: the policy's own tables, with
    services as indexes into one list, and the knowledge base's domains as one compact set
    whose values carry their category (see domainset)."""
    # [name, category] or, loading before consent (Consent Mode advanced), [.., 1]; the
    # built-ins the tables file apart from the config's after its own
    services = [
        [s.name, s.category] + [1] * (s.consent_mode == "advanced")
        for s in (*policy.config.services, *(s for s, _ in policy.apart.values()))
    ]
    index = {s[0]: i for i, s in enumerate(services)}
    hold = policy.config.known_trackers == "hold"
    known_paths = []  # the shared hosts' paths of built-in services the config does not use
    for h, rules in policy.knowledge.paths.items():
        for prefix, entry in rules:
            if hold and entry.held:
                index.setdefault(entry.name, len(services))
                if index[entry.name] == len(services):
                    services.append([entry.name, policy.mapped_category(entry.category)])
                known_paths.append([h, prefix, index[entry.name]])
    third = policy.config.unknown_third_parties
    globals_: dict[str, list[int]] = {}
    for s in policy.config.services:
        for form in s.globals:
            globals_.setdefault(form, []).append(index[s.name])
    return {
        "services": services,
        "hosts": {h: index[s.name] for h, s in policy.exact_hosts.items()},
        "wild": {h: index[s.name] for h, s in policy.wild_hosts.items()},
        "paths": [
            [h, prefix, index[s.name]]
            for h, rules in policy.path_hosts.items()
            for prefix, s in rules
        ]
        + known_paths,
        "digits": domainset.DIGITS,  # (the sets' characters, six bits each)
        "known": domainset.encode(
            domainset.most_specific(
                domainset.unanswered(
                    policy.known_domains(all_known=third != "allow"),
                    set(policy.exact_hosts),
                    set(policy.wild_hosts),
                )
            )
        ),
        "thirdParties": None
        if third == "allow"
        else [NEVER if third == "block" else third, sorted(policy.config.csp_allow)],
        # The consent cookie is the proxy's to set (HttpOnly): a page's script writing one
        # (a value minted anywhere: it binds no browser) granted what the visitor never chose.
        "cookies": {**policy.cookie_names, policy.config.consent.cookie_name: NEVER},
        "patterns": [[pattern_source(n), c] for n, c in policy.cookie_patterns],
        "required": sorted(policy.required),
        "unknown": policy.config.unknown_cookies,
        "cap": policy.config.cap_cookie_lifetime_days * 86400,
        "consentMode": {k: list(v) for k, v in policy.config.consent_mode.items()} or None,
        # a global's form ("ga()", "_gaq[]", "googletag.cmd[]") -> the indexes of the
        # services that define it: guard.js's stand-ins
        "globals": globals_,
    }


def _attr(value: str) -> str:
    return escape(value, quote=True)


class Banner:
    """Renders the banner (before </body>) and the script tag (early in <head>) for one
    visitor's state and language, and builds consent.js with the policy's tables."""

    def __init__(self, config: Config, policy: Policy, shown: str = ""):
        """shown: the digest of the version of every text it shows (proof.archived): a
        choice names it, and one made on a version since reloaded away is refused."""
        self.config = config
        self.shown = shown
        self.policy = policy
        self.prefix = config.prefix
        self.optional = policy.optional
        self._cap_days = config.cap_cookie_lifetime_days
        settings = config.banner
        self.css = _compact(
            asset("banner.css").decode() + css_variables(settings.colors) + settings.css
        )
        self._rendered: dict[tuple[object, ...], list[bytes]] = {}
        self._state_attrs: dict[tuple[object, ...], str] = {}
        # The known set's digits last, at the end of consent.js: gzip codes a block's
        # characters with one Huffman table, and the code's own mixed in with the set's
        # (~9,600 characters, six bits each, as good as random) cost 66 B more gzipped.
        policy_tables = client_config(policy)
        known = policy_tables.pop("known")
        # (the others' keys in order at every level, as sort_keys puts them: one build is
        # the same bytes as the last)
        in_order = json.loads(json.dumps(policy_tables, sort_keys=True))
        tables = json.dumps({**in_order, "known": known}, separators=(",", ":"))
        # The tables are compact JSON already: put in after the code's minifying.
        self.script = script_code().replace(CONFIG_SLOT, tables.encode(), 1)
        digest = hashlib.sha256(self.script).hexdigest()[:12]
        self.version = f"{package_version()}-{digest}"

    def script_tag(
        self, state: ConsentState, nonce: str = "", mark: str = "", site: str = ""
    ) -> bytes:
        """A synchronous script, so the guard runs before any of the site's own scripts:
        it reads the state and the response's mark from its own tag before any of the
        page's markup or code can stand in for them. site: the page's registrable domain
        (the guard never holds its hosts as trackers)."""
        return fill(self.script_pieces(state, site), slots("", nonce, mark))

    def script_pieces(self, state: ConsentState, site: str = "") -> list[bytes]:
        """script_tag split at its nonce and mark slots (fill() puts this response's in)."""
        s = f' data-consentproxy-site="{_attr(site)}"' if site else ""
        return _SLOTS.split(
            (
                f'<script src="{_attr(self.prefix)}{SCRIPT}?v={self.version}"{NONCE}{s} '
                f"data-consentproxy-state='{self._state_attr(state)}' "
                f'data-consentproxy-mark="{MARK}"></script>'
            ).encode("ascii")
        )

    def _state_attr(self, state: ConsentState) -> str:
        """The state for the page's scripts, escaped for an attribute: once per choice."""
        key = (state.choice, state.reask, state.gpc)
        found = self._state_attrs.get(key)
        if found is None:
            if len(self._state_attrs) > 256:
                self._state_attrs.clear()
            found = self._state_attrs[key] = _attr(_state_json(state))
        return found

    def render(
        self,
        state: ConsentState,
        lang: str,
        return_path: str,
        nonce: str = "",
        mark: str = "",
        open_preferences: bool = False,
        narrowed: bool = False,
        failed: bool = False,
    ) -> bytes:
        """The banner for a choice and language, with this request's return path, nonce
        and mark (which tells the real banner from markup posing as it)."""
        return fill(
            self.pieces(state, lang, open_preferences, narrowed, failed),
            slots(return_path, nonce, mark),
        )

    def pieces(
        self,
        state: ConsentState,
        lang: str,
        open_preferences: bool = False,
        narrowed: bool = False,
        failed: bool = False,
    ) -> list[bytes]:
        """The banner split at its slots (fill() puts a request's values in): built once per
        distinct choice and language, since only the slots differ between requests."""
        key = (
            state.choice,
            state.reask,
            state.policy_changed,
            state.gpc,
            lang,
            open_preferences,
            narrowed,
            failed,
            len(self.policy.seen),
        )  # known trackers met so far
        pieces = self._rendered.get(key)
        if pieces is None:
            if len(self._rendered) > 256:
                self._rendered.clear()
            pieces = self._rendered[key] = _SLOTS.split(
                self._render(state, lang, open_preferences, narrowed, failed)
            )
        return pieces

    def preferences_page(
        self,
        state: ConsentState,
        lang: str,
        return_path: str,
        narrowed: bool = False,
        failed: bool = False,
    ) -> bytes:
        """A page of its own for the preferences: how visitors without JavaScript reach
        them again ("Manage cookies" links here). narrowed: a form's choice was saved
        narrowed to fit the cookie (consent.Signer.fitting), said above the boxes as saved;
        failed: it could not be saved (an erase was under way), said as banner.js does."""
        t, mark = self.config.banner.text(lang), new_mark()
        return (
            f'<!DOCTYPE html><html lang="{escape(lang)}" dir="{direction(lang)}"><head>'
            '<meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(t['manage'])}</title>"
        ).encode() + (
            self.script_tag(state, mark=mark)
            + b"</head><body>"
            + self.render(
                state,
                lang,
                return_path,
                mark=mark,
                open_preferences=True,
                narrowed=narrowed,
                failed=failed,
            )
            + b"</body></html>"
        )

    def _render(
        self, state: ConsentState, lang: str, open_preferences: bool, narrowed: bool, failed: bool
    ) -> bytes:
        cfg, settings = self.config, self.config.banner
        t = settings.text(lang)
        p = _attr(self.prefix)
        shown = open_preferences or state.asks
        position = "box" if settings.position == "box" or open_preferences else "bar"
        logo = (
            f'<img class="cp-logo" src="{_attr(settings.logo)}" alt=""/>' if settings.logo else ""
        )
        privacy = "".join(
            f' <a href="{_attr(url)}">{escape(t[key])}</a>'
            for key, url in (
                ("privacy", settings.privacy_url),
                ("cookie-policy", settings.cookie_policy_url),
            )
            if url
        )
        # The purposes asked for, on the first layer (CNIL, EDPB 05/2020): the optional
        # categories' titles, whatever the body says.
        titles = [translated(c.title, lang) for c in cfg.categories if not c.required]
        purposes = (
            f" <strong>{escape(t['purposes'])}</strong> {escape(', '.join(titles))}."
            if titles
            else ""
        )
        # In an opt-out region, before any choice, the browser's signal refused them all.
        refused = cfg.gpc if state.decided or not state.opt_out else self.optional
        regime = state.opt_out and not state.decided  # optional cookies on until refused
        notes = "".join(
            f'<p class="cp-note" id="cp-{k}">{escape(text)}</p>'
            for k, text, on in (
                (
                    "gpc",
                    t["gpc"].replace(  # (as banner.js fills its texts in, not str.format)
                        "{categories}",
                        ", ".join(
                            translated(c.title, lang) for c in cfg.categories if c.name in refused
                        ),
                    )
                    if state.gpc
                    else "",
                    state.gpc,
                ),
                ("reask", t["reask"], state.policy_changed),
                ("narrowed", t["narrowed"], narrowed),
                ("error", t["error"], failed),
                ("opt-out", t["opt-out"], regime and not state.gpc),
            )
            if on
        )
        closing = f'formaction="{p}choice?via=close" '  # counted apart (records stats)
        if state.reask:  # closing keeps what still holds, which answers the question
            close = (
                f'<button type="submit" name="action" value="save" {closing}'
                f'class="cp-close" data-consent-action="close" '
                f'aria-label="{_attr(t["close-decided"])}">&#215;</button>'
            )
        elif state.decided or state.opt_out:  # closing changes nothing
            close = (
                f'<button type="button" class="cp-close" data-consent-action="close" '
                f'aria-label="{_attr(t["close-decided"])}">&#215;</button>'
            )
        else:  # closing is refusing, with or without JavaScript
            close = (
                f'<button type="submit" name="action" value="reject-all" {closing}'
                f'class="cp-close" data-consent-action="close" '
                f'aria-label="{_attr(t["close"])}">&#215;</button>'
            )
        categories = "".join(self._category(c, state, lang, t) for c in cfg.categories)
        # The visitor's own records and their erasure, where the site keeps them (a form of
        # its own, so the banner's script leaves it alone).
        records = erase = ""
        if cfg.records.target:
            records = (
                f'<p class="cp-records"><a href="{p}me">{escape(t["my-records"])}</a> '
                f'<button type="submit" form="cp-erase">{escape(t["erase"])}</button></p>'
            )
            erase = (
                f'<form id="cp-erase" method="post" action="{p}me/erase">'
                f'<input type="hidden" name="return" value="{RETURN}"/></form>'
            )
        return (
            f'<div id="consentproxy" data-consent-mark="{MARK}" data-consentproxy-prefix="{p}" '
            f'data-consentproxy-csp="{cfg.csp}" '
            f"data-consentproxy-state='{_attr(_state_json(state))}' "
            f"data-consentproxy-catalog='{_attr(self._client_catalog(lang, t))}' "
            f'lang="{escape(lang)}" dir="{direction(lang)}"><template shadowrootmode="open">'
            f"<style{NONCE}>{self.css}</style>"
            f'<dialog class="cp-banner cp-{position}" aria-labelledby="cp-title" '
            f'aria-describedby="cp-body"{OPEN * shown}>'
            f'<form method="post" action="{p}choice">'
            f'<input type="hidden" name="return" value="{RETURN}"/>'
            f'<input type="hidden" name="lang" value="{escape(lang)}"/>'
            f'<input type="hidden" name="shown" value="{self.shown}"/>'
            f'<div class="cp-head">{logo}<h2 id="cp-title" tabindex="-1">'
            f"{escape(t['title'])}</h2>{close}</div>"
            f'<p id="cp-body">{escape(t["body"])}{purposes}{privacy}</p>{notes}'
            f'<details class="cp-details"{OPEN * open_preferences}>'
            f'<summary data-consent-action="customize">{escape(t["customize"])}</summary>'
            f"<fieldset><legend>{escape(t['categories'])}</legend>{categories}</fieldset>"
            f"{self._dpo(t)}"
            f'<button type="submit" name="action" value="save" class="cp-save" '
            f'data-consent-action="save">{escape(t["save"])}</button>{records}</details>'
            f'<div class="cp-buttons">'
            f'<button type="submit" name="action" value="accept-all" '
            f'data-consent-action="accept-all">{escape(t["accept-all"])}</button>'
            f'<button type="submit" name="action" value="reject-all" '
            f'data-consent-action="reject-all">{escape(t["reject-all"])}</button></div>'
            f"</form>{erase}</dialog>"
            f'<a class="cp-manage" href="{p}preferences?return={RETURN}" '
            f'data-consent-action="open">{escape(t["manage"])}</a>'
            f"{self._do_not_sell(state, lang, t)}</template></div>"
        ).encode("ascii", "xmlcharrefreplace")  # safe in any page charset (latin-1 too)

    def _do_not_sell(self, state: ConsentState, lang: str, t: dict[str, str]) -> str:
        """In an opt-out region, while anything optional runs: the one-click opt-out (a
        form, so it works without JavaScript), refusing every optional category."""
        if not state.opt_out or not (state.categories or state.services):
            return ""
        return (
            f'<form method="post" action="{_attr(self.prefix)}choice?via=do-not-sell">'
            f'<input type="hidden" name="return" value="{RETURN}"/>'
            f'<input type="hidden" name="lang" value="{escape(lang)}"/>'
            f'<input type="hidden" name="shown" value="{self.shown}"/>'
            f'<button type="submit" name="action" value="reject-all" class="cp-manage '
            f'cp-dns" data-consent-action="do-not-sell">{escape(t["do-not-sell"])}'
            f"</button></form>"
        )

    def _dpo(self, t: dict[str, str]) -> str:
        """Whom to ask about one's data (the policy's data protection officer)."""
        dpo = self.config.banner.dpo
        if not dpo:
            return ""
        parts = []
        if "email" in dpo:
            parts.append(f'<a href="mailto:{_attr(dpo["email"])}">{escape(dpo["email"])}</a>')
        if "url" in dpo:
            parts.append(f'<a href="{_attr(dpo["url"])}">{escape(dpo["url"])}</a>')
        if "address" in dpo:
            parts.append(escape(dpo["address"]))
        return f'<p class="cp-dpo">{escape(t["dpo"])}: {" &#183; ".join(parts)}</p>'

    def _flags(self, cat: Category, state: ConsentState, chosen: bool) -> str:
        """A box of this category: ticked when required or chosen; locked when required
        or refused by the browser's privacy signal."""
        locked = cat.required or (state.gpc and cat.name in self.config.gpc)
        return ' checked="checked"' * (cat.required or chosen) + ' disabled="disabled"' * locked

    def _category(self, cat: Category, state: ConsentState, lang: str, t: dict[str, str]) -> str:
        flags = self._flags(cat, state, cat.name in state.categories)
        services = [s for s in self.config.services if s.category == cat.name]
        # Known trackers no service names, met on this site: held in this category too.
        known = [s for s in self.policy.seen.values() if s.category == cat.name]
        listed = known[:KNOWN_LISTED]  # the first met: the list stays as pages add more
        desc = translated(cat.description, lang)
        described = f' aria-describedby="cp-d-{cat.name}"' if desc else ""
        always = f' <span class="cp-on">({escape(t["always-on"])})</span>' if cat.required else ""
        rows = "".join(self._service(s, state, cat, lang, t) for s in services) + "".join(
            f'<li class="cp-known">{escape(s.display_title(lang))}'
            + (
                f'<ul class="cp-facts"><li>{escape(t["vendor"])}: {escape(s.vendor)}</li></ul>'
                if s.vendor
                else ""
            )
            + "</li>"
            for s in listed
        )
        if len(known) > len(listed):  # no new words: "+ 37" reads as it shows, in any language
            rows += f'<li class="cp-more">+ {len(known) - len(listed)}</li>'
        listing = (
            f'<details class="cp-services"><summary>{escape(t["services"])} '
            f"({len(services) + len(known)})</summary><ul>{rows}</ul></details>"
            if rows
            else ""
        )
        return (
            f'<div class="cp-category"><label class="cp-toggle"><input type="checkbox" '
            f'name="category" value="{cat.name}" data-consent-category="{cat.name}"'
            f"{flags}{described}/> <span>{escape(translated(cat.title, lang))}{always}</span>"
            f"</label>"
            + (f'<p class="cp-desc" id="cp-d-{cat.name}">{escape(desc)}</p>' if desc else "")
            + listing
            + "</div>"
        )

    def _service(
        self, svc: Service, state: ConsentState, cat: Category, lang: str, t: dict[str, str]
    ) -> str:
        flags = self._flags(cat, state, svc.name in state.services or cat.name in state.categories)
        facts = [
            (t["vendor"], svc.vendor),
            ("", translated(svc.purpose, lang)),
            (t["cookies"], ", ".join(svc.cookies)),
            (t["retention"], lifetime_shown(svc.retention, lang, self._cap_days)),
        ]
        details = "".join(
            f"<li>{escape(k)}{': ' if k else ''}{escape(v)}</li>" for k, v in facts if v
        )
        link = (
            f'<li><a href="{_attr(svc.privacy_url)}">{escape(t["privacy"])}</a></li>'
            if svc.privacy_url
            else ""
        )
        return (
            f'<li><label><input type="checkbox" name="service" value="{svc.name}" '
            f'data-consent-service="{svc.name}" data-consent-service-category='
            f'"{cat.name}"{flags}/> {escape(svc.display_title(lang))}</label>'
            + (f'<ul class="cp-facts">{details}{link}</ul>' if details or link else "")
            + "</li>"
        )

    def _client_catalog(self, lang: str, t: dict[str, str]) -> str:
        """What the script needs for placeholders: titles, categories, texts."""
        cfg = self.config
        return json.dumps(
            {
                "categories": {c.name: translated(c.title, lang) for c in cfg.categories},
                "services": {
                    s.name: [
                        s.display_title(lang),
                        s.category,
                        s.placeholder.get(lang, ""),
                        s.privacy_url,
                    ]
                    for s in cfg.services
                },
                "texts": {k: t[k] for k in CLIENT_TEXTS},
                "v": self.shown,  # (banner.js posts it with a choice)
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )


def slots(return_path: str, nonce: str, mark: str) -> dict[bytes, bytes]:
    """A request's values for the slots of pieces() and script_pieces()."""
    if _ESCAPED(return_path):  # (most paths have nothing to escape)
        return_path = escape(return_path)
    return {
        _RETURN: return_path.encode("ascii", "xmlcharrefreplace"),
        _NONCE: f' nonce="{nonce}"'.encode() if nonce else b"",
        _MARK: mark.encode()  # the neutraliser's hex marks need no escaping
        if mark.isalnum() and mark.isascii()
        else _attr(mark).encode("ascii", "xmlcharrefreplace"),
    }


def filled(pieces: list[bytes], values: dict[bytes, bytes]) -> list[bytes]:
    """Pieces split at their slots (every second one a slot), with the slots' values in
    place: the rewriter writes them out as they are (no copy of a banner per response)."""
    out = pieces.copy()
    out[1::2] = map(values.__getitem__, pieces[1::2])
    return out


def template(pieces: list[bytes]) -> bytes:
    """Pieces as a %-format of their slots: `template(pieces) % values` is filled() in one
    piece, in one call (a page plan keeps the guard's tag so)."""
    return b"".join(
        b"%%(%s)s" % p if i % 2 else p.replace(b"%", b"%%") for i, p in enumerate(pieces)
    )


def fill(pieces: list[bytes], values: dict[bytes, bytes]) -> bytes:
    """filled() in one piece."""
    return template(pieces) % values


def _compact(css: str) -> str:
    """CSS without comments and runs of blanks: it travels inline in every page."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    return re.sub(r"\s*([{};,>])\s*", r"\1", re.sub(r"\s+", " ", css)).strip()


def _state_json(state: ConsentState) -> str:
    """For the page's scripts "decided" says a state applies: the visitor's choice, or in
    an opt-out region the regime's until they choose."""
    return json.dumps(
        {
            "decided": state.decided or state.opt_out,
            "categories": sorted(state.categories),
            "services": sorted(state.services),
            "reask": state.reask,
            "gpc": state.gpc,
        },
        separators=(",", ":"),
    )
