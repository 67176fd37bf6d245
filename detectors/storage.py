"""The detectors' own tables (mined templates) and how they are read and written, so template ids survive
restarts. The engine runs `TEMPLATE_MIGRATIONS` with its other migrations and commits `save_templates`
in the same transaction as the events that first used them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

TEMPLATE_MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        "CREATE TABLE IF NOT EXISTS templates ("
        " template_id BIGINT PRIMARY KEY,"
        " template VARCHAR,"
        " first_seen TIMESTAMPTZ,"
        " host_first VARCHAR)",
    ),
]


def load_templates(con: Any) -> list[tuple[int, str]]:
    """All persisted templates as (template_id, template), oldest id first; [] when the table is absent."""
    try:
        rows = con.execute("SELECT template_id, template FROM templates ORDER BY template_id").fetchall()
    except Exception as exc:  # duckdb.CatalogException before the migration ran
        if "templates" in str(exc) and ("not exist" in str(exc) or "Catalog" in type(exc).__name__):
            return []
        raise
    return [(int(r[0]), r[1] or "") for r in rows]


def save_templates(
    con: Any,
    rows: Iterable[Sequence[Any]],
    first_seen: datetime | None = None,
    host_first: Mapping[int, str | None] | None = None,
) -> int:
    """Upsert `TemplateMiner.take_new()` rows `(id, template, count)`.

    A new id gets `first_seen` (default now) and its first host; a known id only has its text updated
    (drain generalises templates as it sees more lines), so first_seen and host_first never move.
    Runs inside the caller's transaction; returns the number of rows written.
    """
    when = first_seen or datetime.now(UTC)
    hosts = host_first or {}
    data = [(int(r[0]), str(r[1]), when, hosts.get(int(r[0]))) for r in rows]
    if not data:
        return 0
    con.executemany(
        "INSERT INTO templates (template_id, template, first_seen, host_first) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (template_id) DO UPDATE SET template = excluded.template",
        data,
    )
    return len(data)
