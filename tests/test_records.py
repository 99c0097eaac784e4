"""Proof-of-consent records in SQLite and in a real PostgreSQL server: same schema,
same behaviour; the writer never blocks, batches, retries and flushes."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import secrets
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from consentproxy import records
from consentproxy.errors import UsageError
from consentproxy.record import ConsentRecord, Stats, summarise, user_agent_family
from consentproxy.records import (
    HEARTBEAT_SECONDS,
    MIGRATIONS,
    STALE_SECONDS,
    VERSIONS_KEPT,
    NotAStore,
    PostgresStore,
    RecordStore,
    RecordWriter,
    SqliteStore,
    open_store,
)

NOW = 1_800_000_000


def record(consent_id: str = "abc", at: int = NOW, **changes: object) -> ConsentRecord:
    base: dict[str, object] = {
        "consent_id": consent_id,
        "decided_at": at,
        "revision": 1,
        "config_digest": "d1",
        "action": "save",
        "method": "preferences",
        "granted_categories": ("analytics",),
        "refused_categories": ("social",),
        "granted_services": ("youtube",),
        "refused_services": ("vimeo",),
        "withdrawal": False,
        "gpc": False,
        "user_agent": "Firefox 133",
    }
    base.update(changes)
    return ConsentRecord(**base)  # type: ignore[arg-type]


@pytest.fixture
async def store(store_target):
    store = open_store(store_target)
    await store.open()
    if isinstance(store, PostgresStore):  # one server for the session: start empty
        await store._execute("DELETE FROM consent_records")
        await store._execute("DELETE FROM shown_versions")
        await store._execute("DELETE FROM banner_impressions")
        await store._execute("DELETE FROM erasures")
    yield store
    await store.close()


@pytest.fixture
async def fresh_target(store_target):
    """A target holding nothing yet: a new file, or a new PostgreSQL schema."""
    if not store_target.startswith("postgresql://"):
        yield store_target
        return
    import asyncpg

    schema = f"fresh_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(store_target)
    await conn.execute(f"CREATE SCHEMA {schema}")
    yield f"{store_target}{'&' if '?' in store_target else '?'}search_path={schema}"
    await conn.execute(f"DROP SCHEMA {schema} CASCADE")
    await conn.close()


async def _tables(target: str) -> list[str]:
    if target.startswith("postgresql://"):
        import asyncpg

        conn = await asyncpg.connect(target)
        try:
            sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            return sorted(r[0] for r in await conn.fetch(sql))
        finally:
            await conn.close()
    with contextlib.closing(sqlite3.connect(target)) as db:
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'"
        return sorted(r[0] for r in db.execute(sql))


async def test_a_first_setup_cut_short_leaves_nothing_and_the_next_one_sets_up(
    fresh_target, monkeypatch
):
    """A disk full half way through the first setup: Python's sqlite3 committed each
    CREATE on its own, and every later open failed "table consent_records already
    exists". Now one transaction: rolled back whole."""
    import consentproxy.records

    monkeypatch.setattr(
        consentproxy.records,
        "MIGRATIONS",
        (*MIGRATIONS, "CREATE TABLE consent_records (a INTEGER)"),
    )
    with pytest.raises(Exception, match="already exists"):
        await open_store(fresh_target).open()
    assert await _tables(fresh_target) == []
    monkeypatch.setattr(consentproxy.records, "MIGRATIONS", MIGRATIONS)
    await writes_and_reads(open_store(fresh_target))


async def writes_and_reads(store: RecordStore) -> None:
    """The store opens, takes a record and gives it back."""
    await store.open()
    try:
        await store.write([record("a")])
        assert len(await store.by_id("a")) == 1
    finally:
        await store.close()


async def test_a_first_setup_an_older_version_left_half_done_is_done_again(tmp_path):
    """What an older version's setup cut short left (tables, schema_version 0): no record
    can be in it (none is written before the setup is done), so it is set up again."""
    path = tmp_path / "r.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE schema_version (version INTEGER)")
        db.execute("INSERT INTO schema_version (version) VALUES (0)")
        db.execute(MIGRATIONS[0].format(id="INTEGER PRIMARY KEY AUTOINCREMENT", bool="INTEGER"))
        db.execute(MIGRATIONS[1])
        db.commit()
    await writes_and_reads(SqliteStore(path))


async def test_writers_setting_up_a_new_store_together_wait_for_the_first(fresh_target):
    """serve --workers 2 on a new file: both migrated at once, one failed "table
    consent_records already exists" (logged as an ERROR, then retried)."""
    stores = [open_store(fresh_target) for _ in range(6)]
    try:
        await asyncio.gather(*(s.open() for s in stores))
        await stores[0].write([record("a")])
        assert [r.consent_id for r in await stores[-1].by_id("a")] == ["a"]
        rows = await stores[0]._fetch("SELECT version FROM schema_version")  # type: ignore[attr-defined]
        assert [tuple(r) for r in rows] == [(len(MIGRATIONS),)]
    finally:
        for s in stores:
            await s.close()


