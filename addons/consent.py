"""mitmproxy adapter: the consentproxy engine inside mitmproxy, mitmweb or mitmdump.

    mitmdump --mode reverse:http://127.0.0.1:8080@8000 -s addons/consent.py \
             --set consent_config=config/demo.yaml          # one site, like `consentproxy serve`
    mitmdump -s addons/consent.py --set consent_config=site.yaml   # forward: the config's `sites`

A translator only: every decision (and every word of the per-flow note) is the sans-IO
engine's, as in `consentproxy serve`.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable

from mitmproxy import ctx, exceptions, http
from mitmproxy.proxy.mode_specs import ReverseMode

from consentproxy.config import ConfigError, load_config
from consentproxy.consent import keys_from_env, parse_state
from consentproxy.engine import BodyTransform, Engine, Exchange, Request
from consentproxy.httpheaders import Headers, header
from consentproxy.records import keep_records
from consentproxy.rewrite.encoding import BodyError

log = logging.getLogger("consentproxy")
NOTE = "consentproxy"  # flow.metadata key of the report
DEFAULT_PORTS = {"http": 80, "https": 443}


def _pairs(headers: http.Headers) -> Headers:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers.fields]


def _headers(pairs: Headers) -> http.Headers:
    return http.Headers([(k.encode("latin-1"), v.encode("latin-1")) for k, v in pairs])


def _stream(body: BodyTransform, flow: http.HTTPFlow) -> Callable[[bytes], bytes]:
    """mitmproxy calls a stream modifier per chunk and once with b'' at the end. A body
    that cannot be decoded kills the flow (the visitor sees a cut response, as with the
    aiohttp adapter): raising here would leave the visitor's connection hanging."""
    failed = False

    def modify(data: bytes) -> bytes:
        nonlocal failed
        if failed:
            return b""
        try:
            return body.feed(data) if data else body.close()
        except BodyError as e:
            log.warning("%s: body failed mid-stream: %s", flow.request.path, e)
            failed = True
            flow.kill()
            return b""
    return modify


def _authority(req: http.Request) -> str:
    return req.host if req.port == DEFAULT_PORTS.get(req.scheme) else f"{req.host}:{req.port}"


def _is_websocket(headers: http.Headers) -> bool:
    return headers.get("upgrade", "").lower() == "websocket"


