"""`ModelBank`: the scorer's anomaly models — learning mode on a fresh install, background (re)training,
atomic hot swap, and a rules-only fallback with a stated reason when a model file is unusable.

Two tracks run side by side: event models score each event; window models score each entity's activity
per time window (counts of templates, rate, unseen templates) once the window has closed. Implements
`detectors.alerts.AnomalyModel`: one `score(batch)` call per Arrow batch, never blocking on training.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detectors.alerts import ModelHit
from detectors.features import (
    EVENT_KIND,
    WINDOW_KIND,
    EventColumns,
    event_columns,
    event_features,
    rarity_words,
    window_features,
)
from detectors.models.artifact import LoadedModel, ModelLoadError, Scored, model_path
from detectors.models.families import FAMILIES
from detectors.models.isolated import run_isolated
from detectors.models.isolated import shutdown as shutdown_training_children
from detectors.models.severity import SeverityLevels
from detectors.models.trainer import MIN_TRAINING_WINDOWS, TrainingCancelled, train_event_models, train_window_models
from detectors.models.windows import EVIDENCE_PER_WINDOW, EntityWindows, WindowChunk, event_times
from store.schema import SEVERITIES

log = logging.getLogger(__name__)
RETRY_AFTER_FAILURE_S = 300.0


@dataclass
class BankConfig:
    baseline_events: int = 50_000  # events collected in learning mode before the first training
    families: tuple[str, ...] = FAMILIES  # window models (one row per entity and minute: few rows)
    # Event models score every event: PCA costs a tenth of an IsolationForest per row, which at 100k lines/s is
    # the difference between a share of a core and most of one.
    event_families: tuple[str, ...] = ("pca",)
    levels: SeverityLevels = field(default_factory=SeverityLevels)
    # Hits start at this severity: "low" (p85) would flag 15 % of normal traffic and "medium" 5 %.
    min_severity: str = "high"
    top_k: int = 32  # templates with their own one-hot/count column
    retrain_every_events: int | None = None  # retrain from the rolling baseline after this many scored events
    threads: int = 1  # onnxruntime intra-op threads per session (ingest needs the other core)
    seed: int = 0
    window_s: float | None = 60.0  # per-entity window length; None disables window models
    baseline_windows: int = 1000  # closed windows collected before the first window training
    max_open_window_events: int = 500_000

    def __post_init__(self) -> None:
        if self.min_severity not in SEVERITIES:
            raise ValueError(f"min_severity must be one of {', '.join(SEVERITIES)}, not {self.min_severity!r}")
        unknown = [f for f in (*self.families, *self.event_families) if f not in FAMILIES]
        if unknown or not self.families or not self.event_families:
            raise ValueError(f"unknown model families {unknown}; known: {', '.join(FAMILIES)}")
        if self.baseline_events < 100:
            raise ValueError("baseline_events must be at least 100")
        if self.window_s is not None and self.baseline_windows < MIN_TRAINING_WINDOWS:
            raise ValueError(f"baseline_windows must be at least {MIN_TRAINING_WINDOWS}")


class _Track:
    """One kind of model (event or window): live models, rolling baseline, background trainer, hot swap."""

    def __init__(self, kind: str, model_dir: Path, config: BankConfig, target: int,
                 train: Callable[[list[Any], threading.Event], None], size: Callable[[Any], int],
                 families: tuple[str, ...]) -> None:
        self.kind = kind
        self.families = families
        self.model_dir = model_dir
        self.config = config
        self.target = target
        self._train_fn = train
        self._size = size
        self.models: tuple[LoadedModel, ...] = ()
        self.mode = "learning"
        self.error: str | None = None
        self.last_training_error: str | None = None
        self.swaps = 0
        self._baseline: deque[tuple[Any, int, np.ndarray | None]] = deque()  # (chunk, units, entity per row)
        self.baseline_n = 0
        self.refused: str | None = None  # why the last training did not start (a skewed baseline)
        self._collected = 0  # units ever collected (the baseline itself is a rolling window)
        self._refused_at = 0
        self.flagged: set[str] = set()  # entities the rules have flagged (addresses, users), bounded
        self._since_training = 0
        self._retry_at = 0.0
        self._lock = threading.Lock()
        self.stop = threading.Event()
        self._trainer: threading.Thread | None = None

    def paths(self) -> list[Path]:
        return [model_path(self.model_dir, f, self.kind) for f in self.families]

    def reload(self) -> None:
        present = [p for p in self.paths() if p.exists()]
        if not present:
            self.models, self.mode, self.error = (), "learning", None
            return
        try:
            models = tuple(LoadedModel(p, self.config.levels, threads=self.config.threads) for p in present)
            for m in models:
                if m.kind != self.kind:
                    raise ModelLoadError(m.path, f"feature kind {m.kind!r}, this slot needs {self.kind!r}")
        except ModelLoadError as exc:
            log.error("%s models disabled: %s", self.kind, exc)
            self.models, self.mode, self.error = (), "error", str(exc)
            return
        self._swap(models)

    def collect(self, chunk: Any, scored_units: int, entities: np.ndarray | None = None) -> None:
        """Keep the most recent `target` units; start training when learning completes or retraining is due."""
        n = self._size(chunk)
        start = False
        with self._lock:
            if n:
                self._baseline.append((chunk, n, entities))
                self.baseline_n += n
                self._collected += n
            while self._baseline and self.baseline_n - self._baseline[0][1] >= self.target:
                self.baseline_n -= self._baseline.popleft()[1]
            self._since_training += scored_units
            if self.mode == "learning" and self.baseline_n >= self.target:
                start = True
            every = self.config.retrain_every_events
            if self.mode == "active" and every is not None and self._since_training >= every:
                start = True
        if start and not self.stop.is_set() and time.monotonic() >= self._retry_at:
            self.retrain()

    def retrain(self, minimum: int = 100) -> bool:
        with self._lock:
            if self._trainer is not None and self._trainer.is_alive():
                return False
            if self.baseline_n < minimum:
                return False
            if self.refused is not None and self._collected < self._refused_at + self.target // 2:
                return False  # refused recently: wait until half the baseline is new before judging again
            chunks, ents = self._clean_baseline()
            why = skewed_baseline(chunks, ents)
            if why is not None:
                self.refused, self._refused_at = why, self._collected
                self._since_training = 0
                log.warning("%s models not trained: %s", self.kind, why)
                return False
            self.refused = None
            self._trainer = threading.Thread(target=self._run, args=(chunks,), daemon=True,
                                             name=f"vigil-train-{self.kind}")
            self._trainer.start()
            return True

    def _clean_baseline(self) -> tuple[list[Any], list[np.ndarray | None]]:
        """The baseline without rows of entities flagged since they were collected (attackers are often only
        recognised after their first lines went by)."""
        flagged = self.flagged
        chunks: list[Any] = []
        ents: list[np.ndarray | None] = []
        for chunk, _, e in self._baseline:
            who = e if e is not None else getattr(chunk, "entities", None)
            if flagged and who is not None:
                keep = ~_among(who, flagged)
                if not keep.all():
                    chunk = chunk.take(keep)
                    e = e[keep] if e is not None else None
            chunks.append(chunk)
            ents.append(e)
        return chunks, ents

    def training(self) -> bool:
        return self._trainer is not None and self._trainer.is_alive()

    def join(self, timeout: float) -> bool:
        t = self._trainer
        if t is not None:
            t.join(timeout)
            return not t.is_alive()
        return True

    def _run(self, chunks: list[Any]) -> None:
        t0 = time.perf_counter()
        try:
            self._train_fn(chunks, self.stop)
            models = tuple(LoadedModel(p, self.config.levels, threads=self.config.threads) for p in self.paths())
        except TrainingCancelled:
            return
        except Exception as exc:  # a training failure keeps the old models (or learning mode) running
            self.last_training_error = f"{type(exc).__name__}: {exc}"
            self._retry_at = time.monotonic() + RETRY_AFTER_FAILURE_S
            log.error("%s model training failed: %s", self.kind, self.last_training_error)
            return
        with self._lock:
            self._since_training = 0
        self._swap(models)
        self.last_training_error = None
        log.info("trained %d %s model(s) in %.1fs", len(models), self.kind, time.perf_counter() - t0)

    def _swap(self, models: tuple[LoadedModel, ...]) -> None:
        self.models = models  # one reference assignment: scoring sees the old set or the new, never a mix
        self.mode, self.error = "active", None
        self.swaps += 1

    def state(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "progress": 1.0 if self.mode != "learning" else min(1.0, self.baseline_n / self.target),
            "baseline": self.baseline_n,
            "baseline_target": self.target,
            "training": self.training(),
            "error": self.error,
            "last_training_error": self.last_training_error,
            "refused": self.refused,
            "swaps": self.swaps,
            "models": [
                {"family": m.family, "version": m.version, "training_size": m.training_size,
                 "training_date": m.training_date, "path": str(m.path)}
                for m in self.models
            ],
        }


class ModelBank:
    """Event and window anomaly models behind one `score(batch)`.

    Modes per track: `learning` (collecting a baseline, no hits), `active` (scoring), `error` (a model file
    is unusable: that track gives no hits until `reload()` or `retrain()` succeeds; the state says why).
    `state()` reports the event track at top level and the window track under `"windows"`.
    """

    def __init__(
        self,
        model_dir: Path,
        config: BankConfig | None = None,
        *,
        template_text: Callable[[int], str] | None = None,
    ) -> None:
        self.model_dir = Path(model_dir)
        self.config = config or BankConfig()
        self._template_text = template_text
        self._min_sev = SEVERITIES.index(self.config.min_severity)
        self._scored = 0
        self._events = _Track(EVENT_KIND, self.model_dir, self.config, self.config.baseline_events,
                              self._train_events, len, self.config.event_families)
        self._windows: _Track | None = None
        self._open: EntityWindows | None = None
        if self.config.window_s is not None:
            self._windows = _Track(WINDOW_KIND, self.model_dir, self.config, self.config.baseline_windows,
                                   self._train_windows, lambda c: c.windows, self.config.families)
            self._open = EntityWindows(self.config.window_s, max_open_events=self.config.max_open_window_events)
        self.reload()

    # -- lifecycle ---------------------------------------------------------------------------------
    def reload(self) -> None:
        """(Re)load the model files in `model_dir` (e.g. after `vigil train`)."""
        for track in self._tracks():
            track.reload()

    def close(self, timeout: float = 5.0) -> None:
        """Ask running trainings to stop at their next checkpoint and wait up to `timeout` seconds."""
        for track in self._tracks():
            track.stop.set()
        for track in self._tracks():
            track.join(timeout)
        shutdown_training_children()

    def retrain(self) -> bool:
        """Retrain every track that has a baseline, in the background; False if none could start."""
        started = self._events.retrain()
        if self._windows is not None:
            started = self._windows.retrain(MIN_TRAINING_WINDOWS) or started
        return started

    def wait_idle(self, timeout: float) -> bool:
        """Block until no training runs (for tests and tools); True if idle within `timeout`."""
        return all(track.join(timeout) for track in self._tracks())

    def state(self) -> dict[str, Any]:
        st = self._events.state()
        st["scored_events"] = self._scored
        if self._windows is not None and self._open is not None:
            st["windows"] = {**self._windows.state(), "window_s": self.config.window_s,
                             "late_events": self._open.late_events}
        return st

    def _tracks(self) -> list[_Track]:
        return [self._events] + ([self._windows] if self._windows is not None else [])

    # -- scoring -----------------------------------------------------------------------------------
    def score(self, batch: pa.RecordBatch, exclude: np.ndarray | None = None,
              flagged: set[str] | frozenset[str] = frozenset()) -> list[ModelHit]:
        """Hits at or above `min_severity`: per (family, entity) for events, per (family, window) for windows.

        The baseline learns only from rows the rules did not flag (`exclude`: rows to leave out) and windows of
        entities no rule flagged (`flagged`): attacks must never become the normal a model compares against."""
        n = batch.num_rows
        if n == 0:
            return []
        cols = batch_columns(batch)
        ids = batch_event_ids(batch)
        entity = batch_entities(batch)
        if flagged:
            for track in self._tracks():
                if len(track.flagged) > 200_000:
                    track.flagged.clear()
                track.flagged.update(flagged)
        if exclude is not None and exclude.any():
            keep = ~exclude
            self._events.collect(cols.take(keep), n, entity[keep])
        else:
            self._events.collect(cols, n, entity)
        hits: list[ModelHit] = []
        models = self._events.models  # one read: a concurrent swap cannot mix generations in one batch
        if models:
            self._scored += n
            for model in models:
                X = event_features(cols, model.vocab)
                scored = model.score(X)
                rows = np.flatnonzero(scored.severity >= self._min_sev)
                if len(rows):
                    hits.extend(self._event_hits(model, batch, cols, X, scored, rows, entity, ids))
        if self._windows is not None and self._open is not None:
            closed = self._open.add(entity, cols, event_times(batch, time.time()), ids)
            if closed is not None and len(closed):
                if flagged:
                    clean = ~_among(closed.entities, flagged)
                    self._windows.collect(closed.take(clean), len(closed))
                else:
                    self._windows.collect(closed, len(closed))
                for model in self._windows.models:
                    hits.extend(self._window_hits(model, closed))
        return hits

    def score_with_flags(self, batch: pa.RecordBatch, exclude: np.ndarray | None,
                         flagged: set[str] | frozenset[str]) -> list[ModelHit]:
        """`score`, for the scorer: it knows which rows and entities the rules flagged."""
        return self.score(batch, exclude, flagged)

    def _event_hits(self, model: LoadedModel, batch: pa.RecordBatch, cols: EventColumns, X: np.ndarray,
                    scored: Scored, rows: np.ndarray, entity: np.ndarray, ids: np.ndarray) -> list[ModelHit]:
        hosts = _column(batch, "host")
        ent = entity[rows]
        # One hit per entity: its flagged events as evidence, explained by its highest-scoring event.
        order = np.lexsort((-scored.scores[rows], ent))
        rows, ent = rows[order], ent[order]
        bounds = np.r_[np.flatnonzero(np.r_[True, ent[1:] != ent[:-1]]), len(rows)]
        out = []
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            top = int(rows[a])
            group = rows[a:b]
            contrib = scored.contributions[top] if scored.contributions is not None else None
            tid = int(cols.template_ids[top])
            out.append(ModelHit(
                event_ids=tuple(int(ids[r]) for r in group),
                entity=str(ent[a]),
                score=round(float(scored.percentile[top]) / 100.0, 6),
                severity=SEVERITIES[int(scored.severity[group].max())],
                detector=f"model:{model.family}",
                why=(f"{_drivers(model, X[top], contrib, float(scored.percentile[top]))}; "
                     f"{self._template_words(model, tid)}"),
                model_version=model.version,
                title=f"Unusual event for {ent[a]} ({model.family})",
                host=None if hosts is None or hosts[top] is None else str(hosts[top]),
            ))
        return out

    def _window_hits(self, model: LoadedModel, closed: WindowChunk) -> list[ModelHit]:
        W = window_features(closed.keys, closed.cols, model.vocab, timestamps_s=closed.times_s)
        scored = model.score(W.features)
        rows = np.flatnonzero(scored.severity >= self._min_sev)
        if len(rows) == 0:
            return []
        assert W.window_of is not None
        order = np.argsort(W.window_of, kind="stable")  # events of one window together, in arrival order
        starts = np.searchsorted(W.window_of[order], np.arange(len(W.keys) + 1))
        # One hit per entity: its unusual windows' events as evidence, explained by its highest-scoring window
        # (an entity busy all batch long would otherwise be one alert update per window).
        ents = closed.entities[W.first_row[rows].astype(np.int64)].astype(str)
        by_entity = np.lexsort((-scored.percentile[rows], ents))
        rows, ents = rows[by_entity], ents[by_entity]
        bounds = np.r_[np.flatnonzero(np.r_[True, ents[1:] != ents[:-1]]), len(rows)]
        out = []
        for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            group = rows[a:b]
            r = int(group[0])
            members: list[int] = []
            for w in group.tolist():
                members.extend(order[starts[w]:starts[w + 1]][:EVIDENCE_PER_WINDOW].tolist())
            key = W.keys[r]
            contrib = scored.contributions[r] if scored.contributions is not None else None
            unseen = W.unseen[r]
            extra = (f"; templates never seen in the baseline: {', '.join(map(str, unseen[:5]))}" if unseen
                     else "")
            more = f" (and {b - a - 1} more unusual window(s))" if b - a > 1 else ""
            entity = str(ents[a])
            out.append(ModelHit(
                event_ids=tuple(sorted(int(closed.event_ids[m]) for m in members)),
                entity=entity,
                score=round(float(scored.percentile[r]) / 100.0, 6),
                severity=SEVERITIES[int(scored.severity[group].max())],
                detector=f"model:{model.family}-window",
                why=(f"{self.config.window_s:g}s window starting {key.rsplit('@', 1)[1]}{more}: "
                     f"{_drivers(model, W.features[r], contrib, float(scored.percentile[r]))}{extra}"),
                model_version=model.version,
                title=f"Unusual activity for {entity} in {self.config.window_s:g}s ({model.family})",
            ))
        return out

    def _template_words(self, model: LoadedModel, tid: int) -> str:
        seen = float(model.vocab.lookup_counts(np.array([tid]))[0])
        text = self._template_text(tid) if self._template_text and tid >= 0 else ""
        shown = f" '{text[:80]}'" if text else ""
        return f"template {tid}{shown}: {rarity_words(seen, model.vocab.total)}"

    # -- training (run on the tracks' background threads) ------------------------------------------
    # Fitting runs in a child process (detectors.models.isolated): it would otherwise hold the GIL for seconds.
    def _train_events(self, chunks: list[Any], stop: threading.Event) -> None:
        run_isolated(train_event_models, EventColumns.concat(chunks), self.model_dir, stop=stop,
                     families=self.config.event_families, top_k=self.config.top_k, seed=self.config.seed)

    def _train_windows(self, chunks: list[Any], stop: threading.Event) -> None:
        run_isolated(train_window_models, WindowChunk.concat(chunks), self.model_dir, stop=stop,
                     families=self.config.families, top_k=self.config.top_k, seed=self.config.seed)


TOP_ADDRESSES, TOP_ADDRESS_SHARE = 3, 0.5  # three addresses making half the traffic is a few talkers, not a baseline
TOP_TEMPLATE_SHARE = 0.8


def skewed_baseline(chunks: list[Any], entities: list[np.ndarray | None]) -> str | None:
    """Why this baseline would teach a model the wrong normal, or None: a handful of addresses (a flood, one
    scanner) or one message shape dominating it. Then the model would call everything else unusual."""
    ents = [e for e in entities if e is not None]
    if not ents:
        ents = [c.entities for c in chunks if hasattr(c, "entities")]
    if ents:
        all_e = np.concatenate(ents).astype(str)
        addr = all_e[np.char.startswith(all_e, "src_ip=")]
        if len(addr) >= 100:
            values, counts = np.unique(addr, return_counts=True)
            top = np.argsort(-counts)[:TOP_ADDRESSES]
            share = counts[top].sum() / len(addr)
            if share > TOP_ADDRESS_SHARE and len(values) > TOP_ADDRESSES:
                names = ", ".join(f"{values[i].split('=', 1)[1]} ({counts[i] / len(addr):.0%})" for i in top)
                return (f"baseline dominated by {len(top)} addresses ({share:.0%} of events with an address): "
                        f"{names}; waiting for more varied traffic")
    tids = np.concatenate([getattr(c, "template_ids", None) if hasattr(c, "template_ids") else c.cols.template_ids
                           for c in chunks]) if chunks else np.zeros(0, np.int64)
    if len(tids) >= 100:
        values, counts = np.unique(tids, return_counts=True)
        if len(values) > 1 and counts.max() / len(tids) > TOP_TEMPLATE_SHARE:
            return (f"baseline dominated by one message shape (template {values[counts.argmax()]}, "
                    f"{counts.max() / len(tids):.0%} of events); waiting for more varied traffic")
    return None


def _drivers(model: LoadedModel, x: np.ndarray, contrib: np.ndarray | None, pct: float) -> str:
    """'iforest score above p99.4 of the baseline; driven by a=3 (+4.1σ), …' for one scored row."""
    parts = []
    if contrib is not None:
        total = float(contrib.sum()) or 1.0
        parts = [f"{name} {w / total:.0%} of reconstruction error" for name, w in model.top_features(x, contrib)]
    else:
        for name, _ in model.top_features(x, None):
            i = model.feature_names.index(name)
            z = (float(x[i]) - model.mean[i]) / model.scale[i]
            parts.append(f"{name}={float(x[i]):g} ({z:+.1f}σ)")
    return f"{model.family} score above p{pct:.1f} of the baseline; driven by {', '.join(parts) or 'n/a'}"


def _among(values: np.ndarray, names: set[str] | frozenset[str]) -> np.ndarray:
    """values[i] in names, hashed in Arrow (np.isin sorts Python strings)."""
    found = pc.is_in(pa.array(values, pa.string()), value_set=pa.array(list(names), pa.string()))
    return np.asarray(pc.fill_null(found, False).to_numpy(zero_copy_only=False), dtype=bool)


def _column(batch: pa.RecordBatch, name: str) -> np.ndarray | None:
    i = batch.schema.get_field_index(name)
    if i < 0:
        return None
    return np.asarray(batch.column(i).to_numpy(zero_copy_only=False))


def batch_event_ids(batch: pa.RecordBatch) -> np.ndarray:
    if "event_id" not in batch.schema.names:
        return np.full(batch.num_rows, -1, dtype=np.int64)
    return pc.fill_null(batch.column("event_id"), -1).to_numpy(zero_copy_only=False).astype(np.int64)


def batch_columns(batch: pa.RecordBatch) -> EventColumns:
    n = batch.num_rows
    names = batch.schema.names
    msgs = batch.column("message") if "message" in names else pa.nulls(n, pa.string())
    if "template_id" in names:
        tids = pc.fill_null(batch.column("template_id"), -1).to_numpy(zero_copy_only=False).astype(np.int64)
    else:
        tids = np.full(n, -1, dtype=np.int64)
    sev = batch.column("severity") if "severity" in names else None
    return event_columns(msgs, tids, sev)


def batch_entities(batch: pa.RecordBatch) -> np.ndarray:
    """`src_ip=…` when the event has one, else `host=…`, else `source=…` (vectorised; empty counts as none)."""
    n = batch.num_rows
    names = batch.schema.names

    def prefixed(col: str) -> pa.Array:
        if col not in names:
            return pa.nulls(n, pa.string())
        vals = pc.cast(batch.column(col), pa.string())
        vals = pc.if_else(pc.equal(vals, ""), pa.scalar(None, pa.string()), vals)
        return pc.binary_join_element_wise(pa.scalar(f"{col}="), vals, "")

    ent = pc.coalesce(prefixed("src_ip"), prefixed("host"), prefixed("source"), pa.scalar("source=unknown"))
    # One string object per distinct entity, shared by its events: open windows and baselines hold these arrays
    # for up to hundreds of thousands of events, and a string per event is ~70 B more each.
    enc = ent.dictionary_encode()
    return np.array(enc.dictionary.to_pylist(), dtype=object)[enc.indices.to_numpy(zero_copy_only=False)]