async def test_another_application_s_database_is_refused_and_left_as_it_was(fresh_target):
    """A file of its own: a store never adds its tables to another's database (nor
    switches its journal to WAL), for serve, purge or a reading command alike."""
    if fresh_target.startswith("postgresql://"):
        import asyncpg

        conn = await asyncpg.connect(fresh_target)
        await conn.execute("CREATE TABLE users (a INTEGER)")
        await conn.close()
        own = "records.dsn a database (or a schema, in the search_path)"
    else:
        with contextlib.closing(sqlite3.connect(fresh_target)) as db:
            db.execute("CREATE TABLE users (a INTEGER)")
            db.commit()
        own = "records.path a file"
    for read_only in (False, True):
        with pytest.raises(NotAStore) as refused:
            await open_store(fresh_target).open(read_only=read_only)
        assert str(refused.value).endswith(
            f" is not a consentproxy records store (it has tables: users); give {own} of its own"
        )
    assert await _tables(fresh_target) == ["users"]
    if not fresh_target.startswith("postgresql://"):
        with contextlib.closing(sqlite3.connect(fresh_target)) as db:
            assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)


async def test_a_store_opened_read_only_is_read_and_never_written_or_migrated(tmp_path):
    path = tmp_path / "r.sqlite3"
    store = SqliteStore(path)
    await store.open()
    await store.write([record("a")])
    await store.close()
    reader = SqliteStore(path)
    await reader.open(read_only=True)
    try:
        assert len(await reader.by_id("a")) == 1
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            await reader.write([record("b")])
    finally:
        await reader.close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute(f"UPDATE schema_version SET version = {len(MIGRATIONS) - 1}")
        db.commit()
    with pytest.raises(UsageError, match=r"not set up or upgraded yet \(schema version"):
        await SqliteStore(path).open(read_only=True)
    with contextlib.closing(sqlite3.connect(path)) as db:  # (not migrated: still the old)
        assert db.execute("SELECT version FROM schema_version").fetchone()[0] == len(MIGRATIONS) - 1
    empty = tmp_path / "empty.sqlite3"
    empty.touch()
    with pytest.raises(UsageError, match="is empty: serve sets up the records store there"):
        await SqliteStore(empty).open(read_only=True)


async def test_records_round_trip_and_are_found_by_consent_id(store):
    await store.write([record("a"), record("b", withdrawal=True, gpc=True), record("a", NOW + 5)])
    mine = await store.by_id("a")
    assert [r.decided_at for r in mine] == [NOW, NOW + 5]
    assert mine[0] == record("a")
    assert (await store.by_id("b"))[0].withdrawal is True


async def test_records_since_a_time_are_read_a_chunk_at_a_time(store, monkeypatch):
    """records export loaded the whole store first (1.6M records: 2 GB, 70 s before the
    first line)."""
    monkeypatch.setattr(records, "ROWS_AT_ONCE", 2)
    await store.write([record(f"v{i}", NOW + i) for i in range(5)])
    found = store.since(NOW + 1)
    assert inspect.isasyncgen(found)
    assert [r.consent_id async for r in found] == ["v1", "v2", "v3", "v4"]


async def test_a_row_that_is_no_record_is_left_out_and_named_with_its_id(store, caplog):
    """A list column that is not JSON (a row edited by hand) stopped export, show and stats
    with a JSONDecodeError naming neither row nor file, and made `me` answer 503."""
    await store.write([record("a", NOW), record("a", NOW + 1), record("b", NOW + 2)])
    rowid = (await store._fetch("SELECT MIN(id) FROM consent_records"))[0][0]
    await store._execute(
        f"UPDATE consent_records SET granted_categories = 'analytics' WHERE id = {rowid}"
    )
    with caplog.at_level(logging.ERROR, "consentproxy.records"):
        assert [r.decided_at for r in await store.by_id("a")] == [NOW + 1]
        assert [r.consent_id async for r in store.since(0)] == ["a", "b"]
        assert sum(n for *_, n in (await store.stats(0)).decisions) == 2
    assert store.left_out == 3
    assert (
        caplog.text.count(
            f"row {rowid} of {store.name} is no record and was left out: its granted_categories "
            f"is 'analytics', not a JSON list of names; put it right from a backup, or delete it "
            f"(DELETE FROM consent_records WHERE id = {rowid})"
        )
        == 3
    )


async def test_erase_removes_only_that_visitor(store):
    await store.write([record("a"), record("b")])
    assert await store.erase("a") == 1
    assert await store.by_id("a") == [] and len(await store.by_id("b")) == 1


async def test_a_record_another_process_had_queued_is_not_written_after_the_erase(
    store_target, store
):
    """With --workers (or instances sharing a store), an erase in one took the records of the
    store and its own queue; one another had queued was written after it, and kept."""
    other = open_store(store_target)  # (another worker's writer, on the same store)
    await other.open()
    try:
        now = int(time.time())  # (the erase's time)
        await store.write([record("a", now - 10)])
        assert await store.erase("a") == 1
        later = now + 60  # (chosen again after the erase: kept)
        await other.write([record("a", now - 5), record("b", now - 5), record("a", later)])
        assert [r.decided_at for r in await store.by_id("a")] == [later]
        assert len(await store.by_id("b")) == 1
    finally:
        await other.close()


