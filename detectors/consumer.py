"""The scorer's thread: a consumer of the events table with its own durable offset, like a stream consumer.

Committed batches are handed over in memory (the fast path: the writer's on_commit, bounded, never blocking);
whatever the fast path does not cover — the scorer fell behind and batches were dropped from the hand-off, or it
restarted — is read back from the store in event-id order. Nothing is ever shed: detection can lag, and the lag
is reported (events and seconds), but every committed event is scored exactly once.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from detectors.alerts import AlertUpdate
from detectors.scorer import ScoredBatch, Scorer
from store.db import Store, StoreError
from store.event_ids import EventIdAllocator
from store.writer import StoreWriter

log = logging.getLogger(__name__)

READ_ROWS = 50_000  # events per catch-up read from the store
SCORE_ROWS = 50_000  # committed batches waiting in memory are scored together up to this many events: a detector's
# cost per batch is mostly fixed, so while the scorer is behind it catches up in fewer, larger steps
FAST_BATCHES = 16  # committed batches held in memory for the scorer; more are read back later
COMMIT_EVENTS = 50_000  # while behind, scored batches are committed together up to this many events …
COMMIT_SECONDS = 0.25  # … or this long (an idle scorer commits at once)


@dataclass
class DetectionLag:
    events: int  # committed but not yet scored
    seconds: float  # how long the oldest unscored committed event has waited

    def text(self) -> str:
        return f"{self.events:,} behind, {self.seconds:.1f} s" if self.events else "caught up"


class DetectionConsumer:
    """Scores every committed event once, in event-id order, committing alerts with the checkpoint."""

    def __init__(self, scorer: Scorer, store: Store, writer: StoreWriter, ids: EventIdAllocator, *,
                 on_alerts: Sequence[Callable[[list[AlertUpdate]], None]] = (), read_rows: int = READ_ROWS,
                 fast_batches: int = FAST_BATCHES) -> None:
        self.scorer = scorer
        self._store = store
        self._writer = writer
        self._ids = ids
        self.on_alerts = list(on_alerts)
        self._read_rows = read_rows
        self._fast: collections.deque[pa.RecordBatch] = collections.deque()
        self._fast_cap = fast_batches
        self._fast_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vigil-scorer", daemon=True)
        self._commits: collections.deque[tuple[int, float]] = collections.deque(maxlen=4096)  # (max id, when)
        self._pending: Future[list[AlertUpdate]] | None = None
        self._held: ScoredBatch | None = None  # scored, not yet committed (group commit)
        self._held_since = time.monotonic()
        self.next_id = scorer.checkpoint.last_event_id + 1
        self.scored_events = 0
        self.read_back_events = 0  # events the fast path did not deliver, read from the store instead
        self.alerts = 0
        self.errors = 0
        self.last_error: str | None = None
        self.stopped_on: str | None = None  # why detection stopped for good (a failed alert commit)
        self.idle = threading.Event()
        writer.on_commit.append(self._committed)

    # -- the writer's side -------------------------------------------------------------------------------------------
    def _committed(self, batch: pa.RecordBatch | None) -> None:
        """Called on the writer thread after a commit: never blocks, never raises."""
        if batch is None or batch.num_rows == 0:
            return
        top = int(batch.column(0)[-1].as_py())
        self._commits.append((top, time.monotonic()))
        with self._fast_lock:
            if len(self._fast) < self._fast_cap:
                self._fast.append(batch)
        self._wake.set()

    # -- lifecycle ---------------------------------------------------------------------------------------------------
    def start(self) -> DetectionConsumer:
        self._thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def lag(self) -> DetectionLag:
        horizon = self._ids.horizon()
        behind = max(0, horizon - (self.next_id - 1))
        if not behind:
            return DetectionLag(0, 0.0)
        waited = 0.0
        now = time.monotonic()
        for top, when in list(self._commits):
            if top >= self.next_id:
                waited = now - when
                break
        return DetectionLag(behind, waited)

    def caught_up(self) -> bool:
        return self.next_id - 1 >= self._ids.horizon() and self._held is None and self._pending is None

    def wait_caught_up(self, timeout: float) -> bool:
        """Block until every event committed so far is scored, its alerts committed and handed on."""
        deadline = time.monotonic() + timeout
        target = self._ids.horizon()
        while time.monotonic() < deadline:
            if self.next_id - 1 >= target and self._held is None and self._pending is None:
                return True
            if not self._thread.is_alive():
                return False
            time.sleep(0.02)
        return False

    def finish(self, timeout: float = 600.0) -> bool:
        """End of a one-shot input: once caught up, score what only closes at the end (open sessions) and commit
        it. True when done."""
        if not self.wait_caught_up(timeout):
            return False
        scored = self.scorer.finish()
        if not scored.updates:
            return True
        written = self._writer.call(lambda con: self.scorer.commit(con, scored), urgent=True).result(timeout=timeout)
        self.alerts += len(written)
        for cb in self.on_alerts:
            try:
                cb(written)
            except Exception:
                log.exception("alert consumer failed")
        return True

    # -- the loop ----------------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                batch = self._next_batch()
            except Exception as exc:  # the store is unreadable: retry, and say so
                self._failed(f"reading events to score failed: {type(exc).__name__}: {exc}")
                self._stop.wait(1.0)
                continue
            if batch is None:
                # Nothing new: commit what was scored and hand its alerts on now, not with the next batch.
                if not self._commit_held() or not self._finish_pending():
                    log.error("detection stopped: %s", self.last_error)
                    self.stopped_on = self.last_error
                    return
                self.idle.set()
                self._wake.wait(0.2)
                self._wake.clear()
                continue
            self.idle.clear()
            if not self._score(batch):
                # Alerts and checkpoint were not committed: what is in memory is ahead of the store. Stop here,
                # loudly; a restart resumes from the durable checkpoint and scores those events again.
                log.error("detection stopped: %s", self.last_error)
                self.stopped_on = self.last_error
                return
        self._commit_held()
        self._finish_pending()

    def _next_batch(self) -> tuple[int, pa.RecordBatch] | None:
        """(last id covered, events) for the next ids to score, or None when there is nothing committed yet."""
        horizon = self._ids.horizon()
        nxt = self.next_id
        if nxt > horizon:
            return None
        with self._fast_lock:
            while self._fast and int(self._fast[0].column(0)[-1].as_py()) < nxt:
                self._fast.popleft()  # already scored (read back from the store before it arrived)
            head = self._fast[0] if self._fast else None
            first = int(head.column(0)[0].as_py()) if head is not None else None
            if head is not None and first == nxt:
                taken: list[pa.RecordBatch] = []
                rows = 0
                last = nxt - 1
                # Every batch waiting that continues the id sequence, up to SCORE_ROWS: one scoring step.
                while self._fast and rows < SCORE_ROWS:
                    b = self._fast[0]
                    b_first, b_last = int(b.column(0)[0].as_py()), int(b.column(0)[-1].as_py())
                    if b_first != last + 1 or b_last > horizon:
                        break
                    taken.append(self._fast.popleft())
                    rows += b.num_rows
                    last = b_last
                if taken:
                    return last, taken[0] if len(taken) == 1 else pa.concat_batches(taken)
        hi = min(horizon, nxt + self._read_rows - 1)
        if first is not None and nxt < first <= hi + 1:
            hi = first - 1  # read only the gap before the batch in hand (usually empty: ids never committed)
        cur = self._store.cursor()
        try:
            table = cur.sql("SELECT * FROM events WHERE event_id BETWEEN $lo AND $hi ORDER BY event_id",
                            params={"lo": nxt, "hi": hi}).to_arrow_table()
        finally:
            cur.close()
        self.read_back_events += table.num_rows
        batch = table.combine_chunks().to_batches()[0] if table.num_rows else _empty_like(table)
        return hi, batch

    def _score(self, item: tuple[int, pa.RecordBatch]) -> bool:
        last, batch = item
        try:
            scored = self.scorer.score(batch)
        except Exception as exc:
            # A detector bug must not block detection for ever, nor be silent: the batch is skipped, counted.
            self._failed(f"scoring events {self.next_id}–{last} failed: {type(exc).__name__}: {exc}")
            log.exception("scoring failed")
            scored = ScoredBatch(last, batch.num_rows, [], [], [], self.scorer.checkpoint)
        scored.checkpoint.last_event_id = max(scored.checkpoint.last_event_id, last)
        scored.last_event_id = scored.checkpoint.last_event_id
        self.next_id = last + 1
        self.scored_events += batch.num_rows
        # Group commit: while the scorer is behind, several batches go into one commit (an alert updated by each
        # of them is written once). Exactly-once is unchanged: alerts, windows and checkpoint still commit together.
        self._held = scored if self._held is None else self._held.merge(scored)
        if self._held.events >= COMMIT_EVENTS or time.monotonic() - self._held_since >= COMMIT_SECONDS:
            return self._commit_held()
        return True

    def _commit_held(self) -> bool:
        held = self._held
        if held is None:
            return True
        if not self._finish_pending():
            return False  # held stays: nothing of it was committed (and wait_caught_up must not say otherwise)
        # The commit is in flight before `_held` is cleared: wait_caught_up never sees neither.
        self._pending = self._writer.call(lambda con: self.scorer.commit(con, held), urgent=True)
        self._held = None
        self._held_since = time.monotonic()
        return True

    def _finish_pending(self) -> bool:
        """Wait for the previous commit (one in flight while the next batch is scored); hand its alerts on.

        `_pending` is cleared only once that is done: `wait_caught_up` reads it, and must not report the alerts
        committed (and handed on) while the commit is still being waited for."""
        fut = self._pending
        if fut is None:
            return True
        try:
            written = fut.result(timeout=300)
        except StoreError as exc:
            self._pending = None
            self._failed(f"storing alerts failed: {exc}")
            return False
        except Exception as exc:
            self._pending = None
            self._failed(f"storing alerts failed: {type(exc).__name__}: {exc}")
            log.exception("storing alerts failed")
            return False
        if written:
            self.alerts += len(written)
            for cb in self.on_alerts:
                try:
                    cb(written)
                except Exception:
                    log.exception("alert consumer failed")
        self._pending = None
        return True

    def _failed(self, text: str) -> None:
        self.errors += 1
        self.last_error = text
        log.warning("%s", text)

    def status(self) -> dict[str, Any]:
        lag = self.lag()
        return {"scored": self.scored_events, "read_back": self.read_back_events, "alerts": self.alerts,
                "lag_events": lag.events, "lag_seconds": round(lag.seconds, 3), "checkpoint": self.next_id - 1,
                "errors": self.errors, "error": self.stopped_on and f"detection stopped: {self.stopped_on}"
                or self.last_error}


def _empty_like(table: pa.Table) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array([], f.type) for f in table.schema], schema=table.schema)


def ids_of(batch: pa.RecordBatch) -> pa.Array:
    return pc.cast(batch.column(0), pa.int64())
