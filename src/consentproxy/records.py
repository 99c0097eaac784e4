"""Proof of consent: every decision a visitor makes, kept so the operator can show it.

A record holds the pseudonymous consent id of the cookie, never the person: no IP, no
full user agent. Writing must never slow or fail a visitor's response, so decisions
go into a bounded queue that a background task writes in batches (one transaction
each); the cookie stays the source of truth when the store is slow or down. The same
schema lives in SQLite (aiosqlite, one file, the default) or PostgreSQL (asyncpg).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import sqlite3
import tempfile
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterator,
    Sequence,
)
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs, quote, urlsplit, urlunsplit

from consentproxy.errors import UsageError
from consentproxy.record import COLUMNS, LISTS, ConsentRecord, Stats, utc_day

if TYPE_CHECKING:
    from consentproxy.settings import RecordsSettings

log = logging.getLogger("consentproxy.records")


def redacted(target: str) -> str:
    """A DSN or URL without its password (in its userinfo, which may hold '@', or a
    password= parameter), for printing; a file path as it is."""
    parts = urlsplit(target)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username or ''}:***@{netloc.rpartition('@')[2]}"
    query = "&".join(
        "password=***" if p.partition("=")[0].lower() == "password" else p
        for p in parts.query.split("&")
    )
    return urlunsplit(parts._replace(netloc=netloc, query=query)) if parts.netloc else target


def _row(record: ConsentRecord) -> tuple[Any, ...]:
    return tuple(
        json.dumps(list(v)) if k in LISTS else v
        for k, v in zip(COLUMNS, (getattr(record, c) for c in COLUMNS), strict=True)
    )


def _names(value: Any) -> tuple[str, ...] | None:
    """A list column's names; None for a value that is no JSON list of names (a row edited
    by hand, or damaged)."""
    try:
        names = json.loads(value)
    except (TypeError, ValueError):
        return None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return None
    return tuple(names)


# How long a write waits for another's lock on a SQLite store (its busy timeout).
BUSY_SECONDS = 5.0
# How long a visitor's erase or `me` waits for the store's statements (and any PostgreSQL
# statement for another session's lock: a write or a purge holds the writer's): then the
# store stops them itself (statement_timeout and lock_timeout, a SQLite interrupt), the
# transaction rolled back, nothing half erased; the visitor gets a 503 to retry. Not a
# timer around the call: one firing while the COMMIT ran answered "nothing erased" for an
# erase that went through (b6c4948).
STORE_SECONDS = 10.0
# Rows read from the store at once by what reads them all (an export): memory stays flat.
ROWS_AT_ONCE = 1000
# Versions of what was shown a writer keeps at hand (a config's languages; more after
# reloads): each a few KB.
VERSIONS_KEPT = 32
# Each running writer says it is alive this often; one silent for STALE_SECONDS stopped
# without closing (a crash, kill -9): the decisions it had queued may be missing.
HEARTBEAT_SECONDS = 60
STALE_SECONDS = 3 * HEARTBEAT_SECONDS
# How long keep_records waits for a store to open (a store that is down, or that fails its
# first attempt, is not waited for: retried in the background while the proxy serves).
OPEN_SECONDS = 5.0

# Migrations, in order; the store records how many it has applied. {id} and {bool} are
# the dialects' only differences.
MIGRATIONS = (
    """CREATE TABLE consent_records (
        id {id}, consent_id TEXT NOT NULL, decided_at BIGINT NOT NULL,
        revision INTEGER NOT NULL, config_digest TEXT NOT NULL, action TEXT NOT NULL,
        method TEXT NOT NULL, granted_categories TEXT NOT NULL,
        refused_categories TEXT NOT NULL, granted_services TEXT NOT NULL,
        refused_services TEXT NOT NULL, withdrawal {bool} NOT NULL, gpc {bool} NOT NULL,
        user_agent TEXT NOT NULL)""",
    "CREATE INDEX consent_records_by_id ON consent_records (consent_id)",
    "CREATE INDEX consent_records_by_time ON consent_records (decided_at)",
    # clean = 0 while a proxy is running: found at start, the last one crashed.
    "CREATE TABLE store_state (clean INTEGER NOT NULL)",
    "INSERT INTO store_state (clean) VALUES (1)",
    # What the visitor was shown: the language, and the version of the texts and config.
    "ALTER TABLE consent_records ADD COLUMN language TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE consent_records ADD COLUMN shown_digest TEXT NOT NULL DEFAULT ''",
    """CREATE TABLE shown_versions (digest TEXT PRIMARY KEY, archived_at BIGINT NOT NULL,
        content TEXT NOT NULL)""",
    # The operator's numbers: first-layer answers, and the pages that showed it per day.
    "ALTER TABLE consent_records ADD COLUMN outcome TEXT NOT NULL DEFAULT ''",
    "CREATE TABLE banner_impressions (day TEXT PRIMARY KEY, count BIGINT NOT NULL)",
    # The running writers, each with its last sign of life, in place of one clean flag
    # (which --workers, several instances and `records` commands alike made say wrong);
    # a run that did not close before the upgrade is a silent one.
    "CREATE TABLE store_sessions (id TEXT PRIMARY KEY, seen_at BIGINT NOT NULL)",
    (
        "INSERT INTO store_sessions (id, seen_at) SELECT 'before-upgrade', 0 FROM store_state "
        "WHERE clean = 0"
    ),
    "DROP TABLE store_state",
    # Each visitor's last erasure: a record decided before it that another process (a
    # worker, an instance) still had queued is not written after it.
    "CREATE TABLE erasures (consent_id TEXT PRIMARY KEY, erased_at BIGINT NOT NULL)",
)
# The tables the migrations create. At version 0 none holds anything: a first setup that
# an older version cut short (each CREATE committed on its own, then the disk was full)
# left some; the setup drops them and starts again.
OWN_TABLES = (
    "consent_records",
    "store_state",
    "shown_versions",
    "banner_impressions",
    "store_sessions",
)
# One number for every setup of a PostgreSQL store (pg_advisory_xact_lock): one at a time.
SETUP_LOCK = 0x636F6E73656E74


class NotAStore(UsageError):
    """The database holds something else: never written to, never set up as a store."""


def not_a_store(name: str, key: str, tables: Sequence[str]) -> NotAStore | None:
    """The error for a database holding tables (those of its TABLES query) and no store."""
    if not tables or "schema_version" in tables:
        return None
    own = "a file" if key == "records.path" else "a database (or a schema, in the search_path)"
    return NotAStore(
        f"{name} is not a consentproxy records store (it has tables: "
        f"{', '.join(sorted(tables))}); give {key} {own} of its own"
    )


# A transaction's statements: run (no result) and fetch (rows).
Run = Callable[[str], Awaitable[Any]]
Fetch = Callable[[str], Awaitable[Sequence[Sequence[Any]]]]
Count = Callable[..., Awaitable[int]]  # (a statement and its arguments: the rows it changed)


class RecordStore(Protocol):
    name: str  # for messages: the SQLite path, or the DSN without its password
    key: str  # the config's key naming it: records.path or records.dsn
    left_out: int  # rows read that were no records: each logged with its id, then skipped
    # Whether reads share the writes' one connection (SQLite): they see what a transaction
    # has not committed yet, so the writer reads under its lock (PostgreSQL's pool does not).
    one_connection: bool

    async def open(self, *, read_only: bool = False) -> None:
        """Create or migrate the schema (in one transaction, one writer at a time); refuse
        a database that holds other tables (NotAStore). read_only: change nothing, refuse
        a database that is no store of this version."""

    async def close(self) -> None: ...

    async def beat(self, session: str, now: int) -> int:
        """A writer's sign of life; how many others were silent for STALE_SECONDS (each
        forgotten as it is counted: one warning for each)."""

    async def leave(self, session: str) -> None:
        """A writer stops cleanly."""

    async def write(
        self,
        batch: Sequence[ConsentRecord],
        versions: dict[str, str] | None = None,
        impressions: dict[str, int] | None = None,
    ) -> None:
        """Records, with the versions of what was shown (digest -> content) they name, and
        banner impressions to add (UTC day -> count), in one transaction."""

    async def stats(self, since: int) -> Stats:
        """Decisions and impressions per day from `since` on (records_stats turns them
        into the operator's numbers)."""

    async def shown(self, digest: str) -> str | None:
        """An archived version of what was shown, by digest."""

    async def by_id(self, *consent_ids: str, latest: int | None = None) -> list[ConsentRecord]:
        """The records of these ids (a visitor's), oldest first, read in one statement: read
        one id at a time, an erase committing between two showed one id's and not the
        other's. `latest`: only the latest so many of them."""

    def since(self, since: int) -> AsyncGenerator[ConsentRecord]:
        """The records from `since` on, oldest first, as they are read: an export of
        millions never holds them all."""
        ...

    async def erase(self, *consent_ids: str) -> int:
        """Every record of these ids (a visitor's consent cookies), each erasure noted, in one
        transaction; how many records went."""

    async def purge(self, before: int) -> int: ...

    async def ping(self) -> None: ...


class _SqlStore:
    """What both dialects share: the SQL, with a dialect's placeholders and types."""

    ID = ""
    BOOL = ""
    DAY = ""  # decided_at's UTC day as YYYY-MM-DD

    def _ph(self, n: int) -> str:
        raise NotImplementedError

    async def _execute(self, sql: str, *args: Any) -> int:
        raise NotImplementedError

    async def _fetch(
        self, sql: str, *args: Any, seconds: float | None = None
    ) -> list[Sequence[Any]]:
        """seconds: the query stopped after so long (a visitor's read), a driver error."""
        raise NotImplementedError

    def _rows(self, sql: str, *args: Any) -> AsyncGenerator[Sequence[Any]]:
        """A query's rows as they come, ROWS_AT_ONCE at a time."""
        raise NotImplementedError

    TABLES = ""  # the names of the tables in the store's database (or schema)
    name = key = ""
    left_out = 0
    one_connection = False

    def _transaction(self) -> contextlib.AbstractAsyncContextManager[tuple[Run, Fetch]]:
        """One transaction, taken by one setup at a time."""
        raise NotImplementedError

    def _together(
        self, seconds: float | None = None
    ) -> contextlib.AbstractAsyncContextManager[Count]:
        """One transaction: the statements run in the block commit together or not at all;
        seconds: each stopped by the store after so long, the transaction rolled back."""
        raise NotImplementedError

    async def _connect(self, read_only: bool) -> None:
        raise NotImplementedError

    async def open(self, *, read_only: bool = False) -> None:
        try:
            await self._connect(read_only)
            if read_only:
                await self._check(self._fetch, read_only=True)
            else:
                await self._migrate()
        except BaseException:  # a half-open store holds a pool, or a thread that blocks exit
            with contextlib.suppress(Exception):
                await self.close()
            raise

    async def _check(self, fetch: Fetch, *, read_only: bool) -> int | None:
        """The version of the schema (None: an empty database); NotAStore for another's,
        and read_only, a UsageError for a store not set up or upgraded (the reader cannot)."""
        tables = [str(r[0]) for r in await fetch(self.TABLES)]
        if not tables and read_only:
            raise UsageError(f"{self.name} is empty: serve sets up the records store there")
        if not tables:
            return None
        if refused := not_a_store(self.name, self.key, tables):
            raise refused
        rows = await fetch("SELECT version FROM schema_version")
        version = int(rows[0][0]) if rows else 0
        if read_only and version < len(MIGRATIONS):
            raise UsageError(
                f"{self.name} is a records store not set up or upgraded yet (schema version "
                f"{version} of {len(MIGRATIONS)}): start serve, or run records purge, once"
            )
        return version

    async def _migrate(self) -> None:
        """In one transaction: a setup cut short (a full disk) leaves nothing behind, and
        writers starting together (--workers) each wait for the one before."""
        if await self._check(self._fetch, read_only=False) == len(MIGRATIONS):
            return  # (nothing to do: no write lock taken, which another may hold now)
        async with self._transaction() as (run, fetch):
            done = await self._check(fetch, read_only=False)
            if done is None:
                await run("CREATE TABLE schema_version (version INTEGER)")
            if not done:
                await run("DELETE FROM schema_version")
                await run("INSERT INTO schema_version (version) VALUES (0)")
                for table in OWN_TABLES:  # (an older version's setup cut short)
                    await run(f"DROP TABLE IF EXISTS {table}")
                done = 0
            for sql in MIGRATIONS[done:]:
                await run(sql.format(id=self.ID, bool=self.BOOL))
            if done < len(MIGRATIONS):
                await run(f"UPDATE schema_version SET version = {len(MIGRATIONS)}")

    async def close(self) -> None:
        if self._connected():
            await self._disconnect()

    async def beat(self, session: str, now: int) -> int:
        await self._execute(
            f"INSERT INTO store_sessions (id, seen_at) VALUES ({self._ph(1)}, {self._ph(2)}) "
            "ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
            session,
            now,
        )
        return await self._execute(
            f"DELETE FROM store_sessions WHERE seen_at < {self._ph(1)}", now - STALE_SECONDS
        )

    async def leave(self, session: str) -> None:
        await self._execute(f"DELETE FROM store_sessions WHERE id = {self._ph(1)}", session)

    def _connected(self) -> bool:
        raise NotImplementedError

    async def _disconnect(self) -> None:
        raise NotImplementedError

    def _insert(self) -> str:
        marks = ", ".join(self._ph(i + 1) for i in range(len(COLUMNS)))
        return f"INSERT INTO consent_records ({', '.join(COLUMNS)}) VALUES ({marks})"

    def _erased(self) -> str:
        """After a batch, for each of its visitors: what they decided before they last erased
        their records goes (another process had it queued as they erased)."""
        return (
            f"DELETE FROM consent_records WHERE consent_id = {self._ph(1)} AND decided_at <= "
            f"(SELECT erased_at FROM erasures WHERE consent_id = {self._ph(1)})"
        )

    def _archive(self) -> str:
        """A version is archived once: the same digest is the same content."""
        return (
            "INSERT INTO shown_versions (digest, archived_at, content) VALUES "
            f"({self._ph(1)}, {self._ph(2)}, {self._ph(3)}) ON CONFLICT (digest) DO NOTHING"
        )

    def _count_impressions(self) -> str:
        """Instances sharing a store add their counts up."""
        return (
            "INSERT INTO banner_impressions (day, count) VALUES "
            f"({self._ph(1)}, {self._ph(2)}) ON CONFLICT (day) DO UPDATE SET "
            "count = banner_impressions.count + excluded.count"
        )

    async def stats(self, since: int) -> Stats:
        rows = await self._fetch(
            f"SELECT {self.DAY}, outcome, granted_categories, refused_categories, COUNT(*), "
            f"MIN(id) FROM consent_records WHERE decided_at >= {self._ph(1)} "
            "GROUP BY 1, 2, 3, 4",
            since,
        )
        shown = await self._fetch(
            f"SELECT day, count FROM banner_impressions WHERE day >= {self._ph(1)}", utc_day(since)
        )
        decisions = []
        for d, o, g, r, n, first in rows:
            granted, refused = _names(g), _names(r)
            if granted is None or refused is None:
                bad = ("granted_categories", g) if granted is None else ("refused_categories", r)
                self._leave_out(first, *bad, int(n))
                continue
            decisions.append((str(d), str(o), granted, refused, int(n)))
        return Stats(decisions, {str(d): int(n) for d, n in shown})

    def _record(self, row: Sequence[Any]) -> ConsentRecord | None:
        """A row (its id first) as a record; None for one that is none, said in the log: a
        row edited by hand or damaged no longer stops an export, or a visitor's `me`."""
        values: dict[str, Any] = dict(zip(COLUMNS, row[1:], strict=True))
        for column in LISTS:
            names = _names(values[column])
            if names is None:
                self._leave_out(row[0], column, values[column], 1)
                return None
            values[column] = names
        values["withdrawal"], values["gpc"] = bool(values["withdrawal"]), bool(values["gpc"])
        return ConsentRecord(**values)

    def _leave_out(self, rowid: Any, column: str, value: Any, rows: int) -> None:
        self.left_out += rows
        alike = f" (and {rows - 1} more alike)" if rows > 1 else ""
        shown = repr(value) if len(repr(value)) <= 80 else f"{repr(value)[:77]}..."
        log.error(
            "records: row %s%s of %s is no record and was left out: its %s is %s, not a JSON "
            "list of names; put it right from a backup, or delete it (DELETE FROM "
            "consent_records WHERE id = %s)",
            rowid,
            alike,
            self.name,
            column,
            shown,
            rowid,
        )

    async def shown(self, digest: str) -> str | None:
        rows = await self._fetch(
            f"SELECT content FROM shown_versions WHERE digest = {self._ph(1)}", digest
        )
        return str(rows[0][0]) if rows else None

    def _select(self, where: str, order: str = "decided_at, id") -> str:
        return (
            f"SELECT id, {', '.join(COLUMNS)} FROM consent_records WHERE {where} ORDER BY {order}"
        )

    async def by_id(self, *consent_ids: str, latest: int | None = None) -> list[ConsentRecord]:
        if not consent_ids:
            return []
        n = len(consent_ids)
        where = f"consent_id IN ({', '.join(self._ph(i + 1) for i in range(n))})"
        if latest is None:
            rows = await self._fetch(self._select(where), *consent_ids, seconds=STORE_SECONDS)
        else:  # (newest first, then turned: the latest, oldest first)
            newest = self._select(where, f"decided_at DESC, id DESC LIMIT {self._ph(n + 1)}")
            rows = await self._fetch(newest, *consent_ids, latest, seconds=STORE_SECONDS)
            rows.reverse()
        return [r for r in map(self._record, rows) if r is not None]

    async def since(self, since: int) -> AsyncGenerator[ConsentRecord]:
        # (closed with this one: left to the loop's finaliser, it ran on a closed store once
        # an export's reader left, a traceback)
        rows = self._rows(self._select(f"decided_at >= {self._ph(1)}"), since)
        async with contextlib.aclosing(rows):
            async for row in rows:
                if (record := self._record(row)) is not None:
                    yield record

    async def erase(self, *consent_ids: str) -> int:
        """The erasures noted and the records deleted, of all the ids, in one transaction:
        one failed or cancelled between them left an erasure without its deletion (the
        visitor's next record in that second, the erase a 503 and the id kept, was deleted
        with their next batch as decided before it: a consent in force with no proof), or
        the first of a visitor's ids erased and the second not, the visitor told none was."""
        erased_at, erased = int(time.time()), 0
        async with self._together(STORE_SECONDS) as run:
            for consent_id in consent_ids:
                await run(
                    f"INSERT INTO erasures (consent_id, erased_at) VALUES ({self._ph(1)}, "
                    f"{self._ph(2)}) ON CONFLICT (consent_id) DO UPDATE SET erased_at = "
                    "excluded.erased_at",
                    consent_id,
                    erased_at,
                )
                erased += await run(
                    f"DELETE FROM consent_records WHERE consent_id = {self._ph(1)}", consent_id
                )
        return erased

    async def ping(self) -> None:
        await self._fetch("SELECT 1")

    async def purge(self, before: int) -> int:
        removed = await self._execute(
            f"DELETE FROM consent_records WHERE decided_at < {self._ph(1)}", before
        )
        # Versions no record names any more prove nothing.
        await self._execute(
            "DELETE FROM shown_versions WHERE digest NOT IN "
            "(SELECT shown_digest FROM consent_records)"
        )
        await self._execute(
            f"DELETE FROM banner_impressions WHERE day < {self._ph(1)}", utc_day(before)
        )
        await self._execute(f"DELETE FROM erasures WHERE erased_at < {self._ph(1)}", before)
        return removed


class SqliteStore(_SqlStore):
    ID = "INTEGER PRIMARY KEY AUTOINCREMENT"
    BOOL = "INTEGER"
    DAY = "strftime('%Y-%m-%d', decided_at, 'unixepoch')"

    TABLES = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'"
    key = "records.path"
    one_connection = True

    def __init__(self, path: str | Path):
        self.path = self.name = str(path)
        self.db: Any = None
        self.connection: sqlite3.Connection | None = None  # (db's: interrupted from here)

    def _ph(self, n: int) -> str:
        return f"?{n}"  # (numbered: a query may name one twice)

    async def _connect(self, read_only: bool) -> None:
        import aiosqlite

        if read_only:  # (a backup, a read-only mount: nothing written, not even the journal)
            target, uri = f"file:{quote(self.path)}?mode=ro", True
        else:  # (the file made if missing, never its directory: never_opens says so)
            target, uri = self.path, False
        # Opened here, not by aiosqlite: a connect failing there leaves its thread to answer
        # a loop that may be closed by then (a traceback at exit).
        connection = await asyncio.to_thread(
            sqlite3.connect, target, check_same_thread=False, uri=uri, timeout=BUSY_SECONDS
        )
        self.db = await aiosqlite.Connection(lambda: connection, 64)
        self.connection = connection
        if not read_only:  # (WAL only for a store: another's file stays as it was)
            await self._check(self._fetch, read_only=False)
            await self._wal()
            await self.db.execute("PRAGMA synchronous=NORMAL")

    async def _wal(self) -> None:
        """The store in WAL mode (kept in the file: set once). Switching waits for no busy
        timeout: while another writer sets the store up (`serve --workers` on a new file),
        it fails at once with "database is locked", so it is tried again for as long."""
        deadline = time.monotonic() + BUSY_SECONDS
        while True:
            try:
                async with self.db.execute("PRAGMA journal_mode") as cursor:
                    mode = await cursor.fetchone()
                if mode is not None and str(mode[0]).lower() == "wal":
                    return
                await self.db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.02)

    def _connected(self) -> bool:
        return self.db is not None

    async def _disconnect(self) -> None:
        await self.db.close()
        self.db = None

    async def _execute(self, sql: str, *args: Any) -> int:
        cursor = await self.db.execute(sql, args)
        await self.db.commit()
        return int(cursor.rowcount)

    async def _fetch(
        self, sql: str, *args: Any, seconds: float | None = None
    ) -> list[Sequence[Any]]:
        with self._interrupted_after(seconds):
            async with self.db.execute(sql, args) as cursor:
                return list(await cursor.fetchall())

    @contextlib.contextmanager
    def _interrupted_after(self, seconds: float | None) -> Iterator[None]:
        """The statements of the block interrupted once `seconds` have passed (each fails,
        its transaction rolled back), again and again (one falling between two statements
        is lost), until the block ends: never after it, or a rollback could be interrupted,
        the transaction left open on the one connection for the next commit."""
        if seconds is None or self.connection is None:
            yield
            return
        loop, connection = asyncio.get_running_loop(), self.connection

        def interrupt() -> None:
            connection.interrupt()
            timer[0] = loop.call_later(0.05, interrupt)

        timer = [loop.call_later(seconds, interrupt)]
        try:
            yield
        finally:
            timer[0].cancel()

    async def _rows(self, sql: str, *args: Any) -> AsyncGenerator[Sequence[Any]]:
        async with self.db.execute(sql, args) as cursor:
            while rows := await cursor.fetchmany(ROWS_AT_ONCE):
                for row in rows:
                    yield row

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[tuple[Run, Fetch]]:
        # (Python's sqlite3 begins none for DDL: each CREATE would commit on its own.)
        # IMMEDIATE: a second setup waits here (the busy timeout), then finds it done.
        await self.db.execute("BEGIN IMMEDIATE")
        async with self._together():
            yield self.db.execute, self._fetch

    @contextlib.asynccontextmanager
    async def _together(self, seconds: float | None = None) -> AsyncIterator[Count]:
        """The statements run in the block commit together or not at all: on the one
        connection, what went in before a failure stayed in the open transaction, to go in
        again on a retry or with the next commit."""

        async def run(sql: str, *args: Any) -> int:
            return int((await self.db.execute(sql, args)).rowcount)

        try:
            with self._interrupted_after(seconds):  # (over before the rollback)
                yield run
                await self.db.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                await self.db.rollback()
            raise

    async def write(
        self,
        batch: Sequence[ConsentRecord],
        versions: dict[str, str] | None = None,
        impressions: dict[str, int] | None = None,
    ) -> None:
        now = int(time.time())
        async with self._together():
            await self.db.executemany(
                self._archive(), [(d, now, c) for d, c in (versions or {}).items()]
            )
            await self.db.executemany(self._insert(), [_row(r) for r in batch])
            await self.db.executemany(self._erased(), [(c,) for c in _visitors(batch)])
            await self.db.executemany(self._count_impressions(), list((impressions or {}).items()))