@contextlib.asynccontextmanager
async def deletes_refused(store, consent_id: str | None = None):
    """The store's database refuses every deletion of a record (a trigger), or of one id's
    records, as a disk error or a statement cancelled between an erase's statements would."""
    when = f"FOR EACH ROW WHEN (old.consent_id = '{consent_id}')" if consent_id else "FOR EACH ROW"
    if isinstance(store, PostgresStore):
        await store._execute(
            "CREATE FUNCTION refuse() RETURNS trigger AS "
            "$$ BEGIN RAISE EXCEPTION 'refused'; END $$ LANGUAGE plpgsql"
        )
        await store._execute(
            f"CREATE TRIGGER refuse BEFORE DELETE ON consent_records {when} "
            "EXECUTE FUNCTION refuse()"
        )
        drop = ["DROP TRIGGER refuse ON consent_records", "DROP FUNCTION refuse()"]
    else:
        await store._execute(
            f"CREATE TEMP TRIGGER refuse BEFORE DELETE ON consent_records {when} "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
        drop = ["DROP TRIGGER refuse"]
    try:
        yield
    finally:
        for sql in drop:
            await store._execute(sql)


@contextlib.asynccontextmanager
async def store_hung(store):
    """The store's records table answers no statement: on PostgreSQL another session holds
    its lock; on SQLite (whose readers no lock stops) a temporary view shadows it, a join of
    10^9 rows for each record, to read or delete (interruptible, as a statement on a hung
    file system is not, but a bound may stop it)."""
    if isinstance(store, PostgresStore):
        import asyncpg

        conn = await asyncpg.connect(store.dsn)
        holding = conn.transaction()
        await holding.start()
        await conn.execute("LOCK TABLE consent_records IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            await holding.rollback()
            await conn.close()
        return
    await store._execute("CREATE TEMP TABLE big (x INTEGER)")
    await store._execute(
        "INSERT INTO big WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n "
        "WHERE x < 1000) SELECT x FROM n"
    )
    await store._execute(
        "CREATE TEMP VIEW consent_records AS SELECT r.* FROM main.consent_records r, "
        "big a, big b, big c"
    )
    await store._execute(
        "CREATE TEMP TRIGGER shadowed INSTEAD OF DELETE ON consent_records BEGIN SELECT 1; END"
    )
    try:
        yield
    finally:
        for _ in range(20):  # (a statement still running, unbounded: stopped, the test failed)
            store.db._conn.interrupt()
            await asyncio.sleep(0.05)
        await store._execute("DROP VIEW temp.consent_records")
        await store._execute("DROP TABLE temp.big")


async def test_an_erase_or_a_read_the_store_does_not_answer_stops_erasing_nothing(
    store, monkeypatch
):
    """A store that hangs (PostgreSQL holding a lock, a statement that never ends) held a
    visitor's erase, and their `me`, for ever (and the erase's choices, 503s meanwhile). The
    store now stops them itself past STORE_SECONDS: the erase's transaction rolled back (no
    erasure noted), a failure the visitor is answered a 503 for; once the store answers, it
    erases as before. (Not a timer around the call: one firing as the COMMIT ran answered a
    failure for an erase that went through.)"""
    monkeypatch.setattr(records, "STORE_SECONDS", 0.2, raising=False)
    await store.write([record("a"), record("b")])
    async with store_hung(store):
        for work in (store.erase("a", "b"), store.by_id("a", "b", latest=5)):
            task = asyncio.ensure_future(work)
            done, _ = await asyncio.wait([task], timeout=60)  # (a guard, not a measure)
            assert done, "the store held it"
            with pytest.raises(Exception):  # noqa: B017 - the driver's own
                task.result()
    assert len(await store.by_id("a", "b")) == 2
    assert await store._fetch("SELECT consent_id FROM erasures") == []
    assert await store.erase("a", "b") == 2


@pytest.mark.parametrize("locked", ["after-it-opened", "as-it-opens"])
async def test_an_erase_behind_a_batch_a_locked_postgresql_table_holds_stops_too(
    postgres_dsn, monkeypatch, locked
):
    """The erase waits for the writer's lock: a batch write waiting for a table another
    session locked held it, and the erase behind it, for ever. The write waits for the
    lock STORE_SECONDS (then it is retried, the writer's lock let go between), so the
    erase gets its turn, and is stopped in its time too; the batch is written once the
    table is free. So does the purge the writer runs as it opens: locked then (a CI run),
    it held the writer's lock for ever, the batch never taken."""
    monkeypatch.setattr(records, "STORE_SECONDS", 0.2, raising=False)
    tables = PostgresStore(postgres_dsn)
    await tables.open()  # (there to lock, on a new server too)
    await tables.close()
    writer = RecordWriter(PostgresStore(postgres_dsn), interval=0.01)
    if locked == "after-it-opened":
        await _started(writer)
    try:
        async with store_hung(tables):
            if locked == "as-it-opens":
                await _started(writer)
            writer.submit(record("behind"))
            async with asyncio.timeout(60):  # (a guard, not a measure)
                while writer.queued():  # (the batch taken: its write waits for the lock)
                    await asyncio.sleep(0.01)
            erase = asyncio.ensure_future(writer.erase("behind"))
            done, _ = await asyncio.wait([erase], timeout=60)  # (a guard, not a measure)
            assert done, "the store held it"
            with pytest.raises(Exception):  # noqa: B017 - the driver's own
                erase.result()
        while not await writer.by_id("behind"):
            await asyncio.sleep(0.01)
        assert await writer.erase("behind") == 1
    finally:
        await writer.close()


async def test_an_erase_that_fails_half_way_notes_no_erasure(store):
    """The erasure was noted (committed on its own) before the records were deleted: the
    deletion failing, the visitor got a 503 and kept their id, and the record of their next
    choice in that second was deleted with its batch, as decided before the erasure: a
    consent in force with no proof. Now the erase is one transaction."""
    chosen = int(time.time())  # (the erase's second, or one before it)
    await store.write([record("a", chosen - 10)])
    async with deletes_refused(store):
        with pytest.raises(Exception, match="refused"):
            await store.erase("a")
    await store.write([record("a", chosen)])
    assert [r.decided_at for r in await store.by_id("a")] == [chosen - 10, chosen]


async def test_an_erase_of_several_ids_is_all_or_nothing(store):
    """A visitor's ids (several consent cookies: one per path, an old and a new one) were
    erased one at a time: the store failing on the second, the first's were gone and its
    erasure noted, the visitor told it failed. Now they go in one transaction."""
    await store.write([record("a"), record("a"), record("b"), record("c")])
    async with deletes_refused(store, "b"):
        with pytest.raises(Exception, match="refused"):
            await store.erase("a", "b")
    assert [len(await store.by_id(cid)) for cid in "abc"] == [2, 1, 1]
    assert await store._fetch("SELECT consent_id FROM erasures") == []
    assert await store.erase("a", "b") == 3
    assert [len(await store.by_id(cid)) for cid in "abc"] == [0, 0, 1]
    assert sorted(r[0] for r in await store._fetch("SELECT consent_id FROM erasures")) == ["a", "b"]


async def test_purge_keeps_what_is_younger_than_the_retention(store):
    await store.write([record("old", NOW - 400 * 86400), record("new", NOW)])
    assert await store.purge(NOW - 395 * 86400) == 1
    assert [r.consent_id async for r in store.since(0)] == ["new"]


async def test_a_record_keeps_the_language_and_the_version_shown_archived_once(store):
    await store.write([record("a", language="de", shown_digest="v1")], {"v1": '{"x":1}'})
    await store.write([record("b", language="fr", shown_digest="v1")], {"v1": '{"x":1}'})
    assert [(r.language, r.shown_digest) for r in await store.by_id("a")] == [("de", "v1")]
    assert await store.shown("v1") == '{"x":1}' and await store.shown("v2") is None


DAY = 86400  # NOW is 2027-01-15 08:00 UTC


async def test_stats_give_each_days_impressions_outcomes_and_category_answers(store):
    """Grouped in the store (a few rows whatever the traffic); impressions counted by
    several instances add up."""
    a, r = ("analytics",), ("social",)
    await store.write(
        [
            record(
                "1",
                NOW,
                action="accept-all",
                outcome="accept-all",
                granted_categories=a + r,
                refused_categories=(),
            ),
            record(
                "2",
                NOW + 60,
                action="reject-all",
                outcome="reject-all",
                granted_categories=(),
                refused_categories=a + r,
            ),
            record("3", NOW + 120, outcome="customise"),
            record(
                "4",
                NOW + 180,
                action="reject-all",
                outcome="close",
                granted_categories=(),
                refused_categories=a + r,
            ),
            record("3", NOW + 240, outcome=""),  # a change of mind: no first-layer answer
            record(
                "5",
                NOW + DAY,
                action="accept-all",
                outcome="accept-all",
                granted_categories=a + r,
                refused_categories=(),
            ),
            record("old", NOW - 30 * DAY, outcome="close"),
        ],
        impressions={"2027-01-15": 7},
    )
    await store.write([], impressions={"2027-01-15": 3, "2027-01-16": 1})
    days = summarise(await store.stats(NOW - DAY), ["analytics", "social"])
    assert [d["day"] for d in days] == ["2027-01-15", "2027-01-16", "total"]
    first = days[0]
    assert (
        first["impressions"],
        first["decisions"],
        first["accept-all"],
        first["reject-all"],
        first["customise"],
        first["close"],
        first["ignored"],
    ) == (10, 5, 1, 1, 1, 1, 6)
    assert first["categories"]["analytics"] == {"granted": 3, "refused": 2, "rate": 0.6}
    assert first["categories"]["social"] == {"granted": 1, "refused": 4, "rate": 0.2}
    total = days[-1]
    assert (total["impressions"], total["decisions"], total["ignored"]) == (11, 6, 6)
    assert total["categories"]["social"]["rate"] == round(2 / 6, 4)


def test_ignored_never_goes_below_zero_and_rates_need_decisions():
    """More answers than counted impressions (records kept before impressions were): 0."""
    days = summarise(
        Stats([("2027-01-15", "accept-all", (), (), 4)], {"2027-01-15": 1}), ["analytics"]
    )
    assert days[0]["ignored"] == 0
    assert days[0]["categories"]["analytics"] == {"granted": 0, "refused": 0, "rate": None}


async def test_purge_drops_impressions_older_than_the_retention(store):
    await store.write([], impressions={"2026-01-01": 5, "2027-01-15": 2})
    await store.purge(NOW - 10 * DAY)
    assert (await store.stats(0)).impressions == {"2027-01-15": 2}


async def test_the_writer_counts_impressions_by_day_and_writes_them_with_the_batches(tmp_path):
    clock = [NOW]
    store = FlakyStore(tmp_path / "r.sqlite3", failures=1)
    writer = RecordWriter(store, interval=0.01, clock=lambda: clock[0])
    await writer.start()
    try:
        writer.impression()
        writer.impression()
        clock[0] += DAY
        writer.impression()
        want = {"2027-01-15": 2, "2027-01-16": 1}  # after a failed write, retried
        for _ in range(100):
            if writer.ready and (await store.stats(0)).impressions == want:
                break
            await asyncio.sleep(0.05)
        assert (await store.stats(0)).impressions == want and store.failures == 0
    finally:
        await writer.close()


async def test_impressions_counted_as_the_writer_closes_are_written(tmp_path):
    """Closed before its store was open (a proxy stopped at once), the writer left the loop
    with the impressions counted unwritten."""
    path = tmp_path / "r.sqlite3"
    writer = RecordWriter(SqliteStore(path), interval=0.01)
    await writer.start()
    writer.impression()
    await writer.close()
    store = SqliteStore(path)
    await store.open()
    try:
        assert sum((await store.stats(0)).impressions.values()) == 1
    finally:
        await store.close()


async def test_purge_drops_versions_no_record_names_any_more(store):
    await store.write(
        [record("old", NOW - 100, shown_digest="v1"), record("new", NOW, shown_digest="v2")],
        {"v1": "one", "v2": "two"},
    )
    assert await store.purge(NOW - 50) == 1
    assert await store.shown("v1") is None and await store.shown("v2") == "two"


async def test_records_of_the_first_schema_are_migrated_and_still_read(tmp_path):
    """A store written before records kept the language: its rows read with "" for it."""
    import aiosqlite

    from consentproxy.records import MIGRATIONS

    path = tmp_path / "old.sqlite3"
    async with aiosqlite.connect(path) as db:
        await db.execute("CREATE TABLE schema_version (version INTEGER)")
        for sql in MIGRATIONS[:5]:
            await db.execute(sql.format(id="INTEGER PRIMARY KEY AUTOINCREMENT", bool="INTEGER"))
        await db.execute("INSERT INTO schema_version (version) VALUES (5)")
        await db.execute(
            "INSERT INTO consent_records (consent_id, decided_at, revision, config_digest, "
            "action, method, granted_categories, refused_categories, granted_services, "
            "refused_services, withdrawal, gpc, user_agent) VALUES ('old', 1, 1, 'd', 'save', "
            "'form', '[]', '[]', '[]', '[]', 0, 0, 'other')"
        )
        await db.commit()
    store = SqliteStore(path)
    await store.open()
    try:
        [old] = await store.by_id("old")
        assert (old.language, old.shown_digest) == ("", "")
        await store.write([record("new", language="pl", shown_digest="v")], {"v": "{}"})
        assert (await store.by_id("new"))[0].language == "pl"
    finally:
        await store.close()


async def test_the_writer_archives_each_version_again_after_a_purge_took_it(tmp_path):
    """The version shown is kept while records name it: once its only records were erased,
    a purge drops it, and the next record naming it (the banner still shown) brings it
    back, or that record could not show what its visitor saw."""
    store = SqliteStore(tmp_path / "r.sqlite3")
    writer = RecordWriter(store, interval=0.01)
    await writer.start()

    async def written(n: int) -> None:
        for _ in range(100):
            if writer.written == n:
                return
            await asyncio.sleep(0.02)

    try:
        for i in range(3):
            writer.submit(record(f"v{i}", shown_digest="d1"), ("d1", "content one"))
        await written(3)
        assert await store.shown("d1") == "content one"
        for i in range(3):
            await writer.erase(f"v{i}")
        await writer.purge()
        assert await store.shown("d1") is None
        writer.submit(record("v3", shown_digest="d1"), ("d1", "content one"))
        await written(4)
        assert await store.shown("d1") == "content one"
    finally:
        await writer.close()


def test_the_writer_keeps_the_versions_last_shown_at_hand():
    writer = RecordWriter(SqliteStore(":memory:"))
    for i in range(VERSIONS_KEPT + 5):
        writer.submit(record("x", shown_digest="d0"), ("d0", "zero"))  # (in use all along)
        writer.submit(record("x", shown_digest=f"d{i + 1}"), (f"d{i + 1}", "other"))
    assert len(writer._versions) == VERSIONS_KEPT and "d0" in writer._versions


async def test_reopening_migrates_nothing_twice_and_keeps_data(store_target):
    first = open_store(store_target)
    await first.open()
    await first.write([record("keep")])
    await first.close()
    again = open_store(store_target)
    await again.open()
    assert [r.consent_id for r in await again.by_id("keep")][-1] == "keep"
    await again.close()


async def test_a_silent_writer_is_counted_once_and_one_that_left_never(store_target):
    store = open_store(store_target)
    await store.open()
    t = int(time.time()) + 10**6
    try:
        await store.beat("a", t)  # (what other tests left is silent by now: gone)
        await store.beat("left", t)
        await store.leave("left")
        assert await store.beat("b", t + STALE_SECONDS) == 0  # a: not silent long enough
        assert await store.beat("b", t + STALE_SECONDS + 1) == 1  # a, not "left"
        assert await store.beat("b", t + STALE_SECONDS + 2) == 0
        await store.leave("b")
    finally:
        await store.close()


class Clock:
    """A writer's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = float(NOW)

    def __call__(self) -> float:
        return self.now


async def _started(writer: RecordWriter) -> RecordWriter:
    await writer.start()
    for _ in range(100):
        if writer.ready:
            return writer
        await asyncio.sleep(0.02)
    raise AssertionError("the writer never opened its store")


async def test_a_writer_closed_during_an_erase_leaves_it_whole(tmp_path):
    """A reload changing records:, or a shutdown, closes the writer while an erase may be
    inside its transaction: on SQLite's one connection, close()'s leave() committed the
    first id's deletion, the erase then failed on the closed store (the visitor's 503, the
    cookie kept) and the second id's records stayed. close() waits for the erase."""
    path = tmp_path / "r.sqlite3"
    writer = await _started(RecordWriter(SqliteStore(path), interval=0.01))
    store = writer.store
    assert isinstance(store, SqliteStore)
    for cid in ("id1", "id2"):
        writer.submit(record(cid))
    while writer.written < 2:
        await asyncio.sleep(0.01)
    between, go = asyncio.Event(), asyncio.Event()
    together = store._together

    @contextlib.asynccontextmanager
    async def pausing(*limits):  # (each deletion followed by a wait on the event loop)
        async with together(*limits) as run:

            async def paused(sql, *args):
                changed = await run(sql, *args)
                if sql.startswith("DELETE"):
                    between.set()
                    await go.wait()
                return changed

            yield paused

    store._together = pausing  # type: ignore[method-assign]
    erase = asyncio.ensure_future(writer.erase("id1", "id2"))
    await between.wait()  # (the first id's records deleted, not committed)
    closing = asyncio.ensure_future(writer.close())
    while writer._task is not None and not writer._task.done():  # (its queue flushed)
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)  # (time for close() to go on, had it not waited)
    go.set()
    await closing
    erased = (await asyncio.gather(erase, return_exceptions=True))[0]
    reopened = SqliteStore(path)
    await reopened.open()
    try:
        left = [len(await reopened.by_id(cid)) for cid in ("id1", "id2")]
    finally:
        await reopened.close()
    assert left == ([0, 0] if erased == 2 else [1, 1]), erased


