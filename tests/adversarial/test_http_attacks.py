"""A hostile visitor's request, through both adapters: request targets that would make the
proxy reach another host or port, Host headers that would make one request cost megabytes,
forged X-Forwarded-*, heads over the limits. Each test is named for the attack."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from urllib.parse import unquote_plus

import pytest
from aiohttp import web

from tests.adapters import app_in_thread

pytestmark = pytest.mark.timeout(60)


async def echo(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "path": request.raw_path,
            "host": request.host,
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in request.raw_headers],
        }
    )


@pytest.fixture(scope="module")
def origin() -> Iterator[str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    with app_in_thread(app) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
async def bystander() -> AsyncIterator[tuple[int, list[bytes]]]:
    """Another service on this machine: (its port, what each connection to it sent)."""
    seen: list[bytes] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.read(4096))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(record, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1], seen
    server.close()
    await server.wait_closed()


async def exchange(url: str, raw: bytes, wait: float = 10) -> bytes:
    """Send raw bytes to the proxy, return its answer (the head, and the body if it has a
    Content-Length)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(raw)
        await writer.drain()
        async with asyncio.timeout(wait):
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
            return head + (await reader.readexactly(int(length[1])) if length else b"")
    finally:
        writer.close()


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0


@pytest.mark.parametrize(
    "target",
    [
        "CONNECT @127.0.0.1:{port}",
        "CONNECT 127.0.0.1:{port}",
        "GET @127.0.0.1:{port}/",
        "GET http://127.0.0.1:{port}/",
        "POST http://user@127.0.0.1:{port}/x",
        "OPTIONS *",  # (asterisk-form: the server's own options, no path; helper-175)
    ],
)
async def test_request_target_tricks_never_reach_another_port(
    start_proxy: Callable[..., Awaitable[str]],
    origin: str,
    bystander: tuple[int, list[bytes]],
    target: str,
) -> None:
    port, seen = bystander
    proxy = await start_proxy(origin)
    answer = await exchange(
        proxy,
        f"{target.format(port=port)} HTTP/1.1\r\n"
        f"Host: shop.example.com\r\nContent-Length: 4\r\n"
        f"Connection: close\r\n\r\nbody".encode(),
    )
    assert b"secret" not in answer
    assert 400 <= status(answer) < 500, answer[:200]
    await asyncio.sleep(0.2)
    assert seen == []


@pytest.mark.parametrize(
    "target",
    [
        "/a/%2e%2e/admin",  # dot segments, encoded: the origin decides what they mean
        "/a/%2E%2e/%2e/b;c=d",
        "/files/a%2fb%2Fc",  # an encoded slash, in either case, stays one
        "/%7euser/?q=%7E&r=%2B+s",  # unreserved bytes encoded, '+' and its encoding
        "/100%zz",  # no escape: not to be read as one (nor escaped again)
        "/x?a=1&&b=&c",
        "/sign?X-Amz-Signature=ab%2Fcd%3D&Expires=1",  # a signed URL: its bytes are signed
    ],
)
async def test_request_target_reaches_the_origin_byte_for_byte(
    start_proxy: Callable[..., Awaitable[str]], origin: str, target: str
) -> None:
    """A reverse proxy that normalises the target (decodes, re-encodes, resolves `..`)
    serves another resource than the one asked for, breaks signed URLs, and lets a path
    read one way here and another at the origin."""
    proxy = await start_proxy(origin)
    answer = await exchange(
        proxy,
        f"GET {target} HTTP/1.1\r\nHost: shop.example.com\r\nConnection: close\r\n\r\n".encode(),
    )
    assert status(answer) == 200, answer[:300]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["path"] == target


