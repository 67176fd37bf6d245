"""Site side of forwarding: a local outbox in the site's DuckDB, filled in the same transaction as the events,
drained in order to NATS JetStream by a publisher thread; rows leave the outbox only after JetStream acks.

A broken link therefore queues (the outbox grows by one row per committed batch) and resumes where it stopped.
Messages carry `Nats-Msg-Id` = site:origin:kind:range so a re-publish after a crash is dropped by JetStream's
duplicate window, and the central side's landing is idempotent beyond that window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from store.db import Store
from store.landing import LANDING_MIGRATIONS, alert_to_json
from store.nats_link import (
    H_KIND,
    H_MSG_ID,
    H_ORIGIN,
    H_SITE,
    H_WIRE,
    WIRE_VERSION,
    NatsLinkConfig,
    connect,
    default_site_id,
    encode_events,
    ensure_stream,
    sleep_unless,
    subject_for,
    subject_token,
)
from store.schema import EVENT_SCHEMA
from store.writer import StoreWriter, WriteFn

log = logging.getLogger(__name__)

_SIG_COLS = ("last_seen", "count", "status", "severity", "score", "title", "summary", "status_at", "status_by",
             "why", "len(event_ids)")
_ALERT_SIG = "md5(concat_ws('|', " + ", ".join(f"coalesce(CAST({c} AS VARCHAR), '-')" for c in _SIG_COLS) + "))"

FORWARD_MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        ";\n".join([
            "CREATE TABLE IF NOT EXISTS forward_origin (origin_id VARCHAR NOT NULL, created_at TIMESTAMPTZ)",
            # One uuid per store: two sites with the same hostname (or a copied config) never collide.
            "INSERT INTO forward_origin SELECT CAST(uuid() AS VARCHAR), now() "
            "WHERE NOT EXISTS (SELECT 1 FROM forward_origin)",
            "CREATE SEQUENCE IF NOT EXISTS forward_outbox_seq",
            # events rows point at a committed id range (no copy of the events); alerts rows carry a snapshot.
            "CREATE TABLE IF NOT EXISTS forward_outbox (seq BIGINT NOT NULL, kind VARCHAR NOT NULL, "
            "first_id BIGINT NOT NULL, last_id BIGINT NOT NULL, payload VARCHAR, created_at TIMESTAMPTZ)",
            "CREATE TABLE IF NOT EXISTS forward_alert_sent (alert_id BIGINT PRIMARY KEY, sig VARCHAR, "
            "version BIGINT)",
        ]),
    ),
    *[(10 + v, sql) for v, sql in LANDING_MIGRATIONS],  # central side's tables live in the same component
]


def store_origin(con: duckdb.DuckDBPyConnection) -> str:
    rows = con.execute("SELECT origin_id FROM forward_origin LIMIT 1").fetchall()
    if not rows:
        raise RuntimeError("forward_origin is empty: the forward migrations did not run on this store")
    return str(rows[0][0])


def outbox_write(batch: pa.RecordBatch) -> WriteFn | None:
    """The write that records a committed batch in the outbox; it runs inside the events' transaction."""
    if batch.num_rows == 0:
        return None
    mm = pc.min_max(batch.column("event_id"))
    lo, hi = mm["min"].as_py(), mm["max"].as_py()

    def write(con: duckdb.DuckDBPyConnection) -> None:
        con.execute("INSERT INTO forward_outbox VALUES (nextval('forward_outbox_seq'), 'events', ?, ?, NULL, ?)",
                    [lo, hi, datetime.now(UTC)])
    return write


def enqueue_changed_alerts(con: duckdb.DuckDBPyConnection, site: str, limit: int = 1000) -> int:
    """Put every local alert that is new or changed since it was last enqueued into the outbox, with the
    next version number. Runs on the writer thread (one transaction). Remote alerts (negative ids) stay put."""
    # Arrow rather than fetchall(): TIMESTAMPTZ values through fetchall() need pytz, which is not a dependency.
    rows = con.sql(
        f"WITH cur AS (SELECT a.*, {_ALERT_SIG} AS _sig FROM alerts a WHERE a.alert_id > 0) "
        "SELECT cur.*, coalesce(s.version, 0) + 1 AS _version FROM cur "
        "LEFT JOIN forward_alert_sent s ON s.alert_id = cur.alert_id "
        "WHERE s.sig IS DISTINCT FROM cur._sig ORDER BY cur.alert_id LIMIT $limit",
        params={"limit": limit},
    ).to_arrow_table().to_pylist()
    now = datetime.now(UTC)
    for row in rows:
        sig, version = row.pop("_sig"), row.pop("_version")
        row["site"] = row.get("site") or site
        row["_version"] = version
        con.execute("INSERT INTO forward_outbox VALUES (nextval('forward_outbox_seq'), 'alerts', ?, ?, ?, ?)",
                    [row["alert_id"], version, alert_to_json(row), now])
        con.execute("INSERT OR REPLACE INTO forward_alert_sent VALUES (?, ?, ?)", [row["alert_id"], sig, version])
    return len(rows)


