r"""mitmproxy adapter: the consentproxy engine inside mitmproxy, mitmweb or mitmdump.

    mitmdump --listen-host 127.0.0.1 --mode reverse:http://127.0.0.1:8080@8000 \
             -s addons/consent.py --set consent_config=config/demo.yaml   # one site, as serve
    mitmdump --listen-host 127.0.0.1 -p 8090 -s addons/consent.py \
             --set consent_config=site.yaml --set consent_resolve=myapp.test=127.0.0.1
             # forward mode: the config's `sites` (README, "mitmproxy")

A translator only: every decision (and every word of the per-flow note) is the sans-IO
engine's, as in `consentproxy serve`. The config file is watched: an edit is in force within
a second (a config the engine refuses leaves the running one in place).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import ssl
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TextIO

import h11
from mitmproxy import ctx, exceptions, http
from mitmproxy.flow import Error
from mitmproxy.net.http import status_codes
from mitmproxy.net.http.http1 import assemble_response
from mitmproxy.proxy.events import Event
from mitmproxy.proxy.layer import CommandGenerator
from mitmproxy.proxy.layers.http import HttpStream, SendHttp, _http1
from mitmproxy.proxy.layers.http._events import (
    ErrorCode,
    RequestData,
    ResponseData,
    ResponseEndOfMessage,
    ResponseHeaders,
    ResponseProtocolError,
)
from mitmproxy.proxy.layers.http._hooks import HttpErrorHook
from mitmproxy.proxy.layers.http._http2 import Http2Server
from mitmproxy.proxy.mode_specs import ProxyMode, RegularMode, ReverseMode, UpstreamMode
from mitmproxy.utils.human import parse_size

from consentproxy.adapter import (
    MARK_HEADER,
    MAX_BODY,
    UPSTREAM_FAILED,
    BodyError,
    BodyTransform,
    Engine,
    Exchange,
    Headers,
    Request,
    ResponsePlan,
    UserError,
    access_json,
    access_line,
    bodiless_head,
    build_engine,
    header,
    is_ip,
    is_websocket,
    load_config,
    parse_state,
    records_can_open,
    sendable,
    take_over,
    unpassable,
    unpassable_message,
    upstream_answers,
)

log = logging.getLogger("consentproxy")
access_log = logging.getLogger("consentproxy.access")  # the config's access_log, as in serve
NOTE = "consentproxy"  # flow.metadata key of the report
REFUSED = "consentproxy.refused"  # flow.metadata key: the status the addon refused it with
DEFAULT_PORTS = {"http": 80, "https": 443}
ENGINE_OPTIONS = frozenset({"consent_config", "consent_state", "consent_observe", "consent_report"})
WATCH_SECONDS = 1.0  # how often the config file's mtime is looked at
START_POLL_SECONDS = 0.005  # how often the records' opening looks whether mitmproxy has started
# Bodies the addon streams are kept for mitmproxy's view of the flow (mitmweb, mitmdump's
# size) up to this size, or mitmproxy's stream_large_bodies when it is set.
KEEP_FOR_VIEW = 1 << 20
KEEP_MESSAGES = 256  # a WebSocket's latest messages kept for mitmproxy's view, at most
NAMED_MODES = (RegularMode, UpstreamMode)  # modes whose flows' host is the name asked for
_FOLD = re.compile(r"\r?\n[ \t]+")


def _pairs(headers: http.Headers) -> Headers:
    """The fields as text, a value folded over lines (obs-fold, RFC 9112 5.2) read as one
    line, as aiohttp and browsers read it: mitmproxy keeps the fold, and the engine dropped
    such a value as holding control characters (a legacy origin's folded CSP, its cookies).
    A name as browsers read it, without white space before the colon: mitmproxy keeps it
    when told not to validate inbound headers, and `Set-Cookie : _ga=1` went to the visitor
    as no Set-Cookie, which Chromium stored (serve's aiohttp refuses such a head: a 502)."""
    return [
        (k.decode("latin-1").strip(" \t"), _unfolded(v) if b"\n" in v else v.decode("latin-1"))
        for k, v in headers.fields
    ]


def _unfolded(value: bytes) -> str:
    return _FOLD.sub(" ", value.decode("latin-1"))


def _headers(flow: http.HTTPFlow, pairs: Headers) -> http.Headers:
    """Headers of the flow's messages: on HTTP/2 and 3 their names in lower case (RFC 9113
    8.2.1; mitmproxy lower-cases them itself, logging a line for each)."""
    lower = flow.request.is_http2 or flow.request.is_http3
    return http.Headers(
        [((k.lower() if lower else k).encode("latin-1"), v.encode("latin-1")) for k, v in pairs]
    )


class _Stream:
    """mitmproxy calls a stream modifier per chunk and once with b'' at the end; it answers
    the chunks to send, never an empty one (in chunked framing that would end the body).
    What was sent becomes the flow's content for mitmproxy's view, up to `keep` bytes, and
    `sent` counts it for the access log. A body that cannot be decoded kills the flow (the
    visitor sees a cut response, as with the aiohttp adapter): raising here would leave the
    visitor's connection hanging."""

    def __init__(self, body: BodyTransform | None, flow: http.HTTPFlow, keep: int):
        self.body, self.flow, self.keep = body, flow, keep
        self.failed = False
        self.ended = False  # called at the end (mitmproxy streams no body that ends with the head)
        self.kept: list[bytes] | None = []
        self.sent = 0

    def __call__(self, data: bytes) -> list[bytes]:
        if self.failed or (not data and _empty_frame()):
            return []
        if self.ended:  # (never fed to a body closed: its bytes would go out unrewritten)
            self._cut("data after the body's end")
            return []
        self.ended = not data
        try:
            body = self.body
            out = data if body is None else body.feed(data) if data else body.close()
        except BodyError as e:
            self._cut(str(e))
            return []
        self.sent += len(out)
        if self.kept is not None and self.sent > self.keep:
            self.kept = None
        elif self.kept is not None:
            self.kept.append(out)
        if self.ended and self.kept is not None and self.flow.response is not None:
            self.flow.response.raw_content = b"".join(self.kept)
        return [out] if out else []

    def _cut(self, why: str) -> None:
        log.warning("%s: body failed mid-stream: %s", self.flow.request.path, why)
        self.failed = True
        self.flow.kill()
        if not self.ended:  # (at the end, the origin's answer is whole: nothing to stop)
            _hang_up_origin(self.flow)


class _Instead:
    """The stream of the proxy's own answer in place of the origin's (judged in its head),
    or of none (a 205's): sent whole with the first chunk of the origin's body, which is
    dropped, never kept.
    Without a body to stream, `response` puts the answer back (mitmproxy sets the content it
    read, nothing)."""

    def __init__(self, answer: bytes):
        self.answer, self.unsent = answer, answer

    def __call__(self, data: bytes) -> list[bytes]:
        out, self.unsent = self.unsent, b""
        return [out] if out else []


def _hang_up_origin(flow: http.HTTPFlow) -> None:
    """Drop the origin's connection of a flow killed while its body streams: mitmproxy
    looks at a kill only at the flow's next hook, which mid-body is the body's end, so the
    visitor waited (and the origin was read) for as long as the origin sent, endlessly for
    an endless page. An origin that hangs up mid-body is a cut mitmproxy acts on at once:
    the visitor's response is cut (serve's BodyError). Its socket is aborted, so mitmproxy
    reads the end as it reads an origin's (cancelling the connection's task, as its own
    close does, lost the end when the task waited to hand over data: the visitor hung). A
    flow not from a live connection, or whose origin is not connected (a response made
    whole), has nothing to drop. Only an HTTP/1 origin's: an HTTP/2 one carries the visitor's
    other requests (a page's CSS, another tab's), which its end would cut too; that flow is
    cut at its body's end, as before."""
    if flow.server_conn.alpn not in (None, b"", b"http/1.1"):
        return
    server = ctx.master.addons.get("proxyserver") if ctx.master is not None else None
    handler = getattr(server, "connections", {}).get(flow.client_conn.id)
    io = handler.transports.get(flow.server_conn) if handler is not None else None
    if io is not None and io.writer is not None:
        io.writer.transport.abort()


def _empty_frame() -> bool:
    """Whether mitmproxy calls the stream with b'' for an empty HTTP/2 DATA frame (legal mid-
    body, RFC 9113 6.1), not for the end of the body: it calls it with b'' for both, and only
    the event its caller handles (a ResponseData, or the ResponseEndOfMessage) tells them
    apart. Any other caller (the addon's own) means the end."""
    caller = sys._getframe(2).f_locals  # (0: here, 1: _Stream.__call__, 2: mitmproxy's)
    return isinstance(caller.get("event"), ResponseData)


def _send_on(flow: http.HTTPFlow, ex: Exchange) -> None:
    """The request head as the origin gets it. Done in `requestheaders`: mitmproxy sends
    the head of a body it streams (stream_large_bodies) before the `request` hook."""
    req = flow.request
    # Framing, upgrades and the connection's end are mitmproxy's: keep what it needs to send
    # the request on and to close the visitor's connection when they asked for it (and an
    # Expect: 100-continue, which mitmproxy answers and drops once this hook returns).
    framing = [
        (k, v)
        for k, v in ex.req.headers
        if k.lower() == "transfer-encoding"
        or (k.lower() == "expect" and v.lower() == "100-continue")
    ]
    if is_websocket(ex.req) and _connection_says(ex.req.headers, "upgrade"):
        # (a visitor's Upgrade without Connection: Upgrade asks for none: serve answers it
        # 400; here it goes on as a plain request, its Upgrade dropped as hop-by-hop)
        framing += [("Connection", "Upgrade"), ("Upgrade", "websocket")]
    elif _connection_says(ex.req.headers, "close"):
        framing.append(("Connection", "close"))
    if (req.is_http2 or req.is_http3) and not framing and ex.req.content_length is None:
        if req.method in ("GET", "HEAD"):  # (see _framed)
            req.stream = _no_body
        elif _stream_limit() is not None:  # (what mitmproxy streams has no `request` hook)
            if req.scheme == "http":  # (HTTP/1.1, always)
                framing.append(("transfer-encoding", "chunked"))
            elif req.method in ("POST", "PUT", "PATCH"):  # (its protocol not known yet: an
                # answer now would be sent once the body is read, or streamed: cut)
                log.warning("%s: a body of no declared length over TLS: cut", req.path)
                flow.kill()
                return
            else:  # (a preflight, a DELETE: bodies no browser sends)
                req.stream = _no_body
    req.headers = _headers(flow, ex.upstream_headers() + framing)
    if req.is_http2 or req.is_http3:  # the origin's authority in :authority and no Host (a
        req.authority = _authority(req)  # strict origin refuses a Host that differs from it)
    else:
        req.headers["Host"] = _authority(req)


def _no_body(_: bytes) -> bytes:
    """A request body mitmproxy streams, dropped (see _framed)."""
    return b""


def _framed(flow: http.HTTPFlow) -> None:
    """An HTTP/2 or 3 body needs no declared length, and mitmproxy sent one on to an
    HTTP/1.1 origin with neither a Content-Length nor chunks: the origin read no body, then
    the body as a request of its own, its cookies never filtered (request smuggling). Read
    whole, it goes with its length. What _send_on decided for the rest: one mitmproxy may
    stream (stream_large_bodies), whose head goes before the `request` hook, is chunked to a
    plain-http origin (HTTP/1.1) and, for an https one (it may speak HTTP/2, which refuses
    chunks: not known when the head goes, not even under connection_strategy eager), a
    POST's, PUT's or PATCH's is cut and another method's dropped; a GET's or a HEAD's, which
    no browser sends, is dropped (chunked framing would be on every GET)."""
    req = flow.request
    if not (req.is_http2 or req.is_http3) or req.raw_content is None:
        return
    if "content-length" in req.headers or "transfer-encoding" in req.headers:
        return
    if req.method not in ("GET", "HEAD"):
        req.headers["content-length"] = str(len(req.raw_content))


def _refuse_large_body(flow: http.HTTPFlow, ex: Exchange) -> None:
    """Cut a request to the proxy's own endpoints whose body is over MAX_BODY (serve reads
    MAX_BODY + 1 bytes at most and answers 413; mitmproxy would read it whole first), or
    that mitmproxy may stream: over stream_large_bodies, or of a length not declared while
    that is set. A streamed request goes to the origin before `request` could answer it,
    and an answer given now is not sent before its body is read. On HTTP/2 and 3 a body
    needs no declared length (nor chunked framing): any request but a GET or HEAD may have
    one."""
    limit = _stream_limit()
    declared = ex.req.content_length
    req = flow.request
    if declared is None:
        may_have_body = ex.req.has_body or (
            (req.is_http2 or req.is_http3) and req.method not in ("GET", "HEAD")
        )
        if limit is None or not may_have_body:
            return
    elif declared <= (MAX_BODY if limit is None else min(MAX_BODY, limit)):
        return
    size = "an undeclared length" if declared is None else f"{declared} bytes"
    log.warning("%s: a body of %s for the proxy's own endpoint: cut", flow.request.path, size)
    flow.kill()


def _rewrite_whole(flow: http.HTTPFlow, plan: ResponsePlan, content: bytes) -> None:
    """A response another mitmproxy feature made whole (map_local, server_replay): mitmproxy
    calls responseheaders itself and streams nothing, so its body is rewritten here at once
    (a stream would never be fed, and the page go out empty). One with no body to send (a
    HEAD's, a 304's) goes out as its head alone: a body after a HEAD's head began the
    visitor's next response on the connection."""
    response = flow.response
    assert response is not None
    response.headers = _headers(flow, plan.headers)
    if not plan.has_body:
        response.raw_content = b""
        return
    stream = _Stream(plan.body, flow, 0)  # (it keeps nothing: the body is all here)
    out = b"".join([*(stream(content) if content else []), *stream(b"")])
    if not stream.failed:
        response.raw_content = out
        response.headers.pop("Transfer-Encoding", None)
        response.headers["Content-Length"] = str(len(out))


def _unpassable(flow: http.HTTPFlow, ex: Exchange) -> str | None:
    """What makes the origin's answer one no visitor could read (adapter.unpassable), or
    None: mitmproxy reads an interim response (103 Early Hints, 102) as the final one, and
    sent the visitor that 103 and closed; a 101 to no upgrade asked for, a status 0 or 600,
    a head of 32 MB, a field, fields or a reason phrase past adapter's limits."""
    resp = flow.response
    if resp is None:
        return None
    sizes = [len(k) + len(v) for k, v in resp.headers.fields]
    head = sum(sizes) + 4 * len(sizes)  # (with each line's ": " and CRLF, as serve's Head)
    return unpassable(
        resp.status_code,
        is_websocket(ex.req),
        head,
        max(sizes, default=0),
        len(sizes),
        len(resp.data.reason),
    )


def _failed(flow: http.HTTPFlow) -> None:
    """The engine failed on a request (a bug): a plain 500, never the request sent on."""
    log.exception("%s: the proxy failed on the request: answered 500", flow.request.path)
    flow.response = _closing_plain(500, "The proxy failed on this request.")


def _closing_plain(status: int, sentence: str) -> http.Response:
    """A sentence of the proxy's own, never cached, the connection closed after it."""
    headers = {
        "Content-Type": "text/plain; charset=utf-8",
        "Cache-Control": "no-store",
        "Connection": "close",
    }
    return http.Response.make(status, f"{sentence}\n".encode(), headers)


def _plain_error(status_code: int) -> http.Response:
    """mitmproxy's own answer when it cannot reach or read the origin (or read the request),
    in place of its HTML page while the addon runs: one sentence, as serve's. Its page named
    its version (`Server: mitmproxy 12.3.1`) and showed the error as it read it, a 502 the
    origin's address with it (`[Errno 111] Connect call failed ('10.0.0.5', 8080)`); the
    error is in mitmproxy's log still."""
    reason = status_codes.RESPONSES.get(status_code, "Error")
    text = {502: f"{UPSTREAM_FAILED} cannot be reached.", 413: "request body too large"}.get(
        status_code, f"{reason}."
    )
    return _closing_plain(status_code, text)


class ErrorResponse(Protocol):
    """_http1.make_error_response's shape."""

    def __call__(self, status_code: int, message: str = "") -> bytes: ...


def _plain_http1_errors(make: ErrorResponse) -> ErrorResponse:
    """_plain_error for an HTTP/1 visitor, in place of mitmproxy's page (make)."""

    def make_error_response(status_code: int, message: str = "") -> bytes:
        return assemble_response(_plain_error(status_code))

    return _standing_in(make, make_error_response)


STANDS_IN_FOR = "consentproxy_stands_in_for"  # (a stand-in's attribute: mitmproxy's own)


def _standing_in[F: Callable[..., Any]](own: F, stand_in: F) -> F:
    setattr(stand_in, STANDS_IN_FOR, own)
    return stand_in


def _mitmproxys[F: Callable[..., Any]](current: F) -> F:
    """mitmproxy's own function under the addon's stand-in for it: a script reloaded runs no
    async done(), so the new instance finds the old one's stand-in in place, which it must
    neither wrap again nor put back when it stops. (Not functools.wraps' __wrapped__:
    mitmproxy's own layer methods carry one, from its @expect.)"""
    return getattr(current, STANDS_IN_FOR, current)


H2Handle = Callable[[Http2Server, Event], CommandGenerator[None]]


def _plain_h2_errors(handle: H2Handle) -> H2Handle:
    """_plain_error for an HTTP/2 visitor: mitmproxy's HTTP/2 layer writes its page itself
    for an error event of a stream it has sent no head on (Http2Connection._handle_event),
    so that event is sent as a response of the stream instead; the connection, which
    carries the visitor's other requests, stays open. (No hook replaces the page: the
    `error` hook runs before it is written, and nothing it sets is read.)"""

    def handle_event(conn: Http2Server, event: Event) -> CommandGenerator[None]:
        if not isinstance(event, ResponseProtocolError):
            yield from handle(conn, event)
            return
        status = event.code.http_status_code()
        stream = conn.h2_conn.streams.get(event.stream_id)
        if (
            status is None
            or stream is None
            or not conn.is_open_for_us(event.stream_id)
            or stream.state_machine.headers_sent
        ):
            yield from handle(conn, event)
            return
        answer = _plain_error(status)
        del answer.headers["Connection"]  # (HTTP/2 has none: RFC 9113 8.2.2)
        yield from handle(conn, ResponseHeaders(event.stream_id, answer, end_stream=False))
        yield from handle(conn, ResponseData(event.stream_id, answer.raw_content or b""))
        yield from handle(conn, ResponseEndOfMessage(event.stream_id))

    return _standing_in(handle, handle_event)


ReadBody = Callable[[_http1.Http1Connection, Event], CommandGenerator[None]]


class _WithoutTrailers:
    """An h11 body reader whose end of message carries no trailer fields (see
    _trailers_dropped)."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader

    def __call__(self, buf: Any) -> Any:
        return _plain_end(self.reader(buf))

    def read_eof(self) -> Any:
        return _plain_end(self.reader.read_eof())


def _plain_end(event: Any) -> Any:
    return h11.EndOfMessage() if isinstance(event, h11.EndOfMessage) and event.headers else event


def _trailers_dropped(read_body: ReadBody) -> ReadBody:
    """mitmproxy's reading of an HTTP/1 body, its chunked trailer fields dropped, as serve's
    aiohttp drops them (and browsers ignore them): mitmproxy raised at them ("HTTP trailers
    are not implemented yet"), and a page whose origin sent one went to the visitor as its
    head alone, cut; a visitor's chunked request with one never reached the origin."""

    def state(conn: _http1.Http1Connection, event: Event) -> CommandGenerator[None]:
        if not isinstance(conn.body_reader, _WithoutTrailers):
            conn.body_reader = _WithoutTrailers(conn.body_reader)  # type: ignore[assignment]
        yield from read_body(conn, event)

    return _standing_in(read_body, state)


Consume = Callable[[HttpStream, Any], CommandGenerator[None]]


def _bounded(consume: Consume, local: Callable[[http.HTTPFlow], bool]) -> Consume:
    """mitmproxy's reading of a request body it holds for the `request` hook, bounded for
    the proxy's own endpoints (`local`): one of no declared length (chunked, or HTTP/2's)
    was read whole before the addon could answer, 130 MiB held for a 64 MiB body. Over
    MAX_BODY the visitor gets a 413 and the rest is not read, as serve refuses it; a small
    body (a browser's chunked choice) is read as before. mitmproxy has no hook per chunk of
    a body it holds, and the one it streams (flow.request.stream) goes to the origin, its
    head first; its own bound (body_size_limit) is for every flow. The refusal is the one
    body_size_limit makes (HttpStream.check_body_size)."""

    def state(stream: HttpStream, event: Any) -> CommandGenerator[None]:
        flow = stream.flow
        if not (
            isinstance(event, RequestData)
            and len(stream.request_body_buf) + len(event.data) > MAX_BODY
            and local(flow)
        ):
            yield from consume(stream, event)
            return
        why = f"a request body over {MAX_BODY} bytes for the proxy's own endpoint"
        log.warning("%s: %s: 413", flow.request.path, why)
        flow.error = Error(why)
        flow.metadata[REFUSED] = 413  # (for the access line, as serve logs it)
        yield HttpErrorHook(flow)
        refusal = ResponseProtocolError(stream.stream_id, why, ErrorCode.REQUEST_TOO_LARGE)
        yield SendHttp(refusal, stream.context.client)
        stream.request_body_buf.clear()
        stream.client_state = stream.state_errored
        flow.live = False

    return _standing_in(consume, state)


def _authority(req: http.Request) -> str:
    return req.host if req.port == DEFAULT_PORTS.get(req.scheme) else f"{req.host}:{req.port}"


def _connection_says(headers: Headers, token: str) -> bool:
    """Whether a Connection header names token (any of them: a second one's `close` was
    missed, and the connection kept open)."""
    tokens = ",".join(v for k, v in headers if k.lower() == "connection").lower().split(",")
    return token in (t.strip() for t in tokens)


def _unframed(flow: http.HTTPFlow, plan: ResponsePlan) -> bool:
    """A response to an HTTP/1.1 client with a body of unknown length: without chunked
    framing mitmproxy would end it by closing the connection (keep-alive lost)."""
    return (
        flow.request.http_version == "HTTP/1.1"
        and plan.has_body
        and header(plan.headers, "content-length") is None
    )


def _observing() -> Callable[[str], None] | None:
    """Observing fills the report's cookies_seen and hosts_seen; only consent_observe also
    logs each new name."""
    if ctx.options.consent_observe:
        return log.info
    return _ignore if ctx.options.consent_report else None


def _ignore(_: str) -> None:
    pass


def _stream_limit() -> int | None:
    """mitmproxy's stream_large_bodies in bytes (None: not set)."""
    limit = _option("stream_large_bodies")
    return parse_size(limit) if isinstance(limit, str) else None


def _keep_for_view() -> int:
    limit = _stream_limit()
    return KEEP_FOR_VIEW if limit is None else limit


def _resolve_table(value: str) -> dict[str, str]:
    table = {}
    for item in filter(None, (i.strip() for i in value.split(","))):
        name, equals, address = (p.strip() for p in item.partition("="))
        if not equals or not name or not address:
            raise exceptions.OptionsError(
                f"consent_resolve: {item!r} is not NAME=ADDRESS, e.g. myapp.test=127.0.0.1"
            )
        table[_ascii(name)] = _address(item, name, address)
    return table


def _address(item: str, name: str, address: str) -> str:
    """An address as the lookup takes it (an IPv6 one without its brackets). One with a
    port is refused: the lookup has no port to give, so every request would be a 502."""
    if address.startswith("[") and address.endswith("]"):
        address = address[1:-1]
    if ":" not in address or is_ip(address):
        return address
    bare = address.rpartition(":")[0].removeprefix("[").removesuffix("]")
    raise exceptions.OptionsError(
        f"consent_resolve: {item!r} gives a port; write {name}={bare} (an address only: "
        "the port is the URL's)"
    )


def _ascii(host: str) -> str:
    """A host name as `sites` and consent_resolve spell it: IDNA (punycode), lower case, no
    final dot. (mitmproxy decodes the IDNA of the names it parses.)"""
    host = host.lower().rstrip(".")
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:  # (no name IDNA takes: as it is, matching none)
        return host


def _resolved(table: dict[str, str], host: str) -> str | None:
    """The address for a host: its own entry, else that of the nearest *.suffix."""
    host = _ascii(host)
    parts = host.split(".")
    return table.get(host) or next(
        (
            table[w]
            for w in ("*." + ".".join(parts[i:]) for i in range(1, len(parts)))
            if w in table
        ),
        None,
    )


def _answers(url: str) -> Callable[[], Awaitable[bool]]:
    """The readiness probe of an origin, checking its certificate as mitmproxy's options
    say it should be (ssl_insecure, ssl_verify_upstream_trusted_ca)."""

    async def probe() -> bool:
        ca = _option("ssl_verify_upstream_trusted_ca")
        tls = ssl.create_default_context(cafile=ca if isinstance(ca, str) else None)
        if _option("ssl_insecure"):
            tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
        return await upstream_answers(url, tls)

    return probe


def _option(name: str) -> object:
    return getattr(ctx.options, name) if name in ctx.options else None


def _keeps_records(engine: Engine | None) -> bool:
    """Whether an engine has a records writer, or is to have one."""
    return engine is not None and (engine.records is not None or bool(engine.config.records.target))


def _stamp(path: str) -> tuple[int, int] | None:
    """What tells that a file changed: its mtime and size (None: unreadable now)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


class ConsentAddon:
    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.exchanges: dict[str, Exchange] = {}  # flow id -> its exchange, until answered
        self.ws_kept: dict[str, int] = {}  # flow id -> bytes of an open WebSocket's kept messages
        self.report_file: TextIO | None = None  # consent_report, open for appending
        self.started = False  # mitmproxy runs: a bad option is refused (and rolled back)
        self.said_idle = False
        self.stamp: tuple[int, int] | None = None  # of the config file the engine was built from
        self.watcher: asyncio.Task[None] | None = None
        # The records writers handed from engine to engine, in order (_hand_over): the last.
        self.opening: asyncio.Task[None] | None = None
        self.closing: set[asyncio.Task[None]] = set()  # records writers of replaced engines
        self.stopping = False  # done() was called
        self.observing = False  # consent_observe: log what no service names
        self.resolve: dict[str, str] = {}  # consent_resolve: host name or *.suffix -> address
        # mitmproxy's own, which running() stands in for and done() puts back
        self.error_response = _mitmproxys(_http1.make_error_response)
        self.consume: Consume = _mitmproxys(HttpStream.state_consume_request_body)
        self.h2_handle: H2Handle = _mitmproxys(Http2Server._handle_event)
        self.read_body: ReadBody = _mitmproxys(_http1.Http1Connection.read_body)

    def load(self, loader: object) -> None:
        add = loader.add_option  # type: ignore[attr-defined]
        add(
            "consent_config",
            str,
            "",
            "consentproxy YAML config file (required). In reverse "
            "mode every flow is enforced; in other modes only the hosts of its `sites`. Edits "
            "to the file are in force within a second.",
        )
        add(
            "consent_state",
            str,
            "",
            "Force the consent state of every request, for QA: none, "
            "all, reject, CAT1,CAT2 or service:NAME,... (mixable). Empty: follow the cookie. "
            "Choices then change nothing (the choice endpoint answers the forced state).",
        )
        add(
            "consent_report",
            str,
            "",
            "Append one JSON line per enforced flow to this file: "
            "the consent state, cookies stripped, elements neutralised, banner injected.",
        )
        add(
            "consent_observe",
            bool,
            False,
            "Log each cookie and third-party host that no "
            "service names, once per name, and a summary at exit (like `serve --observe`).",
        )
        add(
            "consent_resolve",
            str,
            "",
            "Connect to these host names at these addresses, as "
            "/etc/hosts would (through a proxy, mitmproxy resolves names, not the browser): "
            "NAME=ADDRESS,... (*.myapp.test=ADDRESS: every subdomain).",
        )

    def configure(self, updates: set[str]) -> None:
        """At startup a bad option is logged as one line (mitmdump then exits, as for any
        error logged while starting); later it is refused, so mitmproxy keeps the old value."""
        try:
            if "consent_resolve" in updates:
                self.resolve = _resolve_table(ctx.options.consent_resolve)
            if "consent_report" in updates:
                self._open_report()
            if ENGINE_OPTIONS & updates:
                self._configure_engine()
        except exceptions.OptionsError as e:
            if self.started:
                raise
            log.error("%s", e)

    def running(self) -> None:
        self.started = True
        after = ctx.master.addons.get(_AfterMitmproxy.name)
        if after is None:
            ctx.master.addons.add(_AfterMitmproxy(self))
        else:  # (this script reloaded: the new instance's exchanges)
            after.owner = self
        loop = asyncio.get_running_loop()
        self.watcher = loop.create_task(self._watch())
        self._resolve_names(loop)
        _http1.make_error_response = _plain_http1_errors(self.error_response)  # (done() undoes)
        HttpStream.state_consume_request_body = _bounded(self.consume, self._local)  # type: ignore[method-assign]
        Http2Server._handle_event = _plain_h2_errors(self.h2_handle)  # type: ignore[method-assign,assignment]
        _http1.Http1Connection.read_body = _trailers_dropped(self.read_body)  # type: ignore[method-assign,assignment]

    def _resolve_names(self, loop: asyncio.AbstractEventLoop) -> None:
        """consent_resolve: a name in the table resolves to its address where mitmproxy
        looks it up to connect, and nothing else changes: the connection is still the
        name's, as are the Host header, TLS's SNI and the certificate checked. (Rewriting
        the server's address in server_connect defeated mitmproxy's connection reuse, which
        matches on the name: each request opened a connection to the site, and the 6th on
        one visitor connection waited for good, past mitmproxy's 5 per address.) Undone
        by done()."""
        lookup = loop.getaddrinfo

        async def getaddrinfo(host: bytes | str | None, *args: Any, **kwargs: Any) -> Any:
            if self.resolve and host:
                name = host.decode("ascii", "replace") if isinstance(host, bytes) else host
                host = _resolved(self.resolve, name) or host
            return await lookup(host, *args, **kwargs)

        loop.getaddrinfo = getaddrinfo  # type: ignore[method-assign]

    def _open_report(self) -> None:
        if self.report_file is not None:
            self.report_file.close()
            self.report_file = None
        path = ctx.options.consent_report
        if path:
            try:
                self.report_file = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
            except OSError as e:
                raise exceptions.OptionsError(
                    f"consent_report: cannot write {path} ({e.strerror}); give a file in a "
                    "writable directory"
                ) from None

    def _configure_engine(self) -> None:
        path = ctx.options.consent_config
        if not path:
            if ctx.options.consent_state:
                raise exceptions.OptionsError("consent_state needs consent_config")
            self._use(None)
            if not self.said_idle:
                log.warning(
                    "consentproxy: consent_config is not set, so this addon does "
                    "nothing; add --set consent_config=FILE"
                )
                self.said_idle = True
            return
        stamp = _stamp(path)  # before reading: an edit while it is read is seen next time
        engine = self._build(path)
        self.stamp = stamp
        self._use(engine)

    def _build(self, path: str) -> Engine:
        try:  # a config the engine refuses, a bad state, no secret: as in `serve`
            config = load_config(path, "consent_config")
            records_can_open(config, path)
            forced = parse_state(ctx.options.consent_state, config, "consent_state")
            engine = build_engine(config, forced=forced, observe=_observing())
        except UserError as e:
            raise exceptions.OptionsError(str(e)) from None
        forward = [m for m in self._modes() if not isinstance(m, ReverseMode)]
        if forward and not config.sites:
            log.warning(
                "consentproxy: %s lists no sites: flows of the %s pass untouched",
                config.source,
                " and ".join(m.description for m in forward),
            )
        addressed = [m.description for m in forward if not isinstance(m, NAMED_MODES)]
        if addressed and config.sites:
            log.warning(
                "consentproxy: in %s a flow's host may be an address: %s enforced by the "
                "name each request gives (Host, :authority), a request without one is not",
                " and ".join(addressed),
                ", ".join(config.sites),
            )
        if forward and config.loopback_warning():
            log.warning("consentproxy: %s", config.loopback_warning())
        self.observing = ctx.options.consent_observe
        return engine

    def _modes(self) -> list[ProxyMode]:
        return [ProxyMode.parse(m) for m in ctx.options.mode] if "mode" in ctx.options else []

    def _use(self, engine: Engine | None) -> None:
        """Serve new flows with `engine` (flows in flight keep theirs). Its records writer is
        handed over in the background (_hand_over, as serve's reload): the old one while the
        records settings stay; otherwise a new one, opened before a flow of `engine` uses it
        (each waits for it: _records), which flows in flight with the old engine write to
        from then on, then the old one closed (what it queued is written)."""
        old = self.engine
        self.engine = engine
        if old is not None and engine is not None:
            engine.endpoints.carry_over(old.endpoints)
        if _keeps_records(old) or _keeps_records(engine):
            self.opening = asyncio.get_running_loop().create_task(
                self._hand_over(old, engine, self.opening)
            )
        if engine is None:
            return
        # The engine needs the Host the visitor used (CSRF check, cookie domains, redirects);
        # we send the origin its own Host ourselves, as `consentproxy serve` does. Lazy
        # connections: the consent endpoints answer and a dead origin is a 502, as in `serve`.
        if "keep_host_header" in ctx.options:  # absent only in bare test contexts
            ctx.options.update(
                keep_host_header=True, connection_strategy="lazy", keep_alt_svc_header=True
            )
        engine.probes = self._probes()
        log.info("consentproxy: %s", self._describe(engine))

    def _probes(self) -> dict[str, Callable[[], Awaitable[bool]]]:
        """{prefix}readyz's upstream checks, as in `serve`: each reverse mode's origin answers
        HTTP (a forward proxy has no origin of its own)."""
        origins = [m.data for m in self._modes() if isinstance(m, ReverseMode)]
        return {
            "upstream" if len(origins) == 1 else f"upstream {url}": _answers(url) for url in origins
        }

    def _describe(self, engine: Engine) -> str:
        """One line: what is enforced where."""
        config = engine.config
        where = [
            f"{m.description}: every flow"
            if isinstance(m, ReverseMode)
            else f"{m.description}: sites {', '.join(config.sites)}"
            if config.sites
            else f"{m.description}: no site"
            for m in self._modes()
        ]
        # (consent_state=cookie forces nothing: the engine has no forced state)
        forced = ctx.options.consent_state.strip() if engine.forced_state is not None else ""
        return "; ".join(
            [
                f"enforcing {config.source}",
                *where,
                f"CSP {config.csp}",
                f"consent state forced to {forced} (consent_state)"
                if forced
                else "consent from the visitor's cookie",
                *(
                    ["or from X-Consent-State (testing.state_header: never in production)"]
                    if config.testing.state_header
                    else []
                ),
                *(
                    [f"report to {ctx.options.consent_report}"]
                    if ctx.options.consent_report
                    else []
                ),
            ]
        )

    async def _hand_over(
        self, old: Engine | None, engine: Engine | None, before: asyncio.Task[None] | None
    ) -> None:
        if before is not None:  # (the writer `old` takes from it)
            await before
        await self._start_over()
        try:
            closing = await take_over(old, engine)
        except Exception:  # (a bug must not stop later hand-overs)
            log.exception("consentproxy: the records could not be handed to the new config")
            return
        if closing is not None:  # (flows wait for the new writer, never for this)
            task = asyncio.get_running_loop().create_task(closing.close())
            self.closing.add(task)
            task.add_done_callback(self.closing.discard)

    async def _start_over(self) -> None:
        """Until mitmproxy has started: it exits on an error logged while it starts (its
        errorcheck addon watches the log until the running hooks have run), and a records
        store that is down logs one at its first attempt, which must not stop the proxy (as
        serve: it serves, the store retried). Flows wait for the records meanwhile."""
        check = ctx.master.addons.get("errorcheck") if ctx.master is not None else None
        watch = getattr(check, "logger", None)
        while watch in logging.getLogger().handlers and not self.stopping:
            await asyncio.sleep(START_POLL_SECONDS)

    async def _records(self, engine: Engine) -> None:
        """Wait for the engine's records writer to be opened (or handed over)."""
        if engine.records is None and engine.config.records.target and self.opening:
            await asyncio.shield(self.opening)  # (a flow cut does not cut the opening)

    async def _watch(self) -> None:
        """Reload the engine when the config file changes (its mtime or size)."""
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            path = ctx.options.consent_config
            stamp = _stamp(path) if path and self.engine is not None else None
            if stamp is None or stamp == self.stamp:
                continue
            self.stamp = stamp
            try:
                engine = self._build(path)
            except exceptions.OptionsError as e:
                log.error(
                    "consentproxy: %s changed but is refused, the running config stays: %s", path, e
                )
                continue
            except Exception:  # (a bug must not stop the watch: later edits still count)
                log.exception(
                    "consentproxy: %s changed but is refused, the running config stays", path
                )
                continue
            log.info("consentproxy: reloaded %s", path)
            self._use(engine)

    async def done(self) -> None:
        """mitmproxy is shutting down: stop watching, flush the records still queued, close
        the report. (It waits on the records, so it is async, and mitmproxy cannot reload or
        remove this script while it runs: its script watcher calls done() synchronously and
        drops the error. Restart mitmdump after editing the addon; the config reloads.)"""
        if self.watcher is not None:
            self.watcher.cancel()
        vars(asyncio.get_running_loop()).pop("getaddrinfo", None)  # (see _resolve_names)
        _http1.make_error_response = self.error_response
        HttpStream.state_consume_request_body = self.consume  # type: ignore[method-assign]
        Http2Server._handle_event = self.h2_handle  # type: ignore[method-assign,assignment]
        _http1.Http1Connection.read_body = self.read_body  # type: ignore[method-assign,assignment]
        self.stopping = True  # (a start that failed is over: the records are not waited for)
        if self.opening is not None:
            await self.opening
        engine = self.engine
        if engine is not None and engine.records is not None:
            await engine.records.close()
        await asyncio.gather(*self.closing)
        if self.report_file is not None:
            self.report_file.close()
            self.report_file = None
        if engine is not None and engine.observer is not None and self.observing:
            log.info(
                "consentproxy: seen, named by no service:%s",
                "".join(f"\n  {line}" for line in engine.observer.summary()),
            )

    def _enforced(self, flow: http.HTTPFlow) -> bool:
        """Reverse mode fronts one site: all of it. Other modes: the config's sites only
        (the requests inside a CONNECT tunnel, not the CONNECT itself), by the flow's host
        or the name the request gives (its Host or :authority): in transparent, SOCKS5,
        WireGuard and local modes the host may be the site's address."""
        req = flow.request
        return (
            self.engine is not None
            and req.method != "CONNECT"
            and (
                isinstance(flow.client_conn.proxy_mode, ReverseMode)
                or any(self.engine.config.is_site(_ascii(h)) for h in (req.host, req.pretty_host))
            )
        )

    def _local(self, flow: http.HTTPFlow) -> bool:
        """Whether a flow is a request to the proxy's own endpoints."""
        ex = self.exchanges.get(flow.id)
        return ex is not None and ex.is_local

    # Each hook fails closed: mitmproxy logs an addon's exception and goes on with the flow as
    # it stands, so a request the engine failed on went to the origin unfiltered (the
    # visitor's tracking cookies and all: a `return=/\xff` to the preferences page, a grant's
    # JSON with a lone surrogate), and a response it failed on would go to the visitor
    # unrewritten. A request is answered with a plain 500 instead, a response is cut.

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        try:
            self._requestheaders(flow)
        except Exception:  # noqa: BLE001 - any bug: answered (and logged), never sent on
            self.exchanges.pop(flow.id, None)
            _failed(flow)

    async def request(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None and flow.id not in self.exchanges:
            return  # (answered already: requestheaders failed)
        try:
            await self._request(flow)
        except Exception:  # noqa: BLE001 - any bug: answered (and logged), never sent on
            _failed(flow)

    def cookies_added(self, flow: http.HTTPFlow) -> None:
        """Filter the Cookie headers again: what mitmproxy's own addons added since
        requestheaders (see _AfterMitmproxy)."""
        ex = self.exchanges.get(flow.id)
        if ex is None or ex.is_local or flow.response is not None:
            return
        cookies = flow.request.headers.get_all("cookie")
        kept = [v for c in cookies if (v := ex.kept_cookies(c)) is not None]
        if kept != cookies:
            flow.request.headers.set_all("cookie", kept)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        try:
            self._responseheaders(flow)
        except Exception:
            log.exception("%s: the proxy failed on the response: cut", flow.request.path)
            flow.kill()

    def _requestheaders(self, flow: http.HTTPFlow) -> None:
        """Begin with the headers as the visitor sent them (before mitmproxy's own addons
        edit them, e.g. dropping a Connection header that lists hop-by-hop names)."""
        if self.engine is None or not self._enforced(flow):
            return
        req = flow.request
        headers = _pairs(req.headers)
        if header(headers, "host") is None and req.host_header:  # HTTP/2's :authority
            headers.append(("Host", req.host_header))
        reverse = isinstance(flow.client_conn.proxy_mode, ReverseMode)
        if reverse and req.http_version == "HTTP/1.1" and header(headers, "host") is None:
            # RFC 9112 3.2, as serve's parser answers (mitmproxy takes the origin's)
            flow.response = http.Response.make(
                400,
                b"bad request\n",
                {"Content-Type": "text/plain; charset=utf-8", "Connection": "close"},
            )
            return
        peer = flow.client_conn.peername
        # An HTTP/1 absolute-form target in reverse mode is no path: the engine refuses it.
        absolute = reverse and req.authority and req.http_version.startswith("HTTP/1")
        ex = self.engine.begin(
            Request(
                method=req.method,
                target=req.url if absolute else req.path,
                headers=headers,
                scheme=("https" if flow.client_conn.tls_established else "http")
                if reverse
                else req.scheme,
                client_ip=peer[0] if peer else "",
                upstream=f"{req.scheme}://{_authority(req)}",
            )
        )
        self.exchanges[flow.id] = ex
        if ex.is_local:
            _refuse_large_body(flow, ex)
        else:
            _send_on(flow, ex)

    async def _request(self, flow: http.HTTPFlow) -> None:
        ex = self.exchanges.get(flow.id)
        if ex is None:
            return
        req = flow.request
        await self._records(ex.engine)  # (a page's too: its banner impression is counted)
        if not ex.is_local:
            _framed(flow)
            return
        # The body as it came, never decoded (as serve reads it): mitmproxy's content is
        # its Content-Encoding undone, whole, and 600 bytes of brotli were 128 MiB.
        local = ex.local_response(req.raw_content or b"")
        if local.complete is not None:
            local.status, local.body = await local.complete()
        # (an empty body given: make() would encode it anew in its Content-Encoding)
        flow.response = http.Response.make(local.status, b"", _headers(flow, local.headers))
        flow.response.raw_content = local.body  # (as it goes: consent.js compressed)
        flow.response.headers["Content-Length"] = str(len(local.body))
        if req.method == "HEAD":  # its head alone, its Content-Length kept (as serve's)
            flow.response.raw_content = b""
        if ex.error is not None:  # a request refused outright: no more on this connection
            flow.response.headers["Connection"] = "close"  # (as serve does)

    def _responseheaders(self, flow: http.HTTPFlow) -> None:
        ex = self.exchanges.get(flow.id)
        if ex is None or flow.response is None:
            return
        if ex.is_local:  # the proxy's own answer (its body set), never an origin's (unread)
            if flow.response.raw_content is None:
                log.warning(
                    "%s: the origin answered the proxy's own endpoint: cut", flow.request.path
                )
                flow.kill()
            return
        if flow.is_replay == "response" and MARK_HEADER in flow.response.headers:
            return  # (recorded through the addon: rewritten once already; no live origin's)
        why = _unpassable(flow, ex)
        if why:  # a plain 502 instead, as serve's (nothing of the origin's answer goes out)
            log.warning("%s: the origin sent %s", flow.request.path, why)
            answer = (unpassable_message(why) + "\n").encode()
            flow.response = http.Response.make(
                502,
                answer,
                _headers(
                    flow,
                    [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")],
                ),
            )
            # (a HEAD's answer has no body: one sent was read as the next response's head)
            flow.response.stream = _Instead(b"" if flow.request.method == "HEAD" else answer)
            return
        if not sendable(flow.response.reason):  # the standard phrase, as serve's: Chromium
            # ends a line at a lone CR (`200 OK\rSet-Cookie: _ga=...` stored that cookie)
            flow.response.reason = status_codes.RESPONSES.get(flow.response.status_code, "")
        if flow.response.status_code == 101:  # a WebSocket handshake: mitmproxy relays it,
            # with the origin's headers as the engine leaves them (Chromium stores a 101's
            # cookies: `_ga` went through) and its own Connection and Upgrade
            origin = _pairs(flow.response.headers)
            hop = [(k, v) for k, v in origin if k.lower() in ("connection", "upgrade")]
            flow.response.headers = _headers(flow, ex.response(101, origin).headers + hop)
            return
        asked = flow.request.timestamp_end or flow.request.timestamp_start
        ex.report.upstream_seconds = max(0.0, flow.response.timestamp_start - asked)
        status = flow.response.status_code
        plan = ex.response(status, _pairs(flow.response.headers))
        plan.headers = bodiless_head(status, plan.headers)
        if flow.response.raw_content is not None:
            _rewrite_whole(flow, plan, flow.response.raw_content)
            return
        headers = plan.headers
        if _unframed(flow, plan):  # (in chunks, under an HTTP/1.1 status line as serve's:
            # browsers ignore chunks under an HTTP/1.0 origin's, and read their sizes as
            # the page's bytes)
            headers = [*headers, ("Transfer-Encoding", "chunked")]
            flow.response.http_version = "HTTP/1.1"
        flow.response.headers = _headers(flow, headers)
        # (a 205's body, which mitmproxy reads as the origin framed it, goes nowhere)
        keep = _keep_for_view()
        flow.response.stream = _Stream(plan.body, flow, keep) if plan.has_body else _Instead(b"")

    def response(self, flow: http.HTTPFlow) -> None:
        """Called once the body has streamed through: the report is complete. A body that
        ended with the head (Content-Length: 0) was not streamed: it is rewritten here, before
        mitmproxy sends it (an empty page still gets its banner)."""
        stream = flow.response.stream if flow.response is not None else None
        if isinstance(stream, _Stream) and not stream.ended:
            stream(b"")
        if isinstance(stream, _Instead) and flow.response is not None:
            flow.response.raw_content = stream.answer  # (sent, or to send: nothing streamed)
        ex = self.exchanges.pop(flow.id, None)
        if ex is not None:
            self._note(flow, ex)

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        """mitmproxy keeps every message of a WebSocket for its view of the flow while it is
        open: 64 messages of 1 MiB each way held 128 MiB (serve keeps none). An enforced
        flow keeps its latest, as its streamed bodies: up to _keep_for_view() bytes and
        KEEP_MESSAGES messages, the newest always (flow.websocket.messages[-1] is the one
        the hook is about, for mitmproxy's addons after this one). The bytes kept are
        counted as they come: the oldest go, none is read again (a walk over the kept ones
        took ~50 µs a message)."""
        messages = flow.websocket.messages if flow.websocket is not None else []
        if not messages or not self._enforced(flow):
            self.ws_kept.pop(flow.id, None)  # (counted again if it is enforced again)
            return
        kept = self.ws_kept.get(flow.id)
        if kept is None:  # (its first, or the first since a config reload enforced it)
            kept = sum(len(m.content) for m in messages[:-1])
        kept += len(messages[-1].content)
        room, first = _keep_for_view(), 0
        while len(messages) - first > 1 and (len(messages) - first > KEEP_MESSAGES or kept > room):
            kept -= len(messages[first].content)
            first += 1
        del messages[:first]
        self.ws_kept[flow.id] = kept

    def websocket_end(self, flow: http.HTTPFlow) -> None:
        self.ws_kept.pop(flow.id, None)

    def error(self, flow: http.HTTPFlow) -> None:
        ex = self.exchanges.pop(flow.id, None)
        if ex is not None:
            self._note(flow, ex)

    def _note(self, flow: http.HTTPFlow, ex: Exchange) -> None:
        """What was done, in mitmweb (the flow's comment and metadata) and the JSON report."""
        report = ex.report
        flow.comment = report.summary()
        flow.metadata[NOTE] = report.as_dict()
        # null: the flow failed (a response cut mid-way too: the visitor got no whole one),
        # unless it failed as the addon refused it
        status = flow.response.status_code if flow.response and flow.error is None else None
        status = flow.metadata.get(REFUSED, status)
        if ex.engine.config.access_log:
            sent = 0  # a flow that failed before any response
            if flow.response is not None:
                stream = flow.response.stream  # a local answer is not streamed
                sent = (
                    stream.sent
                    if isinstance(stream, _Stream)
                    else len(flow.response.raw_content or b"")
                )
            seconds = time.time() - flow.request.timestamp_start
            line = access_line(ex.req.method, ex.req.target, status, seconds, sent, report)
            access_log.info(access_json(line).decode())  # as serve's telemetry writes it
        if self.report_file is None:
            return
        line = {
            "time": round(time.time(), 3),
            "method": ex.req.method,
            "url": f"{ex.scheme}://{ex.host}{ex.req.target}",
            "status": status,
            **report.as_dict(),
        }
        self.report_file.write(json.dumps(line, separators=(",", ":")) + "\n")


class _AfterMitmproxy:
    """The addon's last word on a request, after mitmproxy's own addons (a script's hooks
    run before theirs): --stickycookie replays in `request` the cookies flows set, a _ga of
    when the visitor had accepted; --modify-headers may set one in `requestheaders`."""

    name = "consentproxy-after-mitmproxy"

    def __init__(self, owner: ConsentAddon) -> None:
        self.owner = owner

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        self.request(flow)

    def request(self, flow: http.HTTPFlow) -> None:
        try:
            self.owner.cookies_added(flow)
        except Exception:  # noqa: BLE001 - any bug: answered (and logged), never sent on
            _failed(flow)


def _addons() -> list[ConsentAddon]:
    """This addon, unless mitmproxy runs it already: a second -s naming it by another path,
    or a copy of it, was refused by mitmproxy with a traceback ("An addon called
    'consentaddon' already exists") that named neither file nor what to do. An error logged
    while mitmdump starts stops it."""
    master = getattr(ctx, "master", None)  # (None: imported outside mitmproxy)
    loaded = master.addons.get("consentaddon") if master is not None else None
    if loaded is None:
        return [ConsentAddon()]
    log.error(
        "consentproxy: %s is a second copy of the addon, which %s loaded already; load it "
        "once (one -s)",
        __file__,
        type(loaded).__init__.__code__.co_filename,
    )
    return []


addons = _addons()
