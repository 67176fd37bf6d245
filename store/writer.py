"""The single writer thread: the only code that writes to DuckDB while the engine runs.

Events and the file checkpoints that produced them are committed in ONE transaction, which is what makes file
sources exactly-once across `kill -9`. Everything else that writes (alerts, templates, audit, status changes)
goes through `call(fn)`, so writes are serialised and ordered without a second read-write connection.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from store.db import Store, StoreError
from store.sources.base import FileCheckpoint

log = logging.getLogger(__name__)

T = TypeVar("T")
WriteFn = Callable[[duckdb.DuckDBPyConnection], Any]

DISK_FULL_RETRY_S = 5.0  # a write refused for lack of space is tried again this often (after a short back-off)
_NO_SPACE = ("no space left on device", "disk quota exceeded", "disk full")

_WAKE = object()  # queued only to wake the writer for an urgent call
_STOP = object()

_UPSERT_CHECKPOINT = (
    "INSERT OR REPLACE INTO file_checkpoints VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


@dataclass(slots=True)
class _EventsOp:
    batch: pa.RecordBatch | None
    checkpoints: Sequence[FileCheckpoint]
    extra: Sequence[WriteFn]
    enqueued: float


@dataclass(slots=True)
class _CallOp:
    fn: WriteFn
    future: Future[Any]


@dataclass
class WriterStats:
    rows: int = 0
    batches: int = 0
    calls: int = 0
    errors: int = 0
    last_error: str | None = None
    last_commit_lag_s: float = 0.0
    commit_seconds: float = 0.0
    retries: int = field(default=0)
    disk_full_since: float | None = None  # monotonic time the store's disk was found full; None when it is not
    callback_errors: int = 0  # on_commit listeners that raised (the commit itself stood)
    last_callback_error: str | None = None


def disk_full(exc: BaseException) -> bool:
    """The write failed for lack of space (DuckDB reports it as an I/O or a transaction error, by message)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(exc, duckdb.Error) and any(m in str(exc).lower() for m in _NO_SPACE)


def insert_events(con: duckdb.DuckDBPyConnection, batch: pa.RecordBatch) -> None:
    """INSERT an Arrow batch whose schema is store.schema.EVENT_SCHEMA (column order is the table's)."""
    con.register("_vigil_batch", batch)
    try:
        con.execute("INSERT INTO events SELECT * FROM _vigil_batch")
    except BaseException:
        # In an aborted transaction unregister fails too; that error must not hide the one that matters.
        with contextlib.suppress(duckdb.Error):
            con.unregister("_vigil_batch")
        raise
    con.unregister("_vigil_batch")


def save_checkpoints(con: duckdb.DuckDBPyConnection, checkpoints: Sequence[FileCheckpoint]) -> None:
    now = datetime.now(UTC)
    for cp in checkpoints:
        if cp.replaces and cp.replaces != cp.fingerprint:
            con.execute("DELETE FROM file_checkpoints WHERE fingerprint = ?", [cp.replaces])
        con.execute(
            _UPSERT_CHECKPOINT,
            [cp.fingerprint, cp.fp_len, cp.path, cp.dev, cp.inode, cp.offset, cp.size, cp.compressed,
             cp.lost_bytes, now],
        )


