"""Exports of a time range: Parquet partitioned by day (ZSTD), CSV or JSONL, via DuckDB's COPY."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb


class ExportError(Exception):
    pass


@dataclass
class ExportResult:
    rows: int
    path: Path
    files: int


def _parse_time(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ExportError(f"--{name} {value!r}: expected an ISO date or time like 2026-11-21 or "
                          "2026-11-21T10:00:00Z") from exc
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def export_range(con: duckdb.DuckDBPyConnection, table: str, fmt: str, out: Path,
                 since: str | None, until: str | None) -> ExportResult:
    if table not in ("events", "alerts"):
        raise ExportError(f"unknown table {table!r}")
    tcol = "coalesce(ts, received_at)" if table == "events" else "last_seen"
    t0, t1 = _parse_time(since, "since"), _parse_time(until, "until")
    where, params = ["TRUE"], []
    if t0:
        where.append(f"{tcol} >= ?")
        params.append(t0)
    if t1:
        where.append(f"{tcol} < ?")
        params.append(t1)
    select = f"SELECT *, CAST({tcol} AS DATE) AS day FROM {table} WHERE {' AND '.join(where)}"
    row = con.execute(f"SELECT count(*) FROM ({select})", params).fetchone()
    rows = int(row[0]) if row else 0
    if fmt == "parquet":
        if out.exists() and any(out.iterdir()):
            raise ExportError(f"{out} is not empty; choose a new directory")
        out.mkdir(parents=True, exist_ok=True)
        target = str(out).replace("'", "''")
        con.execute(f"COPY ({select}) TO '{target}' (FORMAT parquet, PARTITION_BY (day), COMPRESSION zstd, "
                    "FILENAME_PATTERN 'part_{uuid}')", params)
        files = len(list(out.rglob("*.parquet")))
    elif fmt in ("csv", "jsonl"):
        out.parent.mkdir(parents=True, exist_ok=True)
        target = str(out).replace("'", "''")
        opts = "FORMAT csv, HEADER true" if fmt == "csv" else "FORMAT json"
        plain = f"SELECT * FROM {table} WHERE {' AND '.join(where)} ORDER BY {tcol}"
        con.execute(f"COPY ({plain}) TO '{target}' ({opts})", params)
        files = 1
    else:
        raise ExportError(f"unknown format {fmt!r}")
    return ExportResult(rows, out, files)
