"""aiohttp adapter: the standalone reverse proxy.

Translates between sockets and the sans-IO engine: streams bodies both ways, passes
WebSockets through, and turns upstream failures into a plain 502/504.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Buffer, Callable, Sized
from dataclasses import dataclass
from typing import Any, cast

import aiohttp
from aiohttp import hdrs, http_writer, web
from aiohttp.client_exceptions import ClientConnectionResetError
from aiohttp.client_proto import ResponseHandler
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler
from multidict import CIMultiDict, MultiMapping
from yarl import URL

from consentproxy.adapter import (
    LONG_FIELD,
    LONG_REASON,
    MANY_FIELDS,
    MAX_BODY,
    ORIGIN_FIELD_BYTES,
    ORIGIN_HEADERS,
    UPSTREAM_FAILED,
    BodyError,
    BodyTransform,
    Engine,
    Exchange,
    Head,
    Headers,
    Limits,
    Records,
    Report,
    Request,
    bodiless_head,
    is_websocket,
    keep_records,
    redacted,
    sendable,
    take_over,
    unpassable,
    unpassable_message,
    upstream_answers,
    without,
)

log = logging.getLogger("consentproxy")

CONNECT_TIMEOUT = 10
READ_TIMEOUT = 60
# A WebSocket message is relayed whole: past this, the side that sent it is closed with 1009
# ("too big"), and so is the other.
WS_MESSAGE_BYTES = 4 << 20
# The status logged and counted for a visitor who left during its upload (nginx's "client
# closed request"): never sent, the visitor is gone; not a 502, an origin's failure.
VISITOR_LEFT = 499
SHUTDOWN_SECONDS = 10  # the grace of requests in flight when stopping
# An idle connection, or one still sending its request head (slowloris), is closed after this.
KEEPALIVE_TIMEOUT = 60
# A visitor that takes no byte of a response for 1-2 times this long has its connection
# closed: it stopped reading, and its response holds an origin connection (one each, for
# ever). One timer checks them all (a timeout around each write cost 3 µs).
SEND_TIMEOUT = 60
# Up to this many body bytes are copied to go out with the response head in one write
# (aiohttp joins what it writes together); a larger body goes in a write of its own. With
# scattered writes (scattered_writes) nothing is copied: the head goes with any body at hand.
HEAD_WITH_BODY_BYTES = 16 * 1024
LAST_CHUNK = b"\r\n0\r\n\r\n"  # a chunk's end, then the chunked body's
# A page's last pieces go to the transport uncopied (write_eof_scattered) only when there are
# at most this many, of this many bytes on average: the transport takes each piece for
# 150-300 ns (a view, an iovec), the join ~25 ns plus the copy, so a page of many small
# pieces (1,000 blocked tags: ~2,000 pieces, 914 against 158 µs a request) is joined.
SCATTERED_PIECES = 64
SCATTERED_PIECE_BYTES = 1024
# Header blocks kept by their bytes (cleared when full), with what the engine works out of
# them (Head: most requests repeat a block, and an origin most of its responses', _head);
# only blocks of at most HEAD_BYTES, each held about three times (bytes, text, parse): at
# worst ~6 MB for the visitors' and as much for the origin's.
HEADS = 256
HEAD_BYTES = 8192
# What serve's client reads of the origin's status line and of one field before it gives up:
# a backstop past ORIGIN_FIELD_BYTES, up to which unpassable judges the head as the addon does
# (aiohttp counts a later field's value without its name, and with its trailing spaces). One
# byte apart: the LineTooLong aiohttp raises names the limit, which tells the two apart.
CLIENT_FIELD_BYTES = 2 * ORIGIN_FIELD_BYTES
CLIENT_LINE_BYTES = CLIENT_FIELD_BYTES + 1
RawHeaders = tuple[tuple[bytes, bytes], ...]


class _OriginProtocol(ResponseHandler):
    """aiohttp's origin connection, taking two sloppy answers as a browser does (aiohttp's
    client refused them, and the visitor got a 502):
    - a 204 or a 304 with bytes after its head (a body old PHP or a hand-written server
      added, in the same packet): dropped, and the connection closed after it (Chromium
      ignores them; a 304 shows its cached copy);
    - a Content-Length repeated with the same value (two lines, or "5, 5"): one (RFC 9110
      8.6; Chromium takes it, and refuses different values, as aiohttp still does).
    Only the first bytes of an answer are looked at (a head cut in two goes as it did)."""

    # The response parser given the first bytes of its answer: aiohttp makes one for each
    # request (set_response_params), so bytes for a parser not yet given any begin an answer.
    # (Told so, not flagged by wrapping set_response_params: its ten arguments passed on.)
    answered: object = None

    def is_connected(self) -> bool:
        """Whether the pool may reuse this connection (aiohttp's pool asks it of idle ones):
        not if the origin sent anything while it sat idle (a response after a 204, a 304, or
        past its Content-Length): its next request read that instead of its own answer, and
        every later visitor got the previous one's page and session cookie; the pool closes
        it. (As nginx's keepalive does; bytes still in flight when the request goes out are
        every HTTP/1.1 pool's risk. Asked here, not by a wrapper around the pool's _get: a
        coroutine more on each request.)"""
        transport = self.transport
        return transport is not None and not transport.is_closing() and not self.should_close

    def data_received(self, data: bytes) -> None:
        if self._parser is not self.answered and data:
            self.answered = self._parser
            size = data.find(b"\r\n\r\n") + 4
            if size == 3 and (end := _HEAD_END.search(data)) is not None:  # (bare LFs)
                size = end.end()
            if size > 3:
                head = data[:size]
                one = _one_length(head)
                if data[9:12] in _BODILESS and data.startswith(b"HTTP/1.") and size < len(data):
                    self._should_close = True  # (what follows on it is not an answer)
                    data = one
                elif one is not head:
                    data = one + data[size:]
        super().data_received(data)


_BODILESS = (b"204", b"304")
_HEAD_END = re.compile(rb"\n\r?\n")
_LENGTH = re.compile(rb"(?im)^content-length[ \t]*:([^\r\n]*)\r?\n")


def _one_length(head: bytes) -> bytes:
    """The head with its Content-Length once if it repeats one value, else as it is (the
    same object: most heads have one, found without a regex)."""
    lower = head.lower()
    at = lower.find(b"\ncontent-length")
    if at < 0 or (
        lower.find(b"\ncontent-length", at + 15) < 0
        and lower.find(b",", at, lower.find(b"\n", at + 15)) < 0
    ):
        return head
    values = {v.strip() for m in _LENGTH.finditer(head) for v in m[1].split(b",")}
    if len(values) != 1:
        return head
    line_end = head.find(b"\n") + 1
    rest = _LENGTH.sub(b"", head[line_end:])
    return head[:line_end] + b"Content-Length: " + values.pop() + b"\r\n" + rest


class _OriginConnector(aiohttp.TCPConnector):
    """aiohttp's pool of _OriginProtocol connections."""

    def __init__(self, **options: Any):
        super().__init__(**options)
        self._factory = functools.partial(_OriginProtocol, loop=self._loop)  # type: ignore[assignment]


# Headers aiohttp's client would add that the origin gets only from the visitor.
NOT_ADDED = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")
_NOT_ADDED = CIMultiDict((name, None) for name in NOT_ADDED)


class _OriginRequest(aiohttp.ClientRequest):
    """aiohttp's request to the origin, its headers taken as the engine made them: Host,
    then the engine's list (which has no Host) in one copy, and none of aiohttp's own
    (NOT_ADDED). aiohttp's client went over them one by one in Python, twice more, looking
    for a Host and for its own headers, and built its skip list again on each request
    (~26,000 instructions a request, callgrind; a text response took ~1,040,000)."""

    def update_headers(self, headers: Any) -> None:
        host = self.url.host_port_subcomponent
        assert host is not None  # (an absolute URL: _origin_url's)
        self.headers = CIMultiDict(((hdrs.HOST, host),))
        if headers:
            self.headers.extend(headers)

    def update_auto_headers(self, skip_auto_headers: Any) -> None:
        self._skip_auto_headers = _NOT_ADDED


class ProxyServer:
    """Owns the upstream client session; `handle` serves one visitor request."""

    def __init__(self, engine: Engine):
        assert engine.config.upstream, "the aiohttp proxy needs a fixed upstream"
        self.engine = engine  # swapped whole by reload(); in-flight requests keep theirs
        self.session: aiohttp.ClientSession | None = None
        self.ws_session: aiohttp.ClientSession  # (made with session)
        self.on_done: Callable[[str, str, int, float, int, Report], None] | None = None
        self.in_flight: set[asyncio.Task[object]] = set()  # requests being answered
        self.records: Records | None = None  # opened by start(), closed by close()
        self.head_with_body = HEAD_WITH_BODY_BYTES  # (any size with scattered writes)
        # Header blocks seen (see HEADS): the visitors', the origin's.
        self.heads: dict[RawHeaders, Head] = {}
        self.origin_heads: dict[RawHeaders, Head] = {}
        # The responses being streamed: the visitor's transport -> [writes done, writes done
        # at the last sweep (-1: none yet)]; see _sweep.
        self.sending: dict[asyncio.Transport, list[int]] = {}
        self.sweeper: asyncio.TimerHandle | None = None

    def _sweep(self) -> None:
        """Every SEND_TIMEOUT: close the connection of each visitor whose response made no
        progress since the last sweep (the write waiting on it then fails, the handler ends
        and the origin connection is let go)."""
        for transport, writes in list(self.sending.items()):
            if writes[0] == writes[1]:
                log.warning("a visitor took nothing for %d s: connection closed", SEND_TIMEOUT)
                transport.abort()
            writes[1] = writes[0]
        self.sweeper = asyncio.get_running_loop().call_later(SEND_TIMEOUT, self._sweep)

    async def drain(self, grace: float) -> None:
        """Requests in flight get `grace` seconds to finish; the rest (endless streams,
        WebSockets, a silent origin) are cancelled, so stopping never hangs. Said in the
        log: a stop cutting requests was silent."""
        if self.in_flight:
            log.info("stopping: %d requests in flight get %g s", len(self.in_flight), grace)
            await asyncio.wait(set(self.in_flight), timeout=grace)
        self.hurry()

    def hurry(self) -> None:
        """Cancel every request in flight now (a second SIGTERM)."""
        if self.in_flight:
            log.warning("stopping: %d requests cut", len(self.in_flight))
        for task in self.in_flight:
            task.cancel()

    @property
    def upstream(self) -> str:
        return self.engine.config.upstream or ""

    async def reload(self, engine: Engine) -> None:
        """Serve new requests with a new engine (a new config). The probes carry over, and
        the records writer too while the records settings stay; otherwise the new one is
        opened first and the old one closed after (what it has queued is written), so no
        decision and no readiness check is lost."""
        previous = self.engine
        old = await take_over(previous, engine)
        engine.probes = previous.probes
        engine.endpoints.carry_over(previous.endpoints)
        self.engine, self.records = engine, engine.records
        if old is not None:
            await old.close()

    async def upstream_reachable(self) -> bool:
        """Readiness: the origin (the running config's) answers HTTP at all."""
        return await upstream_answers(self.upstream)

    async def start(self) -> None:
        connector = _OriginConnector(limit=0, ttl_dns_cache=300)
        settings: dict[str, Any] = {
            "auto_decompress": False,
            "cookie_jar": aiohttp.DummyCookieJar(),
            "timeout": aiohttp.ClientTimeout(
                total=None, sock_connect=CONNECT_TIMEOUT, sock_read=READ_TIMEOUT
            ),
            # (nothing the visitor did not send: aiohttp would add these)
            "skip_auto_headers": NOT_ADDED,
            "max_line_size": CLIENT_LINE_BYTES,
            "max_field_size": CLIENT_FIELD_BYTES,
            "max_headers": ORIGIN_HEADERS,
        }
        self.session = aiohttp.ClientSession(
            connector=connector, request_class=_OriginRequest, **settings
        )
        # The engine's headers taken in one C-level copy: aiohttp merged them with the
        # session's defaults (it has none) one by one in Python, ~19,000 instructions a request.
        self.session._prepare_headers = CIMultiDict  # type: ignore[method-assign,assignment]
        # WebSocket handshakes' own (ws_connect follows redirects, which nothing else asks):
        # one sharing the connector, so that the middleware costs other requests nothing.
        self.ws_session = aiohttp.ClientSession(
            connector=connector, connector_owner=False, middlewares=(_unfollowed,), **settings
        )

        self.records = self.engine.records = await keep_records(self.engine.config.records)
        self.sweeper = asyncio.get_running_loop().call_later(SEND_TIMEOUT, self._sweep)
        if not getattr(http_writer, "SKIP_WRITELINES", True):
            self.head_with_body = sys.maxsize
        self.engine.probes["upstream"] = self.upstream_reachable

    async def close(self) -> None:
        if self.sweeper is not None:
            self.sweeper.cancel()
        if self.session is not None:
            await self.ws_session.close()
            await self.session.close()
        if self.records is not None:  # flush what is queued
            await self.records.close()

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        started = time.perf_counter()
        task = asyncio.current_task()
        assert task is not None
        self.in_flight.add(task)
        try:
            head = _head(self.heads, request.raw_headers)
            ex = self.engine.begin(
                Request(
                    method=request.method,
                    target=request.raw_path,
                    headers=head.headers,
                    scheme=request.scheme,
                    client_ip=request.protocol.peer_ip,  # type: ignore[attr-defined]
                    head=head,
                )
            )
            resp = await self._handle(request, ex)
        finally:
            self.in_flight.discard(task)
        if self.on_done is not None:
            sent = resp.body_length
            if not sent and isinstance(resp, _Answer) and request.method != "HEAD":
                sent = resp.content_length or 0  # (written once returned: its length)
            self.on_done(
                request.method,
                request.raw_path,
                resp.status,
                time.perf_counter() - started,
                sent,
                ex.report,
            )
        return resp

    async def _handle(self, request: web.BaseRequest, ex: Exchange) -> web.StreamResponse:
        has_body = ex.req.has_body
        # A visitor's head with bytes that are not UTF-8: the heads made of it carry RAW (the
        # origin's, and a deletion naming its cookie as it came). Found once a request.
        raw = type(ex.req.parsed) is _RawHead
        expect = ex.req.first.get("expect")
        if (
            has_body
            and expect is not None
            and expect.lower() == "100-continue"
            and request.version >= aiohttp.HttpVersion11  # (1.0: ignored, RFC 9110 10.1.1)
        ):
            # we read the body ourselves: tell the visitor to send it (as aiohttp's router does)
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            request.writer.output_size = 0
        limits = self.engine.config.limits
        if ex.is_local:
            try:
                body = await _TimedBody(request.content, limits).read_at_most(MAX_BODY + 1)
            except BodyTimeout:
                return _too_slow()
            local = ex.local_response(body)
            if local.complete is not None:
                local.status, local.body = await local.complete()
            answer = _Answer(status=local.status, body=local.body)
            for k, v in local.headers:
                answer.headers.add(k, v)
            if raw:
                answer.headers.add(*RAW)
            if ex.error is not None:  # a request refused outright: no more on this connection
                answer.force_close()
            return answer
        up_headers = ex.upstream_headers()
        if len(ex.req.first) < len(ex.req.headers):  # a name repeats (rare)
            up_headers = _one_spelling(up_headers)
        if raw:
            up_headers = [*up_headers, RAW]
        if is_websocket(ex.req):
            return await self._websocket(request, ex, up_headers, raw)
        body_reader = _TimedBody(request.content, limits) if has_body else None
        upload = body_reader.chunks() if body_reader is not None else None
        asked = time.perf_counter()
        # The engine refused any target that is not a path: this stays on the origin.
        url = _origin_url(self.upstream, request.raw_path)
        try:
            try:
                upstream = await self._ask(request.method, url, up_headers, upload)
            except aiohttp.ClientResponseError:
                if request.method != "HEAD":
                    raise
                # An origin that sends its body to a HEAD too, in the packet of its head:
                # aiohttp reads that body as a malformed next response. Asked again as a GET,
                # whose head a HEAD's is (RFC 9110 9.3.2); its body is left unread.
                # (no Content-Length: the HEAD's body, if it had one, is not sent again)
                upstream = await self._ask("GET", url, without(up_headers, "content-length"), None)
            ex.report.upstream_seconds = time.perf_counter() - asked
        except TimeoutError:
            return _error(504, f"{UPSTREAM_FAILED} did not answer in time.")
        except (aiohttp.ClientError, OSError) as e:
            # a body too slow: aiohttp dropped the origin's connection with it
            if body_reader is not None and body_reader.timed_out:
                return _too_slow()
            if body_reader is not None and body_reader.left:  # (not the origin's failure)
                log.info(
                    "%s %s: the visitor left during its upload", request.method, _logged(request)
                )
                return _error(VISITOR_LEFT, "The request body was cut.")
            if why := _over_limits(e):  # (its head arrived: the origin is there)
                log.warning("%s %s: the origin sent %s", request.method, _logged(request), why)
                return _error(502, unpassable_message(why))
            log.warning("upstream %s failed: %s", redacted(self.upstream), _failure(e))
            return _error(502, f"{UPSTREAM_FAILED} cannot be reached.")
        async with upstream:
            origin = _head(self.origin_heads, upstream.raw_headers)
            status = upstream.status
            longest = _longest(upstream.raw_headers, origin.size)
            phrase = len((upstream.reason or "").encode(errors="surrogateescape"))
            fields = len(upstream.raw_headers)
            # (WebSockets: _websocket)
            if why := unpassable(status, False, origin.size, longest, fields, phrase):
                log.warning("%s %s: the origin sent %s", request.method, _logged(request), why)
                return _error(502, unpassable_message(why))
            plan = ex.response(status, origin.headers, origin)
            if raw or type(origin) is _RawHead:
                plan.headers = [*plan.headers, RAW]
            # (a control character in the reason phrase: aiohttp raised, and sent a 500)
            reason = upstream.reason if upstream.reason and sendable(upstream.reason) else None
            if not plan.has_body:
                resp = _response(status, reason, bodiless_head(status, plan.headers))
                await resp.prepare(request)
                return resp
            content = upstream.content
            # The head goes out with the first bytes when that costs less than a write of
            # its own: always with scattered writes (no copy), else for a page (its chunk is
            # copied into its framing anyway) or a short body.
            first: list[Buffer]
            if plan.body is None:
                arrived = _arrived(content)
                first, at_hand = [arrived], 0 < len(arrived) <= self.head_with_body
            else:  # a page that fails at once is a plain 502
                try:
                    data = await content.readany()  # (all of it, if at_eof: one step)
                    first = plan.body.sliced(data, content.at_eof())
                    at_hand = any(first)
                except (BodyError, aiohttp.ClientPayloadError) as e:
                    log.warning("%s %s: %s", request.method, _logged(request), e)
                    return _error(
                        502,
                        f"{UPSTREAM_FAILED} sent a page this proxy cannot rewrite: {e}.",
                    )
            whole = content.at_eof() and not (plan.body is not None and plan.body.pending)
            resp = _response(
                status,
                reason,
                plan.headers,
                at_hand,
                typed="content-type" in origin.first,
            )
            if request.version < aiohttp.HttpVersion11 and resp.content_length is None:
                resp.force_close()  # no chunks in HTTP/1.0: the close ends the body
            await resp.prepare(request)
            transport = request.transport
            writes = [0, -1]
            if transport is not None and not whole:
                self.sending[transport] = writes  # (see _sweep)
            try:
                if whole:  # head, body and end of the chunks in one write
                    await resp.write_eof_scattered(first)
                    return resp
                await resp.write_eof_scattered(
                    await self._pump(upstream, resp, plan.body, first, writes)
                )
            except (BodyError, aiohttp.ClientPayloadError, TimeoutError) as e:
                log.warning(
                    "%s %s: body failed mid-stream: %s", request.method, _logged(request), e
                )
                if plan.body is not None and isinstance(e, aiohttp.ClientPayloadError):
                    await _as_far_as_it_came(resp, plan.body)
                if request.transport is not None:
                    request.transport.close()  # the visitor must see a broken response
                return resp
            except ConnectionError:  # the visitor left mid-body: nothing to answer (a
                # reset, or aiohttp's ConnectionError when it left while a write waited)
                return resp
            finally:
                if transport is not None:
                    self.sending.pop(transport, None)
            return resp

    def _ask(
        self, method: str, url: URL, headers: Headers, data: AsyncIterator[bytes] | None
    ) -> Awaitable[aiohttp.ClientResponse]:
        """The origin's answer to a request, to await (the session's own coroutine: no
        coroutine of ours around it on every request). Its `_request`, which `request`
        wraps for `async with` (unused here: the adapter awaits it) after binding its
        keywords once more, through a generic alias whose call made and dropped an
        AttributeError (`__orig_class__` on a slotted object): ~13,000 instructions of a
        text response's ~939,000 (callgrind)."""
        assert self.session is not None
        return self.session._request(
            method,
            url,
            headers=headers,
            data=data,
            allow_redirects=False,
            compress=None,
            chunked=None,
        )

    async def _pump(
        self,
        upstream: aiohttp.ClientResponse,
        resp: web.StreamResponse,
        transform: BodyTransform | None,
        first: list[Buffer],
        writes: list[int],
    ) -> list[Buffer]:
        """Stream the body from its first bytes out (and what `sliced` left of them),
        counting writes for _sweep; returns its last pieces, to go out with the end of the
        response in one write (chunked framing: a write and a system call fewer). Other
        requests run between two slices of a rewrite."""
        content = upstream.content
        out, last = first, content.at_eof()
        while not last or (transform is not None and transform.pending):
            if data := b"".join(out):
                await resp.write(data)
                writes[0] += 1
            if transform is not None and transform.pending:
                await asyncio.sleep(0)
                out = transform.more()
                continue
            chunk = await content.readany()
            if not chunk:
                return [] if transform is None else [transform.close()]
            last = content.at_eof()
            out = [chunk] if transform is None else transform.sliced(chunk, last)
        return out

    async def _websocket(
        self, request: web.BaseRequest, ex: Exchange, headers: Headers, raw: bool
    ) -> web.StreamResponse:
        """Relay a WebSocket: serve answers the visitor's handshake itself, with the
        Set-Cookie of the origin's 101 as the engine leaves them (a session's kept; browsers
        store a 101's cookies)."""
        assert self.session is not None
        http_url = _origin_url(self.upstream, request.raw_path)
        url = http_url.with_scheme("wss" if http_url.scheme == "https" else "ws")
        skip = {
            "sec-websocket-key",
            "sec-websocket-version",
            "sec-websocket-extensions",
            "sec-websocket-protocol",
            "content-length",  # (a handshake's body is never read: the origin waited for it)
        }
        protocols = [
            p.strip()
            for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
            if p.strip()
        ]
        if not _WebSocket(protocols=protocols).can_prepare(request).ok:
            # (no Connection: Upgrade, no key: asked of the origin first, its WebSocket was
            # left open, and aiohttp's own 400 went out, naming its version)
            return _error(400, "not a WebSocket handshake this proxy can answer")
        try:
            upstream = await self.ws_session.ws_connect(
                url,
                headers=[(k, v) for k, v in headers if k.lower() not in skip],
                protocols=protocols,
                max_msg_size=WS_MESSAGE_BYTES,
            )
        except aiohttp.WSServerHandshakeError as e:
            if e.headers is None or e.status < 200 or unpassable(e.status, False, 0):
                return _error(502, f"{UPSTREAM_FAILED} refused the WebSocket.")  # (a bad 101)
            return await self._refused_handshake(request, ex, e.status, e.headers, raw)
        except (aiohttp.ClientError, OSError):
            return _error(502, f"{UPSTREAM_FAILED} refused the WebSocket.")
        ws = _WebSocket(
            protocols=[upstream.protocol] if upstream.protocol else (),
            max_msg_size=WS_MESSAGE_BYTES,
        )
        try:
            # (aiohttp keeps the 101 it got on the client WebSocket, as _response only)
            origin = _head(self.origin_heads, upstream._response.raw_headers)
            for k, v in ex.response(101, origin.headers, origin).headers:
                if k.lower() == "set-cookie":
                    ws.headers.add(k, v)
            if raw or type(origin) is _RawHead:
                ws.headers.add(*RAW)
            await ws.prepare(request)
        except BaseException:  # (the origin's WebSocket is not left open)
            await upstream.close()
            raise

        async def pump(
            src: aiohttp.ClientWebSocketResponse | web.WebSocketResponse,
            dst: aiohttp.ClientWebSocketResponse | web.WebSocketResponse,
        ) -> None:
            """src's messages to dst, then its close, with its code and reason (an
            application's own codes tell a client why, and whether to come back)."""
            code, reason = 1000, b""
            while True:
                msg = await src.receive()
                if msg.type == aiohttp.WSMsgType.TEXT:
                    await dst.send_str(msg.data)
                elif msg.type == aiohttp.WSMsgType.BINARY:
                    await dst.send_bytes(msg.data)
                elif msg.type in _WS_ENDS:
                    if msg.type == aiohttp.WSMsgType.CLOSE:  # (0: a close frame with no code)
                        code = msg.data if msg.data and msg.data not in _WS_UNSENDABLE else 1000
                        reason = (msg.extra or "").encode()
                    else:  # an error (a message over the limit: 1009), or a connection lost
                        code = src.close_code or 1011
                        code = 1011 if code in _WS_UNSENDABLE else code
                    break
            await dst.close(code=code, message=reason)

        await asyncio.gather(pump(ws, upstream), pump(upstream, ws), return_exceptions=True)
        return ws

    async def _refused_handshake(
        self,
        request: web.BaseRequest,
        ex: Exchange,
        status: int,
        headers: MultiMapping[str],
        raw: bool,
    ) -> web.StreamResponse:
        """The origin's answer to a WebSocket handshake that is no 101 (a 401 whose challenge
        Chromium answers, a 429's Retry-After, a redirect): its status and headers as the
        engine leaves them (its cookies filtered), without its body, which aiohttp's client
        does not keep; so no cache keeps it either."""
        origin = _head(
            self.origin_heads,
            tuple((k.encode(), v.encode(errors="surrogateescape")) for k, v in headers.items()),
        )
        plan = ex.response(status, origin.headers, origin, head_only=True)
        # (what a head whose body is not sent cannot keep: the body's framing and coding)
        out = without(
            plan.headers, "content-length", "transfer-encoding", "content-encoding", "cache-control"
        )
        out += [("Cache-Control", "no-store"), ("Content-Length", "0")]
        if raw or type(origin) is _RawHead:
            out.append(RAW)
        resp = _response(status, None, out)
        await resp.prepare(request)
        await resp.write_eof()
        return resp


async def _unfollowed(
    req: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    """A WebSocket handshake's redirect goes to the visitor as the origin sent it (Chromium
    follows none): ws_connect followed it from serve, to whatever host it named (an open
    redirect made serve open WebSockets into its own network, the visitor's cookies sent)."""
    resp = await handler(req)
    if resp.status in (301, 302, 303, 307, 308):
        resp.close()
        raise aiohttp.WSServerHandshakeError(
            resp.request_info, (), status=resp.status, message="a redirect", headers=resp.headers
        )
    return resp


_WS_ENDS = frozenset(
    {
        aiohttp.WSMsgType.CLOSE,
        aiohttp.WSMsgType.CLOSING,
        aiohttp.WSMsgType.CLOSED,
        aiohttp.WSMsgType.ERROR,
    }
)
# Close codes a peer may receive but never send (RFC 6455 7.4.1): 1005 is no code at all.
_WS_UNSENDABLE = frozenset({1005, 1006, 1015})


def scattered_writes() -> bool:
    """Let aiohttp hand uvloop a response's pieces (head, chunk framing, body) in one
    writelines() call, sent by one writev(), rather than join them into a copy first. aiohttp
    joins them on Python 3.12.0-3.12.8 and 3.13.0-3.13.1 (its SKIP_WRITELINES), whose own
    transports' writelines() ignored flow control (CVE-2024-12254); uvloop's transports have
    their own, which never did. For the runtime to call when it runs on uvloop: the copy was a
    rewritten page's size, on every page, and a text response's head took a system call of
    its own (bench/RESULTS.md). Whether aiohttp now writes scattered (an aiohttp without the
    setting is left as it is)."""
    if not hasattr(http_writer, "SKIP_WRITELINES"):
        return False
    http_writer.SKIP_WRITELINES = False
    return True


class BodyTimeout(Exception):
    """The visitor's request body paused too long or came too slowly."""


class _TimedBody:
    """A visitor's request body, read with limits.body_idle_seconds as the longest pause
    and limits.body_min_rate as the lowest average rate after it (one byte every few
    seconds would otherwise hold an origin connection for ever)."""

    def __init__(self, stream: aiohttp.StreamReader, limits: Limits):
        self.stream, self.limits = stream, limits
        self.timed_out = self.left = False
        self.started = self.received = 0.0

    async def _read(self, n: int) -> bytes:
        now = time.monotonic()
        if not self.started:
            self.started = now
        idle = self.limits.body_idle_seconds
        deadline = self.started + idle + self.received / self.limits.body_min_rate
        try:
            async with asyncio.timeout(min(idle, max(deadline - now, 0))):
                chunk = await self.stream.read(n)
        except TimeoutError:
            self.timed_out = True
            raise BodyTimeout from None
        except (aiohttp.ClientError, OSError):  # the visitor left mid-body
            self.left = True
            raise
        self.received += len(chunk)
        return chunk

    async def chunks(self) -> AsyncIterator[bytes]:
        while chunk := await self._read(1 << 16):
            yield chunk

    async def read_at_most(self, limit: int) -> bytes:
        """Up to `limit` bytes (StreamReader.read(n) returns what has arrived so far)."""
        chunks: list[bytes] = []
        size = 0
        while size < limit and (chunk := await self._read(limit - size)):
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)


class _NoServerBanner(web.StreamResponse):
    """A response with no header of aiohttp's own making: no Server header naming Python's
    and aiohttp's versions (a version banner an operator's scan flags, on sites that hide
    their own; the mitmproxy addon adds none), the origin's going on if it sent one; and,
    when the origin sent no Content-Type (typed False), none (aiohttp would give the body
    application/octet-stream, and a browser would then download what it sniffs and shows:
    an image, a legacy page; the engine gave a body a browser may sniff as a document the
    mode's CSP)."""

    typed = True

    async def _prepare_headers(self) -> None:
        own = hdrs.SERVER in self._headers
        await super()._prepare_headers()
        if not own:
            self._headers.popall(hdrs.SERVER, None)
        if not self.typed:
            self._headers.popall(hdrs.CONTENT_TYPE, None)


class _Relayed(_NoServerBanner):
    """The origin's response, as the engine planned it. body_at_hand: its head goes out with
    its first body bytes, in one write (aiohttp's StreamResponse sends the head alone at
    prepare(), a write and a system call more). typed: see _NoServerBanner."""

    def __init__(
        self, status: int, reason: str | None, headers: Headers, body_at_hand: bool, typed: bool
    ):
        super().__init__(status=status, reason=reason, headers=headers)
        self._send_headers_immediately = not body_at_hand  # (aiohttp >= 3.12; older: at once)
        self.typed = typed

    async def write_eof_scattered(self, pieces: list[Buffer]) -> None:
        """write_eof(b"".join(pieces)) without the join: the head (if it waits for the body),
        the chunk's framing and the pieces (a rewritten page's runs, which the rewriter did not
        copy, and the bytes it put in) go to the transport in one writelines() call, one
        writev() on uvloop. aiohttp's write_eof takes one buffer: the join copied every page
        whole once more (~110 K instructions of a 100 KB page's ~2,280 K, callgrind). Joined
        as before for one piece, an empty or unchunked body, or a writer that joins anyway."""
        if not 2 <= len(pieces) <= SCATTERED_PIECES:  # (a join of one piece copies nothing)
            await self.write_eof(b"".join(pieces))
            return
        writer = self._payload_writer
        size = sum(map(len, cast("list[Sized]", pieces)))  # (bytes and Spans: sized)
        if (
            size < SCATTERED_PIECE_BYTES * len(pieces)
            or http_writer.SKIP_WRITELINES
            or type(writer) is not http_writer.StreamWriter
            or not writer.chunked
            or writer._compress is not None
        ):
            await self.write_eof(b"".join(pieces))
            return
        framing = f"{size:x}\r\n".encode("ascii")
        lines = [framing, *pieces, LAST_CHUNK]
        size += len(framing) + len(LAST_CHUNK)
        if (head := writer._headers_buf) and not writer._headers_written:
            lines.insert(0, head)
            size += len(head)
            writer._headers_buf, writer._headers_written = None, True
        transport = writer.transport  # (what aiohttp's _writelines does, with the size known)
        if transport is None or transport.is_closing():
            raise ClientConnectionResetError("Cannot write to closing transport")
        writer.buffer_size += size
        writer.output_size += size
        transport.writelines(cast("list[bytes]", lines))
        await writer.drain()
        # What aiohttp's write_eof does after its write (no call of it: ~10 K instructions)
        writer._eof = self._eof_sent = True
        self._req = self._payload_writer = None
        self._body_length = writer.output_size


class _Answer(_NoServerBanner, web.Response):
    """The proxy's own answer (its endpoints, its errors)."""


class _WebSocket(_NoServerBanner, web.WebSocketResponse):
    """The visitor's end of a WebSocket relayed to the origin."""


def _one_spelling(headers: Headers) -> Headers:
    """Each header name spelled as where it first came: aiohttp's client keeps a repeated
    header only when both spell its name alike (X-A: 1 then x-a: 2 reached the origin as
    x-a: 2 alone)."""
    spelling: dict[str, str] = {}
    return [(spelling.setdefault(k.lower(), k), v) for k, v in headers]


async def _as_far_as_it_came(resp: web.StreamResponse, page: BodyTransform) -> None:
    """A page the origin cut short (a Content-Length past its end, no last chunk) goes on
    rewritten as far as it came, then is cut (the visitor sees it broken), as Chromium shows
    the part it got: what the rewriter held back (its first bytes, to find where the banner
    goes) was lost, and the visitor got an empty page. Everything before was written (_pump
    reads only then). A body that cannot end (a coding cut mid-block) is cut as it is."""
    try:
        rest = page.close()
    except BodyError:
        return
    if rest:
        await resp.write(rest)


def _response(
    status: int,
    reason: str | None,
    headers: Headers,
    body_at_hand: bool = False,
    typed: bool = True,
) -> _Relayed:
    """body_at_hand: body bytes are written right after prepare(), so the head can wait for
    them; else it goes out at once (a stream's first bytes may take long: an event stream,
    a slow origin). typed: the origin sent a Content-Type (see _Relayed)."""
    return _Relayed(status, reason, headers, body_at_hand, typed)


def _origin_url(upstream: str, target: str) -> URL:
    """The origin's URL for a request target, whose path and query go to the origin as the
    visitor sent them: parsed as text, yarl would resolve `%2e%2e` segments, decode `%7e`,
    upper-case `%2f` and escape a stray `%`, so that the origin would serve another resource
    than the one the engine judged, and a signed URL would no longer match its signature.
    (The engine refused any target that is not a path; encoded: no parse cost either.)"""
    return URL(upstream + target, encoded=True)


def _logged(request: web.BaseRequest) -> str:
    """The request's path as logged: without its query, which may hold what the visitor
    typed or a token (README: no query string in the logs)."""
    return request.raw_path.partition("?")[0]


def _failure(e: BaseException) -> str:
    """What went wrong asking the origin, for the log: aiohttp's message names the URL
    asked, query included, in a response or URL error."""
    if isinstance(e, aiohttp.ClientResponseError):
        return f"{type(e).__name__}: {e.status}, {ascii(e.message)[:200]}"
    if isinstance(e, aiohttp.InvalidURL):
        return type(e).__name__
    return f"{type(e).__name__}: {e}"


def _over_limits(e: BaseException) -> str | None:
    """What of the origin's head the client refused for its limits (CLIENT_LINE_BYTES,
    CLIENT_FIELD_BYTES, ORIGIN_HEADERS), in adapter.unpassable's words (the addon's 502 for
    it), or None: it answered "cannot be reached" for a head that came. aiohttp raises a ClientResponseError
    caused by an HttpProcessingError caused by what its parser raised."""
    cause: BaseException | None = e
    while cause is not None:
        if isinstance(cause, LineTooLong):
            return LONG_REASON if cause.args[1] == CLIENT_LINE_BYTES else LONG_FIELD
        if _too_many_headers(cause):
            return MANY_FIELDS
        cause = cause.__cause__
    return None


def _longest(raw: RawHeaders, head_bytes: int) -> int:
    """The longest field's name and value, as the addon counts it (mitmproxy reads a value
    without its trailing spaces); looked for only in a head that can hold one over
    ORIGIN_FIELD_BYTES, so that the usual head costs nothing."""
    if head_bytes <= ORIGIN_FIELD_BYTES:
        return 0
    return max(len(k) + len(v.rstrip(b" \t")) for k, v in raw)


def _too_many_headers(exc: BaseException | None) -> bool:
    """Whether aiohttp refused a request head for its number of fields (no type of its own)."""
    return isinstance(exc, HttpProcessingError) and "Too many headers" in str(exc)


def _refusal(exc: HttpProcessingError) -> str:
    """What was wrong with a request aiohttp could not parse: its kind and the limit
    passed, never its bytes (aiohttp quotes them: a Cookie header's session id)."""
    if isinstance(exc, LineTooLong):
        return f"a line over {exc.args[1]} bytes"
    return "too many header fields" if _too_many_headers(exc) else type(exc).__name__


def _arrived(content: aiohttp.StreamReader) -> bytes:
    """The body bytes that came with the origin's head (no wait); a failure is left for the
    pump to meet, after the head has gone out (as when it comes later)."""
    try:
        return content.read_nowait()
    except aiohttp.ClientPayloadError:
        return b""


def _too_slow() -> web.Response:
    resp = _error(408, "The request body came too slowly.")
    resp.force_close()
    return resp


def _head(heads: dict[RawHeaders, Head], raw: RawHeaders) -> Head:
    """A header block (a visitor's or the origin's) worked out, or found in heads if the
    same bytes came before. Read as UTF-8, which aiohttp writes back as it came; a block
    with other bytes is a _RawHead."""
    head = heads.get(raw)
    if head is None:
        try:  # all UTF-8 (the usual case): one pass
            head = Head.of([(k.decode("latin-1"), v.decode()) for k, v in raw])
        except UnicodeDecodeError:
            head = _RawHead.of(
                [
                    (k.decode(errors="surrogateescape"), v.decode(errors="surrogateescape"))
                    for k, v in raw
                ]
            )
        if head.size <= HEAD_BYTES:
            if len(heads) >= HEADS:
                heads.clear()
            heads[raw] = head
    return head


class _RawHead(Head):
    """A header block with bytes that are not UTF-8: a legacy site's Latin-1 file name in
    Content-Disposition, a cookie value set in its page's charset. Its bytes are read with
    surrogateescape, and the headers made of it carry RAW so that they leave as they came
    (aiohttp encodes header text as UTF-8: é (0xE9) left as C3 A9, and drops surrogates)."""


# A header aiohttp's writer never sends (see _serialize_headers): its name has a space, which
# no header name read from the wire has.
RAW = ("consentproxy raw bytes", "")
_serialize_utf8 = http_writer._serialize_headers


def _serialize_headers(status_line: str, headers: CIMultiDict[str]) -> bytes:
    """aiohttp's head serializer (requests and responses alike), but for a head that carries
    RAW, whose text is written back to the bytes it was read from (surrogateescape). Installed
    in aiohttp's http_writer, which looks it up at each head it writes."""
    if RAW[0] not in headers:
        return _serialize_utf8(status_line, headers)
    lines = [status_line]
    for name, value in headers.items():
        if name == RAW[0]:
            continue
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError("Newline or carriage return character detected in HTTP header")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode(errors="surrogateescape")


http_writer._serialize_headers = _serialize_headers


def _error(status: int, message: str) -> web.Response:
    return _Answer(status=status, text=message + "\n", headers={"Cache-Control": "no-store"})


class _Handler(RequestHandler):
    """aiohttp's connection handler, answering what it cannot parse as nginx would: a head
    over the limits is a 431, and a malformed request is one log line, not a traceback (and
    no Server header, see _NoServerBanner).
    It knows the visitor's address (asked once a connection: a system call each time)."""

    peer_ip = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        self.peer_ip = peer[0] if peer else ""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if isinstance(exc, LineTooLong) or _too_many_headers(exc):
            status, message = 431, "request header fields too large\n"
        elif isinstance(exc, HttpProcessingError):
            message = "bad request\n"
        made = super().handle_error(request, status, exc, message)
        assert isinstance(made, web.Response)
        answer = _Answer(  # (aiohttp's own would name its version in a Server header)
            status=made.status,
            body=made.body,
            # (kept by no cache, as the engine's refusals of what this parser let through)
            headers={
                hdrs.CONTENT_TYPE: made.headers[hdrs.CONTENT_TYPE],
                "Cache-Control": "no-store",
            },
        )
        answer.force_close()
        return answer

    def log_exception(self, *args: object, **kw: object) -> None:
        exc = kw.get("exc_info")
        if isinstance(exc, HttpProcessingError):  # the visitor's mistake, not ours
            log.info("malformed request refused: %s", _refusal(exc))
        else:
            super().log_exception(*args, **kw)


class _Server(web.Server):
    def __call__(self) -> RequestHandler:
        return _Handler(self, loop=self._loop, **self._kwargs)


@dataclass
class Running:
    """A started proxy: where it listens, and how to stop it."""

    runner: web.BaseRunner
    proxy: ProxyServer
    port: int

    async def stop(self) -> None:
        """Stop accepting, let requests in flight finish within SHUTDOWN_SECONDS (cancel
        what is left), then close (records flushed): bounded, whatever the visitors do."""
        for site in self.runner.sites:
            await site.stop()
        await self.proxy.drain(SHUTDOWN_SECONDS)
        await self.runner.cleanup()
        await self.proxy.close()


async def start(engine: Engine, host: str, port: int, reuse_port: bool = False) -> Running:
    """Start serving on host:port (port 0: any free port). reuse_port: several worker
    processes share the port (SO_REUSEPORT; the kernel spreads connections)."""
    proxy = ProxyServer(engine)
    await proxy.start()
    # access_log=None: telemetry's JSON line is the access log (aiohttp's own would format
    # and write a second line per request, a tenth of a small request's cost).
    limits = engine.config.limits
    server = _Server(
        proxy.handle,
        # (a target over header_line_bytes reaches the engine, whose refusal is a 414)
        max_line_size=limits.request_head_bytes,
        max_field_size=limits.header_line_bytes,
        keepalive_timeout=KEEPALIVE_TIMEOUT,
        access_log=None,
        # A request body goes on as it came, coded or not (its Content-Encoding and length
        # with it), and the endpoints read it so: aiohttp decoded it, and the origin got
        # decoded bytes under the visitor's coding and length (cut to it, or waited for).
        auto_decompress=False,
    )
    # On stop, requests in flight get SHUTDOWN_SECONDS to finish.
    runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=SHUTDOWN_SECONDS)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True, reuse_port=reuse_port or None)
    try:
        await site.start()
    except OSError:  # (the port is taken: what was opened closes, records writer included)
        await runner.cleanup()
        await proxy.close()
        raise
    return Running(runner, proxy, runner.addresses[0][1])


async def start_metrics(scrape: Callable[[], bytes], host: str, port: int) -> web.AppRunner:
    """Prometheus' /metrics on an address of its own (never on the public port)."""

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(
            body=scrape(),
            content_type="text/plain",
            charset="utf-8",
            headers={"Cache-Control": "no-store"},
        )

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
