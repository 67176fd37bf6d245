"""Lands events and alerts that come from another Vigil store (NATS consumer, archive import) exactly once.

A remote event is identified by (origin store uuid, its event_id there). Ids already landed are kept as ranges
in `forward_ranges` — a batch from one store is a run of consecutive ids, so the table stays tiny — and each
range remembers the central id of its first event, which translates alerts' evidence ids. Every function here
runs inside the caller's transaction (the writer thread), so the events and their ranges commit together.

Data whose origin nobody vouched for (an unsigned archive) lands under `unverified:<origin>`, a key no remote
sender can name: it cannot claim ids the genuine origin needs, it skips ids the genuine origin already landed,
and genuine data arriving later replaces it (see `supersede_unverified`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from store.schema import ALERT_FIELD_NAMES, ALERT_STATUSES, EVENT_SCHEMA, SEVERITIES

# Reserve n consecutive central event ids and return the first. Called on the writer thread.
IdAllocator = Callable[[duckdb.DuckDBPyConnection, int], int]

LANDING_MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        ";\n".join([
            "CREATE TABLE IF NOT EXISTS forward_ranges (origin VARCHAR NOT NULL, lo BIGINT NOT NULL, "
            "hi BIGINT NOT NULL, central_lo BIGINT NOT NULL, landed_at TIMESTAMPTZ)",
            "CREATE TABLE IF NOT EXISTS forward_sites (origin VARCHAR PRIMARY KEY, site VARCHAR, "
            "events BIGINT NOT NULL DEFAULT 0, alerts BIGINT NOT NULL DEFAULT 0, first_seen TIMESTAMPTZ, "
            "last_seen TIMESTAMPTZ, last_event_ts TIMESTAMPTZ)",
            "CREATE TABLE IF NOT EXISTS forward_alert_map (origin VARCHAR NOT NULL, origin_alert_id BIGINT "
            "NOT NULL, alert_id BIGINT NOT NULL, version BIGINT NOT NULL, PRIMARY KEY (origin, origin_alert_id))",
        ]),
    ),
]

MAX_EVIDENCE_IDS = 1000
UNVERIFIED_PREFIX = "unverified:"  # a colon: never a valid origin uuid, so no sender can pick this key


def unverified_origin(origin: str) -> str:
    return UNVERIFIED_PREFIX + origin


def is_unverified(origin: str) -> bool:
    return origin.startswith(UNVERIFIED_PREFIX)
_STATUS_COLS = ("status", "status_by", "status_at")


class StoreIdAllocator:
    """Central event ids after everything committed. Safe when nothing else assigns ids concurrently (`vigil
    import`, a central engine without local sources); an engine should pass its pipeline's reservation."""

    def __init__(self) -> None:
        self._next = 0

    def __call__(self, con: duckdb.DuckDBPyConnection, n: int) -> int:
        (top,), = con.execute("SELECT coalesce(max(event_id), 0) FROM events").fetchall()
        first = max(self._next, int(top) + 1)
        self._next = first + n
        return first


@dataclass
class LandResult:
    events: int = 0
    duplicates: int = 0
    alerts: int = 0
    stale_alerts: int = 0


def _covered(ids: np.ndarray, ranges: Sequence[tuple[int, int]]) -> np.ndarray:
    """Which of the sorted `ids` fall inside any of the sorted, disjoint (lo, hi) ranges."""
    mask = np.zeros(len(ids), dtype=bool)
    if not ranges or not len(ids):
        return mask
    los = np.fromiter((r[0] for r in ranges), dtype=np.int64, count=len(ranges))
    his = np.fromiter((r[1] for r in ranges), dtype=np.int64, count=len(ranges))
    idx = np.searchsorted(los, ids, side="right") - 1
    ok = idx >= 0
    mask[ok] = ids[ok] <= his[idx[ok]]
    return mask


