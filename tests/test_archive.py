"""Archive hand-off: `vigil export` writes site/day Parquet partitions with a manifest; import verifies each
partition, loads it once, and refuses a corrupted one by name. Real DuckDB files and the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from app.storage import open_store
from store.archive import MANIFEST, ArchiveError, export_archive, import_archive, read_manifest
from store.db import Store
from store.export import ExportError, export_range
from store.schema import EVENT_SCHEMA
from store.writer import insert_events

DAY1 = datetime(2026, 11, 20, 23, 59, tzinfo=UTC)
DAY2 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def make_events(first_id: int, n: int, ts: datetime, site: str | None) -> pa.RecordBatch:
    cols = {f.name: pa.nulls(n, f.type) for f in EVENT_SCHEMA}
    cols["event_id"] = pa.array(range(first_id, first_id + n), pa.int64())
    cols["ts"] = pa.array([ts + timedelta(seconds=i) for i in range(n)], EVENT_SCHEMA.field("ts").type)
    cols["received_at"] = pa.array([ts] * n, EVENT_SCHEMA.field("received_at").type)
    cols["source"] = pa.array(["file:/var/log/auth.log"] * n)
    cols["message"] = pa.array([f"{site} {ts.date()} line {i}" for i in range(n)])
    cols["site"] = pa.array([site] * n, pa.string())
    return pa.RecordBatch.from_pydict(cols, schema=EVENT_SCHEMA)


@pytest.fixture
def site_store(tmp_path: Path) -> Iterator[Store]:
    """A site's store: 120 local events over two days (no site column) and 30 relayed from 'plant-2'."""
    store = open_store(tmp_path / "site.duckdb")
    insert_events(store.con, make_events(1, 50, DAY1, None))
    insert_events(store.con, make_events(51, 70, DAY2, None))
    insert_events(store.con, make_events(121, 30, DAY2, "plant-2"))
    yield store
    store.close()


def central_count(path: Path) -> int:
    store = open_store(path)
    try:
        (row,) = store.cursor().execute("SELECT count(*) FROM events").fetchall()
        return int(row[0])
    finally:
        store.close()


def test_export_writes_site_day_partitions_with_a_manifest(tmp_path: Path, site_store: Store) -> None:
    out = tmp_path / "archive"
    res = export_archive(site_store.cursor(), out, site="plant-1")
    assert res.rows == 150
    manifest = json.loads((out / MANIFEST).read_text())
    paths = sorted(p["path"].rsplit("/", 1)[0] for p in manifest["partitions"])
    assert paths == ["site=plant-1/day=2026-11-20", "site=plant-1/day=2026-11-21", "site=plant-2/day=2026-11-21"]
    assert sum(p["rows"] for p in manifest["partitions"]) == 150
    first = next(p for p in manifest["partitions"] if "day=2026-11-20" in p["path"])
    assert first["rows"] == 50 and first["min_ts"].startswith("2026-11-20T23:59:00")
    assert manifest["schema_version"] >= 1 and manifest["origin"] and manifest["table"] == "events"
    assert all(len(p["sha256"]) == 64 for p in manifest["partitions"])
    assert oct(os.stat(out / first["path"]).st_mode & 0o777) == "0o600"
    with pytest.raises(ExportError, match="is not empty"):
        export_archive(site_store.cursor(), out)


def test_importing_the_same_archive_twice_gives_the_same_rows(tmp_path: Path, site_store: Store) -> None:
    out = tmp_path / "archive"
    export_archive(site_store.cursor(), out, site="plant-1")
    central = open_store(tmp_path / "central.duckdb")
    try:
        first = import_archive(central.con, out)
        assert (first.imported, first.rows, first.refused) == (3, 150, [])
        again = import_archive(central.con, out)
        assert (again.imported, again.already, again.rows) == (0, 3, 0)
        rows = central.cursor().execute(
            "SELECT site, count(*) FROM events GROUP BY site ORDER BY site").fetchall()
        assert rows == [("plant-1", 120), ("plant-2", 30)]
    finally:
        central.close()


