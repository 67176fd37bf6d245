"""The ingest pipeline: line batches from sources → parsed events → Arrow record batches → writer (+ scorer).

One thread parses (per-source format detection) and builds Arrow batches of ≈5,000 rows or 200 ms, whichever
comes first. The commonest line shapes are bulk-parsed with Arrow kernels (store.parsers.fast) on the
submitting thread, identical to what the per-line chain gives; the chain handles every other line, in order.
Enrichers (template mining) fill columns before the write. Event ids come from one allocator and are settled
when their batch commits (the writer's on_commit), which is when the scorer may read them. A full pipeline
blocks `submit`: sources feel back-pressure.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from store.event_ids import EventIdAllocator
from store.parsers import ParserChain
from store.parsers.fast import KIND_PARSER, FastResult, fast_path_applies, parse_fast
from store.schema import EVENT_COLUMNS, EVENT_SCHEMA
from store.sources.base import FileCheckpoint, LineBatch
from store.writer import StoreWriter, WriteFn

log = logging.getLogger(__name__)

# An enricher may replace columns of the batch and return extra writes committed with it.
Enricher = Callable[[pa.RecordBatch], tuple[pa.RecordBatch, Sequence[WriteFn]]]
# Below this many lines a LineBatch is parsed line by line: the bulk kernels' fixed cost would dominate.
FAST_MIN_LINES = 64
_FAST_KEY = "vigil.fast"  # LineBatch.extra key of the bulk parse done in submit()
_RUN_COLUMNS = frozenset({"event_id", "received_at", "source", "peer"})


class EventBatchBuilder:
    """Accumulates parsed events and freezes them into one Arrow RecordBatch, column by column, in line order.

    Events arrive either as per-line dicts (the scalar chain; per-row work is one list append, columns are
    built once per batch) or as ready columns (the bulk fast path, already in line order). Columns that are
    entirely empty become null arrays without touching each row."""

    def __init__(self) -> None:
        # Ordered parts: a list of event dicts, or a dict of event columns; consecutive dict lists merge.
        self._parts: list[list[dict[str, Any]] | dict[str, pa.Array]] = []
        self._rows = 0
        # (rows, received_at, source, peers-or-None, site) per submitted LineBatch, in order.
        self._runs: list[tuple[int, datetime, str, list[str] | None, str | None]] = []
        self.first_id = 0
        self.checkpoints: dict[str, FileCheckpoint] = {}
        self.started: float | None = None

    def __len__(self) -> int:
        return self._rows

    @property
    def events(self) -> list[dict[str, Any]]:
        """The per-line event dicts held so far (columnar parts are not included)."""
        return [e for part in self._parts if isinstance(part, list) for e in part]

    def extend(self, events: list[dict[str, Any]], received_at: datetime, source: str,
               peers: list[str] | None, site: str | None) -> None:
        if self._parts and isinstance(self._parts[-1], list):
            self._parts[-1].extend(events)
        else:
            self._parts.append(list(events))
        self._rows += len(events)
        self._runs.append((len(events), received_at, source, peers, site))

    def extend_columns(self, columns: dict[str, pa.Array], rows: int, received_at: datetime, source: str,
                       peers: list[str] | None, site: str | None) -> None:
        """Add `rows` events given as event columns (store.schema names and types; missing = all null)."""
        self._parts.append(columns)
        self._rows += rows
        self._runs.append((rows, received_at, source, peers, site))

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
        n = self._rows
        arrays: list[pa.Array] = []
        for name, typ, _ in EVENT_COLUMNS:
            if name == "event_id":
                arrays.append(pa.array(range(self.first_id, self.first_id + n), type=typ))
                continue
            if name == "received_at" or name == "source":
                arrays.append(self._repeated(1 if name == "received_at" else 2, typ))
                continue
            if name == "peer":
                if all(run[3] is None for run in self._runs):
                    arrays.append(pa.nulls(n, typ))
                    continue
                values: list[Any] = []
                for rows, _, _, peers, _ in self._runs:
                    values.extend(peers if peers is not None else [None] * rows)
                arrays.append(_array(values, typ, n))
                continue
            column = self._event_column(name, typ)
            if name == "site" and not pc.any(pc.greater(pc.binary_length(column), 0)).as_py():
                # No event named its own site (None or ""): the LineBatch's site, as before.
                column = _array(self._run_column(4), typ, n)
            arrays.append(column)
        return pa.RecordBatch.from_arrays(arrays, schema=EVENT_SCHEMA)

    def _repeated(self, index: int, typ: pa.DataType) -> pa.Array:
        """A per-run value (receive time, source) repeated over the run's rows, without a per-row list."""
        try:
            chunks = [pa.array([run[index]], typ).take(pa.array(np.zeros(run[0], np.int64)))
                      for run in self._runs]
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError):
            return _array(self._run_column(index), typ, self._rows)
        if not chunks:
            return pa.nulls(0, typ)
        return chunks[0] if len(chunks) == 1 else pa.concat_arrays(chunks)

    def _event_column(self, name: str, typ: pa.DataType) -> pa.Array:
        chunks: list[pa.Array] = []
        for part in self._parts:
            if isinstance(part, list):
                chunks.append(event_values(part, name, typ))
            else:
                col = part.get(name)
                rows = len(next(iter(part.values()))) if part else 0
                chunks.append(pa.nulls(rows, typ) if col is None else col)
        if len(chunks) == 1:
            return chunks[0]
        return pa.concat_arrays(chunks) if chunks else pa.nulls(0, typ)


