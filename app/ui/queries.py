"""The console's reads from the store, as plain functions over a DuckDB cursor (no Textual here).

Thread workers call these with `engine.store.cursor()`; results are plain Python data the widgets render.
Everything the analyst types (filters, SQL) is bound as a parameter or checked before it runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from app.ui.alert_ring import ROW_COLUMNS, AlertRow, IncidentRow
from app.ui.text import clean
from store import analyst_sql

_ALERT_SELECT = ", ".join(f'"{c}"' for c in ROW_COLUMNS)
EVENT_DETAIL_COLUMNS = (
    "event_id", "ts", "received_at", "source", "host", "app", "pid", "severity", "message", "template_id",
    "src_ip", "src_port", "dst_ip", "user", "category", "outcome", "raw", "parse_error", "fields", "format",
    "service", "action",
)
EVENT_LIST_COLUMNS = ("event_id", "ts", "received_at", "source", "host", "app", "raw")


@contextlib.contextmanager
def reading(store: Any) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived read cursor on the engine's store, closed after use (worker threads only)."""
    cur = store.cursor()
    try:
        yield cur
    finally:
        cur.close()


class QueryError(Exception):
    """A query the console refuses or DuckDB rejects; the message is for the analyst."""


def utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def fmt_time(value: datetime | None, with_date: bool = False) -> str:
    v = utc(value)
    if v is None:
        return "-"
    return v.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")


# -- alerts ------------------------------------------------------------------------------------------------
def fetch_alert_rows(cur: duckdb.DuckDBPyConnection, ids: Sequence[int]) -> list[AlertRow]:
    if not ids:
        return []
    recs = _dicts(
        cur, f"SELECT {_ALERT_SELECT} FROM alerts WHERE alert_id IN (SELECT unnest(?::BIGINT[])) ORDER BY alert_id",
        [[int(i) for i in ids]],
    )
    return [AlertRow.from_record(tuple(r[c] for c in ROW_COLUMNS)) for r in recs]


def recent_alert_rows(cur: duckdb.DuckDBPyConnection, limit: int) -> list[AlertRow]:
    recs = _dicts(
        cur, f"SELECT * FROM (SELECT {_ALERT_SELECT} FROM alerts ORDER BY alert_id DESC LIMIT ?) ORDER BY alert_id",
        [int(limit)],
    )
    return [AlertRow.from_record(tuple(r[c] for c in ROW_COLUMNS)) for r in recs]


def fetch_incident_rows(cur: duckdb.DuckDBPyConnection, ids: Sequence[int]) -> list[IncidentRow]:
    from detectors.incidents import INCIDENT_SELECT

    if not ids:
        return []
    recs = _dicts(cur, f"SELECT {INCIDENT_SELECT} FROM incidents WHERE incident_id IN (SELECT unnest(?::BIGINT[])) "
                       "ORDER BY incident_id", [[int(i) for i in ids]])
    return [IncidentRow.from_record(tuple(r.values())) for r in recs]


def recent_incident_rows(cur: duckdb.DuckDBPyConnection, limit: int) -> list[IncidentRow]:
    from detectors.incidents import INCIDENT_SELECT

    recs = _dicts(cur, f"SELECT * FROM (SELECT {INCIDENT_SELECT} FROM incidents ORDER BY last_seen DESC, "
                       "incident_id DESC LIMIT ?) ORDER BY incident_id", [int(limit)])
    return [IncidentRow.from_record(tuple(r.values())) for r in recs]


@dataclass
class IncidentDetail:
    incident: dict[str, Any]
    alerts: list[dict[str, Any]]  # its alerts with their story step, oldest first
    lead: AlertDetail | None  # the alert the analyst acts through, with its evidence


def incident_detail(cur: duckdb.DuckDBPyConnection, incident_id: int, *, context: int = 3) -> IncidentDetail | None:
    rows = _dicts(cur, "SELECT * FROM incidents WHERE incident_id = ?", [incident_id])
    if not rows:
        return None
    inc = rows[0]
    alerts = _dicts(cur, "SELECT a.alert_id, a.severity, a.status, a.title, a.entity, a.count, a.first_seen, "
                         "a.last_seen, a.rule_id, ia.phrase, ia.amount FROM incident_alerts ia JOIN alerts a "
                         "USING (alert_id) "
                         "WHERE ia.incident_id = ? ORDER BY a.first_seen, a.alert_id", [incident_id])
    lead = alert_detail(cur, int(inc["lead_alert_id"]), evidence_limit=8, context=context) \
        if inc.get("lead_alert_id") else None
    return IncidentDetail(inc, alerts, lead)