class PostgresStore(_SqlStore):
    ID = "BIGSERIAL PRIMARY KEY"
    BOOL = "BOOLEAN"
    DAY = "to_char(to_timestamp(decided_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"

    TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    key = "records.dsn"

    def __init__(self, dsn: str):
        self.dsn = dsn
        self.name = redacted(dsn)
        self.pool: Any = None

    def _ph(self, n: int) -> str:
        return f"${n}"

    async def _connect(self, read_only: bool) -> None:
        import asyncpg

        # No statement of ours waits for another session's lock past STORE_SECONDS: a table
        # locked held a batch write, then the purge the writer runs as it opens (a CI run),
        # with the writer's lock and every erase behind it, for ever.
        settings = {"lock_timeout": str(_milliseconds(STORE_SECONDS))}
        if read_only:
            settings["default_transaction_read_only"] = "on"
        self.pool = await asyncpg.create_pool(
            self.dsn, min_size=1, max_size=4, server_settings=settings
        )

    def _connected(self) -> bool:
        return self.pool is not None

    async def _disconnect(self) -> None:
        self.pool.terminate()  # a dead server never answers a polite close
        self.pool = None

    async def _execute(self, sql: str, *args: Any) -> int:
        return _changed(await self.pool.execute(sql, *args))

    async def _fetch(
        self, sql: str, *args: Any, seconds: float | None = None
    ) -> list[Sequence[Any]]:
        # (asyncpg's timeout: the server asked to cancel it; a read, nothing to roll back)
        return list(await self.pool.fetch(sql, *args, timeout=seconds))

    async def _rows(self, sql: str, *args: Any) -> AsyncGenerator[Sequence[Any]]:
        async with self.pool.acquire() as conn, conn.transaction():  # (a cursor needs one)
            async for row in conn.cursor(sql, *args, prefetch=ROWS_AT_ONCE):
                yield row

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[tuple[Run, Fetch]]:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(f"SELECT pg_advisory_xact_lock({SETUP_LOCK})")
            yield conn.execute, conn.fetch

    @contextlib.asynccontextmanager
    async def _together(self, seconds: float | None = None) -> AsyncIterator[Count]:
        async with self.pool.acquire() as conn, conn.transaction():
            if seconds is not None:  # (the server's: it knows where the transaction stands)
                await conn.execute(f"SET LOCAL statement_timeout = {_milliseconds(seconds)}")

            async def run(sql: str, *args: Any) -> int:
                return _changed(await conn.execute(sql, *args))

            yield run

    async def write(
        self,
        batch: Sequence[ConsentRecord],
        versions: dict[str, str] | None = None,
        impressions: dict[str, int] | None = None,
    ) -> None:
        now = int(time.time())
        async with self.pool.acquire() as conn, conn.transaction():
            if versions:
                await conn.executemany(self._archive(), [(d, now, c) for d, c in versions.items()])
            await conn.executemany(self._insert(), [_row(r) for r in batch])
            await conn.executemany(self._erased(), [(c,) for c in _visitors(batch)])
            if impressions:
                await conn.executemany(self._count_impressions(), list(impressions.items()))