async def test_a_read_waits_for_a_write_on_one_connection_only(fresh_target):
    """`me` reads under the writer's lock on SQLite's one connection (else it saw an erase's
    or a batch's transaction before its commit); a pool's reads see only what was committed,
    and each `me` had waited for every batch write and the purge of its worker."""
    writer = await _started(RecordWriter(open_store(fresh_target), interval=0.01))
    try:
        async with writer._lock:  # (a batch, an erase or the purge under way)
            reading = asyncio.ensure_future(writer.by_id("abc"))
            one = writer.store.one_connection
            done, _ = await asyncio.wait([reading], timeout=0.2 if one else 10)
            assert bool(done) is not one
        assert await reading == []
    finally:
        await writer.close()


def _unclean(caplog: pytest.LogCaptureFixture) -> int:
    return caplog.text.count("did not shut down cleanly")


async def test_an_unclean_stop_is_noticed_by_the_next_writer(tmp_path, caplog):
    """Whatever ran alongside (a `records` command, another worker that stopped cleanly),
    a writer gone without closing (kill -9) is noticed: at once by a writer started after
    STALE_SECONDS, else at a later beat; once."""
    path, clock = tmp_path / "r.sqlite3", Clock()
    crashed = await _started(RecordWriter(SqliteStore(path), clock=clock))
    other = await _started(RecordWriter(SqliteStore(path), clock=clock))
    await other.close()  # a worker stopped cleanly
    command = SqliteStore(path)  # a `records` command
    await command.open()
    await command.close()
    assert crashed._task is not None
    crashed._task.cancel()
    await crashed.store.close()  # gone without leaving: as after kill -9
    with caplog.at_level(logging.WARNING, "consentproxy.records"):
        restarted = await _started(RecordWriter(SqliteStore(path), interval=0.01, clock=clock))
        assert _unclean(caplog) == 0  # (it may still be running: restarted at once)
        clock.now += STALE_SECONDS + HEARTBEAT_SECONDS
        for _ in range(100):
            if _unclean(caplog):
                break
            await asyncio.sleep(0.02)
        await restarted.close()
        later = await _started(RecordWriter(SqliteStore(path), clock=clock))
        await later.close()
    assert _unclean(caplog) == 1


