"""What a visitor was shown, kept as proof (EDPB: keep a copy of the information presented).

Every word and choice of the banner a config produces, in every language it offers, as
canonical JSON: its SHA-256 digest goes into each consent record, the JSON itself is
archived once per digest in the records store, and `records show` renders the banner again
from it, whatever the config or the release has become since.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from consentproxy.banner.render import Banner
from consentproxy.consent import NO_DECISION
from consentproxy.policy import Policy
from consentproxy.settings import BannerSettings, Category, Config, ConsentSettings, Service

SCHEMA = 1
_SERVICE_FIELDS = (
    "name",
    "category",
    "title",
    "vendor",
    "purpose",
    "retention",
    "cookies",
    "privacy_url",
    "placeholder",
)


def presentation(config: Config) -> dict[str, Any]:
    """Everything visitor-facing in a config (the banner's texts resolved per language, so
    a later release's built-in words cannot change what the archive says)."""
    banner = config.banner
    return {
        "schema": SCHEMA,
        "revision": config.consent.revision,
        "prefix": config.prefix,
        "languages": list(config.languages),
        "gpc": list(config.gpc),
        # (the retention shown is capped by it: "90 days (_ga)", not the service's 13 months)
        "cap_cookie_lifetime_days": config.cap_cookie_lifetime_days,
        "banner": {
            "position": banner.position,
            "colors": banner.colors,
            "logo": banner.logo,
            "css": banner.css,
            "privacy_url": banner.privacy_url,
            "cookie_policy_url": banner.cookie_policy_url,  # (the policy's revision linked)
            "dpo": banner.dpo,
            "texts": {lang: banner.text(lang) for lang in config.languages},
        },
        "categories": [
            {"name": c.name, "required": c.required, "title": c.title, "description": c.description}
            for c in config.categories
        ],
        "services": [
            {
                k: list(v) if isinstance(v, tuple) else v
                for k, v in ((k, getattr(s, k)) for k in _SERVICE_FIELDS)
            }
            for s in config.services
        ],
    }


def archived(config: Config) -> tuple[str, str]:
    """(digest, content): the canonical JSON of what the config shows, and its SHA-256."""
    content = json.dumps(
        presentation(config), sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    return digest_of(content), content


def digest_of(content: str) -> str:
    """The digest an archived version is filed and named under: one whose content no longer
    has it was altered since, and proves nothing of what was shown."""
    return hashlib.sha256(content.encode()).hexdigest()


def config_from(content: str, digest: str) -> Config:
    """A config that renders the archived banner again (it classifies nothing)."""
    data = json.loads(content)
    banner = data["banner"]
    return Config(
        source=f"archived version {digest[:12]}",
        upstream=None,
        prefix=data["prefix"],
        consent=ConsentSettings(revision=data["revision"]),
        languages=tuple(data["languages"]),
        gpc=tuple(data["gpc"]),
        # (versions archived before these were kept: what the defaults showed)
        **(
            {"cap_cookie_lifetime_days": data["cap_cookie_lifetime_days"]}
            if "cap_cookie_lifetime_days" in data
            else {}
        ),
        cookie_database=False,
        categories=tuple(Category(**c) for c in data["categories"]),
        services=tuple(Service(**{**s, "cookies": tuple(s["cookies"])}) for s in data["services"]),
        banner=BannerSettings(
            position=banner["position"],
            colors=banner["colors"],
            logo=banner["logo"],
            css=banner["css"],
            privacy_url=banner["privacy_url"],
            cookie_policy_url=banner.get("cookie_policy_url", ""),
            dpo=banner.get("dpo", {}),
            texts=banner["texts"],
        ),
    )


def shown_page(content: str, digest: str, lang: str) -> bytes:
    """A page of its own with the banner of an archived version as the visitor saw it
    before deciding, in their language, its preferences open so every word is visible."""
    config = config_from(content, digest)
    if lang not in config.languages:
        lang = config.languages[0]
    banner = Banner(config, Policy(config), digest)
    title = f"Consent banner shown: version {digest[:12]}, language {lang}"
    return (
        (
            f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
            f"<title>{title}</title></head><body><p>{title}</p>"
        ).encode()
        + banner.render(NO_DECISION, lang, "/", open_preferences=True)
        + b"</body></html>"
    )