@dataclass(slots=True)
class OutboxRow:
    seq: int
    kind: str
    first_id: int
    last_id: int
    payload: str | None


@dataclass(slots=True)
class Message:
    seq: int  # the outbox row it belongs to; a row is done when all its messages are acked
    subject: str
    data: bytes
    headers: dict[str, str]
    events: int
    kind: str


@dataclass
class ForwardStats:
    messages: int = 0
    events: int = 0
    alerts: int = 0
    duplicates: int = 0  # acks JetStream flagged as duplicates (re-publish after a crash or outage)
    backlog_rows: int = 0
    backlog_events: int = 0
    last_ack_at: datetime | None = None


class EventForwarder:
    """Publishes the outbox to JetStream. Behaves as a Source for the engine (start/stop/status) but produces
    no lines; `enricher` is registered on the pipeline so each batch's outbox row commits with its events."""

    def __init__(self, link: NatsLinkConfig, store: Store, writer: StoreWriter, site: str | None = None, *,
                 chunk_rows: int = 2000, outbox_rows: int = 32, alert_interval: float = 1.0,
                 ack_timeout: float = 10.0) -> None:
        link.connect_options()  # a bad URL or TLS file fails here, at start-up, with a clear message
        self.link = link
        self.site = site or default_site_id()
        self.name = f"forward→{link.display()}"
        self._store = store
        self._writer = writer
        self.origin = store_origin(store.cursor())
        self._chunk_rows = chunk_rows
        self._outbox_rows = outbox_rows
        self._alert_interval = alert_interval
        self._ack_timeout = ack_timeout
        self._token = subject_token(self.site)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = False
        self.last_error: str | None = None
        self.stats = ForwardStats()
        self._backlog_at = 0.0

    # -- hooks the engine calls ------------------------------------------------------------------------
    def enricher(self, batch: pa.RecordBatch) -> tuple[pa.RecordBatch, Sequence[WriteFn]]:
        write = outbox_write(batch)
        return batch, [write] if write else []

    def wake(self, _batch: Any = None) -> None:
        """writer.on_commit hook: new outbox rows are there, stop idling."""
        self._wake.set()

    # -- Source protocol -------------------------------------------------------------------------------
    def start(self, submit: Any = None) -> None:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="vigil-forward",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10.0)

    def status(self) -> dict[str, object]:
        if time.monotonic() - self._backlog_at > 1.0:  # fresh during outages too, when the pump is not reading
            with contextlib.suppress(duckdb.Error):
                self._refresh_backlog(self._store.cursor())
        s = self.stats
        state = "connected" if self.connected else "reconnecting"
        if s.backlog_events:
            state += f", {s.backlog_events:,} events queued"
        return {
            "name": self.name, "kind": "forward", "state": state, "site": self.site, "origin": self.origin,
            "connected": self.connected, "msgs": s.messages, "lines": s.events, "events": s.events,
            "alerts": s.alerts, "duplicates": s.duplicates, "backlog_rows": s.backlog_rows,
            "backlog_events": s.backlog_events, "last_ack_at": s.last_ack_at.isoformat() if s.last_ack_at else None,
            "last_error": self.last_error,
        }

    # -- the publisher ---------------------------------------------------------------------------------
    def _set_connected(self, up: bool) -> None:
        self.connected = up

    async def _main(self) -> None:
        while not self._stop.is_set():
            nc = await connect(self.link, self._stop, f"vigil-forward-{self._token}", self._set_connected)
            if nc is None:
                return
            try:
                js = nc.jetstream(timeout=5)
                await ensure_stream(js)
                await self._pump(nc, js)
            except Exception as exc:  # link trouble: drop the connection, reconnect, resume from the outbox
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.info("forwarding interrupted: %s", self.last_error)
                await sleep_unless(self._stop, 0.5)
            finally:
                self.connected = False
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(nc.close(), 2)

    async def _pump(self, nc: Any, js: Any) -> None:
        next_scan = 0.0
        while not self._stop.is_set():
            if time.monotonic() >= next_scan:
                await asyncio.to_thread(self._enqueue_alerts)
                next_scan = time.monotonic() + self._alert_interval
            self._wake.clear()
            rows = await asyncio.to_thread(self._read_outbox)
            if not rows:
                await self._idle(0.25)
                continue
            messages = await asyncio.to_thread(self._build_messages, rows, nc.max_payload)
            done_seq, error = await self._publish(js, rows, messages)
            if done_seq is not None:
                await asyncio.to_thread(self._delete_upto, done_seq)
            if error is not None:
                raise error

    async def _idle(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self._stop.is_set() and not self._wake.is_set() and time.monotonic() < end:
            await asyncio.sleep(0.02)

    async def _publish(self, js: Any, rows: list[OutboxRow],
                       messages: list[Message]) -> tuple[int | None, Exception | None]:
        """Publish in order with acks pipelined; returns the last outbox seq whose messages were all acked."""
        pending: list[tuple[Message, asyncio.Future[Any]]] = []
        error: Exception | None = None
        for m in messages:
            try:
                fut = await js.publish_async(m.subject, m.data, headers=m.headers, wait_stall=self._ack_timeout)
            except Exception as exc:
                error = exc
                break
            pending.append((m, fut))
        acked: set[int] = set()
        failed: set[int] = set()
        for m, fut in pending:
            if m.seq in failed:
                fut.cancel()
                continue
            try:
                ack = await self._ack(fut)
            except Exception as exc:
                error = error or exc
                failed.add(m.seq)
                continue
            acked.add(m.seq)
            self.last_error = None  # the link works again; an old error would read as a current one
            self.stats.messages += 1
            self.stats.events += m.events
            self.stats.alerts += m.kind == "alerts"
            self.stats.duplicates += bool(getattr(ack, "duplicate", False))
            self.stats.last_ack_at = datetime.now(UTC)
        published = {m.seq for m, _ in pending}
        unsent = {m.seq for m in messages} - published
        done: int | None = None
        for row in rows:  # the in-order prefix of rows with every message acked
            if row.seq in failed or row.seq in unsent or (row.seq in published and row.seq not in acked):
                break
            done = row.seq
        return done, error

    async def _ack(self, fut: asyncio.Future[Any]) -> Any:
        """The ack, waited for in short steps so that stopping the engine is not held up by a dead link."""
        deadline = time.monotonic() + self._ack_timeout
        while not fut.done():
            if self._stop.is_set() or time.monotonic() > deadline:
                fut.cancel()
                raise TimeoutError("no JetStream ack" + (" (stopping)" if self._stop.is_set() else ""))
            await asyncio.wait({fut}, timeout=0.05)
        return fut.result()

    # -- blocking helpers (run in worker threads) ------------------------------------------------------
    def _enqueue_alerts(self) -> None:
        self._writer.call(lambda con: enqueue_changed_alerts(con, self.site)).result(timeout=60)

    def _read_outbox(self) -> list[OutboxRow]:
        cur = self._store.cursor()  # a fresh cursor per read: DuckDB 2.0 cursors refuse overlapping results
        rows = cur.execute("SELECT seq, kind, first_id, last_id, payload FROM forward_outbox ORDER BY seq LIMIT ?",
                           [self._outbox_rows]).fetchall()
        self._refresh_backlog(cur)
        return [OutboxRow(*r) for r in rows]

    def _refresh_backlog(self, cur: duckdb.DuckDBPyConnection) -> None:
        ((n_rows, n_events),) = cur.execute(
            "SELECT count(*), coalesce(sum(last_id - first_id + 1) FILTER (WHERE kind = 'events'), 0) "
            "FROM forward_outbox").fetchall()
        self.stats.backlog_rows, self.stats.backlog_events = int(n_rows), int(n_events)
        self._backlog_at = time.monotonic()

    def _delete_upto(self, seq: int) -> None:
        self._writer.call(lambda con: con.execute("DELETE FROM forward_outbox WHERE seq <= ?", [seq])
                          ).result(timeout=60)

    def _headers(self, kind: str, msg_id: str) -> dict[str, str]:
        return {H_MSG_ID: msg_id, H_SITE: self.site, H_ORIGIN: self.origin, H_KIND: kind, H_WIRE: WIRE_VERSION}

    def _build_messages(self, rows: list[OutboxRow], max_payload: int) -> list[Message]:
        out: list[Message] = []
        limit = max(4096, int(max_payload * 0.9))
        for row in rows:
            if row.kind == "alerts":
                data = (row.payload or "{}").encode()
                msg_id = f"{self._token}:{self.origin}:a:{row.first_id}.{row.last_id}"
                out.append(Message(row.seq, subject_for(self.site, "alerts"), data,
                                   self._headers("alerts", msg_id), 0, "alerts"))
                continue
            table = self._events_between(row.first_id, row.last_id)
            # Retention may have removed the events meanwhile: the row then yields no message and is done.
            for start in range(0, table.num_rows, self._chunk_rows):
                out.extend(self._event_messages(row.seq, table.slice(start, self._chunk_rows), limit))
        return out

    def _events_between(self, lo: int, hi: int) -> pa.Table:
        table = self._store.cursor().sql("SELECT * FROM events WHERE event_id BETWEEN $lo AND $hi ORDER BY event_id",
                                 params={"lo": lo, "hi": hi}).to_arrow_table()
        idx = EVENT_SCHEMA.get_field_index("site")
        return table.set_column(idx, "site", pc.fill_null(table.column("site"), self.site))

    def _event_messages(self, seq: int, table: pa.Table, limit: int) -> list[Message]:
        data = encode_events(table)
        if len(data) > limit and table.num_rows > 1:  # too big for the server's max_payload: halve
            half = table.num_rows // 2
            return (self._event_messages(seq, table.slice(0, half), limit)
                    + self._event_messages(seq, table.slice(half), limit))
        ids = table.column("event_id")
        msg_id = f"{self._token}:{self.origin}:e:{ids[0].as_py()}-{ids[-1].as_py()}"
        return [Message(seq, subject_for(self.site, "events"), data, self._headers("events", msg_id),
                        table.num_rows, "events")]

