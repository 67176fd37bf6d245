"""Live per-entity time windows: gather each (entity, window) pair's events until event time has moved past
the window, then hand the closed windows over as one chunk for scoring and for the learning baseline.

Memory is bounded: at most `max_open_events` events wait in open windows (the oldest windows close early).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detectors.features import EventColumns

EVIDENCE_PER_WINDOW = 100  # event ids cited per window hit: enough to open the evidence, bounded per alert


@dataclass
class WindowChunk:
    """Events of closed windows: `keys[i]` is `<entity>@<window start>` of event i."""

    keys: np.ndarray  # object (str)
    entities: np.ndarray  # object (str)
    cols: EventColumns
    times_s: np.ndarray  # float64 event time
    event_ids: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def windows(self) -> int:
        return len(_codes(self.keys)[1]) if len(self.keys) else 0

    def take(self, mask: np.ndarray) -> WindowChunk:
        return WindowChunk(self.keys[mask], self.entities[mask], self.cols.take(mask), self.times_s[mask],
                           self.event_ids[mask])

    @classmethod
    def concat(cls, parts: list[WindowChunk]) -> WindowChunk:
        return cls(
            np.concatenate([p.keys for p in parts]),
            np.concatenate([p.entities for p in parts]),
            EventColumns.concat([p.cols for p in parts]),
            np.concatenate([p.times_s for p in parts]),
            np.concatenate([p.event_ids for p in parts]),
        )


def event_times(batch: pa.RecordBatch, fallback_s: float, *, max_ahead_s: float = 300.0) -> np.ndarray:
    """Event time in epoch seconds: `ts`, else `received_at`, else `fallback_s` (vectorised).

    `ts` comes from the log line (attacker-controlled): one far-future stamp would close every open window
    and make all later events "late", so it is capped at `received_at + max_ahead_s`.
    """
    n = batch.num_rows
    names = batch.schema.names

    def seconds(col: str) -> np.ndarray:
        if col not in names:
            return np.full(n, np.nan)
        us = pc.cast(pc.cast(batch.column(col), pa.timestamp("us", tz="UTC")), pa.int64())
        return np.asarray(pc.fill_null(pc.cast(us, pa.float64()), np.nan).to_numpy(zero_copy_only=False)) / 1e6

    ts, recv = seconds("ts"), seconds("received_at")
    out = np.where(np.isfinite(ts), np.fmin(ts, recv + max_ahead_s), recv)
    out[~np.isfinite(out)] = fallback_s  # NULL in both columns
    return out


class EntityWindows:
    """Accumulates events per (entity, `window_s` bucket) and releases windows once event time passes them.

    A window closes when an event at least `grace_s` past its end has been seen. Events that arrive for an
    already-closed window are counted in `late_events` and left out (a fragment would look anomalous).
    """

    def __init__(self, window_s: float, *, grace_s: float | None = None, max_open_events: int = 500_000) -> None:
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        self.window_s = float(window_s)
        self.grace_s = self.window_s / 2 if grace_s is None else float(grace_s)
        self.max_open_events = max_open_events
        self._open: list[WindowChunk] = []
        self._open_n = 0
        self._buckets: list[np.ndarray] = []
        self._closed_below = -(2**62)  # buckets below this have been released
        self.late_events = 0

    def add(self, entities: np.ndarray, cols: EventColumns, times_s: np.ndarray,
            event_ids: np.ndarray) -> WindowChunk | None:
        """Add one batch; returns the windows this batch closed (or None)."""
        bucket = np.floor(times_s / self.window_s).astype(np.int64)
        fresh = bucket >= self._closed_below
        self.late_events += int((~fresh).sum())
        if fresh.any():
            keys = _window_keys(entities[fresh], bucket[fresh], self.window_s)
            self._open.append(WindowChunk(keys, entities[fresh], cols.take(fresh), times_s[fresh],
                                          event_ids[fresh]))
            self._buckets.append(bucket[fresh])
            self._open_n += int(fresh.sum())
        if not self._open:
            return None
        watermark = float(np.max(times_s)) - self.grace_s
        close_below = max(self._closed_below, int(np.floor(watermark / self.window_s)))
        if self._open_n > self.max_open_events:
            # Too much waiting: close everything but the newest bucket rather than grow without bound.
            close_below = max(close_below, int(max(b.max() for b in self._buckets)))
        if close_below <= self._closed_below and self._open_n <= self.max_open_events:
            return None
        self._closed_below = close_below
        allc = WindowChunk.concat(self._open)
        allb = np.concatenate(self._buckets)
        done = allb < close_below
        if not done.any():
            self._open, self._buckets = [allc], [allb]
            return None
        keep = ~done
        self._open, self._buckets = [allc.take(keep)], [allb[keep]]
        self._open_n = int(keep.sum())
        return allc.take(done)

    def flush(self) -> WindowChunk | None:
        """Close every open window (end of a stored baseline, or shutdown)."""
        if not self._open:
            return None
        allc = WindowChunk.concat(self._open)
        self._closed_below = max(self._closed_below, int(max(b.max() for b in self._buckets)) + 1)
        self._open, self._buckets, self._open_n = [], [], 0
        return allc


def _window_keys(entities: np.ndarray, bucket: np.ndarray, window_s: float) -> np.ndarray:
    """`<entity>@<window start>` per event; one string object per distinct window, shared by its events."""
    ent_inv, ent_u = _codes(entities)
    b_u, b_inv = np.unique(bucket, return_inverse=True)
    pair_u, pair_inv = np.unique(ent_inv * len(b_u) + b_inv, return_inverse=True)
    labels = np.array(
        [f"{ent_u[p // len(b_u)]}@{b_u[p % len(b_u)] * window_s:.0f}" for p in pair_u.tolist()], dtype=object
    )
    return labels[pair_inv]


def _codes(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """(code per value, distinct values in order of first appearance): a hash table in Arrow, where sorting
    Python strings (np.unique on objects) cost a tenth of scoring a batch."""
    enc = pc.fill_null(pa.array(values, pa.string()), "").dictionary_encode()
    return enc.indices.to_numpy(zero_copy_only=False).astype(np.int64), enc.dictionary.to_pylist()
