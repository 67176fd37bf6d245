"""A store write that fails for good: nothing after it commits, every abandoned event is counted per source, and
no later write — the scorer's urgent alert commits included — is applied. The failure is real DuckDB: a CHECK
constraint on the events table refuses a line, as a corrupt or incompatible store would."""

from __future__ import annotations

import time
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from store.db import Store, StoreError
from store.event_ids import EventIdAllocator
from store.pipeline import EventBatchBuilder, IngestPipeline
from store.schema import events_ddl
from store.sources.base import FileCheckpoint, LineBatch
from store.writer import StoreWriter

POISON = "POISON"


def poisoned_store(path: Path) -> Store:
    """A store whose events table refuses any line containing POISON (a CHECK constraint: a real write error)."""
    con = duckdb.connect(str(path))
    con.execute(events_ddl()[:-2] + f",\n  CHECK (raw NOT LIKE '%{POISON}%')\n)")
    con.close()
    return Store.open(path)


def lift_poison(path: Path) -> None:
    """Recreate the events table without the constraint, keeping every stored row (the 'repair')."""
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE events_keep AS SELECT * FROM events")
    con.execute("DROP TABLE events")
    con.execute(events_ddl())
    con.execute("INSERT INTO events SELECT * FROM events_keep")
    con.execute("DROP TABLE events_keep")
    con.close()


def batch(first_id: int, source: str, raws: list[str]) -> pa.RecordBatch:
    b = EventBatchBuilder()
    b.first_id = first_id
    now = datetime.now(UTC)
    b.extend([{"raw": r, "message": r} for r in raws], now, source, None, None)
    return b.build()


def checkpoint(offset: int) -> FileCheckpoint:
    return FileCheckpoint("fp-a", 64, "/var/log/a.log", 1, 2, offset, offset)


def stored(store: Store) -> list[str]:
    return [r[0] for r in store.cursor().execute("SELECT raw FROM events ORDER BY event_id").fetchall()]


def test_after_a_fatal_write_nothing_later_commits_and_every_event_is_counted(tmp_path: Path) -> None:
    store = poisoned_store(tmp_path / "v.duckdb")
    writer = StoreWriter(store)
    writer.coalesce_rows = 0  # one transaction per batch: A fails alone, B would commit on its own
    try:
        assert writer.write_events(batch(1, "file:/var/log/a.log", ["a1", f"a2 {POISON}", "a3"]), [checkpoint(30)])
        assert writer.write_events(batch(4, "file:/var/log/a.log", ["a4", "a5", "a6"]), [checkpoint(60)])
        assert writer.write_events(batch(7, "udp://127.0.0.1:5514", ["u1", "u2"]))
        later: Future[object] = writer.call(lambda con: con.execute("CREATE TABLE later_write (x INT)"))
        writer.start()
        with pytest.raises(StoreError, match="not applied"):
            later.result(timeout=30)
        assert writer.failed is not None and "CHECK constraint" in str(writer.failed)
        assert stored(store) == [], "a batch queued after the failed one was committed"
        assert store.load_checkpoints() == [], "the file checkpoint moved past lines that were never stored"
        assert writer.abandoned == {"file:/var/log/a.log": 6, "udp://127.0.0.1:5514": 2}
        # The scorer's lane: an alert commit after the failure would cite events that were never stored.
        urgent = writer.call(lambda con: con.execute("CREATE TABLE alert_write (x INT)"), urgent=True)
        with pytest.raises(StoreError, match="failed"):
            urgent.result(timeout=30)
        assert not writer.write_events(batch(9, "file:/var/log/a.log", ["a7"]), [checkpoint(70)], timeout=1.0)
        tables = {r[0] for r in store.cursor().execute("SELECT table_name FROM information_schema.tables").fetchall()}
        assert not tables & {"later_write", "alert_write"}
    finally:
        writer.stop()
        store.close()


