"""The API's routes: read-only JSON over the engine's store, and the live alert stream.

Every request needs `Authorization: Bearer <token>` (checked before routing, in constant time). Nothing here
writes: the store is read through short-lived cursors, and analyst SQL goes through the one gate
(store.analyst_sql) on the engine's sealed connection, with a row cap and a time limit.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.incidents import list_incidents
from app.api.jsonable import jsonable, record
from app.api.stream import AlertStream
from app.api.token import token_matches
from app.config import ApiConfig
from detectors.alerts import AlertSummary
from store import analyst_sql
from store.schema import ALERT_FIELD_NAMES, ALERT_STATUSES, EVENT_FIELD_NAMES, SEVERITIES

EVIDENCE_ROWS = 200  # evidence events returned with one alert (the alert's event_ids list them all)
KEEPALIVE_S = 15.0
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
_SUMMARY_COLS = ", ".join(f'"{c}"' for c in AlertSummary.COLUMNS)
_ALERT_COLS = ", ".join(f'"{c}"' for c in ALERT_FIELD_NAMES)
_EVIDENCE_COLS = [c for c in EVENT_FIELD_NAMES if c != "raw_bytes"]


@dataclass
class ApiContext:
    """What the routes read: the engine's store, its status, and the alert stream."""

    store: Any  # store.db.Store (sealed)
    status: Callable[[], Any]  # Engine.status
    stream: AlertStream
    token: str
    config: ApiConfig


class BadRequest(Exception):
    """A parameter the API cannot use; the message names it and what it accepts."""


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers=_HEADERS)


def _error(message: str, status: int) -> JSONResponse:
    return _json({"error": message}, status)