def _runs(ids: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) index pairs of runs of consecutive values in sorted unique `ids`."""
    if not len(ids):
        return []
    breaks = np.nonzero(np.diff(ids) != 1)[0] + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [len(ids)]])
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def land_events(con: duckdb.DuckDBPyConnection, origin: str, site: str | None, table: pa.Table,
                allocate: IdAllocator) -> tuple[int, int, pa.Table | None]:
    """Insert the rows of `table` (EVENT_SCHEMA, sender's event ids) not landed before, with new central ids.
    Returns (inserted, duplicates, inserted table)."""
    if table.num_rows == 0:
        return 0, 0, None
    ids = table.column("event_id").to_numpy()
    uniq, first_pos = np.unique(ids, return_index=True)  # also drops repeats inside one message
    keep = ~_covered(uniq, _ranges(con, origin, int(uniq[0]), int(uniq[-1])))
    if is_unverified(origin):  # what the genuine origin already landed is not landed again, unvouched
        genuine = origin[len(UNVERIFIED_PREFIX):]
        keep &= ~_covered(uniq, _ranges(con, genuine, int(uniq[0]), int(uniq[-1])))
    new_ids = uniq[keep]
    duplicates = len(ids) - len(new_ids)
    if not len(new_ids):
        return 0, duplicates, None
    new = table.take(pa.array(first_pos[keep]))
    n = new.num_rows
    first = allocate(con, n)
    new = new.set_column(0, "event_id", pa.array(np.arange(first, first + n, dtype=np.int64)))
    if site is not None:
        idx = EVENT_SCHEMA.get_field_index("site")
        new = new.set_column(idx, "site", pc.fill_null(new.column("site"), site))
    con.register("_vigil_landing", new)
    try:
        con.execute("INSERT INTO events SELECT * FROM _vigil_landing")
    finally:
        con.unregister("_vigil_landing")
    now = datetime.now(UTC)
    runs = [(s, int(new_ids[s]), int(new_ids[e - 1])) for s, e in _runs(new_ids)]
    con.executemany("INSERT INTO forward_ranges VALUES (?, ?, ?, ?, ?)",
                    [[origin, lo, hi, first + s, now] for s, lo, hi in runs])
    last_ts = pc.max(new.column("ts")).as_py()
    _bump_site(con, origin, site, n, 0, now, last_ts)
    if not is_unverified(origin):
        supersede_unverified(con, origin, [(lo, hi) for _, lo, hi in runs])
    return n, duplicates, new


def _ranges(con: duckdb.DuckDBPyConnection, origin: str, lo: int, hi: int) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in con.execute(
        "SELECT lo, hi FROM forward_ranges WHERE origin = ? AND hi >= ? AND lo <= ? ORDER BY lo",
        [origin, lo, hi]).fetchall()]


def supersede_unverified(con: duckdb.DuckDBPyConnection, origin: str, runs: Sequence[tuple[int, int]]) -> int:
    """Genuine events for `origin` ids (runs of (lo, hi)) just landed: delete the unverified copies of the same
    ids and trim their ranges, so the vouched-for data is what remains. Returns the number of events deleted."""
    if not runs:
        return 0
    shadow = unverified_origin(origin)
    found = con.execute(
        "SELECT lo, hi, central_lo, landed_at FROM forward_ranges WHERE origin = ? AND hi >= ? AND lo <= ? "
        "ORDER BY lo", [shadow, runs[0][0], runs[-1][1]]).fetchall()
    deleted = 0
    for lo, hi, central_lo, landed_at in found:
        pieces = [(lo, hi)]
        for a, b in runs:
            if b < lo or a > hi:
                continue
            rest: list[tuple[int, int]] = []
            for p_lo, p_hi in pieces:
                x, y = max(p_lo, a), min(p_hi, b)
                if x > y:
                    rest.append((p_lo, p_hi))
                    continue
                con.execute("DELETE FROM events WHERE event_id BETWEEN ? AND ?",
                            [central_lo + x - lo, central_lo + y - lo])
                deleted += y - x + 1
                rest += [r for r in ((p_lo, x - 1), (y + 1, p_hi)) if r[0] <= r[1]]
            pieces = rest
        if pieces == [(lo, hi)]:
            continue
        con.execute("DELETE FROM forward_ranges WHERE origin = ? AND lo = ? AND hi = ?", [shadow, lo, hi])
        if pieces:
            con.executemany("INSERT INTO forward_ranges VALUES (?, ?, ?, ?, ?)",
                            [[shadow, p_lo, p_hi, central_lo + p_lo - lo, landed_at] for p_lo, p_hi in pieces])
    if deleted:
        con.execute("UPDATE forward_sites SET events = events - ? WHERE origin = ?", [deleted, shadow])
    return deleted


def _bump_site(con: duckdb.DuckDBPyConnection, origin: str, site: str | None, events: int, alerts: int,
               now: datetime, last_ts: datetime | None) -> None:
    con.execute(
        "INSERT INTO forward_sites VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (origin) DO UPDATE SET "
        "site = coalesce(excluded.site, forward_sites.site), events = forward_sites.events + excluded.events, "
        "alerts = forward_sites.alerts + excluded.alerts, last_seen = excluded.last_seen, "
        "last_event_ts = greatest(forward_sites.last_event_ts, excluded.last_event_ts)",
        [origin, site, events, alerts, now, now, last_ts],
    )


def translate_ids(con: duckdb.DuckDBPyConnection, origin: str, ids: Sequence[int]) -> list[int]:
    """Sender event ids → central ids; ids that have not landed (yet) are left out."""
    if not ids:
        return []
    arr = np.array(sorted(set(ids)), dtype=np.int64)
    rows = con.execute(
        "SELECT lo, hi, central_lo FROM forward_ranges WHERE origin = ? AND hi >= ? AND lo <= ? ORDER BY lo",
        [origin, int(arr[0]), int(arr[-1])],
    ).fetchall()
    if not rows:
        return []
    los = np.array([r[0] for r in rows], dtype=np.int64)
    idx = np.searchsorted(los, arr, side="right") - 1
    out: list[int] = []
    for value, i in zip(arr.tolist(), idx.tolist(), strict=True):
        if i >= 0 and value <= rows[i][1]:
            out.append(rows[i][2] + value - rows[i][0])
    return out


# -- alerts --------------------------------------------------------------------------------------------------
def _ts(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            t = datetime.fromisoformat(value)
        except ValueError:
            return None
        return t if t.tzinfo else t.replace(tzinfo=UTC)
    return None


def _text(value: Any, limit: int = 4000) -> str | None:
    return None if value is None else str(value)[:limit]


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def clean_alert(raw: Any) -> dict[str, Any]:
    """A remote alert (JSON object) → typed values for ALERT_FIELD_NAMES; hostile input gives safe defaults."""
    if not isinstance(raw, dict):
        raise ValueError("alert payload is not a JSON object")
    ids = raw.get("event_ids")
    ev = [int(i) for i in ids[:MAX_EVIDENCE_IDS] if isinstance(i, int) and not isinstance(i, bool)] \
        if isinstance(ids, list) else []
    count = raw.get("count")
    severity = raw.get("severity") if raw.get("severity") in SEVERITIES else "low"
    status = raw.get("status") if raw.get("status") in ALERT_STATUSES else "new"
    return {
        "alert_id": raw.get("alert_id") if isinstance(raw.get("alert_id"), int) else None,
        "created_at": _ts(raw.get("created_at")) or datetime.now(UTC),
        "first_seen": _ts(raw.get("first_seen")),
        "last_seen": _ts(raw.get("last_seen")),
        "detector": _text(raw.get("detector"), 200) or "remote",
        "rule_id": _text(raw.get("rule_id"), 200),
        "entity": _text(raw.get("entity"), 500),
        "score": _num(raw.get("score")),
        "severity": severity,
        "title": _text(raw.get("title"), 500),
        "summary": _text(raw.get("summary")),
        "event_ids": ev,
        "count": count if isinstance(count, int) and not isinstance(count, bool) else len(ev),
        "status": status,
        "model_version": _text(raw.get("model_version"), 200),
        "why": _text(raw.get("why")),
        "host": _text(raw.get("host"), 255),
        "category": _text(raw.get("category"), 100),
        "status_by": _text(raw.get("status_by"), 200),
        "status_at": _ts(raw.get("status_at")),
        "site": _text(raw.get("site"), 128),
    }


def land_alert(con: duckdb.DuckDBPyConnection, origin: str, site: str | None, raw: Any, version: int) -> bool:
    """Insert or update one remote alert; an older or equal version than the one landed is ignored. Remote
    alerts get negative central ids: the local scorer allocates positive ids in memory, so the ranges never
    meet. Returns True when something changed."""
    alert = clean_alert(raw)
    origin_alert_id = alert["alert_id"]
    if origin_alert_id is None:
        raise ValueError("alert without an integer alert_id")
    alert["site"] = alert["site"] or site
    alert["event_ids"] = translate_ids(con, origin, alert["event_ids"])
    found = con.execute(
        "SELECT alert_id, version FROM forward_alert_map WHERE origin = ? AND origin_alert_id = ?",
        [origin, origin_alert_id],
    ).fetchall()
    known = found[0] if found else None
    if known is not None and known[1] >= version:
        return False
    if known is None:
        (low,), = con.execute("SELECT least(coalesce(min(alert_id), 0), 0) FROM alerts").fetchall()
        central_id = int(low) - 1
        alert["alert_id"] = central_id
        names = ", ".join(f'"{c}"' for c in ALERT_FIELD_NAMES)
        con.execute(f"INSERT INTO alerts ({names}) VALUES ({', '.join('?' for _ in ALERT_FIELD_NAMES)})",
                    [alert[c] for c in ALERT_FIELD_NAMES])
        con.execute("INSERT INTO forward_alert_map VALUES (?, ?, ?, ?)",
                    [origin, origin_alert_id, central_id, version])
        _bump_site(con, origin, site, 0, 1, datetime.now(UTC), None)
    else:
        central_id = int(known[0])
        # The central analyst owns the status once they have touched it.
        current = con.execute("SELECT status FROM alerts WHERE alert_id = ?", [central_id]).fetchall()
        touched = bool(current) and current[0][0] != "new"
        cols = [c for c in ALERT_FIELD_NAMES if c not in ("alert_id", "created_at")
                and not (touched and c in _STATUS_COLS)]
        sets = ", ".join(f'"{c}" = ?' for c in cols)
        con.execute(f"UPDATE alerts SET {sets} WHERE alert_id = ?", [alert[c] for c in cols] + [central_id])
        con.execute("UPDATE forward_alert_map SET version = ? WHERE origin = ? AND origin_alert_id = ?",
                    [version, origin, origin_alert_id])
    return True


def alert_to_json(row: dict[str, Any]) -> str:
    """One alert row (as a dict) → the wire JSON the central side's `land_alert` reads."""
    def value(v: Any) -> Any:
        if isinstance(v, datetime):
            return v.isoformat()
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return v
    return json.dumps({k: value(v) for k, v in row.items()}, separators=(",", ":"), default=str)


def site_rows(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return con.sql(
        "SELECT origin, site, events, alerts, first_seen, last_seen, last_event_ts FROM forward_sites "
        "ORDER BY site, origin"
    ).to_arrow_table().to_pylist()
