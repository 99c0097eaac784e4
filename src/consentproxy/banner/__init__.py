"""The banner markup injected into pages, and its static assets.

The markup is a plain HTML form, so choices work without JavaScript; banner.js
enhances it (no reload, activation in place). The DOM contract users' own tests
rely on: controls carry data-consent-action, checkboxes data-consent-category.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from html import escape
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from consentproxy.config import Config
from consentproxy.consent import ConsentState
from consentproxy.policy import Policy

ASSET_DIR = Path(__file__).parent
ASSETS = {"banner.js": "text/javascript; charset=utf-8", "banner.css": "text/css; charset=utf-8",
          "guard.js": "text/javascript; charset=utf-8"}

_RETURN = b"\x00return\x00"  # where the per-request return path goes in a cached banner
TEXTS = {
    "en": {
        "title": "Your privacy choices",
        "body": "We and our partners use cookies to measure audience and to show videos "
                "and social content. Accept or refuse, or choose by category. You can "
                "change your mind at any time with “Manage cookies”.",
        "customize": "Customise", "categories": "Categories", "save": "Save my choices",
        "accept-all": "Accept all", "reject-all": "Reject all", "manage": "Manage cookies",
    },
    "fr": {
        "title": "Vos choix en matière de cookies",
        "body": "Nous et nos partenaires utilisons des cookies pour mesurer l'audience et "
                "afficher des vidéos et contenus sociaux. Acceptez, refusez ou choisissez "
                "par catégorie. Vous pouvez changer d'avis à tout moment avec « Gérer les "
                "cookies ».",
        "customize": "Personnaliser", "categories": "Catégories",
        "save": "Enregistrer mes choix", "accept-all": "Tout accepter",
        "reject-all": "Tout refuser", "manage": "Gérer les cookies",
    },
}


@cache
def package_version() -> str:
    try:
        return version("consentproxy")
    except PackageNotFoundError:  # running from a source tree
        return "dev"


@cache
def asset(name: str) -> bytes:
    return (ASSET_DIR / name).read_bytes()


def pick_language(accept_language: str | None, languages: tuple[str, ...]) -> str:
    """The first of the visitor's languages the config offers, else the config's first."""
    ranked = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        ranked.append((-q, i, tag.strip().lower().split("-")[0]))
    for _, _, lang in sorted(ranked):
        if lang in languages:
            return lang
    return languages[0]


def client_config(policy: Policy) -> dict[str, object]:
    """What guard.js needs to classify URLs and cookies: the policy's own tables, with
    services as indexes into one list."""
    services = list(policy.config.services)
    index = {s.name: i for i, s in enumerate(services)}
    return {
        "services": [[s.name, s.category] for s in services],
        "hosts": {h: index[s.name] for h, s in policy.exact_hosts.items()},
        "wild": {h: index[s.name] for h, s in policy.wild_hosts.items()},
        "paths": [[h, prefix, index[s.name]] for h, rules in policy.path_hosts.items()
                  for prefix, s in rules],
        "cookies": policy.cookie_names,
        "patterns": [list(p) for p in policy.cookie_patterns],
        "required": sorted(policy.required),
        "unknown": policy.config.unknown_cookies,
    }


class Banner:
    """Renders the banner (before </body>) and the guard tag (early in <head>) for one
    visitor's state and language; serves guard.js with the config filled in."""

    def __init__(self, config: Config, policy: Policy):
        self.config = config
        self.prefix = config.prefix
        self.version = package_version()
        self._catalog = {lang: self._catalog_json(lang) for lang in config.languages}
        self._rendered: dict[tuple[object, ...], list[bytes]] = {}
        guard_config = json.dumps(client_config(policy), separators=(",", ":"), sort_keys=True)
        self.guard_js = asset("guard.js").replace(b"__CONSENTPROXY_CONFIG__",
                                                  guard_config.encode())
        digest = hashlib.sha256(self.guard_js).hexdigest()[:12]
        self.guard_version = f"{self.version}-{digest}"

    def guard_tag(self, state: ConsentState) -> bytes:
        """A synchronous script, so it runs before any of the site's own scripts."""
        state_json = _state_json(state)
        return (f'<script src="{escape(self.prefix)}guard.js?v={self.guard_version}" '
                f"data-consentproxy-state='{escape(state_json)}'></script>").encode("ascii")

    def _title(self, texts: dict[str, str], lang: str) -> str:
        return texts.get(lang) or texts.get("en") or next(iter(texts.values()), "")

    def _catalog_json(self, lang: str) -> str:
        cfg = self.config
        return json.dumps({
            "categories": [{"name": c.name, "required": c.required,
                            "title": self._title(c.title, lang)} for c in cfg.categories],
            "services": [{"name": s.name, "category": s.category, "title": s.title or s.name}
                         for s in cfg.services],
        }, ensure_ascii=False, separators=(",", ":"))

    def render(self, state: ConsentState, lang: str, return_path: str) -> bytes:
        """The banner for a choice and language (built once per distinct pair, since only
        the return path differs between requests)."""
        key = (state.decided, state.categories, state.services, lang)
        parts = self._rendered.get(key)
        if parts is None:
            if len(self._rendered) > 256:
                self._rendered.clear()
            parts = self._rendered[key] = self._render(state, lang).split(_RETURN, 1)
        path = escape(return_path).encode("ascii", "xmlcharrefreplace")
        return parts[0] + path + parts[1]

    def _render(self, state: ConsentState, lang: str) -> bytes:
        t = TEXTS.get(lang, TEXTS["en"])
        p, v = escape(self.prefix), self.version
        state_json = _state_json(state)
        boxes = []
        for c in self.config.categories:
            on = " checked disabled" if c.required else (
                " checked" if c.name in state.categories else "")
            boxes.append(
                f'<label><input type="checkbox" name="category" value="{c.name}" '
                f'data-consent-category="{c.name}"{on}> '
                f'{escape(self._title(c.title, lang))}</label>')
        hidden = " hidden" if state.decided else ""
        return (
            f'<div id="consentproxy" data-consentproxy-prefix="{p}" '
            f'data-consentproxy-csp="{self.config.csp}" '
            f"data-consentproxy-state='{escape(state_json)}' "
            f"data-consentproxy-catalog='{escape(self._catalog[lang])}' lang=\"{lang}\">"
            f'<link rel="stylesheet" href="{p}banner.css?v={v}">'
            f'<form class="cp-banner" method="post" action="{p}choice" role="dialog" '
            f'aria-labelledby="cp-title" aria-describedby="cp-body"{hidden}>'
            f'<input type="hidden" name="return" value="{_RETURN.decode()}">'
            f'<h2 id="cp-title">{escape(t["title"])}</h2><p id="cp-body">{escape(t["body"])}</p>'
            f'<details class="cp-details"><summary data-consent-action="customize">'
            f'{escape(t["customize"])}</summary><fieldset class="cp-categories"><legend>'
            f'{escape(t["categories"])}</legend>{"".join(boxes)}</fieldset>'
            f'<button type="submit" name="action" value="save" data-consent-action="save">'
            f'{escape(t["save"])}</button></details><div class="cp-buttons">'
            f'<button type="submit" name="action" value="accept-all" '
            f'data-consent-action="accept-all">{escape(t["accept-all"])}</button>'
            f'<button type="submit" name="action" value="reject-all" '
            f'data-consent-action="reject-all">{escape(t["reject-all"])}</button></div></form>'
            f'<button type="button" class="cp-manage" data-consent-action="open" '
            f'aria-label="{escape(t["manage"])}">{escape(t["manage"])}</button></div>'
            f'<script src="{p}banner.js?v={v}" defer></script>'
        ).encode("ascii", "xmlcharrefreplace")  # safe in any page charset (latin-1 too)


def _state_json(state: ConsentState) -> str:
    return json.dumps({"decided": state.decided, "categories": sorted(state.categories),
                       "services": sorted(state.services)}, separators=(",", ":"))
