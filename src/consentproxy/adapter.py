"""The core as adapters see it: the one door through which `server.py` (aiohttp), `runtime.py`,
`telemetry.py` and `addons/consent.py` (mitmproxy) reach it (docs/ARCHITECTURE.md; runtime.py
imports the other two adapter modules besides).

An adapter builds the engine with `build_engine` (the secret's rule is here, the same for
both), opens the proof-of-consent records with `keep_records`, hands them to its engines
(`engine.records`; a new engine of a reloaded config gets them from `take_over`) and closes
them (what is queued is written first), then per
request: `engine.begin(Request(...))`; a local exchange is answered with
`ex.local_response(body)` (its `complete`, if any, awaited); otherwise
`ex.upstream_headers()` go to the origin as they are, `ex.response(status, headers)` plans
the answer (`has_body`, and a `body` transform to feed chunk by chunk; a BodyError cuts the
visitor's connection), and `access_line` is the one JSON line it logs per request.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Callable
from operator import itemgetter
from urllib.parse import urlsplit

import orjson

from consentproxy.banner.render import MARK_HEADER, package_version
from consentproxy.body import BodyTransform
from consentproxy.config import load_config
from consentproxy.consent import ConsentState, keys_from_env, parse_state
from consentproxy.domains import is_ip
from consentproxy.endpoints import MAX_BODY
from consentproxy.engine import BODILESS_STATUSES, Engine, Exchange, Head, Request, ResponsePlan
from consentproxy.errors import ConfigError, UsageError, UserError
from consentproxy.httpheaders import Headers, header, sendable, without
from consentproxy.printable import UNPRINTABLE, without_passwords
from consentproxy.record import Records
from consentproxy.records import keep_records, never_opens, redacted
from consentproxy.report import Report
from consentproxy.rewrite.encoding import BodyError
from consentproxy.rewrite.scanner import C_LOOP
from consentproxy.settings import Config, Limits, host_port, own_address

__all__ = [
    "C_LOOP",
    "LONG_FIELD",
    "LONG_REASON",
    "MANY_FIELDS",
    "MARK_HEADER",
    "MAX_BODY",
    "ORIGIN_FIELD_BYTES",
    "ORIGIN_HEADERS",
    "ORIGIN_HEAD_BYTES",
    "UPSTREAM_FAILED",
    "BodyError",
    "BodyTransform",
    "Config",
    "Engine",
    "Exchange",
    "Head",
    "Headers",
    "Limits",
    "Records",
    "Report",
    "Request",
    "ResponsePlan",
    "UserError",
    "access_json",
    "access_line",
    "bodiless_head",
    "build_engine",
    "header",
    "host_port",
    "is_ip",
    "is_websocket",
    "keep_records",
    "load_config",
    "own_address",
    "package_version",
    "parse_state",
    "records_can_open",
    "redacted",
    "secret_keys",
    "sendable",
    "take_over",
    "unpassable",
    "unpassable_message",
    "upstream_answers",
    "without",
    "without_passwords",
]

MIN_KEY_LEN = 16
PROBE_SECONDS = 2.0
# How each answer of the proxy's own to a page it could not get from the site begins (what
# the site never said: a scan tells it apart from a 502 of the site's).
UPSTREAM_FAILED = "The site behind this proxy"
ORIGIN_HEAD_BYTES = 1 << 18  # the origin's head as a browser takes it (Chromium: 256 KiB)
# One header field of the origin's (name and value, as both adapters read it: without the
# value's trailing spaces), its reason phrase, and its fields: past them a 502 from both
# adapters, each judging by unpassable (aiohttp's own limits, 8190 bytes and 128 fields, are
# raised past these in serve's client: a 9 KB CSP or 130 Set-Cookie lines are a page).
ORIGIN_FIELD_BYTES = 1 << 16
ORIGIN_HEADERS = 512
LONG_FIELD = f"a header field over {ORIGIN_FIELD_BYTES} bytes"
LONG_REASON = f"a reason phrase over {ORIGIN_FIELD_BYTES} bytes"
MANY_FIELDS = f"more than {ORIGIN_HEADERS} header fields"


def unpassable(
    status: int,
    upgrade: bool,
    head_bytes: int,
    longest: int = 0,
    fields: int = 0,
    reason: int = 0,
) -> str | None:
    """What makes an answer of the origin's one no visitor could read (a 502 instead), or
    None: a 1xx for the answer (a 101 only to a WebSocket request: the visitor held a
    connection switched to nothing), a status out of range, a head over ORIGIN_HEAD_BYTES,
    a field (`longest`: its name and value) or a `reason` phrase over ORIGIN_FIELD_BYTES,
    more `fields` than ORIGIN_HEADERS."""
    if 100 <= status < 200 and not (status == 101 and upgrade):
        return f"an interim response ({status}) for its answer"
    if not 100 <= status <= 599:
        return f"a status out of range ({status})"
    if head_bytes > ORIGIN_HEAD_BYTES:
        return f"a head of {head_bytes} bytes (browsers take {ORIGIN_HEAD_BYTES})"
    if longest > ORIGIN_FIELD_BYTES:
        return LONG_FIELD
    if reason > ORIGIN_FIELD_BYTES:
        return LONG_REASON
    if fields > ORIGIN_HEADERS:
        return MANY_FIELDS
    return None


def bodiless_head(status: int, headers: Headers) -> Headers:
    """The head of a response its status says has no content (204, 205, 304) as both
    adapters send it, whatever bytes the origin sent after it: a 204's and a 304's without
    a Content-Length or Transfer-Encoding (RFC 9110 8.6 forbids one on a 204; aiohttp drops
    them, mitmproxy kept them), a 205's with a Content-Length of 0 (its framing is a
    body's, RFC 9112 6.3: without one the visitor read on to the connection's end, and
    with the origin's it waited for bytes serve never sends)."""
    if status not in BODILESS_STATUSES:
        return headers
    kept = without(headers, "content-length", "transfer-encoding")
    return [*kept, ("Content-Length", "0")] if status == 205 else kept