class ConsentAddon:
    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.exchanges: dict[str, Exchange] = {}  # flow id -> its exchange, until answered
        self.throwaway_key = secrets.token_hex(32).encode()

    def load(self, loader: object) -> None:
        add = loader.add_option  # type: ignore[attr-defined]
        add("consent_config", str, "", "consentproxy YAML config file (required). In reverse "
            "mode every flow is enforced; in regular mode only the hosts of its `sites`.")
        add("consent_state", str, "", "Force the consent state of every request, for QA: none, "
            "all, reject, CAT1,CAT2 or service:NAME,... (mixable). Empty: follow the cookie.")
        add("consent_report", str, "", "Append one JSON line per enforced flow to this file: "
            "the consent state, cookies stripped, elements neutralised, banner injected.")

    def configure(self, updates: set[str]) -> None:
        if not {"consent_config", "consent_state"} & updates:
            return
        if not ctx.options.consent_config:
            if ctx.options.consent_state:
                raise exceptions.OptionsError("consent_state needs consent_config")
            self.engine = None
            return
        try:
            config = load_config(ctx.options.consent_config)
            forced = parse_state(ctx.options.consent_state, config, "consent_state")
        except ConfigError as e:
            raise exceptions.OptionsError(str(e)) from None
        keys = keys_from_env(config.consent.secret_env)
        if not keys:
            log.warning("%s is not set: consent cookies are signed with a throw-away key",
                        config.consent.secret_env)
            keys = [self.throwaway_key]
        if not config.sites and any(not m.startswith("reverse:") for m in ctx.options.mode):
            log.warning("%s lists no sites: flows of the regular (forward) mode pass untouched",
                        config.source)
        self.engine = Engine(config, keys, forced=forced)
        # The engine needs the Host the visitor used (CSRF check, cookie domains, redirects);
        # we send the origin its own Host ourselves, as `consentproxy serve` does. Lazy
        # connections: the consent endpoints answer and a dead origin is a 502, as in `serve`.
        if "keep_host_header" in ctx.options:  # absent only in bare test contexts
            ctx.options.update(keep_host_header=True, connection_strategy="lazy")

    async def done(self) -> None:
        """mitmproxy is shutting down: flush the records still queued."""
        if self.engine is not None and self.engine.records is not None:
            await self.engine.records.close()

    def _enforced(self, flow: http.HTTPFlow) -> bool:
        """Reverse mode fronts one site: all of it. Forward mode: the config's sites only
        (the requests inside a CONNECT tunnel, not the CONNECT itself)."""
        return self.engine is not None and flow.request.method != "CONNECT" and (
            isinstance(flow.client_conn.proxy_mode, ReverseMode)
            or self.engine.config.is_site(flow.request.host))

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        """Begin with the headers as the visitor sent them (before mitmproxy's own addons
        edit them, e.g. dropping a Connection header that lists hop-by-hop names)."""
        if self.engine is None or not self._enforced(flow):
            return
        req = flow.request
        headers = _pairs(req.headers)
        if header(headers, "host") is None and req.host_header:  # HTTP/2's :authority
            headers.append(("Host", req.host_header))
        reverse = isinstance(flow.client_conn.proxy_mode, ReverseMode)
        peer = flow.client_conn.peername
        ex = self.engine.begin(Request(
            method=req.method, target=req.path, headers=headers,
            scheme=("https" if flow.client_conn.tls_established else "http") if reverse
            else req.scheme,
            client_ip=peer[0] if peer else "",
            upstream=f"{req.scheme}://{_authority(req)}"))
        self.exchanges[flow.id] = ex

    async def request(self, flow: http.HTTPFlow) -> None:
        ex = self.exchanges.get(flow.id)
        if ex is None:
            return
        req = flow.request
        if ex.is_local:
            engine = ex.engine
            if engine.records is None and engine.config.records.target:
                engine.records = await keep_records(engine.config.records)  # on first use
            local = ex.local_response(req.get_content(strict=False) or b"")
            if local.complete is not None:
                local.status, local.body = await local.complete()
            flow.response = http.Response.make(local.status, local.body, _headers(local.headers))
            return
        # Framing and upgrades are mitmproxy's: keep what it needs to send the request on.
        framing = [(k, v) for k, v in ex.req.headers if k.lower() == "transfer-encoding"]
        if _is_websocket(req.headers):
            framing += [("Connection", "Upgrade"), ("Upgrade", "websocket")]
        req.headers = _headers([(k, v) for k, v in ex.upstream_headers()
                                if k.lower() not in ("host", "expect")] + framing)
        req.headers["Host"] = _authority(req)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        ex = self.exchanges.get(flow.id)
        if ex is None or ex.is_local or flow.response is None:
            return
        if flow.response.status_code == 101:  # a WebSocket handshake: mitmproxy's to do
            return
        plan = ex.response(flow.response.status_code, _pairs(flow.response.headers))
        flow.response.headers = _headers(plan.headers)
        flow.response.stream = _stream(plan.body, flow) if plan.body is not None else True

    def response(self, flow: http.HTTPFlow) -> None:
        """Called once the body has streamed through: the report is complete."""
        ex = self.exchanges.pop(flow.id, None)
        if ex is not None:
            self._note(flow, ex)

    def error(self, flow: http.HTTPFlow) -> None:
        ex = self.exchanges.pop(flow.id, None)
        if ex is not None:
            self._note(flow, ex)

    def _note(self, flow: http.HTTPFlow, ex: Exchange) -> None:
        """What was done, in mitmweb (the flow's comment and metadata) and the JSON report."""
        report = ex.report
        flow.comment = report.summary()
        flow.metadata[NOTE] = report.as_dict()
        if not ctx.options.consent_report:
            return
        line = {"time": round(time.time(), 3), "method": ex.req.method,
                "url": f"{ex.scheme}://{ex.host}{ex.req.target}",
                "status": flow.response.status_code if flow.response else None,
                **report.as_dict()}
        with open(ctx.options.consent_report, "a", encoding="utf-8") as f:
            f.write(json.dumps(line, separators=(",", ":")) + "\n")


addons = [ConsentAddon()]