async def test_request_headers_reach_the_origin_as_the_visitor_sent_them(
    start_proxy: Callable[..., Awaitable[str]], origin: str
) -> None:
    """Both values of a name spelled two ways (aiohttp's client kept the last alone), and no
    header the visitor did not send but the forwarding ones and CDN-Loop (it added Accept:
    */*)."""
    proxy = await start_proxy(origin)
    answer = await exchange(
        proxy,
        b"GET /h HTTP/1.1\r\nHost: shop.example.com\r\nX-Dup: 1\r\nx-dup: 2\r\n"
        b"X-Other: 3\r\nConnection: close\r\n\r\n",
    )
    seen = json.loads(answer.split(b"\r\n\r\n", 1)[1])["headers"]
    assert [v for k, v in seen if k.lower() == "x-dup"] == ["1", "2"]
    sent = {"host", "x-dup", "x-other", "connection"}  # (Host: the origin's own)
    added = {k.lower() for k, _ in seen} - sent
    assert added <= {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "cdn-loop"}


async def test_a_content_length_goes_to_the_origin_as_the_number_the_proxy_read(
    start_proxy: Callable[..., Awaitable[str]], origin: str, adapter: str
) -> None:
    """Zeros first are a number to the proxy and to most parsers, but not to all: the origin
    gets the digits the proxy framed the body by (mitmproxy refuses them)."""
    proxy = await start_proxy(origin)
    answer = await exchange(
        proxy,
        b"POST /h HTTP/1.1\r\nHost: shop.example.com\r\nContent-Length: 0005\r\n"
        b"Connection: close\r\n\r\nabcde",
    )
    if adapter == "mitmdump":
        assert status(answer) == 400 and b"content-length" in answer
        return
    seen = json.loads(answer.split(b"\r\n\r\n", 1)[1])["headers"]
    assert [v for k, v in seen if k.lower() == "content-length"] == ["5"]


async def test_every_x_forwarded_for_line_of_a_trusted_proxy_reaches_the_origin(
    start_proxy: Callable[..., Awaitable[str]], origin: str
) -> None:
    """A front proxy may add a line of its own after the visitor's: the first line alone went
    on, the visitor's forged address as the last hop, the real one lost."""
    proxy = await start_proxy(origin, "trusted_proxies: [127.0.0.1]\n")
    answer = await exchange(
        proxy,
        b"GET /h HTTP/1.1\r\nHost: shop.example.com\r\nX-Forwarded-For: 10.0.0.1\r\n"
        b"X-Forwarded-For: 203.0.113.77\r\nConnection: close\r\n\r\n",
    )
    seen = json.loads(answer.split(b"\r\n\r\n", 1)[1])["headers"]
    assert [v for k, v in seen if k.lower() == "x-forwarded-for"] == [
        "10.0.0.1, 203.0.113.77, 127.0.0.1"
    ]


async def test_host_with_two_thousand_labels_is_refused_not_answered_with_megabytes(
    start_proxy: Callable[..., Awaitable[str]], origin: str
) -> None:
    proxy = await start_proxy(origin)
    cookies = "; ".join(f"c{i}=1" for i in range(20))
    answer = await exchange(
        proxy,
        f"GET / HTTP/1.1\r\nHost: {'a.' * 2000}com\r\n"
        f"Cookie: {cookies}\r\nConnection: close\r\n\r\n".encode(),
    )
    assert status(answer) in (400, 431) and len(answer) < 4096


HUGE_HEAD = "".join(f"X-Filler-{i}: {'a' * 8000}\r\n" for i in range(8))  # 64 KB, 8 KB lines


async def test_request_head_over_32_kb_is_refused_with_431(
    start_proxy: Callable[..., Awaitable[str]], origin: str
) -> None:
    proxy = await start_proxy(origin)
    answer = await exchange(
        proxy,
        f"GET / HTTP/1.1\r\nHost: shop.example.com\r\n{HUGE_HEAD}"
        "Connection: close\r\n\r\n".encode(),
    )
    assert status(answer) == 431 and b'"path"' not in answer


