"""HTTP/2 for the addon's tests, with hyper-h2 (a mitmproxy dependency): an origin over TLS
that answers in the DATA frames a test gives, validating what it gets as RFC 9113 says
(h2's defaults, as a strict server), and a visitor that speaks HTTP/2 to mitmdump."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import h2.exceptions
from aiohttp import web

from tests.adapters import app_in_thread

# What the origin answers a request head with: its status line and headers, then the DATA
# frames of its body (an empty one without END_STREAM is legal), END_STREAM on the last.
Answer = tuple[list[tuple[str, str]], list[bytes]]


@dataclass
class H2Origin:
    port: int
    requests: list[list[tuple[str, str]]] = field(default_factory=list)  # heads it got
    refused: list[str] = field(default_factory=list)  # protocol errors it answered


@contextmanager
def h2_origin(
    cert: Path, key: Path, answer: Callable[[dict[str, str]], Answer]
) -> Iterator[H2Origin]:
    """A strict HTTP/2 origin over TLS on 127.0.0.1 (its own thread); `answer` gets each
    request's head (pseudo-headers included, names lower-cased)."""
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    tls.set_alpn_protocols(["h2"])
    origin = H2Origin(0)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        try:
            while data := await reader.read(65536):
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        head = [(k.decode(), v.decode()) for k, v in event.headers]
                        origin.requests.append(head)
                        await _answer(conn, writer, event.stream_id, answer(dict(head)))
                writer.write(conn.data_to_send())
                await writer.drain()
        except h2.exceptions.ProtocolError as e:
            origin.refused.append(str(e))
            writer.write(conn.data_to_send())
        finally:
            writer.close()

    app = web.Application()  # (for app_in_thread's loop and thread; the server is ours)

    servers: list[asyncio.Server] = []

    async def start(_: web.Application) -> None:
        servers.append(await asyncio.start_server(serve, "127.0.0.1", 0, ssl=tls))
        origin.port = servers[0].sockets[0].getsockname()[1]

    async def stop(_: web.Application) -> None:
        servers[0].close()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    with app_in_thread(app):
        yield origin


async def _answer(
    conn: h2.connection.H2Connection, writer: asyncio.StreamWriter, stream: int, answer: Answer
) -> None:
    """Each DATA frame on its own, a moment apart (so a proxy gets them one by one)."""
    head, frames = answer
    conn.send_headers(stream, head, end_stream=not frames)
    for i, frame in enumerate(frames):
        writer.write(conn.data_to_send())
        await writer.drain()
        await asyncio.sleep(0.05)
        conn.send_data(stream, frame, end_stream=i == len(frames) - 1)


def h2_ask(
    port: int, head: list[tuple[str, str]], chunks: tuple[bytes, ...] = ()
) -> tuple[int, list[tuple[str, str]], bytes] | None:
    """One HTTP/2 request over TLS (not verified) to 127.0.0.1:port, its body in DATA frames
    (no content-length unless `head` has one): (status, headers, body), or None when the
    stream or connection was reset."""
    tls = ssl.create_default_context()
    tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
    tls.set_alpn_protocols(["h2"])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        tls.wrap_socket(raw) as sock,
    ):
        conn = h2.connection.H2Connection()
        conn.initiate_connection()
        conn.send_headers(1, head, end_stream=not chunks)
        for i, chunk in enumerate(chunks):
            conn.send_data(1, chunk, end_stream=i == len(chunks) - 1)
        status, headers, body = 0, [], b""
        while True:
            sock.sendall(conn.data_to_send())
            data = sock.recv(65536)
            if not data:
                return None
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    headers = [(k.decode(), v.decode()) for k, v in event.headers]
                    status = int(dict(headers)[":status"])
                elif isinstance(event, h2.events.DataReceived):
                    body += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, 1)
                elif isinstance(event, h2.events.StreamEnded):
                    return status, headers, body
                elif isinstance(event, (h2.events.StreamReset, h2.events.ConnectionTerminated)):
                    return None