def event_values(events: list[dict[str, Any]], name: str, typ: pa.DataType) -> pa.Array:
    """One event column from per-line dicts (the scalar path)."""
    values = [e.get(name) for e in events]
    if name == "fields":
        values = [v if v is None or isinstance(v, str) else _json(v) for v in values]
    return _array(values, typ, len(values))


def _array(values: list[Any], typ: pa.DataType, n: int) -> pa.Array:
    if not any(v is not None for v in values):
        return pa.nulls(n, type=typ)
    try:
        return pa.array(values, type=typ)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError):
        return pa.array([_coerce(v, typ) for v in values], type=typ)


def _promote(chain: ParserChain, last: dict[int, np.ndarray], lo: int, hi: int) -> None:
    """Move-to-front for the parsers of fast-claimed rows lo..hi, in the order their last rows came."""
    hits = sorted((int(last[k][hi]), k) for k in last if last[k][hi] >= lo)
    for _, k in hits:
        _move_to_front(chain, KIND_PARSER[k])


def _move_to_front(chain: ParserChain, name: str) -> None:
    # What ParserChain.parse does on a hit by a non-fallback parser.
    parsers, fallback = chain._parsers, chain._fallback
    for i, p in enumerate(parsers):
        if p.name == name:
            if i and not fallback[i]:
                parsers.insert(0, parsers.pop(i))
                fallback.insert(0, fallback.pop(i))
            return


def _apply_notes(events: list[dict[str, Any]], notes: dict[int, str]) -> None:
    for i, note in notes.items():
        if 0 <= i < len(events):
            prior = events[i].get("parse_error")
            events[i]["parse_error"] = f"{note}; {prior}" if prior else note


def _rows_per_source(batch: pa.RecordBatch) -> dict[str, int]:
    if not batch.num_rows:
        return {}
    return {str(i["values"]): int(i["counts"]) for i in pc.value_counts(batch.column("source")).to_pylist()}


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
    events: int = 0  # committed to the store (counted when the writer commits their batch)
    parse_errors: int = 0
    batches: int = 0
    abandoned: int = 0  # received but never stored: the writer failed for good, or shutdown gave up on them
    fast_path_errors: int = 0  # bulk parses that crashed (the batch was parsed line by line instead)
    last_fast_path_error: str | None = None
    enricher_errors: int = 0  # batches stored without an enrichment (e.g. template ids) because it crashed
    last_enricher_error: str | None = None