async def test_writers_sharing_a_store_and_commands_are_no_unclean_stop(tmp_path, caplog):
    """serve --workers 2, and a `records` command run while they serve: no warning."""
    path, clock = tmp_path / "r.sqlite3", Clock()
    with caplog.at_level(logging.WARNING, "consentproxy.records"):
        first = await _started(RecordWriter(SqliteStore(path), clock=clock))
        second = await _started(RecordWriter(SqliteStore(path), clock=clock))
        command = SqliteStore(path)
        await command.open()
        await command.close()
        await first.close()
        await second.close()
        again = await _started(RecordWriter(SqliteStore(path), clock=clock))
        await again.close()
    assert _unclean(caplog) == 0


async def test_a_store_left_unclean_before_the_upgrade_is_warned_about_once(tmp_path, caplog):
    import aiosqlite

    from consentproxy.records import MIGRATIONS

    path = tmp_path / "old.sqlite3"
    async with aiosqlite.connect(path) as db:
        await db.execute("CREATE TABLE schema_version (version INTEGER)")
        for sql in MIGRATIONS[:5]:
            await db.execute(sql.format(id="INTEGER PRIMARY KEY AUTOINCREMENT", bool="INTEGER"))
        await db.execute("UPDATE store_state SET clean = 0")  # a run that crashed
        await db.execute("INSERT INTO schema_version (version) VALUES (5)")
        await db.commit()
    with caplog.at_level(logging.WARNING, "consentproxy.records"):
        for _ in range(2):
            writer = await _started(RecordWriter(SqliteStore(path)))
            await writer.close()
    assert _unclean(caplog) == 1


