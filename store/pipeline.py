"""The ingest pipeline: line batches from sources → parsed events → Arrow record batches → writer (+ scorer).

One thread parses (per-source format detection) and builds Arrow batches of ≈5,000 rows or 200 ms, whichever
comes first. Enrichers (template mining) fill columns before the write; consumers (the scorer) get the same
immutable batch after it is queued for commit. A full pipeline blocks `submit`: sources feel back-pressure.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa

from store.parsers import ParserChain
from store.schema import EVENT_COLUMNS, EVENT_SCHEMA
from store.sources.base import FileCheckpoint, LineBatch
from store.writer import StoreWriter, WriteFn

log = logging.getLogger(__name__)

# An enricher may replace columns of the batch and return extra writes committed with it.
Enricher = Callable[[pa.RecordBatch], tuple[pa.RecordBatch, Sequence[WriteFn]]]
Consumer = Callable[[pa.RecordBatch], None]



class EventBatchBuilder:
    """Accumulates parsed events and freezes them into one Arrow RecordBatch, column by column.

    Per-row work is one list append; columns are built once per batch (cheaper than per-row appends to 24
    lists), and columns that are entirely empty become null arrays without touching each row."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        # (rows, received_at, source, peers-or-None, site) per submitted LineBatch, in order.
        self._runs: list[tuple[int, datetime, str, list[str] | None, str | None]] = []
        self.first_id = 0
        self.checkpoints: dict[str, FileCheckpoint] = {}
        self.started: float | None = None

    def __len__(self) -> int:
        return len(self.events)

    def extend(self, events: list[dict[str, Any]], received_at: datetime, source: str,
               peers: list[str] | None, site: str | None) -> None:
        self.events.extend(events)
        self._runs.append((len(events), received_at, source, peers, site))

    def add_checkpoint(self, cp: FileCheckpoint) -> None:
        prior = self.checkpoints.get(cp.fingerprint)
        if prior is not None and prior.replaces and not cp.replaces:
            cp.replaces = prior.replaces
        if cp.replaces and cp.replaces in self.checkpoints:
            # A short file grew twice within one batch: only the newest key survives.
            older = self.checkpoints.pop(cp.replaces)
            cp.replaces = older.replaces or cp.replaces
        self.checkpoints[cp.fingerprint] = cp

    def _run_column(self, index: int) -> list[Any]:
        out: list[Any] = []
        for run in self._runs:
            out.extend([run[index]] * run[0])
        return out

    def build(self) -> pa.RecordBatch:
        events = self.events
        n = len(events)
        arrays: list[pa.Array] = []
        for name, typ, _ in EVENT_COLUMNS:
            if name == "event_id":
                arrays.append(pa.array(range(self.first_id, self.first_id + n), type=typ))
                continue
            if name == "received_at" or name == "source":
                values = self._run_column(1 if name == "received_at" else 2)
            elif name == "peer":
                values = []
                for rows, _, _, peers, _ in self._runs:
                    values.extend(peers if peers is not None else [None] * rows)
            elif name == "site":
                values = [e.get("site") for e in events]
                if not any(values):
                    values = self._run_column(4)
            else:
                values = [e.get(name) for e in events]
                if name == "fields":
                    values = [v if v is None or isinstance(v, str) else _json(v) for v in values]
            if not any(v is not None for v in values):
                arrays.append(pa.nulls(n, type=typ))
                continue
            try:
                arrays.append(pa.array(values, type=typ))
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError):
                arrays.append(pa.array([_coerce(v, typ) for v in values], type=typ))
        return pa.RecordBatch.from_arrays(arrays, schema=EVENT_SCHEMA)


def _json(value: Any) -> str:
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except (TypeError, orjson.JSONEncodeError):  # e.g. integers beyond 64 bits, lone surrogates
        return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


def _coerce(value: Any, typ: pa.DataType) -> Any:
    """Last resort for a value a parser produced in the wrong type: never lose the row over it."""
    if value is None:
        return None
    try:
        if pa.types.is_integer(typ):
            v = int(value)
            bits = typ.bit_width - 1
            return v if -(2**bits) <= v < 2**bits else None
        if pa.types.is_string(typ):
            return str(value)
        if pa.types.is_binary(typ):
            return bytes(value)
        if pa.types.is_timestamp(typ):
            return value if isinstance(value, datetime) and value.tzinfo else None
    except (TypeError, ValueError):
        return None
    return None


@dataclass
class PipelineStats:
    lines: int = 0
    events: int = 0
    parse_errors: int = 0
    batches: int = 0
    queued_batches: int = 0
    abandoned: int = 0


