"""Archive hand-off for air-gapped sites: hive-partitioned Parquet (site/day, ZSTD) plus a JSON manifest
(optionally signed with the site's key, store/archive_signing.py), and the import that verifies every partition
against it and loads each one exactly once.

The manifest names each file with its row count, sha256, size and min/max time, so a changed or truncated file
is refused by name before any of its rows are stored; a partition over the size, row or line caps is refused by
name from its footer and page headers, or while it is read a bounded slice at a time. Imports are tracked by
partition hash (re-importing is a no-op) and land through the same (origin, event id) de-duplication as live
NATS forwarding; an archive nobody vouched for lands under its own `unverified:` key and cannot shadow data
from a signed archive or NATS.
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

from store import parquet_guard
from store.archive_signing import SIGNATURE, ArchiveTrust, SiteKey, signature_document, verify
from store.export import ExportError, parse_time
from store.landing import (
    MAX_EVIDENCE_IDS,
    IdAllocator,
    StoreIdAllocator,
    land_alert,
    land_events,
    unverified_origin,
)
from store.nats_link import PayloadError, clean_site, conform, default_site_id, valid_origin
from store.parquet_guard import Caps, Declared, PartitionRefused
from store.schema import ALERT_FIELD_NAMES, EVENT_COLUMNS
from store.sources.base import MAX_LINE_BYTES

MANIFEST = "manifest.json"
ARCHIVE_FORMAT = "vigil-archive"
ARCHIVE_VERSION = 1

ARCHIVE_MIGRATIONS: list[tuple[int, str]] = [
    (1, "CREATE TABLE IF NOT EXISTS archive_imports (sha256 VARCHAR PRIMARY KEY, path VARCHAR, rows BIGINT, "
        "archive_origin VARCHAR, imported_at TIMESTAMPTZ)"),
    # A partition is loaded once per key it lands under: the same file imported unverified and later verified
    # lands twice (the verified copy replaces the other). Verification is recorded per import.
    (2, ";\n".join([
        "ALTER TABLE archive_imports RENAME TO archive_imports_v1",
        "CREATE TABLE archive_imports (sha256 VARCHAR NOT NULL, land_origin VARCHAR NOT NULL, path VARCHAR, "
        "rows BIGINT, archive_origin VARCHAR, site VARCHAR, verified BOOLEAN NOT NULL, key_id VARCHAR, "
        "imported_at TIMESTAMPTZ, PRIMARY KEY (sha256, land_origin))",
        "INSERT INTO archive_imports SELECT sha256, coalesce(archive_origin, 'archive-' || left(sha256, 32)), "
        "path, rows, archive_origin, NULL, false, NULL, imported_at FROM archive_imports_v1",
        "DROP TABLE archive_imports_v1",
    ])),
]

MAX_MANIFEST_BYTES = 64 * 1024 * 1024
# Generous next to what the engine writes (lines are capped at MAX_LINE_BYTES when read); memory use while
# importing is bounded by the page cap and _SLICE_BYTES, not by these.
DEFAULT_CAPS = Caps(max_bytes=8 * 1024**3, max_rows=50_000_000, max_page_bytes=128 * 1024**2,
                    max_list_items=MAX_EVIDENCE_IDS)
_VALUE_CAPS = {"fields": 6 * MAX_LINE_BYTES}  # parsed fields as JSON: escaping can grow a line ~6x

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
    key_id: str | None = None  # the signing key's id when the archive is signed


@dataclass
class ImportResult:
    partitions: int = 0
    verified: bool = False
    note: str = ""  # how the archive was vouched for (or why not), for the person importing
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
                   since: str | None = None, until: str | None = None, site: str | None = None,
                   key: SiteKey | None = None) -> ArchiveResult:
    """Write `table` rows in [since, until) as out/site=…/day=…/part_<uuid>.parquet + out/manifest.json, and
    out/manifest.sig when a site `key` is given. Rows without a site get this store's site id, so the archive
    says where it came from."""
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
    data = json.dumps(manifest, indent=1).encode()
    if key is not None:  # before the manifest: an archive with a manifest is complete
        _write_private(out / SIGNATURE, signature_document(key, site, data))
    _write_private(out / MANIFEST, data)
    return ArchiveResult(manifest["rows"], out, len(parts), parts,  # type: ignore[arg-type]
                         key.key_id if key is not None else None)


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    tmp.replace(path)


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
    return _parse_manifest(src / MANIFEST, _manifest_bytes(src))


def _manifest_bytes(src: Path) -> bytes:
    path = src / MANIFEST
    if not src.is_dir():
        raise ArchiveError(f"{src} is not a directory (give the directory `vigil export` wrote)")
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise ArchiveError(f"{path} is {path.stat().st_size:,} bytes: too large to be a Vigil manifest")
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise ArchiveError(f"{path} is missing: not a Vigil archive (or an incomplete copy)") from exc
    except OSError as exc:
        raise ArchiveError(f"{path} cannot be read: {exc}") from exc


def _parse_manifest(path: Path, data: bytes) -> dict[str, Any]:
    try:
        manifest = json.loads(data)
    except (ValueError, RecursionError) as exc:
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


def _check_partition(src: Path, entry: Any, caps: Caps) -> tuple[Path, str, int]:
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
    if rows > caps.max_rows:
        raise PartitionRefused(f"{rows:,} rows, over the {caps.max_rows:,}-row cap per partition")
    size = path.stat().st_size
    if size > caps.max_bytes:
        raise PartitionRefused(f"the file is {size:,} bytes, over the {caps.max_bytes:,}-byte cap per partition")
    actual = sha256_file(path)
    if actual != sha.lower():
        raise ValueError(f"sha256 mismatch: manifest says {sha[:16]}…, file has {actual[:16]}… — the file is "
                         "corrupted or was changed after export")
    return path, actual, rows


def import_archive(con: duckdb.DuckDBPyConnection, src: Path, *, allocate: IdAllocator | None = None,
                   trust: ArchiveTrust | None = None, caps: Caps | None = None) -> ImportResult:
    """Verify and load every partition of the archive at `src` that was not imported before. A refused
    partition (bad hash, over a cap, wrong row count, unreadable) stores nothing and is reported; the others
    still load. An archive whose signature does not verify with its site's trusted key is refused whole; one
    nobody vouched for loads as unverified, under its own key (see store/landing.py)."""
    data = _manifest_bytes(src)
    manifest = _parse_manifest(src / MANIFEST, data)
    trust = trust or ArchiveTrust()
    caps = caps or DEFAULT_CAPS
    table_name = manifest["table"]
    origin = manifest.get("origin") if valid_origin(manifest.get("origin")) else None
    site = clean_site(manifest.get("site")) if isinstance(manifest.get("site"), str) else None
    try:
        verdict = verify(src, data, site, trust)
    except ValueError as exc:
        raise ArchiveError(f"{src}: refused: {exc}") from exc
    if not verdict.verified and trust.require_signed:
        raise ArchiveError(f"{src}: refused: {verdict.note} ([archive] require_signed is set)")
    if verdict.verified and origin is not None:
        _check_origin_belongs_to_site(con, origin, site)
    allocate = allocate or StoreIdAllocator()
    result = ImportResult(partitions=len(manifest["partitions"]), verified=verdict.verified, note=verdict.note)
    for entry in manifest["partitions"]:
        label = str(entry.get("path")) if isinstance(entry, dict) else repr(entry)[:80]
        try:
            path, sha, rows = _check_partition(src, entry, caps)
        except (ValueError, OSError) as exc:
            result.refused.append((label, str(exc)))
            continue
        claimed = origin or f"archive-{sha[:32]}"
        land_origin = claimed if verdict.verified else unverified_origin(claimed)
        if con.execute("SELECT 1 FROM archive_imports WHERE sha256 = ? AND land_origin = ?",
                       [sha, land_origin]).fetchall():
            result.already += 1
            continue
        try:
            declared = parquet_guard.inspect(path, caps, expected_rows=rows)
        except PartitionRefused as exc:
            result.refused.append((label, str(exc)))
            continue
        try:
            con.execute("BEGIN TRANSACTION")
            landed, dups = _land_partition(con, table_name, path, declared, land_origin, site, allocate, caps)
            con.execute("INSERT INTO archive_imports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [sha, land_origin, label, rows, origin, site, verdict.verified, verdict.key_id,
                         datetime.now(UTC)])
            con.execute("COMMIT")
        except (PartitionRefused, PayloadError, ValueError, duckdb.Error, pa.ArrowException, OSError) as exc:
            con.execute("ROLLBACK")
            problem = str(exc) if isinstance(exc, PartitionRefused) else f"cannot be loaded: {exc}"
            result.refused.append((label, problem))
            continue
        result.imported += 1
        result.rows += landed
        result.duplicates += dups
    return result


def _check_origin_belongs_to_site(con: duckdb.DuckDBPyConnection, origin: str, site: str | None) -> None:
    """A site's key vouches for that site's stores only: a store already known under another site keeps its
    ids to itself, whoever signed the claim (first come, as with NATS forwarding)."""
    rows = con.execute("SELECT site FROM forward_sites WHERE origin = ?", [origin]).fetchall()
    if rows and rows[0][0] is not None and rows[0][0] != site:
        raise ArchiveError(f"refused: the archive is signed by site {site!r} but claims origin {origin}, which "
                           f"belongs to site {rows[0][0]!r}")


def _value_cap(column: str) -> int:
    return _VALUE_CAPS.get(column, MAX_LINE_BYTES)


def _land_partition(con: duckdb.DuckDBPyConnection, table_name: str, path: Path, declared: Declared,
                    origin: str, site: str | None, allocate: IdAllocator, caps: Caps) -> tuple[int, int]:
    """Lands one partition's rows inside the caller's transaction, a bounded slice at a time."""
    landed = dups = 0
    for data in parquet_guard.read_bounded(path, declared, _columns(table_name), _value_cap, caps):
        if table_name == "events":
            n, d, _ = land_events(con, origin, site, conform(data), allocate)
            landed, dups = landed + n, dups + d
            continue
        for row in data.to_pylist():
            last = row.get("last_seen")
            version = int(last.timestamp() * 1_000_000) if isinstance(last, datetime) else 1
            landed += land_alert(con, origin, row.get("site") or site, row, version)
    return landed, dups