class StoreWriter:
    """Owns `store.con`. Ops are applied in submission order; a failed commit is rolled back and retried, so
    a full disk pauses ingestion (back-pressure) instead of losing or half-writing a batch.

    A write of events that fails for good ends all writing: that batch and everything queued or offered after
    it is refused, never committed (a later batch's file checkpoint would step over the lost lines, and a later
    alert could cite them). Refused events are counted per source in `abandoned` and handed to `on_abandon`."""

    def __init__(self, store: Store, *, queue_size: int = 32, max_retries: int = 20) -> None:
        if store.read_only:
            raise StoreError(f"{store.path} is open read-only; the writer needs it read-write")
        self._store = store
        self._con = store.con
        self._queue: queue.Queue[_EventsOp | _CallOp | object | None] = queue.Queue(maxsize=queue_size)
        self._urgent: collections.deque[_CallOp] = collections.deque()
        self._stop = threading.Event()
        self._stopping = threading.Event()  # stop() began: failed writes are no longer retried
        self._thread = threading.Thread(target=self._run, name="vigil-writer", daemon=True)
        self._max_retries = max_retries
        self.stats = WriterStats()
        self.coalesce_rows = 50_000
        self.on_commit: list[Callable[[pa.RecordBatch | None], None]] = []
        self.on_abandon: list[Callable[[pa.RecordBatch], None]] = []
        self.abandoned: dict[str, int] = {}  # source -> events accepted here but never committed
        self._abandon_lock = threading.Lock()

    def start(self) -> StoreWriter:
        self._thread.start()
        return self

    # -- producers -------------------------------------------------------------------------------------
    def write_events(
        self,
        batch: pa.RecordBatch | None,
        checkpoints: Sequence[FileCheckpoint] = (),
        extra: Sequence[WriteFn] = (),
        *,
        timeout: float | None = None,
    ) -> bool:
        """Queue events + checkpoints (+ extra writes) for one transaction. Blocks while the queue is full;
        returns False if it timed out or the writer is stopping."""
        op = _EventsOp(batch, checkpoints, extra, time.monotonic())
        return self._put(op, timeout)

    def call(self, fn: Callable[[duckdb.DuckDBPyConnection], T], *, timeout: float | None = None,
             urgent: bool = False) -> Future[T]:
        """Run `fn(con)` in its own transaction on the writer thread; the future holds its result.

        `urgent` calls go ahead of queued event batches. Only writes that do not depend on those batches may
        ask for it: the scorer's alerts cite events that are committed already."""
        fut: Future[T] = Future()
        if urgent:
            if self._stop.is_set():
                fut.set_exception(self._refusal())
                return fut
            self._urgent.append(_CallOp(fn, fut))
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(_WAKE)  # an idle writer wakes now; a busy one checks after its op
            if self._fatal is not None:  # failed while we queued: the thread may have drained the lane already
                self._fail_urgent()
            return fut
        if not self._put(_CallOp(fn, fut), timeout):
            fut.set_exception(self._refusal())
        return fut

    def _refusal(self) -> StoreError:
        if self._fatal is not None:
            return StoreError(f"the store writer failed for good ({self.stats.last_error}); the write was not "
                              "applied")
        return StoreError("the store writer is stopping; the write was not applied")

    def _put(self, op: _EventsOp | _CallOp, timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._stop.is_set():
            try:
                self._queue.put(op, timeout=0.2)
                return True
            except queue.Full:
                if deadline is not None and time.monotonic() > deadline:
                    return False
        return False

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued so far is committed."""
        fut = self.call(lambda con: None, timeout=timeout)
        try:
            fut.result(timeout=timeout)
            return True
        except Exception:
            return False

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    # -- the thread ------------------------------------------------------------------------------------
    def _run(self) -> None:
        held: _EventsOp | _CallOp | object | None = None
        op: _EventsOp | _CallOp | object | None
        while True:
            if self._fatal is not None:
                self._refuse_until_stopped(held)
                return
            while self._urgent and self._fatal is None:
                self._apply_call(self._urgent.popleft())
            if held is not None:
                op, held = held, None
            else:
                try:
                    op = self._queue.get(timeout=0.2)
                except queue.Empty:
                    if self._stop.is_set():
                        self._fail_urgent()
                        return
                    continue
            if op is _WAKE:
                continue
            if op is None or op is _STOP:
                while self._urgent and self._fatal is None:
                    self._apply_call(self._urgent.popleft())
                self._fail_urgent()
                return
            if isinstance(op, _CallOp):
                self._apply_call(op)
                continue
            assert isinstance(op, _EventsOp)
            # Consecutive event batches already waiting go into one transaction: fewer commits (each one
            # fsyncs the WAL) and larger inserts when ingestion outpaces the store. Still atomic: every
            # batch's events and checkpoints commit together or not at all. Order is kept.
            group = [op]
            rows = op.batch.num_rows if op.batch is not None else 0
            while rows < self.coalesce_rows and not self._urgent:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _WAKE:
                    continue
                if nxt is None:  # stop: commit this group, then end
                    held = _STOP
                    break
                if not isinstance(nxt, _EventsOp):
                    held = nxt
                    break
                group.append(nxt)
                rows += nxt.batch.num_rows if nxt.batch is not None else 0
            self._apply_events(group)

    def _refuse_until_stopped(self, held: object) -> None:
        """After a fatal write: refuse every op, queued or still arriving, until stop() — never commit one."""
        op = _WAKE if held is None else held
        while True:
            self._fail_urgent()
            if op is None or op is _STOP:
                return
            if isinstance(op, _CallOp):
                if op.future.set_running_or_notify_cancel():
                    op.future.set_exception(self._refusal())
            elif isinstance(op, _EventsOp):
                self._abandon([op])
            try:
                op = self._queue.get(timeout=0.2)
            except queue.Empty:
                op = _WAKE

    def _transaction(self, body: Callable[[], Any]) -> Any:
        attempt = 0
        while True:
            self._con.execute("BEGIN TRANSACTION")
            try:
                result = body()
                self._con.execute("COMMIT")
            except BaseException as exc:
                try:
                    self._con.execute("ROLLBACK")
                except duckdb.Error:
                    pass
                self.stats.errors += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                # A full disk is waited out (sources feel back-pressure: files keep their place, TCP senders
                # wait) for as long as it lasts; other I/O trouble is retried a few times. Once stop() began,
                # nothing is retried: what was not committed is counted and, for files, re-read on restart.
                full = disk_full(exc)
                if not (full or isinstance(exc, duckdb.IOException)) or self._stopping.is_set():
                    raise
                if not full and attempt >= self._max_retries:
                    raise
                attempt += 1
                self.stats.retries += 1
                if full:
                    self._say_disk_full(exc)
                else:
                    log.warning("store write failed (%s); retry %d", exc, attempt)
                if self._stopping.wait(min(DISK_FULL_RETRY_S, 0.2 * 2**attempt)):
                    raise
                continue
            if self.stats.disk_full_since is not None:
                log.warning("store writes resumed after the disk was full for %.0f s",
                            time.monotonic() - self.stats.disk_full_since)
                self.stats.disk_full_since = None
            return result

    def _say_disk_full(self, exc: BaseException) -> None:
        now = time.monotonic()
        if self.stats.disk_full_since is None:
            self.stats.disk_full_since = now
        elif now - self._disk_full_said < 60:
            return
        self._disk_full_said = now
        log.error("the store's filesystem is full (%s): ingestion is paused and retried every %.0f s until there "
                  "is space — free some or grow the filesystem; nothing is lost for file sources (%s)",
                  self._store.path, DISK_FULL_RETRY_S, exc)

    _disk_full_said = 0.0

    def _apply_events(self, ops: list[_EventsOp]) -> None:
        con = self._con
        batches = [o.batch for o in ops if o.batch is not None and o.batch.num_rows]

        def body() -> None:
            if len(batches) == 1:
                insert_events(con, batches[0])
            elif batches:
                insert_events(con, pa.Table.from_batches(batches))
            for o in ops:
                if o.checkpoints:
                    save_checkpoints(con, o.checkpoints)
                for fn in o.extra:
                    fn(con)

        t0 = time.monotonic()
        try:
            self._transaction(body)
        except Exception as exc:
            # Nothing was committed: for files the checkpoint did not advance either, so a restart re-reads
            # exactly these lines — provided nothing later commits a checkpoint past them. So writing ends here.
            log.error("store write of %s rows failed for good: %s; no further writes are applied",
                      sum(b.num_rows for b in batches), exc)
            self.stats.last_error = f"events not stored: {exc}"
            self._fatal = exc  # from here every write is refused (producers check it before queueing)
            self._abandon(ops)  # counted before anyone can see the writer stopped
            self._stop.set()
            self._fail_urgent()
            return
        now = time.monotonic()
        self.stats.commit_seconds += now - t0
        self.stats.last_commit_lag_s = now - ops[0].enqueued
        for o in ops:
            self.stats.batches += 1
            if o.batch is not None:
                self.stats.rows += o.batch.num_rows
            for cb in self.on_commit:
                try:
                    cb(o.batch)
                except Exception as exc:  # a listener's bug must not stop the writer; counted and shown
                    log.exception("on_commit callback failed")
                    self.stats.callback_errors += 1
                    self.stats.last_callback_error = f"{type(exc).__name__}: {exc}"[:500]

    def _apply_call(self, op: _CallOp) -> None:
        if not op.future.set_running_or_notify_cancel():
            return
        try:
            result = self._transaction(lambda: op.fn(self._con))
        except BaseException as exc:
            op.future.set_exception(exc)
        else:
            self.stats.calls += 1
            op.future.set_result(result)

    def _fail_urgent(self) -> None:
        while self._urgent:
            try:
                op = self._urgent.popleft()
            except IndexError:  # a producer's _fail_urgent took it first
                return
            if op.future.set_running_or_notify_cancel():
                op.future.set_exception(self._refusal() if self._fatal is not None else
                                        StoreError("the store writer stopped; the write was not applied"))

    def _abandon(self, ops: Sequence[_EventsOp]) -> None:
        for o in ops:
            if o.batch is None or not o.batch.num_rows:
                continue
            counts = pc.value_counts(o.batch.column("source")).to_pylist()
            with self._abandon_lock:
                for item in counts:
                    key = str(item["values"])
                    self.abandoned[key] = self.abandoned.get(key, 0) + int(item["counts"])
            for cb in self.on_abandon:
                try:
                    cb(o.batch)
                except Exception:
                    log.exception("on_abandon callback failed")

    _fatal: BaseException | None = None

    @property
    def failed(self) -> BaseException | None:
        return self._fatal

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def begin_stop(self) -> None:
        """The engine is shutting down: commit as usual, but retry nothing (a full disk would hold the shutdown
        for as long as it lasts). What is then not committed is counted as abandoned."""
        self._stopping.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Commit what is queued, then end the thread. Does not close the store."""
        self._stopping.set()
        if self._thread.is_alive():
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    self._queue.put(None, timeout=0.2)
                    break
                except queue.Full:
                    if not self._thread.is_alive():
                        break
            self._thread.join(max(0.0, deadline - time.monotonic()))
        self._stop.set()
