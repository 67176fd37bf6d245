"""Incidents for the API: the store's `incidents` table when the engine keeps one, else alerts grouped by
entity (one incident per attacker, host or account), so `/api/v1/incidents` answers on any store."""

from __future__ import annotations

from typing import Any

from app.api.jsonable import record

_SEVERITY_RANK = "CASE severity WHEN 'critical' THEN 3 WHEN 'high' THEN 2 WHEN 'medium' THEN 1 ELSE 0 END"
_DERIVED = f"""
SELECT entity,
       ['low', 'medium', 'high', 'critical'][max({_SEVERITY_RANK}) + 1] AS severity,
       CASE WHEN bool_or(status NOT IN ('resolved', 'false_positive')) THEN 'open' ELSE 'closed' END AS status,
       count(*) AS alerts,
       count(*) FILTER (WHERE status NOT IN ('resolved', 'false_positive')) AS open_alerts,
       sum("count") AS events,
       min(first_seen) AS first_seen,
       max(last_seen) AS last_seen,
       list(DISTINCT rule_id ORDER BY rule_id) AS rule_ids,
       list(alert_id ORDER BY alert_id DESC)[1:50] AS alert_ids
FROM alerts
WHERE entity IS NOT NULL AND entity <> ''
GROUP BY entity
ORDER BY max(last_seen) DESC NULLS LAST, entity
LIMIT ?
"""


def has_table(cur: Any, name: str) -> bool:
    # fetchall, not fetchone: a result left unfinished blocks the next relation query on this cursor
    rows = cur.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]).fetchall()
    return bool(rows and rows[0][0])


def list_incidents(cur: Any, limit: int) -> tuple[str, list[dict[str, Any]]]:
    """(source, incidents): source is "incidents" (the engine's table) or "alerts-by-entity" (derived)."""
    if has_table(cur, "incidents"):
        cur.execute("SELECT * FROM incidents LIMIT 0")
        columns = [d[0] for d in cur.description]
        order = next((c for c in ("last_seen", "updated_at", "incident_id") if c in columns), columns[0])
        rows = cur.execute(f'SELECT * FROM incidents ORDER BY "{order}" DESC NULLS LAST LIMIT ?', [limit]).fetchall()
        return "incidents", [record(columns, r) for r in rows]
    rows = cur.execute(_DERIVED, [limit]).fetchall()
    columns = [d[0] for d in cur.description]
    return "alerts-by-entity", [record(columns, r) for r in rows]
