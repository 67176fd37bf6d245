"""`vigil train`: retrain the anomaly models on demand from the store's most recent events.

Events without a stored template id are mined with a `TemplateMiner` restored from the store's `templates`
table, so the ids match the ones the live scorer assigns. Window models are trained too when the events
span enough (entity, window) pairs.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from detectors.features import EventColumns
from detectors.models.bank import batch_columns, batch_entities, batch_event_ids
from detectors.models.families import FAMILIES
from detectors.models.trainer import (
    MIN_TRAINING_EVENTS,
    MIN_TRAINING_WINDOWS,
    train_event_models,
    train_window_models,
)
from detectors.models.windows import EntityWindows, WindowChunk, event_times
from detectors.storage import load_templates
from detectors.templates import TemplateMiner

log = logging.getLogger(__name__)
_COLUMNS = ("event_id", "ts", "received_at", "source", "host", "src_ip", "message", "template_id", "severity")


class NotEnoughEvents(ValueError):
    """The store holds too few events to learn a baseline from; the message says how many it has."""


def baseline_batch(con: Any, *, limit: int = 200_000) -> pa.RecordBatch:
    """The most recent `limit` events (the columns the models read), oldest first, template ids filled in."""
    cols = ", ".join(f'"{c}"' for c in _COLUMNS)
    table = con.sql(
        f"SELECT {cols} FROM (SELECT {cols} FROM events ORDER BY event_id DESC LIMIT ?) ORDER BY event_id",
        params=[int(limit)],
    ).to_arrow_table()
    batch = table.combine_chunks().to_batches()[0] if table.num_rows else pa.RecordBatch.from_pylist(
        [], schema=table.schema)
    tids = batch.column("template_id").fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    msgs = batch.column("message")
    missing = (tids < 0) & ~np.asarray(msgs.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if missing.any():
        miner = TemplateMiner()
        miner.load(load_templates(con))
        tids[missing] = miner.assign(msgs.filter(pa.array(missing)))
        i = batch.schema.get_field_index("template_id")
        batch = batch.set_column(i, "template_id", pa.array(tids, pa.int64()))
    return batch


def baseline_from_store(con: Any, *, limit: int = 200_000) -> EventColumns:
    """The most recent `limit` events as feature inputs (message, template id, severity), oldest first."""
    return batch_columns(baseline_batch(con, limit=limit))


def train_from_store(
    con: Any,
    model_dir: Path,
    *,
    limit: int = 200_000,
    families: tuple[str, ...] = FAMILIES,
    top_k: int = 32,
    seed: int = 0,
    window_s: float | None = 60.0,
) -> list[Path]:
    """Train every family on the store's latest `limit` events; returns the model files written.

    Event models always; window models (per host/src_ip per `window_s`) when the events form at least 50
    closed windows. Files are replaced atomically, so a running engine's `ModelBank.reload()` sees either
    the old or the new models. Raises `NotEnoughEvents` when the store has fewer than 100 events.
    """
    batch = baseline_batch(con, limit=limit)
    if batch.num_rows < MIN_TRAINING_EVENTS:
        raise NotEnoughEvents(
            f"the store has {batch.num_rows} events; training needs at least {MIN_TRAINING_EVENTS} "
            "(ingest some logs first, e.g. `vigil ingest FILE`)"
        )
    cols = batch_columns(batch)
    paths = train_event_models(cols, Path(model_dir), families=families, top_k=top_k, seed=seed)
    if window_s is not None:
        windows = _closed_windows(batch, cols, window_s)
        if windows is not None and windows.windows >= MIN_TRAINING_WINDOWS:
            paths += train_window_models(windows, Path(model_dir), families=families, top_k=top_k, seed=seed)
        else:
            log.info("window models not trained: fewer than %d entity windows in the baseline",
                     MIN_TRAINING_WINDOWS)
    return paths


def _closed_windows(batch: pa.RecordBatch, cols: EventColumns, window_s: float) -> WindowChunk | None:
    times = event_times(batch, time.time())
    order = np.argsort(times, kind="stable")  # stored order is arrival order; windows need event time
    acc = EntityWindows(window_s, grace_s=0.0, max_open_events=max(1, batch.num_rows + 1))
    first = acc.add(batch_entities(batch)[order], cols.take(order), times[order], batch_event_ids(batch)[order])
    rest = acc.flush()  # every window of a stored baseline is complete
    parts = [c for c in (first, rest) if c is not None and len(c)]
    return WindowChunk.concat(parts) if parts else None
