"""The cookie declaration for the site's policy page: categories -> services -> cookies.

Built from the config alone (what the proxy enforces is what it declares), in the
visitor's language with the banner's words: each category with its description, each
service with its provider, purpose, cookies, retention and privacy policy, and the site's
own cookies (the consent cookie, `necessary_cookies`) under the required category. As
JSON, an HTML fragment (served at {prefix}declaration, filled into the element the
operator marks, pasted from `consentproxy declaration`) or Markdown.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from consentproxy.banner.texts import lifetime_shown
from consentproxy.language import direction
from consentproxy.settings import Config, translated

SCHEMA = "consentproxy-declaration/1"
COLUMNS = ("service", "vendor", "purpose", "cookies", "lifetime")  # banner text keys


class Declaration:
    """One config's declaration, rendered once per language and format."""

    def __init__(self, config: Config):
        self.config = config
        self._html: dict[tuple[str, bool], bytes] = {}

    def data(self, lang: str) -> dict[str, Any]:
        cfg, t = self.config, self.config.banner.text(lang)
        consent, cap = cfg.consent, cfg.cap_cookie_lifetime_days
        site = {
            "title": t["this-site"],
            "purpose": t["site-purpose"],
            "cookies": [consent.cookie_name, *cfg.necessary_cookies],
            "retention": lifetime_shown(
                f"{consent.max_age_days} days ({consent.cookie_name})", lang, cap
            ),
        }
        categories: list[dict[str, Any]] = []
        for cat in cfg.categories:
            services = [
                {
                    "name": s.name,
                    "title": s.display_title(lang),
                    "provider": s.vendor,
                    "purpose": translated(s.purpose, lang),
                    "cookies": list(s.cookies),
                    "retention": lifetime_shown(s.retention, lang, cap),
                    "privacy_url": s.privacy_url,
                    "hosts": list(s.source_hosts),
                }
                for s in cfg.services
                if s.category == cat.name
            ]
            categories.append(
                {
                    "name": cat.name,
                    "title": translated(cat.title, lang),
                    "description": translated(cat.description, lang),
                    "required": cat.required,
                    "site": site
                    if cat.required and not any(c["required"] for c in categories)
                    else None,
                    "services": services,
                }
            )
        return {
            "schema": SCHEMA,
            "language": lang,
            "revision": consent.revision,
            "privacy_url": cfg.banner.privacy_url,
            "categories": categories,
        }

    def json(self, lang: str) -> bytes:
        return json.dumps(self.data(lang), ensure_ascii=False, indent=1).encode()

    def html(self, lang: str, manage: bool = True) -> bytes:
        """The fragment: a table per category (its title the caption), a row per service.
        manage: end with the link that opens the preferences (pages the proxy serves)."""
        key = (lang, manage)
        found = self._html.get(key)
        if found is None:
            found = self._html[key] = self._render_html(lang, manage)
        return found

    def _render_html(self, lang: str, manage: bool) -> bytes:
        t, data = self.config.banner.text(lang), self.data(lang)
        head = "".join(f'<th scope="col">{escape(t[k])}</th>' for k in COLUMNS)
        parts = [
            (
                f'<section class="consent-declaration" lang="{lang}" dir="{direction(lang)}" '
                f'aria-label="{escape(t["declaration"])}">'
            )
        ]
        for cat in data["categories"]:
            always = f" ({escape(t['always-on'])})" if cat["required"] else ""
            parts.append(
                f'<h3 class="consent-declaration-category">{escape(cat["title"])}{always}</h3>'
            )
            if cat["description"]:
                parts.append(f"<p>{escape(cat['description'])}</p>")
            rows = [*([cat["site"]] if cat["site"] else []), *cat["services"]]
            if not rows:
                parts.append(f"<p>{escape(t['no-services'])}</p>")
                continue
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>")
            for row in rows:
                link = (
                    f'<br/><a href="{escape(row["privacy_url"])}">{escape(t["privacy"])}</a>'
                    if row.get("privacy_url")
                    else ""
                )
                cells = (
                    row.get("provider", ""),
                    row["purpose"],
                    ", ".join(row["cookies"]),
                    row["retention"],
                )
                parts.append(
                    f'<tr><th scope="row">{escape(row["title"])}{link}</th>'
                    + "".join(f"<td>{escape(c)}</td>" for c in cells)
                    + "</tr>"
                )
            parts.append("</tbody></table>")
        if manage:
            prefix = escape(self.config.prefix)
            parts.append(
                f'<p><a href="{prefix}preferences" data-consent-action="open">'
                f"{escape(t['manage'])}</a></p>"
            )
        parts.append("</section>")
        # Safe in any page's charset (latin-1 too) and well-formed XML (XHTML pages).
        return "".join(parts).encode("ascii", "xmlcharrefreplace")

    def markdown(self, lang: str) -> str:
        t, data = self.config.banner.text(lang), self.data(lang)
        out = []
        for cat in data["categories"]:
            always = f" ({t['always-on']})" if cat["required"] else ""
            out += [f"## {_md(cat['title'])}{always}", ""]
            if cat["description"]:
                out += [_md(cat["description"]), ""]
            rows = [*([cat["site"]] if cat["site"] else []), *cat["services"]]
            if not rows:
                out += [_md(t["no-services"]), ""]
                continue
            out.append("| " + " | ".join(_md(t[k]) for k in COLUMNS) + " |")
            out.append("|" + "---|" * len(COLUMNS))
            for row in rows:
                title = _md(row["title"])
                if row.get("privacy_url"):
                    title = f"{title} ([{_md(t['privacy'])}]({_url(row['privacy_url'])}))"
                # (GitHub's tables split at a '|' even in code: escaped there too)
                cookies = ", ".join(
                    _md(c) if "`" in c else f"`{c.replace('|', '\\|')}`" for c in row["cookies"]
                )
                out.append(
                    f"| {title} | {_md(row.get('provider', ''))} | "
                    f"{_md(row['purpose'])} | {cookies} | {_md(row['retention'])} |"
                )
            out.append("")
        return "\n".join(out)


def _md(text: str) -> str:
    """Text in a Markdown table cell: no line breaks, and its markup characters literal."""
    text = " ".join(text.split())
    for c in "\\|*_[]<>`":
        text = text.replace(c, "\\" + c)
    return text


def _url(url: str) -> str:
    return url.replace(" ", "%20").replace("(", "%28").replace(")", "%29")
