"""Central side of forwarding: a durable JetStream pull consumer that lands other sites' events and alerts.

Events do not go through the line pipeline (they are parsed already, and re-parsing would lose the site's
columns): each fetched batch of messages is landed by one `writer.call` — de-duplicated by (origin, event id),
given central ids, committed — and only then acked. A crash before the commit means redelivery; after the
commit and before the ack, redelivery lands nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from store.db import Store
from store.event_ids import EventIdAllocator
from store.landing import IdAllocator, LandResult, StoreIdAllocator, clean_alert, land_alert, land_events, site_rows
from store.nats_link import (
    ALL_SUBJECTS,
    H_KIND,
    H_ORIGIN,
    H_SITE,
    H_WIRE,
    KINDS,
    STREAM,
    WIRE_VERSION,
    NatsLinkConfig,
    PayloadError,
    clean_site,
    connect,
    decode_events,
    ensure_stream,
    header,
    sleep_unless,
    valid_origin,
)
from store.writer import StoreWriter

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Landing:
    """One decoded message, ready to land."""

    kind: str
    origin: str
    site: str | None
    table: pa.Table | None = None
    alert: dict[str, Any] | None = None
    version: int = 0


@dataclass
class ConsumerStats:
    messages: int = 0
    events: int = 0
    duplicates: int = 0
    alerts: int = 0
    refused: int = 0  # messages terminated as unreadable (never redelivered, counted here)
    pending: int = 0  # messages still waiting in the stream for this consumer
    last_message_at: datetime | None = None


def decode_message(subject: str, headers: dict[str, str] | None, data: bytes) -> Landing:
    """Validate one message from the wire. Raises PayloadError with the reason when it cannot be landed."""
    wire = header(headers, H_WIRE)
    if wire != WIRE_VERSION:
        raise PayloadError(f"unknown wire version {wire!r} (this Vigil speaks {WIRE_VERSION})")
    kind = header(headers, H_KIND)
    if kind not in KINDS:
        raise PayloadError(f"unknown kind {kind!r}")
    origin = header(headers, H_ORIGIN)
    if not valid_origin(origin):
        raise PayloadError("missing or malformed Vigil-Origin header")
    assert origin is not None
    site = clean_site(header(headers, H_SITE))
    if kind == "events":
        return Landing(kind, origin, site, table=decode_events(data))
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise PayloadError(f"alert is not JSON: {exc}") from exc
    version = raw.pop("_version", None) if isinstance(raw, dict) else None
    try:
        alert = clean_alert(raw)
    except ValueError as exc:
        raise PayloadError(str(exc)) from exc
    if alert["alert_id"] is None:
        raise PayloadError("alert without an integer alert_id")
    msg_id = header(headers, "Nats-Msg-Id") or ""
    if version is None:  # the version travels in the message id: site:origin:a:<alert_id>.<version>
        with contextlib.suppress(ValueError):
            version = int(msg_id.rsplit(".", 1)[-1])
    if not isinstance(version, int) or version < 1:
        raise PayloadError("alert without a version")
    return Landing(kind, origin, site, alert=raw, version=version)


def land(con: duckdb.DuckDBPyConnection, items: Sequence[Landing], allocate: IdAllocator
         ) -> tuple[LandResult, list[pa.Table]]:
    """Land decoded messages in the caller's transaction; returns counts and the event tables inserted."""
    result = LandResult()
    inserted: list[pa.Table] = []
    for item in items:
        if item.kind == "events" and item.table is not None:
            n, dup, new = land_events(con, item.origin, item.site, item.table, allocate)
            result.events += n
            result.duplicates += dup
            if new is not None:
                inserted.append(new)
        elif item.alert is not None:
            if land_alert(con, item.origin, item.site, item.alert, item.version):
                result.alerts += 1
            else:
                result.stale_alerts += 1
    return result, inserted


