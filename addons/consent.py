"""mitmproxy adapter: the consentproxy engine inside mitmproxy (reverse mode).

    mitmdump --mode reverse:http://127.0.0.1:8080@8000 -s addons/consent.py \
             --set consent_config=config/demo.yaml

A translator only: every decision is the sans-IO engine's, as in `consentproxy serve`.
Forward mode for listed sites, forced consent states and reports come with issue 5.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

from mitmproxy import ctx, exceptions, http

from consentproxy.config import ConfigError, load_config
from consentproxy.consent import keys_from_env
from consentproxy.engine import BodyTransform, Engine, Request
from consentproxy.httpheaders import Headers

log = logging.getLogger("consentproxy")
EXCHANGE = "consentproxy"


def _pairs(headers: http.Headers) -> Headers:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers.fields]


def _headers(pairs: Headers) -> http.Headers:
    return http.Headers([(k.encode("latin-1"), v.encode("latin-1")) for k, v in pairs])


def _stream(body: BodyTransform) -> Callable[[bytes], bytes]:
    """mitmproxy calls a stream modifier per chunk and once with b'' at the end."""
    def modify(data: bytes) -> bytes:
        return body.feed(data) if data else body.close()
    return modify


class ConsentAddon:
    def __init__(self) -> None:
        self.engine: Engine | None = None

    def load(self, loader: object) -> None:
        loader.add_option(  # type: ignore[attr-defined]
            "consent_config", str, "", "consentproxy YAML config file (required)")

    def configure(self, updates: set[str]) -> None:
        if "consent_config" not in updates or not ctx.options.consent_config:
            return
        try:
            config = load_config(ctx.options.consent_config)
        except ConfigError as e:
            raise exceptions.OptionsError(str(e)) from None
        keys = keys_from_env(config.consent.secret_env)
        if not keys:
            log.warning("%s is not set: consent cookies are signed with a throw-away key",
                        config.consent.secret_env)
            keys = [secrets.token_hex(32).encode()]
        self.engine = Engine(config, keys)
        # The engine needs the Host the visitor used (CSRF check, cookie domains, redirects);
        # we send the origin its own Host ourselves, as `consentproxy serve` does.
        ctx.options.update(keep_host_header=True)

    def request(self, flow: http.HTTPFlow) -> None:
        if self.engine is None:
            return
        req = flow.request
        peer = flow.client_conn.peername
        ex = self.engine.begin(Request(
            method=req.method, target=req.path, headers=_pairs(req.headers),
            scheme=req.scheme, client_ip=peer[0] if peer else ""))
        if ex.is_local:
            local = ex.local_response(req.get_content(strict=False) or b"")
            flow.response = http.Response.make(local.status, local.body, _headers(local.headers))
            return
        flow.metadata[EXCHANGE] = ex
        req.headers = _headers([(k, v) for k, v in ex.upstream_headers() if k.lower() != "host"])
        default_port = {"http": 80, "https": 443}.get(req.scheme)
        req.headers["Host"] = req.host if req.port == default_port else f"{req.host}:{req.port}"

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        ex = flow.metadata.get(EXCHANGE)
        if ex is None or flow.response is None:
            return
        plan = ex.response(flow.response.status_code, _pairs(flow.response.headers))
        flow.response.headers = _headers(plan.headers)
        flow.response.stream = _stream(plan.body) if plan.body is not None else True


addons = [ConsentAddon()]