async def test_request_target_over_the_line_limit_is_refused_with_414(
    start_proxy: Callable[..., Awaitable[str]], origin: str
) -> None:
    """(serve's HTTP parser stopped it first, as a 431 that named the headers)"""
    proxy = await start_proxy(origin)
    answer = await exchange(
        proxy,
        f"GET /{'a' * 9000} HTTP/1.1\r\nHost: shop.example.com\r\nConnection: close\r\n\r\n".encode(),
    )
    assert status(answer) == 414


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\x01b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 9000 + b"\r\n\r\n",
    ],
)
@pytest.mark.parametrize("adapter", ["aiohttp"])  # mitmdump logs in its own process
async def test_malformed_request_is_one_log_line_not_a_traceback(
    start_proxy: Callable[..., Awaitable[str]],
    origin: str,
    caplog: pytest.LogCaptureFixture,
    raw: bytes,
) -> None:
    proxy = await start_proxy(origin)
    with caplog.at_level(logging.INFO):  # serve's level
        answer = await exchange(proxy, raw)
        await asyncio.sleep(0.1)
    assert status(answer) in (400, 431)
    assert b"\r\nserver:" not in answer.lower()  # (no version banner on these either)
    assert [r for r in caplog.records if r.exc_info] == []
    lines = [r.getMessage() for r in caplog.records if r.name == "consentproxy"]
    # (aiohttp itself logs a first request that is not HTTP at all at debug level only)
    assert len(lines) <= 1 and all("\n" not in line for line in lines)


@pytest.fixture
async def counting_origin() -> AsyncIterator[tuple[str, set[asyncio.StreamWriter]]]:
    """An origin that reads whatever comes and answers nothing: (its URL, its connections
    still open)."""
    open_: set[asyncio.StreamWriter] = set()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        open_.add(writer)
        try:
            while await reader.read(4096):
                pass
        except ConnectionError:
            pass
        finally:
            open_.discard(writer)
            writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", open_
    server.close()


async def test_slow_request_body_is_cut_and_frees_the_origin_connection(
    adapter: str,
    start_proxy: Callable[..., Awaitable[str]],
    counting_origin: tuple[str, set[asyncio.StreamWriter]],
) -> None:
    """One byte every 0.2 s. serve answers 408 once the body averages under body_min_rate
    after body_idle_seconds; mitmproxy reads the whole body before it connects upstream, so
    the origin never sees the slow visitor (and the visitor only holds mitmproxy's side)."""
    upstream, open_ = counting_origin
    proxy = await start_proxy(upstream, "limits: {body_idle_seconds: 1, body_min_rate: 1000}\n")
    host, port = proxy.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    answer = b""
    try:
        writer.write(
            b"POST /upload HTTP/1.1\r\nHost: shop.example.com\r\nContent-Length: 100000\r\n\r\n"
        )
        for _ in range(20):  # 4 s
            writer.write(b"x")
            await writer.drain()
            try:
                answer += await asyncio.wait_for(reader.read(4096), 0.2)
            except TimeoutError:
                continue
            if answer == b"" or b"\r\n\r\n" in answer:
                break
        for _ in range(20):  # the proxy may still be closing it
            if not open_:
                break
            await asyncio.sleep(0.05)
        assert not open_, f"the slow visitor still holds a connection to the origin {answer}"
        if adapter == "aiohttp":
            assert status(answer) == 408
    finally:
        writer.close()