class BearerAuth:
    """Refuses every request without the right bearer token (401), before any route runs."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http" or not token_matches(self.token, Headers(scope=scope).get("authorization")):
            response = JSONResponse({"error": "missing or wrong bearer token (Authorization: Bearer <token from "
                                              "$XDG_DATA_HOME/vigil/api-token>)"}, status_code=401,
                                    headers={**_HEADERS, "WWW-Authenticate": 'Bearer realm="vigil"'})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


# -- parameters ---------------------------------------------------------------------------------------------------
def _choices(request: Request, name: str, allowed: tuple[str, ...]) -> list[str]:
    values = [v.strip().lower() for raw in request.query_params.getlist(name) for v in raw.split(",") if v.strip()]
    bad = [v for v in values if v not in allowed]
    if bad:
        raise BadRequest(f"{name}={bad[0]!r} is not one of {', '.join(allowed)}")
    return values


def _int(request: Request, name: str, default: int | None, lo: int, hi: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name}={raw!r} is not an integer") from None
    if not lo <= value <= hi:
        raise BadRequest(f"{name}={value} is out of range ({lo}-{hi})")
    return value


def _time(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name}={raw!r} is not an ISO 8601 time (e.g. 2025-11-21T09:00:00Z)") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# -- routes -------------------------------------------------------------------------------------------------------
def list_alerts(ctx: ApiContext, request: Request) -> dict[str, Any]:
    """Newest first; `before` (an alert id) pages backwards."""
    limit = _int(request, "limit", min(100, ctx.config.max_rows), 1, ctx.config.max_rows)
    assert limit is not None
    where: list[str] = []
    params: list[Any] = []
    statuses = _choices(request, "status", ALERT_STATUSES)
    if statuses:
        where.append("status IN (SELECT unnest(?::VARCHAR[]))")
        params.append(statuses)
    severities = _choices(request, "severity", SEVERITIES)
    if severities:
        where.append("severity IN (SELECT unnest(?::VARCHAR[]))")
        params.append(severities)
    since = _time(request, "since")
    if since is not None:
        where.append("last_seen >= ?")
        params.append(since)
    entity = request.query_params.get("entity")
    if entity:
        where.append("entity = ?")
        params.append(entity.strip())
    before = _int(request, "before", None, 1, 2**62)
    if before is not None:
        where.append("alert_id < ?")
        params.append(before)
    cur = ctx.store.cursor()
    try:
        rows = cur.execute(alerts_sql(where), [*params, limit + 1]).fetchall()
    finally:
        cur.close()
    alerts = [record(AlertSummary.COLUMNS, r) for r in rows[:limit]]
    return {"alerts": alerts, "count": len(alerts), "limit": limit, "more": len(rows) > limit,
            "next_before": alerts[-1]["alert_id"] if len(rows) > limit else None}


def alerts_sql(where: list[str]) -> str:
    """Newest matching alerts, `LIMIT ?` last. The ids are picked first and the columns read for those alone:
    a top-N over every column of 100,000 alerts costs about three times as much."""
    cond = f"WHERE {' AND '.join(where)}" if where else ""
    return (f"SELECT {_SUMMARY_COLS} FROM alerts WHERE alert_id IN (SELECT alert_id FROM alerts {cond} "
            "ORDER BY alert_id DESC LIMIT ?) ORDER BY alert_id DESC")


def get_alert(ctx: ApiContext, alert_id: int) -> dict[str, Any] | None:
    cur = ctx.store.cursor()
    try:
        found = cur.execute(f"SELECT {_ALERT_COLS} FROM alerts WHERE alert_id = ?", [alert_id]).fetchall()
        if not found:
            return None
        alert = record(ALERT_FIELD_NAMES, found[0])
        ids = [int(x) for x in (alert.get("event_ids") or [])]
        cols = ", ".join(f'"{c}"' for c in _EVIDENCE_COLS)
        evidence = cur.execute(f"SELECT {cols} FROM events WHERE event_id IN (SELECT unnest(?::BIGINT[])) "
                               "ORDER BY event_id", [ids[:EVIDENCE_ROWS]]).fetchall() if ids else []
    finally:
        cur.close()
    return {"alert": alert, "evidence": [record(_EVIDENCE_COLS, r) for r in evidence],
            "evidence_total": len(ids)}


def run_sql(ctx: ApiContext, sql: str, limit: int) -> dict[str, Any]:
    """One SELECT through the analyst gate, interrupted after `query_timeout_s`, at most `limit` rows."""
    with analyst_sql.analyst_cursor(ctx.store.con) as cur:
        timer = threading.Timer(ctx.config.query_timeout_s, cur.interrupt)
        timer.start()
        try:
            analyst_sql.execute(cur, sql)
            if cur.description is None:
                return {"columns": [], "rows": [], "truncated": False}
            columns = [d[0] for d in cur.description]
            with analyst_sql.translated():
                rows = cur.fetchmany(limit + 1)
        finally:
            timer.cancel()
    return {"columns": columns, "rows": [jsonable(list(r)) for r in rows[:limit]], "count": min(len(rows), limit),
            "truncated": len(rows) > limit}


def stats(ctx: ApiContext) -> dict[str, Any]:
    st = ctx.status()
    data = dataclasses.asdict(st) if dataclasses.is_dataclass(st) and not isinstance(st, type) else dict(st)
    return {**jsonable(data), "api": ctx.stream.stats()}


def _sse(event: str, data: Any, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def stream_events(ctx: ApiContext) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    client = ctx.stream.subscribe(loop)
    seq = 0
    try:
        yield _sse("hello", {"queue": client.capacity, "note": "alerts as they are written; 'dropped' says how many "
                                                                "this client lost when it read too slowly"})
        while not ctx.stream.closing.is_set() and not client.closed:
            try:
                await asyncio.wait_for(client.wake.wait(), timeout=KEEPALIVE_S)
            except TimeoutError:
                yield ": keepalive\n\n"
                continue
            client.wake.clear()
            events, dropped = client.take()
            if dropped:
                yield _sse("dropped", {"dropped": dropped, "reason": f"this client read too slowly: its queue of "
                                                                      f"{client.capacity} alerts was full"})
            for ev in events:
                seq += 1
                yield _sse("alert", ev, seq)
    finally:
        ctx.stream.unsubscribe(client)


def build_app(ctx: ApiContext) -> ASGIApp:
    async def call(fn: Callable[[], Any]) -> Response:
        from starlette.concurrency import run_in_threadpool

        try:
            result = await run_in_threadpool(fn)
        except BadRequest as exc:
            return _error(str(exc), 400)
        except analyst_sql.AnalystSqlError as exc:
            return _error(str(exc), 400)
        if result is None:
            return _error("not found", 404)
        return _json(result)

    async def alerts(request: Request) -> Response:
        return await call(lambda: list_alerts(ctx, request))

    async def alert(request: Request) -> Response:
        raw = request.path_params["alert_id"]
        if not raw.isdigit():
            return _error(f"alert id {raw!r} is not a number", 400)
        return await call(lambda: get_alert(ctx, int(raw)))

    async def incidents(request: Request) -> Response:
        def work() -> dict[str, Any]:
            limit = _int(request, "limit", min(100, ctx.config.max_rows), 1, ctx.config.max_rows)
            cur = ctx.store.cursor()
            try:
                source, items = list_incidents(cur, int(limit or 100))
            finally:
                cur.close()
            return {"incidents": items, "count": len(items), "source": source}

        return await call(work)

    async def events(request: Request) -> Response:
        sql = request.query_params.get("sql")
        if not sql:
            return _error("give one SELECT as ?sql= (e.g. ?sql=SELECT count(*) FROM events)", 400)

        def work() -> dict[str, Any]:
            limit = _int(request, "limit", ctx.config.max_rows, 1, ctx.config.max_rows)
            return run_sql(ctx, sql, int(limit or ctx.config.max_rows))

        return await call(work)

    async def status(request: Request) -> Response:
        return await call(lambda: stats(ctx))

    async def stream(request: Request) -> Response:
        return StreamingResponse(stream_events(ctx), media_type="text/event-stream",
                                 headers={**_HEADERS, "X-Accel-Buffering": "no"})

    async def not_found(request: Request, exc: Exception) -> Response:
        code = exc.status_code if isinstance(exc, HTTPException) else 500
        return _error("not found" if code == 404 else "method not allowed" if code == 405 else "error", code)

    routes = [
        Route("/api/v1/alerts", alerts, methods=["GET"]),
        Route("/api/v1/alerts/{alert_id}", alert, methods=["GET"]),
        Route("/api/v1/incidents", incidents, methods=["GET"]),
        Route("/api/v1/events", events, methods=["GET"]),
        Route("/api/v1/stats", status, methods=["GET"]),
        Route("/api/v1/stream", stream, methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: not_found})
    return BearerAuth(app, ctx.token)