def _milliseconds(seconds: float) -> int:
    """A PostgreSQL time limit's setting (in ms; 0 would mean none)."""
    return max(1, round(seconds * 1000))


def _changed(status: str) -> int:
    """The rows a PostgreSQL command changed, from its status ("DELETE 3"; 0 for none)."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _visitors(batch: Sequence[ConsentRecord]) -> list[str]:
    return list(dict.fromkeys(r.consent_id for r in batch))


def open_store(target: str) -> RecordStore:
    """A postgresql:// DSN or a SQLite file path (":memory:" for throw-away records)."""
    if target.startswith(("postgresql://", "postgres://")):
        return PostgresStore(target)
    return SqliteStore(target)


SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def never_opens(target: str) -> str | None:
    """Why a records target can never open, in one line naming its key and what to do
    (None: it may). check-config and serve say it before they start; the writer would
    retry it forever. A server down, a file locked for now, are no such reason."""
    if target.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(target)
        query = parse_qs(parts.query, keep_blank_values=True)
        hosts = parts.netloc.rpartition("@")[2].split(",")
        ports = [h.rpartition("]")[2].partition(":")[2] for h in hosts]
        for port in [*ports, *(p for v in query.get("port", []) for p in v.split(","))]:
            if port and not (port.isdigit() and 0 < int(port) < 65536):
                return f"records.dsn: port {port!r} is no port number (1-65535); fix the dsn"
        for mode in query.get("sslmode", []):
            if mode not in SSLMODES:
                return f"records.dsn: sslmode={mode} is none of {', '.join(SSLMODES)}; fix the dsn"
        return None
    if target == ":memory:":
        return None
    path = Path(target)
    if path.is_dir():
        return (
            f"records.path {path} is a directory; name a file in it, e.g. "
            f"{path / 'records.sqlite3'}"
        )
    if not path.parent.is_dir():  # (a typo in it: a new empty store elsewhere, unsaid)
        return (
            f"records.path {path}: the directory {path.parent} does not exist; make it "
            "(writable by the user serve runs as), or fix the path"
        )
    try:
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as e:
        return (
            f"records.path {path}: the directory {path.parent} is not writable by this user "
            f"({e.strerror}), and "
            "SQLite writes the file and its -wal and -shm journals there; name a file in a "
            "directory this user can write"
        )
    if not path.exists():
        return None
    if not path.is_file():  # (/dev/null read as an empty database; serve wrote beside it)
        return f"records.path {path} is no regular file; name a file of its own"
    if not os.access(path, os.R_OK | os.W_OK):
        return (
            f"records.path {path} is not readable and writable by this user; give it to the "
            "user serve runs as, or name another file"
        )
    try:
        with contextlib.closing(
            sqlite3.connect(f"file:{quote(target)}?mode=ro", uri=True, timeout=0.5)
        ) as db:
            tables = [str(r[0]) for r in db.execute(SqliteStore.TABLES)]
    except sqlite3.OperationalError:  # (locked, for now: the writer retries)
        return None
    except sqlite3.DatabaseError as e:
        return (
            f"records.path {path} is not a SQLite file ({e}); give records.path a file of its own"
        )
    refused = not_a_store(str(path), "records.path", tables)
    return f"records.path {refused}" if refused else None


