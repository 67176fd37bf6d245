"""Retention by age and by size. DELETE does not shrink a DuckDB file, but freed blocks are reused, so the
file stops growing once retention is in force (documented in the README)."""

from __future__ import annotations

from pathlib import Path

import duckdb


def apply_retention(con: duckdb.DuckDBPyConnection, db_path: Path, days: int, max_size_mb: int) -> dict[str, int]:
    """Delete events older than `days` (and closed alerts last seen before then); then, if the store uses more
    than `max_size_mb`, drop the oldest whole days to fit. Returns counts of deleted rows."""
    deleted = {"events": 0, "alerts": 0}
    if days:
        n = con.execute(
            "DELETE FROM events WHERE coalesce(ts, received_at) < now() - to_days(?)", [days]
        ).fetchone()
        deleted["events"] += int(n[0]) if n else 0
        n = con.execute(
            "DELETE FROM alerts WHERE last_seen < now() - to_days(?) AND status <> 'new'", [days]
        ).fetchone()
        deleted["alerts"] += int(n[0]) if n else 0
        # Checkpoints of files rotated away long ago (dateext naming leaves one row per file).
        con.execute("DELETE FROM file_checkpoints WHERE updated_at < now() - to_days(?)", [max(days, 7)])
    if max_size_mb:
        deleted["events"] += _trim_to_size(con, db_path, max_size_mb * 1024 * 1024)
    return deleted


def _trim_to_size(con: duckdb.DuckDBPyConnection, db_path: Path, cap: int) -> int:
    """Delete the oldest whole days so the rows left would fit in `cap` bytes at the store's current bytes per
    row. Freed space is reused rather than returned (DuckDB), so one pass per run is enough; the newest day
    is always kept — a size cap must not empty the store."""
    used = _used_bytes(con, db_path)
    if used <= cap:
        return 0
    days = con.execute(
        "SELECT received_at::DATE AS d, count(*) FROM events GROUP BY d ORDER BY d DESC").fetchall()
    total = sum(n for _, n in days)
    if len(days) < 2 or not total:
        return 0
    keep_rows = total * cap / used
    kept, cutoff = 0, None
    for i, (day, n) in enumerate(days):
        if i > 0 and kept + n > keep_rows:
            cutoff = day
            break
        kept += n
    if cutoff is None:
        return 0
    row = con.execute("DELETE FROM events WHERE received_at::DATE <= ?", [cutoff]).fetchone()
    return int(row[0]) if row else 0


def _used_bytes(con: duckdb.DuckDBPyConnection, db_path: Path) -> int:
    """Used blocks of the file plus the write-ahead log (recent data lives there until a checkpoint)."""
    row = con.execute("SELECT block_size * (total_blocks - free_blocks) FROM pragma_database_size()").fetchone()
    used = int(row[0]) if row and row[0] is not None else 0
    wal = Path(str(db_path) + ".wal")
    return used + (wal.stat().st_size if wal.exists() else 0)
