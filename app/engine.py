"""The engine: opens the store and wires sources → pipeline → writer, and batches → scorer → alerts.

It runs the same way under the Textual console and headless (`vigil run --headless`, `vigil demo`). Everything
that crosses to a UI goes through `Outbox` (thread-safe, drained in batches by the UI bridge), never callbacks.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa

from app.config import Config
from app.storage import open_store
from store.db import Store, StoreError
from store.pipeline import IngestPipeline
from store.sources.base import LineBatch, Source
from store.writer import StoreWriter

log = logging.getLogger(__name__)


class Outbox:
    """Thread-safe hand-over from engine threads to whoever displays them; bounded, drops the oldest."""

    def __init__(self, maxlen: int = 20000) -> None:
        self._alerts: collections.deque[Any] = collections.deque(maxlen=maxlen)
        self._notices: collections.deque[str] = collections.deque(maxlen=200)
        self._lock = threading.Lock()
        self.dropped = 0

    def put_alerts(self, alerts: Sequence[Any]) -> None:
        with self._lock:
            overflow = len(self._alerts) + len(alerts) - (self._alerts.maxlen or 0)
            if overflow > 0:
                self.dropped += overflow
            self._alerts.extend(alerts)

    def notice(self, text: str) -> None:
        with self._lock:
            self._notices.append(text)

    def drain(self) -> tuple[list[Any], list[str]]:
        with self._lock:
            alerts, notices = list(self._alerts), list(self._notices)
            self._alerts.clear()
            self._notices.clear()
        return alerts, notices


@dataclass
class EngineStatus:
    """A snapshot for status lines and the console's status bar."""

    events_total: int = 0
    events_per_s: float = 0.0
    lines_total: int = 0
    parse_errors: int = 0
    sources: list[dict[str, Any]] = field(default_factory=list)
    writer_backlog: int = 0
    pipeline_backlog: int = 0
    scorer_backlog: int = 0
    scorer: dict[str, Any] = field(default_factory=dict)
    store_path: str = ""
    store_bytes: int = 0
    alerts_total: int = 0
    last_error: str | None = None
    read_only: bool = False