async def test_writer_batches_and_flushes_on_close(tmp_path):
    store = SqliteStore(tmp_path / "r.sqlite3")
    writer = RecordWriter(store, batch=10, interval=0.05)
    await writer.start()
    for i in range(25):
        writer.submit(record(f"v{i}"))
    await writer.close()
    check = SqliteStore(tmp_path / "r.sqlite3")
    await check.open()
    assert len([r async for r in check.since(0)]) == 25
    await check.close()


class FlakyStore(SqliteStore):
    """Down for the first writes, like a database restarting."""

    def __init__(self, path, failures: int):
        super().__init__(path)
        self.failures = failures

    async def write(self, batch, versions=None, impressions=None):
        if self.failures:
            self.failures -= 1
            raise ConnectionError("store is down")
        await super().write(batch, versions, impressions)


async def test_a_store_that_is_down_is_retried_and_never_blocks_submit(tmp_path):
    store = FlakyStore(tmp_path / "r.sqlite3", failures=3)
    writer = RecordWriter(store, batch=5, interval=0.01)
    await writer.start()
    for i in range(12):
        writer.submit(record(f"v{i}"))
    assert writer.queue.qsize() == 12  # submitting only queues: it never waits for the store
    for _ in range(100):
        if writer.written == 12:
            break
        await asyncio.sleep(0.05)
    assert writer.written == 12 and writer.dropped == 0
    await writer.close()


