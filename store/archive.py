"""Archive hand-off for air-gapped sites: hive-partitioned Parquet (site/day, ZSTD) plus a JSON manifest, and
the import that verifies every partition against it and loads each one exactly once.

The manifest names each file with its row count, sha256, size and min/max time, so a changed or truncated file
is refused by name before any of its rows are stored. Imports are tracked by partition hash (re-importing is a
no-op) and land through the same (origin, event id) de-duplication as live NATS forwarding.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from store.export import ExportError, parse_time
from store.landing import IdAllocator, StoreIdAllocator, land_alert, land_events
from store.nats_link import PayloadError, conform, default_site_id, valid_origin
from store.schema import ALERT_FIELD_NAMES, EVENT_COLUMNS

MANIFEST = "manifest.json"
ARCHIVE_FORMAT = "vigil-archive"
ARCHIVE_VERSION = 1

ARCHIVE_MIGRATIONS: list[tuple[int, str]] = [
    (1, "CREATE TABLE IF NOT EXISTS archive_imports (sha256 VARCHAR PRIMARY KEY, path VARCHAR, rows BIGINT, "
        "archive_origin VARCHAR, imported_at TIMESTAMPTZ)"),
]

_TIME_COLUMN = {"events": "coalesce(ts, received_at)", "alerts": "last_seen"}


class ArchiveError(ExportError):
    """The archive as a whole cannot be used (no manifest, unreadable manifest); the message says why."""


@dataclass
class ArchivePartition:
    path: str  # relative to the archive directory, '/'-separated
    rows: int
    sha256: str
    bytes: int
    min_ts: str | None
    max_ts: str | None


@dataclass
class ArchiveResult:
    rows: int
    path: Path
    files: int
    partitions: list[ArchivePartition] = field(default_factory=list)


@dataclass
class ImportResult:
    partitions: int = 0
    imported: int = 0
    already: int = 0  # partitions whose hash was imported before: skipped
    rows: int = 0
    duplicates: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)  # (file, problem)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


def _store_origin(con: duckdb.DuckDBPyConnection) -> str | None:
    try:
        rows = con.execute("SELECT origin_id FROM forward_origin LIMIT 1").fetchall()
    except duckdb.Error:  # a store opened read-only before the forward migrations ran
        return None
    return str(rows[0][0]) if rows else None


def export_archive(con: duckdb.DuckDBPyConnection, out: Path, *, table: str = "events",
                   since: str | None = None, until: str | None = None, site: str | None = None) -> ArchiveResult:
    """Write `table` rows in [since, until) as out/site=…/day=…/part_<uuid>.parquet + out/manifest.json.
    Rows without a site get this store's site id, so the archive says where it came from."""
    if table not in _TIME_COLUMN:
        raise ExportError(f"unknown table {table!r}")
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} exists and is not a directory; choose a new directory")
    if out.exists() and any(out.iterdir()):
        raise ExportError(f"{out} is not empty; choose a new directory")
    tcol = _TIME_COLUMN[table]
    t0, t1 = parse_time(since, "since"), parse_time(until, "until")
    site = site or default_site_id()
    where, params = ["TRUE"], []
    if t0:
        where.append(f"{tcol} >= ?")
        params.append(t0)
    if t1:
        where.append(f"{tcol} < ?")
        params.append(t1)
    select = (f"SELECT * REPLACE (coalesce(site, ?) AS site), CAST({tcol} AS DATE) AS day FROM {table} "
              f"WHERE {' AND '.join(where)}")
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = str(out).replace("'", "''")
    # Partition values are URL-encoded by DuckDB in directory names, so a hostile site id cannot escape `out`.
    con.execute(f"COPY ({select}) TO '{target}' (FORMAT parquet, PARTITION_BY (site, day), COMPRESSION zstd, "
                "WRITE_PARTITION_COLUMNS true, FILENAME_PATTERN 'part_{uuid}')", [site, *params]).fetchall()
    parts: list[ArchivePartition] = []
    for f in sorted(out.rglob("*.parquet")):
        os.chmod(f, 0o600)
        # Arrow, not fetchall(): TIMESTAMPTZ through fetchall() needs pytz.
        info = con.sql(f"SELECT count(*) AS n, min({tcol}) AS lo, max({tcol}) AS hi FROM read_parquet($f)",
                       params={"f": str(f)}).to_arrow_table().to_pylist()[0]
        parts.append(ArchivePartition(f.relative_to(out).as_posix(), int(info["n"]), sha256_file(f),
                                      f.stat().st_size, _iso(info["lo"]), _iso(info["hi"])))
    manifest = {
        "format": ARCHIVE_FORMAT, "version": ARCHIVE_VERSION, "table": table,
        "schema_version": _schema_version(con), "columns": _columns(table),
        "origin": _store_origin(con), "site": site, "created_at": datetime.now(UTC).isoformat(),
        "since": _iso(t0), "until": _iso(t1), "rows": sum(p.rows for p in parts),
        "partitions": [p.__dict__ for p in parts],
    }
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    os.chmod(tmp, 0o600)
    tmp.replace(out / MANIFEST)
    return ArchiveResult(manifest["rows"], out, len(parts), parts)  # type: ignore[arg-type]


