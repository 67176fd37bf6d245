"""Retention by age and by size. DELETE does not shrink a DuckDB file, but freed blocks are reused, so the
file stops growing once retention is in force (documented in the README)."""

from __future__ import annotations

from pathlib import Path

import duckdb


def apply_retention(con: duckdb.DuckDBPyConnection, db_path: Path, days: int, max_size_mb: int) -> dict[str, int]:
    """Delete events (and alerts whose last evidence is gone) older than `days`; then, while the store's used
    blocks exceed `max_size_mb`, delete the oldest remaining day. Returns counts of deleted rows."""
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
        for _ in range(366):
            used = _used_bytes(con)
            if used <= max_size_mb * 1024 * 1024:
                break
            oldest = con.execute("SELECT min(received_at)::DATE FROM events").fetchone()
            if not oldest or oldest[0] is None:
                break
            n = con.execute("DELETE FROM events WHERE received_at::DATE <= ?", [oldest[0]]).fetchone()
            deleted["events"] += int(n[0]) if n else 0
            if not n or not n[0]:
                break
    return deleted


def _used_bytes(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute("SELECT block_size * (total_blocks - free_blocks) FROM pragma_database_size()").fetchone()
    return int(row[0]) if row and row[0] is not None else 0