class ScorerThread:
    """Runs detectors on committed-order batches. Never blocks ingestion: when it falls behind it sheds the
    oldest batches and counts them (the status shows it)."""

    def __init__(self, scorer: Any, writer: StoreWriter, outbox: Outbox, backlog: int = 8,
                 lossless: bool = False) -> None:
        self._lossless = lossless  # one-shot ingest waits for scoring instead of shedding
        self._scorer = scorer
        self._writer = writer
        self._outbox = outbox
        self._queue: queue.Queue[pa.RecordBatch] = queue.Queue(maxsize=backlog)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vigil-scorer", daemon=True)
        self.on_alerts: list[Callable[[Sequence[Any]], None]] = []
        self.shed_batches = 0
        self.shed_events = 0
        self.scored_events = 0
        self.alerts = 0
        self.last_error: str | None = None

    def start(self) -> ScorerThread:
        self._thread.start()
        return self

    def offer(self, batch: pa.RecordBatch) -> None:
        if self._lossless:
            while not self._stop.is_set():
                try:
                    self._queue.put(batch, timeout=0.2)
                    return
                except queue.Full:
                    continue
            return
        while True:
            try:
                self._queue.put_nowait(batch)
                return
            except queue.Full:
                try:
                    old = self._queue.get_nowait()
                    self._queue.task_done()
                    self.shed_batches += 1
                    self.shed_events += old.num_rows
                except queue.Empty:
                    pass

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    def wait_empty(self, timeout: float) -> bool:
        """Wait until every offered batch has been scored (and its alerts handed to the writer)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.02)
        return False

    def _run(self) -> None:
        while True:
            try:
                batch = self._queue.get(timeout=0.2)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            try:
                updates = self._scorer.process(batch)
                self.scored_events += batch.num_rows
                if updates:
                    apply: Callable[[Any], Any] = partial(self._scorer.apply, updates=updates)
                    fut = self._writer.call(apply)
                    written = fut.result(timeout=60)
                    self.alerts += len(written)
                    # Only ids cross to the UI (it re-reads the rows): evidence lists must not pile up in
                    # memory when nobody drains the outbox (headless).
                    self._outbox.put_alerts(list(dict.fromkeys(u.alert_id for u in written)))
                    for callback in self.on_alerts:
                        callback(written)
            except StoreError as exc:
                self.last_error = str(exc)
                if not self._writer_alive():
                    log.info("scoring stopped: %s", exc)  # shutting down: the writer no longer takes alerts
                else:
                    log.exception("storing alerts failed")
            except Exception as exc:  # scoring problems are shown, never fatal to ingestion
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("scoring failed")
            finally:
                self._queue.task_done()

    def _writer_alive(self) -> bool:
        return self._writer.failed is None and not self._writer.stopping

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)


class Engine:
    """Owns every engine thread. start() → running; stop() → sources, pipeline, scorer, writer, store, in order."""

    def __init__(self, config: Config, *, db_path: str | Path | None = None, read_only: bool = False,
                 extra_sources: Sequence[Source] = (), lossless_scoring: bool = False) -> None:
        self.config = config
        self.read_only = read_only
        # Sealed: the console's SQL prompt (and any local API) reads through this process's one connection,
        # so DuckDB must refuse files and settings for the whole instance (those settings are not per cursor).
        self.store: Store = open_store(db_path or config.store.path or None, config, sealed=True)
        self.writer = StoreWriter(self.store)
        self.outbox = Outbox()
        self.sources: list[Source] = []
        self._extra_sources = list(extra_sources)
        self.scorer_thread: ScorerThread | None = None
        self.models: Any = None
        self.templates: Any = None
        self._rate_window: collections.deque[tuple[float, int]] = collections.deque(maxlen=20)
        enrichers, scorer = self._detector_parts()
        self.scorer = scorer
        consumers: list[Callable[[pa.RecordBatch], None]] = []
        if scorer is not None:
            self.scorer_thread = ScorerThread(scorer, self.writer, self.outbox, lossless=lossless_scoring)
            consumers.append(self.scorer_thread.offer)
        self.pipeline = IngestPipeline(
            self.writer,
            first_event_id=self.store.max_id("events", "event_id") + 1,
            enrichers=enrichers,
            consumers=consumers,
        )
        self.responses: Any = None
        self.playbook_session: Any = None
        if self.scorer_thread is not None and not lossless_scoring:
            from app.responses import ResponseDesk

            self.responses = ResponseDesk(self)
            self.playbook_session = self.responses.session
            self.scorer_thread.on_alerts.append(self.responses.on_alerts)
        self._started = False
        self._housekeeping_stop = threading.Event()
        self._housekeeping = threading.Thread(target=self._housekeep, name="vigil-housekeeping", daemon=True)

    def _detector_parts(self) -> tuple[list[Any], Any]:
        from app.wiring import build_detectors

        return build_detectors(self)

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> Engine:
        self.writer.start()
        self.pipeline.start()
        if self.scorer_thread is not None:
            self.scorer_thread.start()
        if self.responses is not None:
            self.responses.start()
        from app.wiring import build_sources

        self._started = True
        try:
            self.sources = build_sources(self) + self._extra_sources
            for src in self.sources:
                src.start(self.submit)
        except BaseException:
            self.stop()  # a bad --listen/--forward URL must not leave threads and the store open
            raise
        self._housekeeping.start()
        return self

    def submit(self, batch: LineBatch) -> bool:
        return self.pipeline.submit(batch)

    def stop(self) -> None:
        if not self._started:
            self.store.close()
            return
        self._housekeeping_stop.set()
        for src in self.sources:
            try:
                src.stop()
            except Exception:
                log.exception("stopping %s failed", getattr(src, "name", src))
        self.pipeline.stop()
        if self.scorer_thread is not None:
            self.scorer_thread.stop()
        if self.responses is not None:
            self.responses.stop()
        if self.models is not None and hasattr(self.models, "close"):
            self.models.close()
        self.writer.stop()
        self.store.close()
        self._started = False

    def _housekeep(self) -> None:
        from store.retention import apply_retention

        next_retention = time.monotonic() + 60
        while not self._housekeeping_stop.wait(1.0):
            self._sample_rate()
            if time.monotonic() >= next_retention:
                next_retention = time.monotonic() + 3600
                days, size_mb = self.config.store.retention_days, self.config.store.max_size_mb
                if days or size_mb:
                    path = self.store.path
                    self.writer.call(partial(apply_retention, db_path=path, days=days, max_size_mb=size_mb))

    def _sample_rate(self) -> None:
        self._rate_window.append((time.monotonic(), self.pipeline.stats.events))

    # -- observation -----------------------------------------------------------------------------------
    def status(self) -> EngineStatus:
        st = self.pipeline.stats
        rate = 0.0
        if len(self._rate_window) >= 2:
            (t0, n0), (t1, n1) = self._rate_window[max(0, len(self._rate_window) - 6)], self._rate_window[-1]
            rate = (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0
        sources = []
        for src in self.sources:
            try:
                info = dict(src.status())
            except Exception as exc:
                info = {"error": str(exc)}
            info.setdefault("name", getattr(src, "name", type(src).__name__))
            sources.append(info)
        scorer: dict[str, Any] = {}
        if self.scorer_thread is not None:
            scorer = {
                "scored": self.scorer_thread.scored_events,
                "shed_events": self.scorer_thread.shed_events,
                "alerts": self.scorer_thread.alerts,
                "error": self.scorer_thread.last_error,
            }
            if self.models is not None and hasattr(self.models, "state"):
                try:
                    scorer["models"] = self.models.state()
                except Exception as exc:
                    scorer["models"] = {"mode": "error", "error": str(exc)}
        # Events landed straight from other sites (NATS) do not pass through the local pipeline.
        landed = sum(int(str(s.get("events") or 0)) for s in sources if s.get("kind") == "nats")
        return EngineStatus(
            events_total=st.events + landed,
            events_per_s=rate,
            lines_total=st.lines,
            parse_errors=st.parse_errors,
            sources=sources,
            writer_backlog=self.writer.backlog,
            pipeline_backlog=self.pipeline.backlog,
            scorer_backlog=self.scorer_thread.backlog if self.scorer_thread else 0,
            scorer=scorer,
            store_path=str(self.store.path),
            store_bytes=self.store.size_bytes(),
            alerts_total=self.scorer_thread.alerts if self.scorer_thread else 0,
            last_error=self.writer.stats.last_error,
            read_only=self.read_only,
        )

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until everything submitted so far is parsed, committed and scored (ingest, tests)."""
        deadline = time.monotonic() + timeout
        if not self.pipeline.sync(timeout):
            return False
        if self.scorer_thread is not None and not self.scorer_thread.wait_empty(deadline - time.monotonic()):
            return False
        return self.writer.flush(timeout=max(0.1, deadline - time.monotonic()))