async def test_an_erase_takes_the_visitor_s_records_still_queued_or_retried(tmp_path):
    """A decision waiting for the store (down a moment) was written after the visitor's
    erase, which had told them none was left."""
    store = FlakyStore(tmp_path / "r.sqlite3", failures=3)
    writer = RecordWriter(store, batch=2, interval=0.01)
    await writer.start()
    for cid in ("a", "b", "a", "c"):  # (one batch being retried, one still queued)
        writer.submit(record(cid))
    for _ in range(100):  # until the first batch has failed once at least
        if store.failures < 3:
            break
        await asyncio.sleep(0.01)
    assert await writer.erase("a", "c") == 0  # (a visitor's two ids)
    for _ in range(200):
        if not writer.queued() and not store.failures and writer.written >= 1:
            break
        await asyncio.sleep(0.02)
    assert [r.consent_id for cid in "abc" for r in await store.by_id(cid)] == ["b"]
    await writer.close()


async def test_an_erase_the_store_refuses_keeps_the_visitor_s_records_queued_or_retried(
    tmp_path,
):
    """The disk full: the erase failed (the visitor got a 503 and kept the cookie), yet
    their decisions waiting for the store had been thrown away, and none counted dropped."""

    class Full(FlakyStore):
        async def erase(self, *consent_ids: str) -> int:
            raise sqlite3.OperationalError("database or disk is full")

    store = Full(tmp_path / "r.sqlite3", failures=2)
    writer = RecordWriter(store, batch=1, interval=0.01)
    await writer.start()
    for cid in ("a", "a"):  # (one being retried, one still queued)
        writer.submit(record(cid))
    for _ in range(100):  # until the first has failed once at least
        if store.failures < 2:
            break
        await asyncio.sleep(0.01)
    with pytest.raises(sqlite3.OperationalError):
        await writer.erase("a")
    for _ in range(200):
        if writer.written == 2:
            break
        await asyncio.sleep(0.02)
    assert (len(await store.by_id("a")), writer.dropped) == (2, 0)
    await writer.close()


async def test_an_erase_cut_short_half_way_erases_nothing(tmp_path):
    """An erase cancelled while the store deletes (a shutdown, its statement blocked) left
    the erasure noted on SQLite's one connection, committed by the next commit there (the
    purge's): the visitor's records kept, and their next choice in that second deleted as
    decided before it. The erase is one transaction, the purge waits for the writer's lock."""
    gate = threading.Event()
    store = SqliteStore(tmp_path / "r.sqlite3")
    writer = RecordWriter(store, interval=0.01)
    await writer.start()
    assert await writer.opened(5)
    await store.write([record("a")])
    await store.db.create_function("stall", 0, lambda: gate.wait(3))
    await store._execute(
        "CREATE TEMP TRIGGER stall BEFORE DELETE ON consent_records BEGIN SELECT stall(); END"
    )
    erase = asyncio.ensure_future(writer.erase("a"))
    await asyncio.sleep(0.2)  # (the erase awaits the store)
    erase.cancel()
    purge = asyncio.ensure_future(writer.purge())
    gate.set()
    with pytest.raises(asyncio.CancelledError):
        await erase
    assert await purge == 0
    writer.submit(record("b"))
    for _ in range(200):
        if writer.written == 1:
            break
        await asyncio.sleep(0.02)
    assert writer.written == 1
    assert len(await store.by_id("a")) == 1
    assert await store._fetch("SELECT consent_id FROM erasures") == []
    await writer.close()


