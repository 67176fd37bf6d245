"""The DuckDB store: private file modes, migrations, one writer with events+checkpoints in one transaction,
retention and export."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from store.db import Store, StoreLockedError
from store.export import ExportError, export_range
from store.pipeline import IngestPipeline
from store.retention import apply_retention
from store.sources.base import FileCheckpoint, LineBatch
from store.writer import StoreWriter


def _ingest(store: Store, lines: list[bytes], source: str = "file:/x.log",
            checkpoint: FileCheckpoint | None = None, when: datetime | None = None) -> IngestPipeline:
    writer = StoreWriter(store).start()
    pipe = IngestPipeline(writer, first_event_id=store.max_id("events", "event_id") + 1).start()
    assert pipe.submit(LineBatch(source, lines, when or datetime.now(UTC), checkpoint=checkpoint))
    assert pipe.sync(10)
    assert writer.flush(10)
    pipe.stop()
    writer.stop()
    return pipe


def test_store_file_is_private_and_migrated(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "sub" / "v.duckdb")
    try:
        mode = stat.S_IMODE((tmp_path / "sub" / "v.duckdb").stat().st_mode)
        assert mode & 0o077 == 0, oct(mode)
        versions = store.cursor().execute("SELECT component, version FROM schema_version").fetchall()
        assert ("store", 1) in versions
        cols = [r[0] for r in store.cursor().execute("DESCRIBE events").fetchall()]
        assert cols[:3] == ["event_id", "ts", "received_at"] and "parse_error" in cols and "fields" in cols
    finally:
        store.close()
    # Re-opening applies nothing twice.
    store = Store.open(tmp_path / "sub" / "v.duckdb")
    assert store.migrate({"store": [(1, "CREATE TABLE should_not_run (x INT)")]}) == []
    store.close()


def test_second_process_gets_a_clear_lock_message(tmp_path: Path) -> None:
    db = tmp_path / "v.duckdb"
    store = Store.open(db)
    try:
        code = textwrap.dedent(f"""
            from store.db import Store, StoreLockedError
            try:
                Store.open({str(db)!r}, read_only=True)
            except StoreLockedError as exc:
                print("LOCKED", exc)
        """)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                             cwd=Path(__file__).parent.parent)
        assert out.stdout.startswith("LOCKED"), out.stderr
        assert "another Vigil process" in out.stdout and str(db) in out.stdout
    finally:
        store.close()
    assert StoreLockedError  # the type users catch


def test_events_and_checkpoint_commit_together(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "v.duckdb")
    cp = FileCheckpoint("fp1", 1024, "/x.log", 1, 2, offset=123, size=500)
    _ingest(store, [b"Nov 21 10:00:00 h sshd[1]: hello", b"\xff\xfe not utf8"], checkpoint=cp)
    rows = store.cursor().execute(
        "SELECT event_id, message, raw, parse_error, raw_bytes FROM events ORDER BY event_id").fetchall()
    assert [r[0] for r in rows] == [1, 2]
    assert rows[1][4] == b"\xff\xfe not utf8"  # invalid UTF-8 kept byte-exact
    assert "UTF-8" in rows[1][3]
    (saved,) = store.load_checkpoints()
    assert (saved.fingerprint, saved.offset, saved.size) == ("fp1", 123, 500)
    # A grown short file replaces its old fingerprint key.
    _ingest(store, [b"more"], checkpoint=FileCheckpoint("fp2", 1024, "/x.log", 1, 2, 200, 600, replaces="fp1"))
    assert [c.fingerprint for c in store.load_checkpoints()] == ["fp2"]
    assert store.max_id("events", "event_id") == 3
    store.close()


def test_nothing_is_committed_when_a_transaction_fails(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "v.duckdb")
    writer = StoreWriter(store).start()

    def boom(con):  # noqa: ANN001
        con.execute("INSERT INTO alerts (alert_id, created_at, detector, severity) VALUES (1, now(), 'x', 'low')")
        raise RuntimeError("half-way failure")

    fut = writer.call(boom)
    with pytest.raises(RuntimeError):
        fut.result(10)
    assert writer.call(lambda con: con.execute("SELECT count(*) FROM alerts").fetchone()[0]).result(10) == 0
    writer.stop()
    store.close()


def test_retention_deletes_old_events(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "v.duckdb")
    old = datetime.now(UTC) - timedelta(days=40)
    _ingest(store, [b"2020-01-01T00:00:00Z old line"], when=old)
    _ingest(store, [b"fresh line"])
    store.cursor().execute("UPDATE events SET ts = NULL")
    deleted = apply_retention(store.cursor(), store.path, days=30, max_size_mb=0)
    assert deleted["events"] == 1
    assert [r[0] for r in store.cursor().execute("SELECT raw FROM events").fetchall()] == ["fresh line"]
    store.close()


def test_export_parquet_by_day_and_jsonl(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "v.duckdb")
    _ingest(store, [b"2026-11-20T10:00:00Z day one", b"2026-11-21T10:00:00Z day two"])
    res = export_range(store.cursor(), "events", "parquet", tmp_path / "pq", "2026-11-20", None)
    assert res.rows == 2
    from store.nats_link import default_site_id

    parts = sorted(p.parent.relative_to(tmp_path / "pq").as_posix() for p in (tmp_path / "pq").rglob("*.parquet"))
    site = default_site_id()
    assert parts == [f"site={site}/day=2026-11-20", f"site={site}/day=2026-11-21"]
    assert (tmp_path / "pq" / "manifest.json").exists()
    res = export_range(store.cursor(), "events", "jsonl", tmp_path / "out.jsonl", "2026-11-21", "2026-11-22")
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert res.rows == 1 and json.loads(lines[0])["message"] == "day two"
    assert stat.S_IMODE((tmp_path / "out.jsonl").stat().st_mode) == 0o600
    with pytest.raises(ExportError, match="not empty"):
        export_range(store.cursor(), "events", "parquet", tmp_path / "pq", None, None)
    with pytest.raises(ExportError, match="expected an ISO date"):
        export_range(store.cursor(), "events", "csv", tmp_path / "x.csv", "yesterday", None)
    store.close()


def test_size_retention_drops_oldest_days_but_never_the_newest(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "v.duckdb")
    now = datetime.now(UTC)
    for days_ago in (3, 2, 1, 0):
        _ingest(store, [f"day-{days_ago} {os.urandom(200).hex()}".encode() for _ in range(3000)],
                when=now - timedelta(days=days_ago))
    deleted = apply_retention(store.cursor(), store.path, days=0, max_size_mb=1)
    left = store.cursor().execute("SELECT DISTINCT received_at::DATE FROM events").fetchall()
    assert deleted["events"] == 9000  # the three older days went; the store can't get under 1 MB
    assert [d for (d,) in left] == [now.date()]
    store.close()