class IngestPipeline:
    """Parses and batches lines on its own thread; `submit` is safe from any source thread."""

    def __init__(
        self,
        writer: StoreWriter,
        *,
        ids: EventIdAllocator | None = None,
        first_event_id: int = 1,
        enrichers: Sequence[Enricher] = (),
        batch_rows: int = 5000,
        batch_seconds: float = 0.2,
        queue_batches: int = 64,
        fast_path: bool = True,
    ) -> None:
        self._writer = writer
        # Ids are settled when their batch commits (or is given up), so consumers never read past a gap.
        self.ids = ids if ids is not None else EventIdAllocator(first_event_id)
        if writer is not None:  # parse-only use (tests of the parsers) has no writer
            writer.on_commit.append(self._settle)
            writer.on_abandon.append(self._writer_abandoned)
        self.enrichers = list(enrichers)
        self._batch_rows = batch_rows
        self._batch_seconds = batch_seconds
        self._queue: queue.Queue[LineBatch | threading.Event] = queue.Queue(maxsize=queue_batches)
        self._stop = threading.Event()
        self._abandon = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vigil-pipeline", daemon=True)
        self._chains: dict[tuple[str, str | None], ParserChain] = {}
        self.stats = PipelineStats()
        self.per_source: dict[str, dict[str, int]] = {}
        self._abandoned: dict[str, int] = {}  # source -> events received but never stored
        self._in_flight: dict[int, int] = {}  # first event id -> rows, handed to the writer, not yet committed
        self._lock = threading.Lock()
        # Bulk-parse the common shapes (store.parsers.fast); results are identical either way.
        self.fast_path = fast_path
        self.fast_min_lines = FAST_MIN_LINES

    def start(self) -> IngestPipeline:
        self._thread.start()
        return self

    def submit(self, batch: LineBatch, timeout: float | None = None) -> bool:
        """Queue a batch; blocks while the pipeline is full. False when stopping or timed out.

        Large batches are bulk-parsed here, on the submitting thread: that part is stateless and mostly runs
        outside the GIL, so sources and the pipeline thread work in parallel (format detection and the
        scalar chain stay on the pipeline thread, in order)."""
        if isinstance(batch, LineBatch) and self._writer is not None and self._writer.failed is not None:
            # Nothing more can be stored: refuse at the door (a file source keeps its checkpoint, a listener
            # counts a drop) and count it here, rather than parse lines only to throw them away.
            self._count_lost(batch.source, len(batch.lines))
            return False
        if isinstance(batch, LineBatch) and not self._stop.is_set():
            batch.extra[_FAST_KEY] = self._bulk_parse(batch)
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
            if self._stop.is_set() and builder.started is None and self._queue.empty():
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
            chain = self._chains[key] = ParserChain(lb.format_hint, source=lb.source)
        received = lb.received_at
        lines = lb.lines
        pre = lb.extra.pop(_FAST_KEY, _FAST_KEY)
        fast = self._bulk_parse(lb) if pre is _FAST_KEY else cast(FastResult | None, pre)
        if fast is None:
            parse = chain.parse
            events = [parse(line, received) for line in lines]
            if lb.notes:
                _apply_notes(events, lb.notes)
            errors = sum(1 for e in events if e.get("parse_error"))
            builder.extend(events, received, lb.source, lb.peers, lb.site)
        else:
            columns, errors = self._merge_fast(chain, lb, fast)
            builder.extend_columns(columns, len(lines), received, lb.source, lb.peers, lb.site)
        n = len(lines)
        if lb.checkpoint is not None:
            builder.add_checkpoint(lb.checkpoint)
        with self._lock:
            self.stats.lines += n
            self.stats.parse_errors += errors
            src = self.per_source.setdefault(lb.source, {"lines": 0, "parse_errors": 0, "bytes": 0})
            src["lines"] += n
            src["parse_errors"] += errors
            src["bytes"] += sum(map(len, lines))

    def _bulk_parse(self, lb: LineBatch) -> FastResult | None:
        if not self.fast_path or len(lb.lines) < self.fast_min_lines or not fast_path_applies(lb.format_hint):
            return None
        try:
            return parse_fast(lb.lines, lb.received_at)
        except Exception as exc:  # the bulk path is an optimisation: the chain never loses a line
            log.exception("fast parse failed; parsing this batch line by line")
            with self._lock:  # a bug all the same: counted and shown, not only logged
                self.stats.fast_path_errors += 1
                self.stats.last_fast_path_error = f"{lb.source}: {type(exc).__name__}: {exc}"
            return None

    @staticmethod
    def _merge_fast(chain: ParserChain, lb: LineBatch, fast: FastResult) -> tuple[dict[str, pa.Array], int]:
        """Parse the rows the fast path left with the chain (promoting parsers as if it had seen every line,
        so its format detection stays exactly as before) and interleave both in line order."""
        lines, received = lb.lines, lb.received_at
        n = len(lines)
        claimed = np.zeros(n, bool)
        claimed[fast.idx] = True
        if lb.notes:
            # Rows with a source note carry a parse_error: the chain path applies it.
            noted = np.array([i for i in lb.notes if 0 <= i < n], dtype=np.int64)
            claimed[noted] = False
        keep = claimed[fast.idx]
        kind = np.zeros(n, np.int8)
        kind[fast.idx[keep]] = fast.kinds[keep]
        slow = np.flatnonzero(~claimed)
        columns = fast.columns
        # last[k][i]: the last row ≤ i claimed for parser k (-1 if none).
        pos = np.arange(n)
        last = {k: np.maximum.accumulate(np.where(kind == k, pos, -1)) for k in KIND_PARSER}
        if keep.all() and not len(slow):
            if n:
                _promote(chain, last, 0, n - 1)
            return columns, 0
        if not keep.all():
            sel = pa.array(keep)
            columns = {k: v.filter(sel) for k, v in columns.items()}
        parse = chain.parse
        events: list[dict[str, Any]] = []
        lo = 0
        for i in slow.tolist():
            if i > lo:
                _promote(chain, last, lo, i - 1)
            events.append(parse(lines[i], received))
            lo = i + 1
        if lo < n:
            _promote(chain, last, lo, n - 1)
        if lb.notes:
            notes = {j: lb.notes[int(i)] for j, i in enumerate(slow) if int(i) in lb.notes}
            _apply_notes(events, notes)
        errors = sum(1 for e in events if e.get("parse_error"))
        if not len(slow):
            return columns, errors
        order = pa.array(np.argsort(np.concatenate([fast.idx[keep], slow]), kind="stable"))
        merged: dict[str, pa.Array] = {}
        fast_rows = int(keep.sum())
        for name, typ, _ in EVENT_COLUMNS:
            if name in _RUN_COLUMNS:
                continue
            slow_col = event_values(events, name, typ)
            fast_col = columns.get(name)
            if fast_col is None:
                if slow_col.null_count == len(slow_col):
                    continue
                fast_col = pa.nulls(fast_rows, typ)
            merged[name] = pa.concat_arrays([fast_col.cast(typ), slow_col]).take(order)
        return merged, errors

    def _settle(self, batch: pa.RecordBatch | None) -> None:
        if batch is not None and batch.num_rows:
            first = int(batch.column(0)[0].as_py())
            self.ids.settle(first)
            with self._lock:
                rows = self._in_flight.pop(first, None)
                if rows is not None:
                    self.stats.events += rows
                    self.stats.batches += 1

    def _writer_abandoned(self, batch: pa.RecordBatch) -> None:
        """The writer accepted this batch and then failed for good: it was never stored."""
        first = int(batch.column(0)[0].as_py())
        self.ids.settle(first)
        with self._lock:
            ours = self._in_flight.pop(first, None) is not None
        if ours:
            for item in pc.value_counts(batch.column("source")).to_pylist():
                self._count_lost(str(item["values"]), int(item["counts"]))

    def _count_lost(self, source: str, n: int) -> None:
        if n <= 0:
            return
        with self._lock:
            self.stats.abandoned += n
            self._abandoned[source] = self._abandoned.get(source, 0) + n

    def abandoned_by_source(self) -> dict[str, int]:
        """Events received from each source and never stored (file sources re-read theirs on restart)."""
        with self._lock:
            return dict(self._abandoned)

    def _flush(self, builder: EventBatchBuilder) -> None:
        if not len(builder) and not builder.checkpoints:
            return
        builder.first_id = self.ids.reserve(len(builder))
        batch = builder.build()
        extra: list[WriteFn] = []
        for enrich in self.enrichers:
            try:
                batch, writes = enrich(batch)
                extra.extend(writes)
            except Exception as exc:  # enrichment is best effort; the events themselves must be stored
                log.exception("enricher failed; storing the batch without it")
                with self._lock:
                    self.stats.enricher_errors += 1
                    self.stats.last_enricher_error = f"{type(exc).__name__}: {exc}"
        if batch.num_rows:
            with self._lock:
                self._in_flight[builder.first_id] = batch.num_rows
        while not self._writer.write_events(batch, list(builder.checkpoints.values()), extra, timeout=1.0):
            gave_up = self._writer.failed is not None
            if gave_up or (self._stop.is_set() and not self._writer.alive) or self._abandon.is_set():
                if gave_up:
                    log.error("writer failed; %d events not stored", batch.num_rows)
                with self._lock:
                    self._in_flight.pop(builder.first_id, None)
                for source, n in _rows_per_source(batch).items():
                    self._count_lost(source, n)
                self.ids.settle(builder.first_id)
                return

    def _count_abandoned(self, builder: EventBatchBuilder) -> None:
        before = self.stats.abandoned
        for rows, _, source, _, _ in builder._runs:
            self._count_lost(source, rows)
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, LineBatch):
                self._count_lost(item.source, len(item.lines))
        lost = self.stats.abandoned - before
        if lost:
            log.warning("shutdown: %d received lines were not stored (file sources will re-read theirs)",
                        lost)

    def stop(self, timeout: float = 15.0) -> None:
        """Parse and hand over what was already submitted, for at most `timeout` seconds; then abandon the
        rest (counted). File sources lose nothing by that — their checkpoints did not advance — while lines
        a listener had received but not yet stored are reported as lost at shutdown."""
        self._stop.set()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(threading.Event())  # wakes an idle thread now instead of at its next poll
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._abandon.set()
            self._thread.join(5.0)