class IngestPipeline:
    """Parses and batches lines on its own thread; `submit` is safe from any source thread."""

    def __init__(
        self,
        writer: StoreWriter,
        *,
        first_event_id: int = 1,
        enrichers: Sequence[Enricher] = (),
        consumers: Sequence[Consumer] = (),
        batch_rows: int = 5000,
        batch_seconds: float = 0.2,
        queue_batches: int = 64,
    ) -> None:
        self._writer = writer
        self._next_id = first_event_id
        self.enrichers = list(enrichers)
        self.consumers = list(consumers)
        self._batch_rows = batch_rows
        self._batch_seconds = batch_seconds
        self._queue: queue.Queue[LineBatch | threading.Event] = queue.Queue(maxsize=queue_batches)
        self._stop = threading.Event()
        self._abandon = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vigil-pipeline", daemon=True)
        self._chains: dict[tuple[str, str | None], ParserChain] = {}
        self.stats = PipelineStats()
        self.per_source: dict[str, dict[str, int]] = {}
        self._lock = threading.Lock()

    def start(self) -> IngestPipeline:
        self._thread.start()
        return self

    def submit(self, batch: LineBatch, timeout: float | None = None) -> bool:
        """Queue a batch; blocks while the pipeline is full. False when stopping or timed out."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._stop.is_set():
            try:
                self._queue.put(batch, timeout=0.2)
                return True
            except queue.Full:
                if deadline is not None and time.monotonic() > deadline:
                    return False
        return False

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    def sync(self, timeout: float = 60.0) -> bool:
        """Wait until every batch submitted before this call is parsed and queued to the writer."""
        marker = threading.Event()
        if not self.submit(marker, timeout=timeout):  # type: ignore[arg-type]
            return False
        return marker.wait(timeout)

    def _run(self) -> None:
        builder = EventBatchBuilder()
        while True:
            if self._abandon.is_set():
                self._count_abandoned(builder)
                return
            wait = 0.2
            if builder.started is not None:
                wait = max(0.0, builder.started + self._batch_seconds - time.monotonic())
            try:
                item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
            except queue.Empty:
                item = None
                if builder.started is None and self._stop.is_set():
                    return
            if isinstance(item, threading.Event):
                # A sync marker: hand over what is built so far, then tell the waiter.
                self._flush(builder)
                builder = EventBatchBuilder()
                item.set()
                continue
            if item is not None:
                self._parse_into(builder, item)
            full = len(builder) >= self._batch_rows
            late = builder.started is not None and time.monotonic() - builder.started >= self._batch_seconds
            if full or late or (item is None and self._stop.is_set() and builder.started is not None):
                self._flush(builder)
                builder = EventBatchBuilder()

    def _parse_into(self, builder: EventBatchBuilder, lb: LineBatch) -> None:
        if builder.started is None:
            builder.started = time.monotonic()
        key = (lb.source, lb.format_hint)
        chain = self._chains.get(key)
        if chain is None:
            chain = self._chains[key] = ParserChain(lb.format_hint)
        parse = chain.parse
        received = lb.received_at
        events = [parse(line, received) for line in lb.lines]
        if lb.notes:
            for i, note in lb.notes.items():
                if 0 <= i < len(events):
                    prior = events[i].get("parse_error")
                    events[i]["parse_error"] = f"{note}; {prior}" if prior else note
        errors = sum(1 for e in events if e.get("parse_error"))
        n = len(events)
        builder.extend(events, received, lb.source, lb.peers, lb.site)
        if lb.checkpoint is not None:
            builder.add_checkpoint(lb.checkpoint)
        with self._lock:
            self.stats.lines += n
            self.stats.parse_errors += errors
            src = self.per_source.setdefault(lb.source, {"lines": 0, "parse_errors": 0, "bytes": 0})
            src["lines"] += n
            src["parse_errors"] += errors
            src["bytes"] += sum(map(len, lb.lines))

    def reserve_event_ids(self, n: int) -> int:
        """Hand out `n` consecutive event ids (the pipeline's batches and other writers such as the NATS
        consumer share one monotonic sequence). Returns the first."""
        with self._lock:
            first = self._next_id
            self._next_id += n
            return first

    def _flush(self, builder: EventBatchBuilder) -> None:
        if not len(builder) and not builder.checkpoints:
            return
        builder.first_id = self.reserve_event_ids(len(builder))
        batch = builder.build()
        extra: list[WriteFn] = []
        for enrich in self.enrichers:
            try:
                batch, writes = enrich(batch)
                extra.extend(writes)
            except Exception:  # enrichment is best effort; the events themselves must be stored
                log.exception("enricher failed; storing the batch without it")
        while not self._writer.write_events(batch, list(builder.checkpoints.values()), extra, timeout=1.0):
            if self._writer.failed is not None:
                log.error("writer failed; %d events not stored", batch.num_rows)
                return
            if (self._stop.is_set() and not self._writer_alive()) or self._abandon.is_set():
                self.stats.abandoned += batch.num_rows
                return
        with self._lock:
            self.stats.events += batch.num_rows
            self.stats.batches += 1
        for consume in self.consumers:
            try:
                consume(batch)
            except Exception:
                log.exception("batch consumer failed")

    def _count_abandoned(self, builder: EventBatchBuilder) -> None:
        lost = len(builder)
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, LineBatch):
                lost += len(item.lines)
        if lost:
            self.stats.abandoned += lost
            log.warning("shutdown: %d received lines were not stored (file sources will re-read theirs)", lost)

    def _writer_alive(self) -> bool:
        return self._writer._thread.is_alive()

    def stop(self, timeout: float = 15.0) -> None:
        """Parse and hand over what was already submitted, for at most `timeout` seconds; then abandon the
        rest (counted). File sources lose nothing by that — their checkpoints did not advance — while lines
        a listener had received but not yet stored are reported as lost at shutdown."""
        self._stop.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._abandon.set()
            self._thread.join(5.0)