def test_an_urgent_write_queued_before_the_failure_is_refused_too(tmp_path: Path) -> None:
    """An alert commit waiting in the urgent lane when the event write fails for good is not applied."""
    store = poisoned_store(tmp_path / "v.duckdb")
    writer = StoreWriter(store)
    try:
        assert writer.write_events(batch(1, "file:/var/log/a.log", [f"{POISON}"]), [checkpoint(7)])
        started = writer.call(lambda con: None)  # queued behind the batch: lets us know the writer is running
        writer.start()
        with pytest.raises(StoreError):
            started.result(timeout=30)
        urgent = writer.call(lambda con: con.execute("CREATE TABLE alert_write (x INT)"), urgent=True)
        with pytest.raises(StoreError, match="failed"):
            urgent.result(timeout=30)
        assert writer.abandoned == {"file:/var/log/a.log": 1}
    finally:
        writer.stop()
        store.close()


def test_the_pipeline_counts_what_it_could_not_hand_over_per_source(tmp_path: Path) -> None:
    store = poisoned_store(tmp_path / "v.duckdb")
    writer = StoreWriter(store).start()
    ids = EventIdAllocator(1)
    pipe = IngestPipeline(writer, ids=ids, batch_seconds=0.05).start()
    try:
        assert pipe.submit(LineBatch("file:/var/log/a.log", [b"ok 1", POISON.encode(), b"ok 2"],
                                     datetime.now(UTC), checkpoint=checkpoint(20)))
        assert pipe.sync(30)
        assert writer.flush(timeout=5) is False  # the writer failed for good
        # Lines offered after the failure are refused at the door and counted, never silently parsed away.
        assert not pipe.submit(LineBatch("udp://127.0.0.1:5514", [b"late 1", b"late 2"], datetime.now(UTC)),
                               timeout=5)
        lost = pipe.abandoned_by_source()
        assert lost == {"file:/var/log/a.log": 3, "udp://127.0.0.1:5514": 2}
        assert pipe.stats.events == 0, "events the writer never committed were reported as stored"
        assert ids.horizon() == ids.next_id - 1, "abandoned ids must be settled, or detection waits on them"
    finally:
        pipe.stop()
        writer.stop()
        store.close()


def test_new_events_get_ids_past_a_scorer_checkpoint_that_stepped_over_abandoned_ids(tmp_path: Path) -> None:
    """Ids of abandoned events are settled, so detection may step over them and commit a checkpoint beyond the
    last stored event. The next run must number new events after that checkpoint, or they are never scored."""
    from app.config import Config
    from app.engine import Engine
    from app.storage import open_store

    db = tmp_path / "v.duckdb"
    store = open_store(db)
    store.con.execute("INSERT INTO events (event_id, received_at, source, raw) VALUES (10, now(), 'x', 'x')")
    store.con.execute("UPDATE scorer_checkpoint SET last_event_id = 110 WHERE consumer = 'scorer'")
    assert store.con.execute("SELECT last_event_id FROM scorer_checkpoint").fetchall() == [(110,)]
    store.close()
    log = tmp_path / "auth.log"
    log.write_text("".join(f"Nov 21 07:00:{k:02d} web-01 sshd[2000]: Failed password for admin from "
                           f"198.51.100.66 port {41000 + k} ssh2\n" for k in range(8)))
    cfg = Config()
    cfg.sources.watch = [str(log)]
    cfg.sources.poll_interval = 0.2
    engine = Engine(cfg, db_path=db, respond=False).start()
    try:
        deadline = time.monotonic() + 120
        while engine.pipeline.stats.events < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert engine.wait_idle(120)
        cur = engine.store.cursor()
        try:
            ids = [r[0] for r in cur.execute("SELECT event_id FROM events WHERE source <> 'x'").fetchall()]
            alerts = cur.execute("SELECT count(*) FROM alerts WHERE rule_id = 'auth.bruteforce'").fetchone()[0]
        finally:
            cur.close()
    finally:
        engine.stop()
    assert len(ids) == 8 and min(ids) > 110, ids
    assert alerts == 1, "events numbered below the scorer's checkpoint were never scored"