class NatsConsumerSource:
    """A Source for the engine: consumes `vigil.>` from the VIGIL stream with a durable pull consumer."""

    def __init__(self, link: NatsLinkConfig, store: Store, writer: StoreWriter, *,
                 ids: EventIdAllocator | None = None, durable: str = "vigil-central", fetch_batch: int = 64,
                 on_events: Callable[[pa.Table], None] | None = None) -> None:
        link.connect_options()  # fail at start-up on a bad URL or TLS file
        self.link = link
        self.name = f"nats←{link.display()}"
        self._store = store
        self._writer = writer
        # With an engine's allocator, central ids share the local pipeline's sequence (and are settled after the
        # landing commits, so the scorer never reads past them); alone (tests, tools) they follow the table.
        self._ids = ids
        self._allocate: IdAllocator = (lambda con, n: ids.reserve(n)) if ids is not None else StoreIdAllocator()
        self._durable = durable
        self._fetch_batch = fetch_batch
        self._on_events = on_events
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sites: list[dict[str, Any]] = []
        self._sites_lock = threading.Lock()
        self.connected = False
        self.last_error: str | None = None  # link or store trouble, cleared once messages land again
        self.last_refused: str | None = None  # the latest unreadable message (kept: it is history, not state)
        self.stats = ConsumerStats()
        self._reconnected = False

    def start(self, submit: Any = None) -> None:
        self._refresh_sites()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="vigil-nats-consumer",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10.0)

    def status(self) -> dict[str, object]:
        s = self.stats
        with self._sites_lock:
            sites = [dict(r, first_seen=_iso(r["first_seen"]), last_seen=_iso(r["last_seen"]),
                          last_event_ts=_iso(r["last_event_ts"])) for r in self._sites]
        state = "connected" if self.connected else "reconnecting"
        if s.pending:
            state += f", {s.pending:,} messages pending"
        return {
            "name": self.name, "kind": "nats", "state": state, "connected": self.connected, "msgs": s.messages,
            "lines": s.events, "events": s.events, "duplicates": s.duplicates, "alerts": s.alerts,
            "refused": s.refused, "drops": s.refused, "pending": s.pending,
            "last_message_at": _iso(s.last_message_at), "sites": sites, "last_error": self.last_error,
            "last_refused": self.last_refused,
        }

    # -- the consumer loop -----------------------------------------------------------------------------
    def _set_connected(self, up: bool) -> None:
        if up and not self.connected:
            self._reconnected = True
        self.connected = up

    async def _main(self) -> None:
        while not self._stop.is_set():
            nc = await connect(self.link, self._stop, "vigil-central", self._set_connected)
            if nc is None:
                return
            try:
                await self._consume(nc)
            except Exception as exc:  # link trouble: reconnect and re-bind the durable consumer
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.info("consuming interrupted: %s", self.last_error)
                await sleep_unless(self._stop, 0.5)
            finally:
                self.connected = False
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(nc.close(), 2)

    async def _consume(self, nc: Any) -> None:
        import nats.errors
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        js = nc.jetstream(timeout=5)
        await ensure_stream(js)
        config = ConsumerConfig(durable_name=self._durable, ack_policy=AckPolicy.EXPLICIT,
                                deliver_policy=DeliverPolicy.ALL, ack_wait=60, max_ack_pending=20000)
        psub = await js.pull_subscribe(ALL_SUBJECTS, durable=self._durable, stream=STREAM, config=config)
        self._reconnected = False
        next_info = 0.0
        failures = 0
        stalled_since: float | None = None
        while not self._stop.is_set():
            if self._reconnected:
                # After the server came back the pull subscription can go quiet for good (fetches time out
                # with messages pending): bind the durable consumer afresh on a new connection.
                raise ConnectionError("server reconnected; re-binding the durable consumer")
            if time.monotonic() >= next_info:
                next_info = time.monotonic() + 2.0
                with contextlib.suppress(Exception):
                    info = await psub.consumer_info()
                    self.stats.pending = int(info.num_pending or 0) + int(info.num_ack_pending or 0)
            try:
                msgs = await psub.fetch(self._fetch_batch, timeout=1.0)
            except nats.errors.TimeoutError:
                failures = 0
                if self.stats.pending > 0:
                    stalled_since = stalled_since or time.monotonic()
                    if time.monotonic() - stalled_since > 10.0:
                        raise ConnectionError(
                            f"no messages for 10 s with {self.stats.pending} pending; re-binding") from None
                else:
                    stalled_since = None
                continue
            except Exception:
                failures += 1
                if nc.is_closed or failures > 20:
                    raise
                await sleep_unless(self._stop, 0.5)  # reconnecting: the client re-subscribes by itself
                continue
            stalled_since = None
            failures = 0
            if msgs:
                await self._handle(nc, msgs)

    async def _handle(self, nc: Any, msgs: list[Any]) -> None:
        decoded: list[tuple[Any, Landing]] = []
        for m in msgs:
            try:
                item = await asyncio.to_thread(decode_message, m.subject, m.headers, m.data)
            except PayloadError as exc:
                self.stats.refused += 1
                self.last_refused = f"refused a message on {m.subject[:80]}: {exc}"
                log.warning("%s", self.last_refused)
                with contextlib.suppress(Exception):
                    await m.term()  # unreadable now means unreadable for ever: do not redeliver
                continue
            decoded.append((m, item))
        if not decoded:
            return
        try:
            result, inserted = await asyncio.to_thread(self._commit, [d[1] for d in decoded])
        except Exception as exc:
            # Land one by one so a single bad message cannot hold back the others; nothing is acked unless
            # it is committed.
            self.last_error = f"landing failed ({type(exc).__name__}: {exc}); retrying message by message"
            log.warning("%s", self.last_error)
            for m, item in decoded:
                try:
                    r, ins = await asyncio.to_thread(self._commit, [item])
                except Exception as one:
                    self.stats.refused += 1
                    self.last_refused = f"refused a message on {m.subject[:80]}: {type(one).__name__}: {one}"
                    with contextlib.suppress(Exception):
                        await m.term()
                    continue
                self._count(r, ins, 1)
                await m.ack()
            await nc.flush(timeout=5)
            return
        self._count(result, inserted, len(decoded))
        for m, _ in decoded:
            await m.ack()
        await nc.flush(timeout=5)

    def _count(self, result: LandResult, inserted: list[pa.Table], messages: int) -> None:
        self.last_error = None
        s = self.stats
        s.messages += messages
        s.events += result.events
        s.duplicates += result.duplicates
        s.alerts += result.alerts
        s.last_message_at = datetime.now(UTC)
        if self._on_events is not None:
            for t in inserted:
                try:
                    self._on_events(t)
                except Exception:
                    log.exception("on_events consumer failed")

    def _commit(self, items: list[Landing]) -> tuple[LandResult, list[pa.Table]]:
        reserved: list[int] = []

        def allocate(con: duckdb.DuckDBPyConnection, n: int) -> int:
            first = self._allocate(con, n)
            reserved.append(first)
            return first

        fut = self._writer.call(lambda con: land(con, items, allocate))
        try:
            out = fut.result(timeout=120)
        finally:
            if self._ids is not None and fut.done():  # committed or rolled back: either way settled
                for first in reserved:
                    self._ids.settle(first)
        self._refresh_sites()
        return out

    def _refresh_sites(self) -> None:
        with contextlib.suppress(duckdb.Error):
            rows = site_rows(self._store.cursor())
            with self._sites_lock:
                self._sites = rows


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