@dataclass
class AlertDetail:
    alert: dict[str, Any]
    evidence: list[dict[str, Any]]
    evidence_total: int
    templates: dict[int, str]
    context_before: list[dict[str, Any]] = field(default_factory=list)
    context_after: list[dict[str, Any]] = field(default_factory=list)
    context_of: int | None = None  # the evidence event the context surrounds


def _dicts(cur: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    """Rows as dicts through Arrow: TIMESTAMPTZ comes back tz-aware without DuckDB needing pytz."""
    rows: list[dict[str, Any]] = cur.sql(sql, params=params or None).to_arrow_table().to_pylist()
    return rows


def _event_select() -> str:
    return ", ".join(f'"{c}"' for c in EVENT_DETAIL_COLUMNS)


def alert_detail(cur: duckdb.DuckDBPyConnection, alert_id: int, *, evidence_limit: int = 20,
                 context: int = 3) -> AlertDetail | None:
    """The alert row, its latest evidence events with parsed fields, their templates, and the lines around
    the latest evidence event in the same source."""
    rows = _dicts(cur, "SELECT * FROM alerts WHERE alert_id = ?", [alert_id])
    if not rows:
        return None
    alert = rows[0]
    ids = [int(i) for i in (alert.get("event_ids") or [])]
    chosen = ids[-evidence_limit:]
    evidence = _dicts(
        cur, f"SELECT {_event_select()} FROM events WHERE event_id IN (SELECT unnest(?::BIGINT[])) ORDER BY event_id",
        [chosen],
    ) if chosen else []
    templates: dict[int, str] = {}
    tids = sorted({int(e["template_id"]) for e in evidence if e.get("template_id") is not None})
    if tids:
        try:
            for tid, text in cur.execute(
                "SELECT template_id, template FROM templates WHERE template_id IN (SELECT unnest(?::BIGINT[]))",
                [tids],
            ).fetchall():
                templates[int(tid)] = text or ""
        except duckdb.CatalogException:
            pass  # no template miner in this store
    detail = AlertDetail(alert=alert, evidence=evidence, evidence_total=len(ids), templates=templates)
    if evidence and context > 0:
        last = evidence[-1]
        detail.context_of = int(last["event_id"])
        cols = ", ".join(f'"{c}"' for c in EVENT_LIST_COLUMNS)
        detail.context_before = list(reversed(_dicts(
            cur, f"SELECT {cols} FROM events WHERE source = ? AND event_id < ? ORDER BY event_id DESC LIMIT ?",
            [last["source"], last["event_id"], context],
        )))
        detail.context_after = _dicts(
            cur, f"SELECT {cols} FROM events WHERE source = ? AND event_id > ? ORDER BY event_id LIMIT ?",
            [last["source"], last["event_id"], context],
        )
    return detail


def parsed_fields(event: dict[str, Any]) -> list[tuple[str, str]]:
    """Non-empty parsed columns plus the JSON `fields`, as (name, value) strings for display."""
    out: list[tuple[str, str]] = []
    for name in ("host", "app", "pid", "service", "action", "src_ip", "src_port", "dst_ip", "user", "category",
                 "outcome", "format", "parse_error"):
        value = event.get(name)
        if value not in (None, ""):
            out.append((name, str(value)))
    extra = event.get("fields")
    if isinstance(extra, str) and extra:
        try:
            data = json.loads(extra)
        except ValueError:
            data = None
        if isinstance(data, dict):
            out.extend((str(k), v if isinstance(v, str) else json.dumps(v)) for k, v in data.items())
    return out


@dataclass
class EventView:
    """One event for the event detail view: every column, its template, and its neighbours in the same source."""

    event: dict[str, Any]
    template: str | None
    before: list[dict[str, Any]]
    after: list[dict[str, Any]]
    alert_ids: list[int]  # alerts that cite it


def event_detail(cur: duckdb.DuckDBPyConnection, event_id: int, neighbours: int = 5) -> EventView | None:
    rows = _dicts(cur, f"SELECT {_event_select()} FROM events WHERE event_id = ?", [int(event_id)])
    if not rows:
        return None
    ev = rows[0]
    template = None
    if ev.get("template_id") is not None:
        try:
            got = cur.execute("SELECT template FROM templates WHERE template_id = ?", [ev["template_id"]]).fetchall()
            template = got[0][0] if got else None
        except duckdb.CatalogException:
            pass
    cols = ", ".join(f'"{c}"' for c in EVENT_LIST_COLUMNS)
    before = list(reversed(_dicts(
        cur, f"SELECT {cols} FROM events WHERE source = ? AND event_id < ? ORDER BY event_id DESC LIMIT ?",
        [ev["source"], ev["event_id"], neighbours])))
    after = _dicts(cur, f"SELECT {cols} FROM events WHERE source = ? AND event_id > ? ORDER BY event_id LIMIT ?",
                   [ev["source"], ev["event_id"], neighbours])
    alert_ids = [int(r[0]) for r in cur.execute(
        "SELECT alert_id FROM alerts WHERE list_contains(event_ids, ?) ORDER BY alert_id LIMIT 20",
        [int(event_id)]).fetchall()]
    return EventView(ev, template, before, after, alert_ids)


def detail_as_text(detail: AlertDetail) -> str:
    """Plain text for the clipboard or a ticket: the alert and its evidence, control characters escaped."""
    a = detail.alert
    lines = [
        f"alert {a.get('alert_id')} [{a.get('severity')}] {clean(a.get('title'))}",
        f"status: {a.get('status')}  entity: {clean(a.get('entity'))}  count: {a.get('count')}",
        f"detector: {clean(a.get('detector'))} {clean(a.get('rule_id'))}  score: {a.get('score')}",
        f"first seen: {fmt_time(a.get('first_seen'), True)}  last seen: {fmt_time(a.get('last_seen'), True)}",
        f"why: {clean(a.get('why') or a.get('summary'))}",
        f"evidence ({len(detail.evidence)} of {detail.evidence_total}):",
    ]
    lines += [f"  {e['event_id']} {fmt_time(e.get('ts') or e.get('received_at'), True)} {clean(e.get('raw'))}"
              for e in detail.evidence]
    return "\n".join(lines)


def export_alerts_jsonl(cur: duckdb.DuckDBPyConnection, ids: Sequence[int], path: Path,
                        evidence_limit: int = 200) -> int:
    """Write each alert (all columns) with its evidence events as one JSON line; returns lines written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        for aid in ids:
            detail = alert_detail(cur, aid, evidence_limit=evidence_limit, context=0)
            if detail is None:
                continue
            record = dict(detail.alert)
            record["evidence"] = detail.evidence
            out.write(json.dumps(record, default=_json_default, ensure_ascii=False) + "\n")
            n += 1
    return n


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc(value).isoformat()  # type: ignore[union-attr]
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(value)


# -- event filters -----------------------------------------------------------------------------------------
@dataclass
class EventFilter:
    """One line of the filter list: plain substring (case-insensitive) or regex, keep or drop matches."""

    pattern: str
    regex: bool = False
    invert: bool = False
    enabled: bool = True

    @classmethod
    def parse(cls, text: str) -> EventFilter:
        """`foo` keeps lines containing foo, `!foo` drops them, `~re` / `!~re` do the same with a regex."""
        t = text.strip()
        invert = t.startswith("!")
        if invert:
            t = t[1:]
        regex = t.startswith("~")
        if regex:
            t = t[1:]
        if not t:
            raise QueryError("empty filter")
        if regex:
            try:
                re.compile(t)
            except re.error as exc:
                raise QueryError(f"bad regex {t!r}: {exc}") from exc
        return cls(pattern=t, regex=regex, invert=invert)

    def label(self) -> str:
        return ("!" if self.invert else "") + ("~" if self.regex else "") + self.pattern

    def to_dict(self) -> dict[str, Any]:
        return {"pattern": self.pattern, "regex": self.regex, "invert": self.invert, "enabled": self.enabled}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EventFilter:
        return cls(str(d["pattern"]), bool(d.get("regex")), bool(d.get("invert")), bool(d.get("enabled", True)))


def filter_where(filters: Sequence[EventFilter]) -> tuple[str, list[Any]]:
    clauses, params = [], []
    for f in filters:
        if not f.enabled:
            continue
        if f.regex:
            clause = "regexp_matches(raw, ?)"
        else:
            clause = "contains(lower(raw), lower(?))"
        clauses.append(f"NOT coalesce({clause}, false)" if f.invert else clause)
        params.append(f.pattern)
    return (" AND ".join(clauses) or "true"), params


@dataclass
class EventPage:
    rows: list[dict[str, Any]]
    more: bool  # more matches exist beyond `rows`
    filters: list[str]


def search_events(cur: duckdb.DuckDBPyConnection, filters: Sequence[EventFilter], limit: int = 500,
                  between: tuple[datetime, datetime] | None = None) -> EventPage:
    """The newest `limit` events matching every enabled filter (and event time in `between`), newest last."""
    where, params = filter_where(filters)
    if between is not None:
        where += " AND coalesce(ts, received_at) >= ? AND coalesce(ts, received_at) < ?"
        params = [*params, between[0], between[1]]
    cols = ", ".join(f'"{c}"' for c in EVENT_LIST_COLUMNS)
    try:
        rows = _dicts(cur, f"SELECT {cols} FROM events WHERE {where} ORDER BY event_id DESC LIMIT ?",
                      [*params, limit + 1])
    except duckdb.Error as exc:
        raise QueryError(f"filter failed: {exc}") from exc
    more = len(rows) > limit
    return EventPage(rows=list(reversed(rows[:limit])), more=more, filters=[f.label() for f in filters])


# -- SQL prompt --------------------------------------------------------------------------------------------
@dataclass
class SqlResult:
    sql: str
    columns: list[str]
    rows: list[tuple[Any, ...]]
    capped: bool  # more rows exist than `rows` holds
    seconds: float = 0.0

    def count_label(self) -> str:
        n = len(self.rows)
        return f"{n:,} of >{n:,} rows" if self.capped else f"{n:,} row{'s' if n != 1 else ''}"


@contextlib.contextmanager
def analyst_reading(store: Any) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor for analyst SQL: read-only transaction on the sealed store (store.analyst_sql), closed after use."""
    try:
        with analyst_sql.analyst_cursor(store.con) as cur:
            yield cur
    except analyst_sql.AnalystSqlError as exc:
        raise QueryError(str(exc)) from exc


def run_sql(cur: duckdb.DuckDBPyConnection, sql: str, cap: int = 500) -> SqlResult:
    """One SELECT through the analyst gate on an `analyst_reading` cursor; at most `cap` rows kept."""
    import time

    t0 = time.perf_counter()
    try:
        text, rel = analyst_sql.relation(cur, sql)
        if rel is None:
            return SqlResult(text, [], [], False, time.perf_counter() - t0)
        with analyst_sql.translated():
            # The probe row beyond the cap is how the prompt knows to say "N of >N".
            table = rel.limit(cap + 1).to_arrow_table()
    except analyst_sql.AnalystSqlError as exc:
        raise QueryError(str(exc)) from exc
    columns = list(table.column_names)
    rows = [tuple(r.values()) for r in table.to_pylist(maps_as_pydicts="strict")] if columns else []
    return SqlResult(text, columns, rows[:cap], len(rows) > cap, time.perf_counter() - t0)


def export_sql(cur: duckdb.DuckDBPyConnection, sql: str, path: Path, fmt: str) -> int:
    """Re-run the query through the analyst gate and stream every row (not just the shown ones) to CSV or
    JSONL, written by this process (DuckDB itself cannot write files here); returns rows."""
    import pyarrow.csv as pacsv

    if fmt not in ("csv", "jsonl"):
        raise QueryError(f"unknown export format {fmt!r}")
    try:
        _text, rel = analyst_sql.relation(cur, sql)
        if rel is None:
            raise QueryError("the statement returns no rows")
        with analyst_sql.translated():
            reader = rel.to_arrow_reader(10_000)
    except analyst_sql.AnalystSqlError as exc:
        raise QueryError(str(exc)) from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with analyst_sql.translated():
            if fmt == "csv":
                with os.fdopen(fd, "wb") as raw, pacsv.CSVWriter(raw, reader.schema) as writer:
                    for batch in reader:
                        writer.write_batch(batch)
                        n += batch.num_rows
            else:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    for batch in reader:
                        for rec in batch.to_pylist():
                            out.write(json.dumps(rec, default=_json_default, ensure_ascii=False) + "\n")
                        n += batch.num_rows
    except analyst_sql.AnalystSqlError as exc:
        raise QueryError(str(exc)) from exc
    return n


# -- timeline ----------------------------------------------------------------------------------------------
ZOOM_LEVELS: tuple[tuple[str, timedelta], ...] = (
    ("1 minute", timedelta(minutes=1)),
    ("5 minutes", timedelta(minutes=5)),
    ("15 minutes", timedelta(minutes=15)),
    ("1 hour", timedelta(hours=1)),
    ("6 hours", timedelta(hours=6)),
    ("1 day", timedelta(days=1)),
)
DIMENSIONS = ("all", "host", "detector")


@dataclass
class Timeline:
    step: str  # the bucket width, as a label
    width: timedelta
    start: datetime | None
    buckets: list[tuple[datetime, int, int]]  # (bucket start, events, alerts), every bucket, empty ones too
    dimension: str
    value: str | None
    values: list[str]  # the top values of the dimension, for cycling


def timeline(cur: duckdb.DuckDBPyConnection, zoom: int = 0, buckets: int = 60, dimension: str = "all",
             value: str | None = None) -> Timeline:
    """Events and alerts per bucket over the `buckets` steps ending at the newest event (empty buckets kept).
    `dimension` host restricts both to one host; detector restricts alerts to one detector."""
    label, width = ZOOM_LEVELS[max(0, min(zoom, len(ZOOM_LEVELS) - 1))]
    ev_t = "(coalesce(ts, received_at) AT TIME ZONE 'UTC')"
    al_t = "(coalesce(first_seen, created_at) AT TIME ZONE 'UTC')"
    values: list[str] = []
    if dimension == "host":
        values = [r[0] for r in cur.execute(
            "SELECT host FROM events WHERE host IS NOT NULL GROUP BY host ORDER BY count(*) DESC LIMIT 20"
        ).fetchall()]
    elif dimension == "detector":
        values = [r[0] for r in cur.execute(
            "SELECT detector FROM alerts GROUP BY detector ORDER BY count(*) DESC LIMIT 20").fetchall()]
    if dimension != "all" and value not in values:
        value = values[0] if values else None
    row = cur.execute(f"SELECT min({ev_t}), max({ev_t}) FROM events").fetchone()
    row2 = cur.execute(f"SELECT min({al_t}), max({al_t}) FROM alerts").fetchone()
    ends = [v for v in ((row or [None, None])[1], (row2 or [None, None])[1]) if v is not None]
    starts = [v for v in ((row or [None, None])[0], (row2 or [None, None])[0]) if v is not None]
    if not ends:
        return Timeline(label, width, None, [], dimension, value, values)
    end: datetime = max(ends)
    step_s = int(width.total_seconds())
    epoch_end = int(end.replace(tzinfo=UTC).timestamp()) // step_s * step_s
    # The window ends at the newest data and starts at the oldest when that is closer: no empty minutes before it.
    epoch_start = int(min(starts).replace(tzinfo=UTC).timestamp()) // step_s * step_s
    first = max(epoch_end - (buckets - 1) * step_s, epoch_start)
    buckets = (epoch_end - first) // step_s + 1
    start = datetime.fromtimestamp(first, UTC).replace(tzinfo=None)
    ev_where, al_where = f"{ev_t} >= ?", f"{al_t} >= ?"
    ev_params: list[Any] = [start]
    al_params: list[Any] = [start]
    if dimension == "host" and value is not None:
        ev_where += " AND host = ?"
        al_where += " AND host = ?"
        ev_params.append(value)
        al_params.append(value)
    elif dimension == "detector" and value is not None:
        al_where += " AND detector = ?"
        al_params.append(value)

    def counts(table: str, t: str, where: str, params: list[Any]) -> dict[int, int]:
        q = (f"SELECT (epoch({t})::BIGINT // {step_s}) AS b, count(*) FROM {table} WHERE {where} GROUP BY b")
        return {int(b): int(n) for b, n in cur.execute(q, params).fetchall()}

    ev = counts("events", ev_t, ev_where, ev_params)
    al = counts("alerts", al_t, al_where, al_params)
    out = []
    for i in range(buckets):
        key = first // step_s + i
        out.append((datetime.fromtimestamp(key * step_s, UTC), ev.get(key, 0), al.get(key, 0)))
    return Timeline(label, width, out[0][0], out, dimension, value, values)