class RecordWriter:
    """The bounded queue between visitors and the store. submit() never waits; a
    background task writes batches, retries while the store is down, and flushes on
    close. A crash loses what is queued, at most one batch in normal load."""

    def __init__(
        self,
        store: RecordStore,
        *,
        batch: int = 100,
        interval: float = 0.2,
        limit: int = 10_000,
        retention_days: int = 395,
        clock: Any = time.time,
    ):
        self.store, self.batch, self.interval, self.limit = store, batch, interval, limit
        self.retention = retention_days * 86400
        self.clock = clock
        self.queue: asyncio.Queue[ConsentRecord] = asyncio.Queue()
        # Versions of what was shown (the VERSIONS_KEPT last), written with every batch
        # naming them: the store keeps one of each (and a purge that found none naming one,
        # all erased, gets it back with the next; were it written once, no later record
        # naming it could show what the visitor saw).
        self._versions: dict[str, str] = {}
        self.impressions: dict[str, int] = {}  # counted since the last write, by UTC day
        self.dropped = self.written = 0
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.ready = False  # the store is open
        self._tried = asyncio.Event()  # the first attempt to open it is over
        self.healthy = True  # the last write went through
        self._stop = asyncio.Event()
        # The batch being written (retried while the store is down), and the lock a write
        # and an erase take: an erase never runs while a batch naming that visitor is written.
        self._batch: list[ConsentRecord] = []
        self._counts: dict[str, int] = {}  # the impressions being written (with _batch)
        self._lock = asyncio.Lock()
        self.session = secrets.token_hex(8)  # this writer's name among the store's sessions

    async def start(self) -> None:
        """Returns at once: the store is opened (and retried while down) in the background,
        so a database that is down never stops the proxy from serving."""
        self._task = asyncio.create_task(self._run())

    async def opened(self, seconds: float) -> bool:
        """Wait for the store to open, up to `seconds` or its first failure to (then it is
        retried in the background); whether it is open."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._tried.wait(), seconds)
        return self.ready

    async def _open(self) -> bool:
        delay = 0.5
        while True:
            try:
                await self.store.open()
                break
            except Exception as e:  # noqa: BLE001 - any driver error: serve, retry later
                self._tried.set()
                if self._closing:
                    self._lost(self.queue.qsize(), f"the store {self.store.name} never opened: {e}")
                    return False
                log.error(
                    "records: cannot open the store %s (%s): check %s; decisions are queued "
                    "and the cookie still holds them; retrying in %.1fs",
                    self.store.name,
                    e,
                    self.store.key,
                    delay,
                )
                await self._pause(delay)
                delay = min(delay * 2, 30.0)
        self.ready = True
        self._tried.set()
        await self._beat()
        await self._purge_quietly()
        return True

    async def _beat(self) -> None:
        """This writer's sign of life; a warning for each other one that stopped without
        closing (at once for one silent for STALE_SECONDS, else at a later beat)."""
        try:
            async with self._lock:
                silent = await self.store.beat(self.session, int(self.clock()))
        except Exception as e:  # noqa: BLE001 - housekeeping must not stop the writer
            log.warning("records: cannot note this proxy as running: %s", e)
            return
        for _ in range(silent):
            log.warning(
                "records: a proxy writing to this store did not shut down cleanly (silent for "
                "%d s); the decisions it had queued (at most one batch of %d) may be missing",
                STALE_SECONDS,
                self.batch,
            )

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake up at once when close() is called."""
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except TimeoutError:
            pass

    def submit(self, record: ConsentRecord, shown: tuple[str, str] | None = None) -> None:
        """shown: (digest, content) of the version the record's shown_digest names."""
        if shown is not None:
            versions = self._versions
            versions[shown[0]] = versions.pop(shown[0], shown[1])  # (the last used: last)
            if len(versions) > VERSIONS_KEPT:
                del versions[next(iter(versions))]
        if self._closing:  # (nothing reads the queue now)
            self.dropped += 1
            log.error(
                "records: a decision came after the store was closed and was not recorded "
                "(the visitor's cookie still holds it)"
            )
            return
        if self.queue.qsize() >= self.limit:
            self.dropped += 1
            log.error(
                "records: queue full (%d), a decision was not recorded (the visitor's "
                "cookie still holds it); is the store down?",
                self.limit,
            )
            return
        self.queue.put_nowait(record)

    def impression(self) -> None:
        """A page showed the banner's first layer (written with the next batch)."""
        day = utc_day(self.clock())
        self.impressions[day] = self.impressions.get(day, 0) + 1

    async def writable(self) -> bool:
        """For readiness checks: the store is open, the last write went through and it
        answers now."""
        if not (self.ready and self.healthy):
            return False
        try:
            await asyncio.wait_for(self.store.ping(), 2)
            return True
        except Exception:  # noqa: BLE001 - any driver error means "not now"
            return False

    def queued(self) -> int:
        return self.queue.qsize()

    async def by_id(self, *consent_ids: str, latest: int | None = None) -> list[ConsentRecord]:
        """On one connection (SQLite), under the lock: a read between an erase's statements
        saw its transaction open (records deleted that its rollback then kept: `me` said
        them gone), and one inside a batch's, records not yet committed. (A pool's reads
        see only what was committed: under the lock, each `me` waited for every write.)"""
        if not self.store.one_connection:
            return await self.store.by_id(*consent_ids, latest=latest)
        async with self._lock:
            return await self.store.by_id(*consent_ids, latest=latest)

    async def erase(self, *consent_ids: str) -> int:
        """The visitor's records (of all their ids, or none: store.erase), with those still
        queued or being retried (written after the erase, they would outlive it: the visitor
        was told none was left). Those are taken once the store's erase went through: a
        failed one (503, the cookie kept) loses nothing, and the lock keeps any write out
        until they are gone."""
        gone = set(consent_ids)
        async with self._lock:
            erased = await self.store.erase(*consent_ids)
            queued = []
            while not self.queue.empty():
                queued.append(self.queue.get_nowait())
            for record in queued:
                if record.consent_id not in gone:
                    self.queue.put_nowait(record)
            self._batch[:] = [r for r in self._batch if r.consent_id not in gone]
            return erased

    async def purge(self) -> int:
        """Delete records older than the retention (13 months by default). Under the lock:
        on SQLite's one connection its commits committed the open transaction of an erase
        cancelled half way (the erasure noted, the visitor told it failed)."""
        async with self._lock:
            removed = await self.store.purge(int(self.clock()) - self.retention)
        if removed:
            log.info(
                "records: purged %d records older than %d days", removed, self.retention // 86400
            )
        return removed

    async def _run(self) -> None:
        if not await self._open():
            return
        last_purge = last_beat = self.clock()
        while not (self._closing and self.queue.empty()):
            try:
                first = await asyncio.wait_for(self.queue.get(), self.interval)
            except TimeoutError:
                first = None
            batch = [first] if first else []
            while batch and len(batch) < self.batch and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            if batch or self.impressions:
                await self._write(batch)
            if self.clock() - last_purge > 86400:
                last_purge = self.clock()
                await self._purge_quietly()
            if self.clock() - last_beat > HEARTBEAT_SECONDS:
                last_beat = self.clock()
                await self._beat()
        if self.impressions:  # counted as it closed (or before the store was open)
            await self._write([])

    async def _write(self, batch: list[ConsentRecord]) -> None:
        self._batch = batch  # (an erase takes its visitor's records out of it)
        delay = 0.1
        while True:
            versions = {
                r.shown_digest: self._versions[r.shown_digest]
                for r in batch
                if r.shown_digest in self._versions
            }
            counts = self._counts = self.impressions
            self.impressions = {}
            try:
                async with self._lock:
                    await self.store.write(batch, versions, counts)
                self.written += len(batch)
                self.healthy = True
                self._batch, self._counts = [], {}
                return
            except Exception as e:  # noqa: BLE001 - any driver error: keep the batch, retry
                self._counts = {}
                for day, count in counts.items():  # (and the counts, with those since)
                    self.impressions[day] = self.impressions.get(day, 0) + count
                self.healthy = False
                if self._closing and delay > 2:
                    self._batch = []
                    self._lost(len(batch), f"the store was unavailable: {e}")
                    return
                log.warning(
                    "records: cannot write %d decisions (%s); retrying in %.1fs",
                    len(batch),
                    e,
                    delay,
                )
                await self._pause(delay)
                delay = min(delay * 2, 5.0)

    async def _purge_quietly(self) -> None:
        try:
            await self.purge()
        except Exception as e:  # noqa: BLE001 - housekeeping must not stop the writer
            log.warning("records: purge failed: %s", e)

    def _lost(self, decisions: int, why: str) -> None:
        """What closing could not write, counted and said: the decisions, and the banner
        impressions (an impressions-only write had been logged as "0 decisions")."""
        impressions = sum(self.impressions.values()) + sum(self._counts.values())
        self.impressions, self._counts = {}, {}
        self.dropped += decisions
        log.error(
            "records: %d decisions and %d banner impressions were not recorded at shutdown (%s)",
            decisions,
            impressions,
            why,
        )

    async def close(self, timeout: float = 10.0) -> None:
        """Flush what is queued (bounded by timeout), then close the store."""
        self._closing = True
        self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout)
            except TimeoutError:  # (the task is cancelled: its batch too is lost)
                self._lost(
                    self.queue.qsize() + len(self._batch),
                    f"the store did not answer within {timeout:.0f}s",
                )
        if not self.ready:
            return
        # Under the lock: an erase still in its transaction (a reload changing records:, a
        # shutdown) had its first ids' deletions committed by leave() on SQLite's one
        # connection, then failed on the closed store, the visitor's others kept.
        try:
            await asyncio.wait_for(self._lock.acquire(), timeout)
        except TimeoutError:  # (closed under it: its transaction is rolled back, a 503)
            log.warning("records: an erase or write still ran after %.0fs: stopped", timeout)
            await self.store.close()
            return
        try:
            try:
                await self.store.leave(self.session)
            except Exception as e:  # noqa: BLE001 - the store may be gone: still close
                log.warning("records: cannot note a clean shutdown: %s", e)
            await self.store.close()
        finally:
            self._lock.release()


async def keep_records(settings: RecordsSettings) -> RecordWriter | None:
    """The writer an adapter starts with the proxy (None when the config keeps none), its
    store open when it is returned (up to OPEN_SECONDS): a visitor's first request finds it
    ready (`{prefix}readyz`, `{prefix}me` answered 503 while it opened)."""
    if not settings.target:
        return None
    writer = RecordWriter(open_store(settings.target), retention_days=settings.retention_days)
    await writer.start()
    await writer.opened(OPEN_SECONDS)
    return writer