def unpassable_message(why: str) -> str:
    """The text of the 502 either adapter answers for what unpassable found (one sentence:
    the two answer alike)."""
    return f"{UPSTREAM_FAILED} sent {why}, which cannot be passed on."


def secret_keys(config: Config) -> list[bytes]:
    """The keys that sign consent cookies, from the environment variable the config names.
    Both adapters refuse to run without one (a throw-away key would forget every choice
    at each restart, and differ between processes): the operator must set it."""
    var = config.consent.secret_env
    keys = keys_from_env(var)
    if not keys:
        raise UsageError(
            f"set {var} to a random secret of at least {MIN_KEY_LEN} characters (32 is "
            f"better), e.g. export {var}=$(openssl rand -hex 32); it signs consent cookies "
            "(several, comma-separated, to rotate keys)"
        )
    short = [k for k in keys if len(k) < MIN_KEY_LEN]
    if short:
        raise UsageError(
            f"{var} holds a key shorter than {MIN_KEY_LEN} characters; use a long random secret"
        )
    return keys


def records_can_open(config: Config, file: str) -> None:
    """A records target that can never open refuses the config, in serve and mitmproxy
    alike (one that is down now is retried by the writer)."""
    problem = never_opens(config.records.target) if config.records.target else None
    if problem:
        raise ConfigError(file, config.records.line or None, problem)


def build_engine(
    config: Config,
    keys: list[bytes] | None = None,
    *,
    forced: ConsentState | None = None,
    observe: Callable[[str], None] | None = None,
) -> Engine:
    """The engine for a config; keys: the secret's (secret_keys(config) when not given)."""
    return Engine(config, keys or secret_keys(config), forced=forced, observe=observe)


async def take_over(previous: Engine | None, engine: Engine | None) -> Records | None:
    """The records writer of `engine`, which takes over from `previous` (requests in flight
    keep theirs): `previous`'s while the records settings stay; otherwise a new one, open
    first (keep_records), which `previous` then writes to as well: a choice, a banner
    impression or an erasure in flight goes to the new store (to the old writer, closed
    under it, it was lost). Returns the old writer, for the adapter to close once `engine`
    serves (what it queued is written), or None. An engine given its writer already keeps
    it."""
    old = previous.records if previous is not None else None
    if engine is not None and engine.records is None:
        if (
            old is not None
            and previous is not None
            and previous.config.records == engine.config.records
        ):
            engine.records = old
        else:  # (or a previous left with none, its hand-over failed)
            engine.records = await keep_records(engine.config.records)
    new = engine.records if engine is not None else None
    if previous is None or old is None or old is new:
        return None
    previous.records = new
    return old