async def test_a_write_that_fails_half_way_is_not_written_twice(tmp_path):
    """The records inserted before the failure stayed in the open transaction and went in
    again with the retry: 5 decisions became 7 rows."""

    class HalfWay(SqliteStore):
        failures = 1

        def _count_impressions(self) -> str:
            if self.failures:
                self.failures -= 1
                return "INSERT INTO no_such_table VALUES (?, ?)"
            return super()._count_impressions()

    store = HalfWay(tmp_path / "r.sqlite3")
    writer = RecordWriter(store, batch=10, interval=0.01)
    await writer.start()
    for i in range(5):
        writer.submit(record(f"v{i}"))
    writer.impression()
    for _ in range(200):
        if writer.written == 5:
            break
        await asyncio.sleep(0.02)
    assert len([r async for r in store.since(0)]) == 5
    await writer.close()


async def test_a_full_queue_drops_and_says_so(tmp_path, caplog):
    writer = RecordWriter(FlakyStore(tmp_path / "r.sqlite3", failures=10**6), limit=3)
    with caplog.at_level(logging.ERROR, "consentproxy.records"):
        for i in range(5):
            writer.submit(record(f"v{i}"))
    assert writer.dropped == 2 and "queue full" in caplog.text


async def test_decisions_being_written_when_the_flush_times_out_are_counted_lost(tmp_path, caplog):
    """A store locked by another process at shutdown: the batch being written was lost
    and "0 decisions still queued" said, and consentproxy_records_dropped stayed 0."""
    writing = asyncio.Event()

    class Locked(SqliteStore):
        async def write(self, batch, versions=None, impressions=None):
            writing.set()
            await asyncio.sleep(3600)  # (SQLite's busy timeout, then again)

    writer = RecordWriter(Locked(tmp_path / "r.sqlite3"), interval=0.01)
    await writer.start()
    writer.impression()
    writer.submit(record("a"))
    writer.submit(record("b"))
    await asyncio.wait_for(writing.wait(), 10)
    writer.submit(record("c"))
    writer.impression()
    with caplog.at_level(logging.ERROR, "consentproxy.records"):
        await writer.close(timeout=0.2)
    assert writer.dropped == 3
    # (the one being written counted too: it had been lost unsaid)
    assert "3 decisions and 2 banner impressions were not recorded at shutdown" in caplog.text


async def test_impressions_a_store_down_at_shutdown_cannot_take_are_said_lost(tmp_path, caplog):
    """Only impressions to write, the store down: "0 decisions not recorded" was logged,
    and the counts were lost unsaid."""
    store = FlakyStore(tmp_path / "r.sqlite3", failures=10**6)
    writer = RecordWriter(store, interval=0.01)
    await writer.start()
    for _ in range(3):
        writer.impression()
    with caplog.at_level(logging.ERROR, "consentproxy.records"):
        await writer.close()
    assert "0 decisions and 3 banner impressions were not recorded at shutdown" in caplog.text


async def test_decisions_queued_for_a_store_that_never_opened_are_counted_lost(caplog):
    pytest.importorskip("asyncpg")
    writer = RecordWriter(open_store("postgresql://me@127.0.0.1:9/consent"))
    await writer.start()
    writer.submit(record("a"))
    with caplog.at_level(logging.ERROR, "consentproxy.records"):
        await writer.close()
    assert writer.dropped == 1 and "never opened" in caplog.text


# A writer that never opens its store, closed as serve closes it on SIGTERM.
NEVER_OPENED = """
import asyncio, logging, sys
from consentproxy.records import RecordWriter, SqliteStore
logging.basicConfig()
async def main():
    writer = RecordWriter(SqliteStore(sys.argv[1]))
    await writer.start()
    await asyncio.sleep(0.7)
    await writer.close()
asyncio.run(main())
"""


@pytest.mark.parametrize("what", ["a directory", "not a database"])
def test_a_store_that_never_opened_closes_without_traceback_or_hang(tmp_path, what):
    path = tmp_path / "r.sqlite3"
    if what == "a directory":
        path.mkdir()
    else:
        path.write_bytes(b"not a database " * 300)
    done = subprocess.run(
        [sys.executable, "-c", NEVER_OPENED, str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert f"the store {path} never opened" in done.stderr
    assert "Traceback" not in done.stderr and "Event loop is closed" not in done.stderr


async def test_a_store_that_cannot_open_is_named_with_the_delay_of_the_retry(tmp_path, caplog):
    pytest.importorskip("asyncpg")
    writer = RecordWriter(open_store("postgresql://me:secret@127.0.0.1:9/consent"))
    with caplog.at_level(logging.ERROR, "consentproxy.records"):
        await writer.start()
        for _ in range(100):
            if "cannot open" in caplog.text:
                break
            await asyncio.sleep(0.02)
        await writer.close()
    assert "cannot open the store postgresql://me:***@127.0.0.1:9/consent (" in caplog.text
    assert "): check records.dsn; decisions are queued" in caplog.text
    assert "retrying in 0.5s" in caplog.text and "secret" not in caplog.text


@pytest.mark.parametrize(
    ("ua", "family"),
    [
        ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox 133"),
        (
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            "Chrome 131",
        ),
        ("Mozilla/5.0 Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86", "Edge 131"),
        ("Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 Version/17.1 Safari/605.1.15", "Safari 17"),
        ("Googlebot/2.1 (+http://www.google.com/bot.html)", "bot"),
        ("", "other"),
        (None, "other"),
        ("Chrome/" + "9" * 8100, "Chrome 9999"),  # (a record 12 times the size: helper-108)
    ],
)
def test_only_the_browser_family_is_kept(ua, family):
    assert user_agent_family(ua) == family
