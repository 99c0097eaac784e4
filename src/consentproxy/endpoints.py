"""The proxy's own endpoints under the reserved prefix, sans I/O.

POST {prefix}choice takes JSON (the banner's script) or a plain form (no JavaScript),
refuses cross-site requests, and answers with the new state or a same-site redirect.
GET {prefix}state tells the state; GET {prefix}preferences is the preferences page for
visitors without JavaScript; the one script, consent.js, is served versioned.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from consentproxy.banner.render import SCRIPT, SCRIPT_TYPE, pick_language
from consentproxy.consent import ConsentState
from consentproxy.httpheaders import header

if TYPE_CHECKING:
    from consentproxy.engine import Engine, Exchange

MAX_BODY = 16 * 1024
ACTIONS = ("accept-all", "reject-all", "save")


@dataclass
class LocalResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    new_state: ConsentState | None = None


def _plain(status: int, message: str) -> LocalResponse:
    return LocalResponse(status, [("Content-Type", "text/plain; charset=utf-8"),
                                  ("Cache-Control", "no-store")], message.encode() + b"\n")


def _json(status: int, data: object) -> LocalResponse:
    return LocalResponse(status, [("Content-Type", "application/json"),
                                  ("Cache-Control", "no-store")],
                         json.dumps(data, separators=(",", ":")).encode())


def state_json(state: ConsentState, revision: int) -> dict[str, object]:
    return {"decided": state.decided, "categories": sorted(state.categories),
            "services": sorted(state.services), "revision": revision,
            "decided_at": state.decided_at or None}


def safe_return(target: str | None) -> str:
    """A same-site path to go back to after a form post; anything else becomes '/'."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(c in target for c in "\r\n\t\\") or urlsplit(target).netloc:
        return "/"
    return target


class Endpoints:
    def __init__(self, engine: Engine):
        self.engine = engine

    def handle(self, ex: Exchange, body: bytes) -> LocalResponse:
        path = ex.req.target.split("?")[0][len(self.engine.config.prefix):]
        method = ex.req.method
        if path in (SCRIPT, "state", "preferences") and method not in ("GET", "HEAD"):
            return _plain(405, "use GET")
        if path == SCRIPT:
            return self._script(ex.req.target)
        if path == "state":
            return _json(200, state_json(ex.state, self.engine.config.consent.revision))
        if path == "preferences":
            query = dict(parse_qsl(urlsplit(ex.req.target).query))
            lang = pick_language(header(ex.req.headers, "accept-language"),
                                 self.engine.config.languages)
            page = self.engine.banner.preferences_page(ex.state, lang,
                                                       safe_return(query.get("return")))
            return LocalResponse(200, [("Content-Type", "text/html; charset=utf-8"),
                                       ("Cache-Control", "no-store")], page)
        if path == "choice":
            if method != "POST":
                return _plain(405, "use POST with action=accept-all|reject-all|save")
            return self._choice(ex, body)
        return _plain(404, "not found")

    def _script(self, target: str) -> LocalResponse:
        """Cached for a year under its versioned URL (the version changes with the release
        and the config's tables), revalidated under any other."""
        banner = self.engine.banner
        versioned = target.endswith(f"?v={banner.version}")
        cache = "public, max-age=31536000, immutable" if versioned else "no-cache"
        return LocalResponse(200, [("Content-Type", SCRIPT_TYPE), ("Cache-Control", cache)],
                             banner.script)

    def _choice(self, ex: Exchange, body: bytes) -> LocalResponse:
        headers = ex.req.headers
        origin = header(headers, "origin")
        site = header(headers, "sec-fetch-site")
        if origin is not None and urlsplit(origin).netloc.lower() != ex.host.lower():
            return _plain(403, "cross-site consent requests are refused")
        if origin is None and site not in (None, "same-origin", "none"):
            return _plain(403, "cross-site consent requests are refused")
        if len(body) > MAX_BODY:
            return _plain(413, "request body too large")
        ctype = (header(headers, "content-type") or "").split(";")[0].strip().lower()
        is_json = ctype == "application/json"
        try:
            if is_json:
                data = json.loads(body or b"{}")
                if not isinstance(data, dict):
                    raise ValueError("expected a JSON object")
                action = data.get("action")
                wanted = data.get("categories") or []
                services = data.get("services") or []
                back = None
            else:
                form = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
                action = next((v for k, v in form if k == "action"), None)
                wanted = [v for k, v in form if k == "category"]
                services = [v for k, v in form if k == "service"]
                back = next((v for k, v in form if k == "return"), None)
        except (ValueError, UnicodeDecodeError) as e:
            return _plain(400, f"unreadable choice: {e}")
        if action not in ACTIONS or not isinstance(wanted, list) or not isinstance(services, list):
            return _plain(400, "action must be accept-all, reject-all or save; "
                          "categories and services must be lists")
        policy = self.engine.policy
        if action == "accept-all":
            cats: set[str] = set(policy.optional)
            svcs: set[str] = set()
        elif action == "reject-all":
            cats, svcs = set(), set()
        else:
            cats = {c for c in wanted if c in policy.optional}
            svcs = {s for s in services if s in policy.services}
            by_category: dict[str, set[str]] = {}
            for name, svc in policy.services.items():
                by_category.setdefault(svc.category, set()).add(name)
            # A service whose whole category is granted needs no consent of its own; a
            # category left unticked with all its services ticked was just unticked (a
            # form without JavaScript cannot untick them along with it).
            svcs = {s for s in svcs if policy.services[s].category not in cats
                    and not by_category[policy.services[s].category] <= svcs}
        engine = self.engine
        state = engine.signer.decide(cats, svcs, engine.clock(), ex.state)
        cfg = engine.config.consent
        cookie = (f"{cfg.cookie_name}={engine.signer.encode(state)}; "
                  f"Max-Age={cfg.max_age_days * 86400}; Path=/; SameSite=Lax; HttpOnly")
        if cfg.cookie_domain:
            cookie += f"; Domain={cfg.cookie_domain.lstrip('.')}"
        if ex.scheme == "https":
            cookie += "; Secure"
        if is_json:
            resp = _json(200, state_json(state, cfg.revision))
        else:
            resp = _plain(303, "your choice is saved")
            resp.headers.append(("Location", safe_return(back or _referer_path(ex))))
        resp.headers.append(("Set-Cookie", cookie))
        resp.new_state = state
        return resp


def _referer_path(ex: Exchange) -> str | None:
    ref = header(ex.req.headers, "referer")
    if not ref:
        return None
    parts = urlsplit(ref)
    if parts.netloc.lower() != ex.host.lower():
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")