def is_websocket(req: Request) -> bool:
    """A WebSocket handshake: the adapter passes it through (never rewritten). A GET only
    (RFC 6455 4.1): another method asking for the upgrade goes as the request it is, its
    Upgrade dropped (serve had asked the origin a GET handshake for a POST or a DELETE)."""
    return req.method == "GET" and req.first.get("upgrade", "").lower() == "websocket"


def access_json(line: dict[str, object]) -> bytes:
    """An access line as the one JSON line both adapters write, every control character
    escaped: its path and cookie names are the visitor's (orjson escapes C0 only, and a
    name with a byte no UTF-8 reads, \\udcff, it refuses: the line was lost)."""
    try:
        out = orjson.dumps(line)
    except TypeError:  # (a surrogate escape: json escapes it, and all else, as ASCII)
        return json.dumps(line, separators=(",", ":")).encode()
    # (DEL looked for as an int: a bytes needle is first tried as one, an error made and
    # dropped, ~3,000 instructions a line: helper-164)
    if out.isascii() and 0x7F not in out:
        return out
    # (C0 is escaped already; DEL, C1 controls, U+2028 and the bidirectional overrides are
    # not)
    return UNPRINTABLE.sub(lambda m: f"\\u{ord(m[0]):04x}", out.decode()).encode()


def access_line(
    method: str,
    path: str,
    status: int | None,
    seconds: float,
    sent: int,
    report: Report,
    ended: float | None = None,
) -> dict[str, object]:
    """The one access-log line of a request (no IP, no query string), for the access_log
    of `serve` and of the addon alike (the addon's consent_report, for QA, keeps the whole
    URL). ended: when the request finished
    (time.time(); now if None: a line written later says when it happened)."""
    neutralised = report.neutralised
    # Rounded half up by hand: round(x, n) took ~4,300 instructions each, most of the
    # line's 17,000 (it writes the decimal digits out and reads them back). The same
    # figures, but on an exact tie (half up, not to the even) or where the scaling's last
    # bit lands on one: for times read off a clock, next to never. The time's whole
    # seconds are set aside first: scaled with them, its last bits fell on the other side
    # of a thousandth in one line of ~4,000.
    now = time.time() if ended is None else ended
    whole = int(now)
    return {
        "time": whole + int((now - whole) * 1000 + 0.5) / 1000,
        "method": method,
        "path": path.partition("?")[0],
        "status": status,
        "ms": int(seconds * 10000 + 0.5) / 10,
        "upstream_ms": int(report.upstream_seconds * 10000 + 0.5) / 10,
        "bytes": sent,
        "consent": report.state,
        "neutralised": sorted(set(map(itemgetter(0), neutralised))) if neutralised else [],
        "set_cookies_stripped": report.set_cookies_dropped,
        "request_cookies_stripped": report.request_cookies_dropped,
        "banner": report.banner,
        "decision": report.decision or None,
    }


async def upstream_answers(url: str, tls: ssl.SSLContext | None = None) -> bool:
    """Readiness (`{prefix}readyz`'s upstream check): the origin at `url` answers a HEAD of
    the upstream's path (its root, or the path `upstream` names) with an HTTP status line,
    any status, within PROBE_SECONDS. `tls`: how to check an https origin's certificate (the
    default context when None)."""
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    try:
        async with asyncio.timeout(PROBE_SECONDS):
            reader, writer = await asyncio.open_connection(
                parts.hostname,
                parts.port or (443 if secure else 80),
                ssl=(tls or ssl.create_default_context()) if secure else None,
            )
            try:
                path = parts.path.rstrip("/") + "/"
                writer.write(
                    f"HEAD {path} HTTP/1.1\r\nHost: {parts.netloc.rpartition('@')[2]}\r\n"
                    "Connection: close\r\n\r\n".encode("latin-1")
                )
                return (await reader.readline()).startswith(b"HTTP/")
            finally:
                writer.close()
    except (OSError, TimeoutError, UnicodeError, ValueError):
        return False
