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

import pyarrow as pa

from store.parsers import ParserChain
from store.schema import EVENT_COLUMNS, EVENT_FIELD_NAMES, EVENT_SCHEMA
from store.sources.base import FileCheckpoint, LineBatch
from store.writer import StoreWriter, WriteFn

log = logging.getLogger(__name__)

# An enricher may replace columns of the batch and return extra writes committed with it.
Enricher = Callable[[pa.RecordBatch], tuple[pa.RecordBatch, Sequence[WriteFn]]]
Consumer = Callable[[pa.RecordBatch], None]

_PARSED_COLUMNS = [n for n in EVENT_FIELD_NAMES if n not in ("event_id", "received_at", "source", "peer", "site")]


class EventBatchBuilder:
    """Accumulates parsed events column by column and freezes them into one Arrow RecordBatch."""

    def __init__(self) -> None:
        self._cols: dict[str, list[Any]] = {n: [] for n in EVENT_FIELD_NAMES}
        self.checkpoints: dict[str, FileCheckpoint] = {}
        self.started: float | None = None

    def __len__(self) -> int:
        return len(self._cols["event_id"])

    def add(self, event_id: int, ev: dict[str, Any], received_at: datetime, source: str,
            peer: str | None, site: str | None) -> None:
        cols = self._cols
        cols["event_id"].append(event_id)
        cols["received_at"].append(received_at)
        cols["source"].append(source)
        cols["peer"].append(peer)
        cols["site"].append(ev.get("site", site))
        get = ev.get
        for name in _PARSED_COLUMNS:
            cols[name].append(get(name))

    def add_checkpoint(self, cp: FileCheckpoint) -> None:
        prior = self.checkpoints.get(cp.fingerprint)
        if prior is not None and prior.replaces and not cp.replaces:
            cp.replaces = prior.replaces
        if cp.replaces and cp.replaces in self.checkpoints:
            # A short file grew twice within one batch: only the newest key survives.
            older = self.checkpoints.pop(cp.replaces)
            cp.replaces = older.replaces or cp.replaces
        self.checkpoints[cp.fingerprint] = cp

    def build(self) -> pa.RecordBatch:
        cols = self._cols
        fields = cols["fields"]
        for i, f in enumerate(fields):
            if f is not None and not isinstance(f, str):
                fields[i] = json.dumps(f, ensure_ascii=False, default=str, separators=(",", ":"))
        arrays = []
        for name, typ, _ in EVENT_COLUMNS:
            try:
                arrays.append(pa.array(cols[name], type=typ))
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                arrays.append(pa.array([_coerce(v, typ) for v in cols[name]], type=typ))
        return pa.RecordBatch.from_arrays(arrays, schema=EVENT_SCHEMA)


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
        self._queue: queue.Queue[LineBatch | None] = queue.Queue(maxsize=queue_batches)
        self._stop = threading.Event()
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

    def _run(self) -> None:
        builder = EventBatchBuilder()
        while True:
            wait = 0.2
            if builder.started is not None:
                wait = max(0.0, builder.started + self._batch_seconds - time.monotonic())
            try:
                item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
            except queue.Empty:
                item = None
                if builder.started is None and self._stop.is_set():
                    return
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
        peers = lb.peers
        notes = lb.notes
        errors = 0
        event_id = self._next_id
        for i, line in enumerate(lb.lines):
            ev = parse(line, received)
            if notes is not None and i in notes:
                prior = ev.get("parse_error")
                ev["parse_error"] = f"{notes[i]}; {prior}" if prior else notes[i]
            if ev.get("parse_error"):
                errors += 1
            builder.add(event_id, ev, received, lb.source, peers[i] if peers else None, lb.site)
            event_id += 1
        n = event_id - self._next_id
        self._next_id = event_id
        if lb.checkpoint is not None:
            builder.add_checkpoint(lb.checkpoint)
        with self._lock:
            self.stats.lines += n
            self.stats.parse_errors += errors
            src = self.per_source.setdefault(lb.source, {"lines": 0, "parse_errors": 0, "bytes": 0})
            src["lines"] += n
            src["parse_errors"] += errors
            src["bytes"] += sum(map(len, lb.lines))

    def _flush(self, builder: EventBatchBuilder) -> None:
        if not len(builder) and not builder.checkpoints:
            return
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
            if self._stop.is_set() and not self._writer_alive():
                return
        with self._lock:
            self.stats.events += batch.num_rows
            self.stats.batches += 1
        for consume in self.consumers:
            try:
                consume(batch)
            except Exception:
                log.exception("batch consumer failed")

    def _writer_alive(self) -> bool:
        return self._writer._thread.is_alive()

    def stop(self, timeout: float = 30.0) -> None:
        """Parse and hand over everything already submitted, then end the thread."""
        self._stop.set()
        self._thread.join(timeout)
