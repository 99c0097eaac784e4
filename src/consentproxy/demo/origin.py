"""A small but real aiohttp origin that behaves like the legacy sites consentproxy sits in front of.

It serves a directory of page files described by a ``pages.yaml`` manifest, one entry per URL path::

    /:          {file: index.html}
    /latin1:    {file: latin1.html, content_type: "text/html; charset=iso-8859-1"}
    /gzip:      {file: ga.html, encoding: gzip}                  # gzip | br | deflate | zstd
    /slow:      {file: slow.html, chunk_size: 512, chunk_delay_ms: 20}
    /gone:      {file: 404.html, status: 404}
    /tracked:   {file: t.html, set_cookies: ["_ga=GA1.2.1.1; Path=/", "PHPSESSID=abc; Path=/"]}

Keys: ``file`` (required, relative to the directory), ``content_type`` (default: ``text/html;
charset=utf-8`` for ``.html``, guessed from the extension otherwise), ``status`` (default 200),
``encoding``, ``chunk_size`` / ``chunk_delay_ms``, ``set_cookies`` (raw Set-Cookie values, sent
verbatim), ``headers`` (more response headers, such as the site's own CSP) and ``expect``
(free-form metadata for tests; the origin ignores it).

The origin deliberately misbehaves the way legacy servers do: ``encoding`` is applied whatever the
client's Accept-Encoding says, and chunked pages are trickled so a proxy that buffers or stalls
shows up in tests. Two helper endpoints exist for proxy tests: ``/api/echo-cookies`` (what Cookie
header reached the origin) and ``/api/big?mb=N`` (a large non-HTML body the proxy must stream).
"""

from __future__ import annotations

import asyncio
import gzip
import mimetypes
import pathlib
import zlib
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import brotli
import yaml
import zstandard
from aiohttp import web

MANIFEST_NAME = "pages.yaml"
HTML_CONTENT_TYPE = "text/html; charset=utf-8"
BIG_CHUNK = 64 * 1024
BIG_MAX_MB = 1024

ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,  # HTTP "deflate" is the zlib format (RFC 9110 §8.4.1.2)
    "br": brotli.compress,
    "zstd": zstandard.compress,
}

NOT_FOUND_HTML = (
    b"<!DOCTYPE html><html><head><title>404 Not Found</title></head>"
    b"<body><h1>Not Found</h1><p>The requested page does not exist on this server.</p>"
    b"</body></html>"
)

_KNOWN_KEYS = {
    "file",
    "content_type",
    "status",
    "encoding",
    "chunk_size",
    "chunk_delay_ms",
    "set_cookies",
    "headers",
    "expect",
}


@dataclass(frozen=True)
class PageSpec:
    """One manifest entry: what the origin sends for one URL path."""

    path: str
    file: str
    content_type: str
    status: int = 200
    encoding: str | None = None
    chunk_size: int | None = None
    chunk_delay_ms: int = 0
    set_cookies: tuple[str, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)  # e.g. the site's own CSP
    expect: Mapping[str, Any] = field(default_factory=dict)

    @property
    def cookie_names(self) -> tuple[str, ...]:
        """Names of the cookies this page sets, in manifest order."""
        return tuple(cookie.split("=", 1)[0].strip() for cookie in self.set_cookies)


def _default_content_type(file: str) -> str:
    """HTML is the common case; other files (js, css, json) get their usual type, in UTF-8."""
    if file.endswith((".html", ".htm")):
        return HTML_CONTENT_TYPE
    guessed = mimetypes.guess_type(file)[0] or "application/octet-stream"
    text_like = guessed.startswith("text/") or guessed in {
        "application/javascript",
        "application/json",
    }
    return f"{guessed}; charset=utf-8" if text_like else guessed


def _parse_entry(path: str, raw: Any) -> PageSpec:
    if not path.startswith("/") or not isinstance(raw, dict) or "file" not in raw:
        raise ValueError(f"{MANIFEST_NAME}: {path!r} must be a URL path mapping to {{file: ...}}")
    unknown = set(raw) - _KNOWN_KEYS
    if unknown:
        raise ValueError(f"{MANIFEST_NAME}: {path}: unknown keys {sorted(unknown)}")
    encoding = raw.get("encoding")
    if encoding is not None and encoding not in ENCODERS:
        raise ValueError(f"{MANIFEST_NAME}: {path}: encoding must be one of {sorted(ENCODERS)}")
    return PageSpec(
        path=path,
        file=raw["file"],
        content_type=raw.get("content_type") or _default_content_type(raw["file"]),
        status=int(raw.get("status", 200)),
        encoding=encoding,
        chunk_size=raw.get("chunk_size"),
        chunk_delay_ms=int(raw.get("chunk_delay_ms", 0)),
        set_cookies=tuple(raw.get("set_cookies") or ()),
        headers={str(k): str(v) for k, v in (raw.get("headers") or {}).items()},
        expect=raw.get("expect") or {},
    )


