"""The detectors' own tables and how they are read and written: mined templates (committed with the events
that first used them, so template ids survive restarts), and the scorer's checkpoint with its correlation
windows (committed with the alerts they produced, so scoring resumes exactly after `kill -9`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

DETECTOR_MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        "CREATE TABLE IF NOT EXISTS templates ("
        " template_id BIGINT PRIMARY KEY,"
        " template VARCHAR,"
        " first_seen TIMESTAMPTZ,"
        " host_first VARCHAR)",
    ),
    (
        2,
        # The scorer is a consumer of the events table with its own offset: the last event id fully scored.
        "CREATE TABLE IF NOT EXISTS scorer_checkpoint ("
        " consumer VARCHAR PRIMARY KEY, last_event_id BIGINT NOT NULL, watermark_us BIGINT,"
        " template_max BIGINT, events_scored BIGINT, updated_at TIMESTAMPTZ);\n"
        "CREATE TABLE IF NOT EXISTS detector_windows ("
        " rule_id VARCHAR, group_key VARCHAR, state JSON, PRIMARY KEY (rule_id, group_key));\n"
        # A store upgraded from before checkpoints had everything scored by the engine of its day; a new one
        # starts at 0. Written once, here, so a crash before the first scoring commit can never skip events.
        "INSERT INTO scorer_checkpoint SELECT 'scorer', coalesce(max(event_id), 0), NULL, max(template_id), "
        "count(*), now() FROM events",
    ),
]


@dataclass
class ScorerCheckpoint:
    last_event_id: int = 0
    watermark_us: int | None = None
    template_max: int | None = None
    events_scored: int = 0


def load_checkpoint(con: Any, consumer: str = "scorer") -> ScorerCheckpoint | None:
    """The scorer's durable position, or None when it never committed one (a new or pre-checkpoint store)."""
    row = con.execute("SELECT last_event_id, watermark_us, template_max, events_scored FROM scorer_checkpoint "
                      "WHERE consumer = ?", [consumer]).fetchone()
    if row is None:
        return None
    return ScorerCheckpoint(int(row[0]), None if row[1] is None else int(row[1]),
                            None if row[2] is None else int(row[2]), int(row[3] or 0))


def save_checkpoint(con: Any, cp: ScorerCheckpoint, consumer: str = "scorer") -> None:
    con.execute("INSERT OR REPLACE INTO scorer_checkpoint VALUES (?, ?, ?, ?, ?, ?)",
                [consumer, cp.last_event_id, cp.watermark_us, cp.template_max, cp.events_scored,
                 datetime.now(UTC)])


def load_windows(con: Any) -> list[tuple[str, str, dict[str, Any]]]:
    import orjson

    rows = con.execute("SELECT rule_id, group_key, state FROM detector_windows").fetchall()
    return [(r[0], r[1], orjson.loads(r[2])) for r in rows]


def save_windows(con: Any, changed: Sequence[tuple[str, str, dict[str, Any]]],
                 removed: Sequence[tuple[str, str]]) -> None:
    """Upsert changed correlation windows and delete removed ones (inside the caller's transaction)."""
    import orjson
    import pyarrow as pa

    if removed:
        table = pa.table({"rule_id": [r[0] for r in removed], "group_key": [r[1] for r in removed]})
        con.register("_vigil_win_gone", table)
        try:
            con.execute("DELETE FROM detector_windows USING _vigil_win_gone g "
                        "WHERE detector_windows.rule_id = g.rule_id AND detector_windows.group_key = g.group_key")
        finally:
            con.unregister("_vigil_win_gone")
    if changed:
        table = pa.table({"rule_id": [c[0] for c in changed], "group_key": [c[1] for c in changed],
                          "state": [orjson.dumps(c[2]).decode() for c in changed]})
        con.register("_vigil_win_rows", table)
        try:
            con.execute("INSERT OR REPLACE INTO detector_windows SELECT rule_id, group_key, state::JSON "
                        "FROM _vigil_win_rows")
        finally:
            con.unregister("_vigil_win_rows")


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