def test_a_corrupted_partition_is_refused_by_name_and_the_rest_loads(tmp_path: Path, site_store: Store) -> None:
    out = tmp_path / "archive"
    export_archive(site_store.cursor(), out, site="plant-1")
    manifest = read_manifest(out)
    victim = next(p for p in manifest["partitions"] if "day=2026-11-20" in p["path"])
    f = out / victim["path"]
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    central = open_store(tmp_path / "central.duckdb")
    try:
        res = import_archive(central.con, out)
        assert res.imported == 2 and res.rows == 100
        assert len(res.refused) == 1
        name, problem = res.refused[0]
        assert name == victim["path"] and "sha256 mismatch" in problem
        # after the file is restored from the site, a re-import loads only what was missing
        export_again = tmp_path / "again"
        export_archive(site_store.cursor(), export_again, site="plant-1", until="2026-11-21")
        res2 = import_archive(central.con, export_again)
        assert (res2.imported, res2.rows, res2.refused) == (1, 50, [])
        (row,) = central.cursor().execute("SELECT count(*), count(DISTINCT message) FROM events").fetchall()
        assert row == (150, 150)
    finally:
        central.close()


def test_manifest_paths_outside_the_archive_are_refused(tmp_path: Path, site_store: Store) -> None:
    out = tmp_path / "archive"
    export_archive(site_store.cursor(), out, site="plant-1")
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["partitions"][0]["path"] = "../site.duckdb"
    manifest["partitions"][1]["rows"] += 1  # a row count that does not match its file
    (out / MANIFEST).write_text(json.dumps(manifest))
    central = open_store(tmp_path / "central.duckdb")
    try:
        res = import_archive(central.con, out)
        problems = dict(res.refused)
        assert "outside the archive" in problems["../site.duckdb"]
        assert "manifest says" in problems[manifest["partitions"][1]["path"]]
        assert res.imported == 1
    finally:
        central.close()


def test_a_directory_without_manifest_is_not_an_archive(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    with pytest.raises(ArchiveError, match="manifest.json is missing"):
        read_manifest(tmp_path / "x")
    (tmp_path / "x" / MANIFEST).write_text('{"format": "vigil-archive", "version": 99}')
    with pytest.raises(ArchiveError, match="newer than this Vigil"):
        read_manifest(tmp_path / "x")


def test_csv_and_jsonl_exports_still_work(tmp_path: Path, site_store: Store) -> None:
    res = export_range(site_store.cursor(), "events", "jsonl", tmp_path / "e.jsonl", "2026-11-21", None)
    assert res.rows == 100 and len((tmp_path / "e.jsonl").read_text().splitlines()) == 100
    res = export_range(site_store.cursor(), "events", "csv", tmp_path / "e.csv", None, "2026-11-21")
    assert res.rows == 50 and len((tmp_path / "e.csv").read_text().splitlines()) == 51


def test_cli_export_then_import_twice(tmp_path: Path, site_store: Store) -> None:
    site_store.close()
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "cfg"), "XDG_DATA_HOME": str(tmp_path / "data")}
    vigil = [sys.executable, "-m", "app"]
    out = tmp_path / "archive"
    r = subprocess.run([*vigil, "export", "--db", str(tmp_path / "site.duckdb"), "--format", "parquet",
                        "--out", str(out)], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    for expected in ("3 of 3 partition(s) loaded (150 rows", "0 of 3 partition(s) loaded (0 rows"):
        r = subprocess.run([*vigil, "import", "--db", str(tmp_path / "central.duckdb"), str(out)], env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert expected in r.stderr
    assert central_count(tmp_path / "central.duckdb") == 150
    victim = next(out.rglob("*.parquet"))
    victim.write_bytes(victim.read_bytes()[:-10])
    r = subprocess.run([*vigil, "import", "--db", str(tmp_path / "central2.duckdb"), str(out)], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert f"refused {victim.relative_to(out).as_posix()}: sha256 mismatch" in r.stderr