def load_manifest(pages_dir: pathlib.Path) -> dict[str, PageSpec]:
    """Parse ``pages_dir/pages.yaml``; fail loudly on typos so a broken corpus never passes."""
    raw = yaml.safe_load((pages_dir / MANIFEST_NAME).read_text(encoding="utf-8")) or {}
    pages = {path: _parse_entry(path, entry) for path, entry in raw.items()}
    for spec in pages.values():
        if not (pages_dir / spec.file).is_file():
            raise FileNotFoundError(f"{MANIFEST_NAME}: {spec.path}: missing file {spec.file}")
    return pages


@dataclass(frozen=True)
class _Page:
    spec: PageSpec
    body: bytes  # already encoded as the manifest says


PAGES_KEY = web.AppKey("pages", dict[str, _Page])


def make_origin_app(pages_dir: pathlib.Path) -> web.Application:
    """Build the origin app. Files are read and encoded once, at startup: the corpus is small and
    a missing file should break app creation, not a test halfway through."""
    pages: dict[str, _Page] = {}
    for path, spec in load_manifest(pages_dir).items():
        body = (pages_dir / spec.file).read_bytes()
        if spec.encoding:
            body = ENCODERS[spec.encoding](body)
        pages[path] = _Page(spec, body)

    app = web.Application()
    app[PAGES_KEY] = pages
    app.router.add_get("/api/echo-cookies", _echo_cookies)
    app.router.add_get("/api/big", _big)
    app.router.add_get("/{tail:.*}", _serve_page)
    return app


async def _serve_page(request: web.Request) -> web.StreamResponse:
    page = request.app[PAGES_KEY].get(request.path)
    if page is None:
        return web.Response(
            status=404, body=NOT_FOUND_HTML, content_type="text/html", charset="utf-8"
        )
    spec = page.spec
    headers: list[tuple[str, str]] = [("Content-Type", spec.content_type)]
    if spec.encoding:
        headers.append(("Content-Encoding", spec.encoding))
    headers += [("Set-Cookie", cookie) for cookie in spec.set_cookies]
    headers += list(spec.headers.items())

    if not spec.chunk_size:
        whole = web.Response(status=spec.status, body=page.body)
        for name, value in headers:
            whole.headers.add(name, value)
        return whole

    # Chunked and trickled: no Content-Length, so the proxy has to stream (or visibly stall).
    response = web.StreamResponse(status=spec.status)
    for name, value in headers:
        response.headers.add(name, value)
    response.enable_chunked_encoding()
    await response.prepare(request)
    try:
        for start in range(0, len(page.body), spec.chunk_size):
            await response.write(page.body[start : start + spec.chunk_size])
            await asyncio.sleep(spec.chunk_delay_ms / 1000)
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client (or a proxy) hung up mid-trickle: normal, not an origin error
    return response


async def _echo_cookies(request: web.Request) -> web.Response:
    """Lets tests prove which cookies the proxy forwarded upstream."""
    return web.json_response(
        {
            "cookie_header": request.headers.get("Cookie"),
            "cookies": dict(request.cookies),
        }
    )


async def _big(request: web.Request) -> web.StreamResponse:
    """N MiB of non-HTML bytes in 64 KiB writes: the proxy must pass it through without buffering."""
    try:
        mb = int(request.query.get("mb", "1"))
    except ValueError:
        raise web.HTTPBadRequest(text="mb must be an integer") from None
    if not 0 <= mb <= BIG_MAX_MB:
        raise web.HTTPBadRequest(text=f"mb must be within 0..{BIG_MAX_MB}")
    chunk = bytes(range(256)) * (BIG_CHUNK // 256)
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    response.content_length = mb * 1024 * 1024
    await response.prepare(request)
    for _ in range(mb * 1024 * 1024 // BIG_CHUNK):
        await response.write(chunk)
    await response.write_eof()
    return response


@asynccontextmanager
async def serve_app(
    app: web.Application, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[int]:
    """Run any aiohttp app (origin or proxy) on ``host``; yields the bound port (port 0 = any)."""
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()
