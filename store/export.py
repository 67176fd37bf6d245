"""Exports of a time range: Parquet archives (site/day partitions, ZSTD, manifest — see store/archive.py), or
a single CSV / JSONL file, via DuckDB's COPY."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

if TYPE_CHECKING:
    from store.archive_signing import SiteKey


class ExportError(Exception):
    pass


@dataclass
class ExportResult:
    rows: int
    path: Path
    files: int


def parse_time(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ExportError(f"--{name} {value!r}: expected an ISO date or time like 2026-11-21 or "
                          "2026-11-21T10:00:00Z") from exc
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def export_range(con: duckdb.DuckDBPyConnection, table: str, fmt: str, out: Path,
                 since: str | None, until: str | None, *, site: str | None = None,
                 key: SiteKey | None = None) -> ExportResult:
    """Export `table` rows in [since, until). Parquet writes an archive directory with a manifest that
    `vigil import` verifies (signed with `key` when given); `site` (default: the hostname) is stamped on rows
    that have none."""
    if table not in ("events", "alerts"):
        raise ExportError(f"unknown table {table!r}")
    if fmt == "parquet":
        from store.archive import export_archive

        res = export_archive(con, out, table=table, since=since, until=until, site=site, key=key)
        return ExportResult(res.rows, res.path, res.files)
    if key is not None:
        raise ExportError("only Parquet archives are signed (--format parquet)")
    if fmt not in ("csv", "jsonl"):
        raise ExportError(f"unknown format {fmt!r}")
    tcol = "coalesce(ts, received_at)" if table == "events" else "last_seen"
    t0, t1 = parse_time(since, "since"), parse_time(until, "until")
    where, params = ["TRUE"], []
    if t0:
        where.append(f"{tcol} >= ?")
        params.append(t0)
    if t1:
        where.append(f"{tcol} < ?")
        params.append(t1)
    plain = f"SELECT * FROM {table} WHERE {' AND '.join(where)} ORDER BY {tcol}"
    row = con.execute(f"SELECT count(*) FROM ({plain})", params).fetchone()
    rows = int(row[0]) if row else 0
    out.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    _create_private(out)
    target = str(out).replace("'", "''")
    opts = "FORMAT csv, HEADER true" if fmt == "csv" else "FORMAT json"
    # USE_TMP_FILE false: DuckDB writes into the private file created above instead of a fresh temporary file
    # (created with the process umask) renamed over it.
    con.execute(f"COPY ({plain}) TO '{target}' ({opts}, USE_TMP_FILE false)", params)
    return ExportResult(rows, out, 1)


def _create_private(out: Path) -> None:
    """Create (or truncate) `out` as mode 0600 before any row is written: log data is private to the user, like
    the store itself, from the first byte rather than after a final chmod."""
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise ExportError(f"cannot write {out}: {exc.strerror or exc}") from exc
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its old mode through O_TRUNC
    finally:
        os.close(fd)