@pytest.mark.parametrize(
    "raw",
    [
        # a byte beyond ASCII in the return path: mitmproxy reads it as a surrogate escape,
        # which %-escaping failed on
        (
            b"GET /.consent/preferences?return=/\xff HTTP/1.1\r\nHost: shop.example.com\r\n"
            b"Cookie: _ga=GA1.1.1; PHPSESSID=s\r\nConnection: close\r\n\r\n"
        ),
        # a lone surrogate in a grant's URL: signing it failed
        (
            b"POST /.consent/grant HTTP/1.1\r\nHost: shop.example.com\r\n"
            b"Origin: http://shop.example.com\r\nContent-Type: application/json\r\n"
            b"Cookie: _ga=GA1.1.1; PHPSESSID=s\r\nContent-Length: 73\r\n"
            b"Connection: close\r\n\r\n"
            b'{"service": "facebook-pixel", "url": "https://www.facebook.com/tr\\ud800"}'
        ),
    ],
    ids=["return-path-byte-beyond-ascii", "grant-url-lone-surrogate"],
)
async def test_a_request_to_the_proxys_endpoints_it_cannot_read_is_a_400_never_sent_on(
    start_proxy: Callable[..., Awaitable[str]], bystander: tuple[int, list[bytes]], raw: bytes
) -> None:
    """serve answered the grant 500 (a traceback in its log); mitmproxy, whose addon raised,
    sent both requests on to the origin as the visitor had sent them, `_ga` and all."""
    port, seen = bystander  # (the origin here: what reaches it is recorded)
    proxy = await start_proxy(f"http://127.0.0.1:{port}")
    answer = await exchange(proxy, raw)
    assert status(answer) in (200, 400), answer[:300]  # (serve: aiohttp refuses a raw 0xff)
    assert b"secret" not in answer and b"Traceback" not in answer
    await asyncio.sleep(0.2)
    assert seen == []


@pytest.mark.parametrize("control", [b"\x00", b"\x01", b"\x1b", b"\x7f"])
async def test_a_control_character_in_the_request_target_is_a_400_never_sent_on(
    start_proxy: Callable[..., Awaitable[str]], bystander: tuple[int, list[bytes]], control: bytes
) -> None:
    """serve's parser refuses it; mitmproxy read `GET /a\\x00b` and sent it on, to an origin
    that may read the path up to the NUL or refuse it (a path the engine did not judge)."""
    port, seen = bystander  # (the origin here: what reaches it is recorded)
    proxy = await start_proxy(f"http://127.0.0.1:{port}")
    answer = await exchange(
        proxy,
        b"GET /a" + control + b"b HTTP/1.1\r\nHost: shop.example.com\r\nConnection: close\r\n\r\n",
    )
    assert status(answer) == 400 and b"secret" not in answer, answer[:300]
    await asyncio.sleep(0.2)
    assert seen == []


def read_as_rack2_and_php(cookie: str) -> set[str]:
    """The cookie names Rack 2 (Rails up to 7.0) reads in a Cookie header (split at `;` and
    `,`, Rack::Utils.parse_cookies_header: parse_query(header, ';,'), names %-decoded), and
    PHP (`.` read as `_`, `name[key]` as an array under `name`)."""
    names = {unquote_plus(p.split("=", 1)[0]) for p in re.split(r"[;,] *", cookie) if p}
    return names | {n.split("[")[0].replace(".", "_") for n in names}


async def test_no_tracking_cookie_reaches_an_origin_that_reads_names_otherwise(
    start_proxy: Callable[..., Awaitable[str]], origin: str
) -> None:
    """Found by helper-234: `PHPSESSID=s,_ga=GA1.2.3` (a necessary cookie's value a page's
    script may write) and, unknown cookies allowed, `%5Fgid=GA1.2.4` and `_ga.ABC=GA1.2.3`
    went to the origin as they came, where Rack 2 read `_ga` and `_gid` (as PHP before
    8.0.24 read `%5Fgid`), and PHP `_ga_ABC` (GA4's)."""
    proxy = await start_proxy(origin, "unknown_cookies: allow\n")
    answer = await exchange(
        proxy,
        b"GET / HTTP/1.1\r\nHost: shop.example.com\r\nCookie: PHPSESSID=s,_ga=GA1.2.3; "
        b"%5Fgid=GA1.2.4; _ga.ABC=GA1.2.3; theme=dark\r\nConnection: close\r\n\r\n",
    )
    assert status(answer) == 200, answer[:300]
    sent = json.loads(answer.split(b"\r\n\r\n", 1)[1])["headers"]
    cookies = [v for k, v in sent if k.lower() == "cookie"]
    assert cookies == ["theme=dark"]
    assert not read_as_rack2_and_php(cookies[0]) & {"_ga", "_gid", "_ga_ABC"}