def _schema_version(con: duckdb.DuckDBPyConnection) -> int:
    try:
        (version,), = con.execute(
            "SELECT coalesce(max(version), 0) FROM schema_version WHERE component = 'store'").fetchall()
    except duckdb.Error:
        return 0
    return int(version)


def _columns(table: str) -> list[str]:
    return [n for n, _, _ in EVENT_COLUMNS] if table == "events" else list(ALERT_FIELD_NAMES)


# -- import ---------------------------------------------------------------------------------------------------
def read_manifest(src: Path) -> dict[str, Any]:
    path = src / MANIFEST
    if not src.is_dir():
        raise ArchiveError(f"{src} is not a directory (give the directory `vigil export` wrote)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ArchiveError(f"{path} is missing: not a Vigil archive (or an incomplete copy)") from exc
    except (OSError, ValueError, RecursionError) as exc:
        raise ArchiveError(f"{path} cannot be read as JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != ARCHIVE_FORMAT:
        raise ArchiveError(f"{path}: not a Vigil archive manifest (format is not {ARCHIVE_FORMAT!r})")
    version = manifest.get("version")
    if not isinstance(version, int) or version > ARCHIVE_VERSION:
        raise ArchiveError(f"{path}: archive version {version!r} is newer than this Vigil reads "
                           f"({ARCHIVE_VERSION}); upgrade the central Vigil")
    if manifest.get("table") not in _TIME_COLUMN:
        raise ArchiveError(f"{path}: unknown table {manifest.get('table')!r}")
    if not isinstance(manifest.get("partitions"), list):
        raise ArchiveError(f"{path}: no partition list")
    return manifest


def _check_partition(src: Path, entry: Any) -> tuple[Path, str, int]:
    """(file, sha256, rows) of a manifest entry that matches its file; raises ValueError with the problem."""
    if not isinstance(entry, dict):
        raise ValueError("manifest entry is not an object")
    rel, sha, rows = entry.get("path"), entry.get("sha256"), entry.get("rows")
    if not isinstance(rel, str) or not isinstance(sha, str) or not isinstance(rows, int):
        raise ValueError("manifest entry lacks path, sha256 or rows")
    root = src.resolve()
    path = (src / rel).resolve()
    if rel.startswith("/") or ".." in Path(rel).parts or not path.is_relative_to(root):
        raise ValueError("path points outside the archive directory")
    if not path.is_file():
        raise ValueError("file is missing")
    actual = sha256_file(path)
    if actual != sha.lower():
        raise ValueError(f"sha256 mismatch: manifest says {sha[:16]}…, file has {actual[:16]}… — the file is "
                         "corrupted or was changed after export")
    return path, actual, rows


def import_archive(con: duckdb.DuckDBPyConnection, src: Path, *,
                   allocate: IdAllocator | None = None) -> ImportResult:
    """Verify and load every partition of the archive at `src` that was not imported before. A refused
    partition (bad hash, wrong row count, unreadable) stores nothing and is reported; the others still load."""
    manifest = read_manifest(src)
    table_name = manifest["table"]
    origin = manifest.get("origin") if valid_origin(manifest.get("origin")) else None
    site = manifest.get("site") if isinstance(manifest.get("site"), str) else None
    allocate = allocate or StoreIdAllocator()
    result = ImportResult(partitions=len(manifest["partitions"]))
    for entry in manifest["partitions"]:
        label = str(entry.get("path")) if isinstance(entry, dict) else repr(entry)[:80]
        try:
            path, sha, rows = _check_partition(src, entry)
        except (ValueError, OSError) as exc:
            result.refused.append((label, str(exc)))
            continue
        if con.execute("SELECT 1 FROM archive_imports WHERE sha256 = ?", [sha]).fetchall():
            result.already += 1
            continue
        try:
            data = pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as exc:
            result.refused.append((label, f"unreadable Parquet: {exc}"))
            continue
        if data.num_rows != rows:
            result.refused.append((label, f"{data.num_rows} rows, manifest says {rows}"))
            continue
        try:
            con.execute("BEGIN TRANSACTION")
            landed, dups = _land_partition(con, table_name, data, origin or f"archive-{sha[:32]}", site, allocate)
            con.execute("INSERT INTO archive_imports VALUES (?, ?, ?, ?, ?)",
                        [sha, label, rows, origin, datetime.now(UTC)])
            con.execute("COMMIT")
        except (PayloadError, ValueError, duckdb.Error) as exc:
            con.execute("ROLLBACK")
            result.refused.append((label, f"cannot be loaded: {exc}"))
            continue
        result.imported += 1
        result.rows += landed
        result.duplicates += dups
    return result


def _land_partition(con: duckdb.DuckDBPyConnection, table_name: str, data: pa.Table, origin: str,
                    site: str | None, allocate: IdAllocator) -> tuple[int, int]:
    """Lands one partition's rows inside the caller's transaction."""
    if table_name == "events":
        landed, dups, _ = land_events(con, origin, site, conform(data), allocate)
        return landed, dups
    landed = 0
    for row in data.to_pylist():
        last = row.get("last_seen")
        version = int(last.timestamp() * 1_000_000) if isinstance(last, datetime) else 1
        landed += land_alert(con, origin, row.get("site") or site, row, version)
    return landed, 0
