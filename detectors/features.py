"""Vectorised feature extraction for the anomaly models: per event and per entity window (host, src_ip, block).

A `FeatureVocabulary` fixes the columns at training time and travels inside the model file, so the features
computed live always line up with the ones the model was trained on.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# A digit run is one numeric token: ids, ports, sizes and addresses all count, and it is one regex pass.
_NUMERIC_RUN = r"[0-9]+"
# Unknown syslog severity is treated as informational so sources without a header do not look anomalous.
_DEFAULT_SEVERITY = 6
EVENT_KIND = "event"
WINDOW_KIND = "window"


@dataclass(frozen=True)
class FeatureVocabulary:
    """The templates a model knows: one-hot/count columns for the most common, counts of all for rarity."""

    kind: str  # "event" (one row per event) or "window" (one row per entity window)
    columns: tuple[int, ...]  # template ids with their own column, most frequent first
    counts: dict[int, int] = field(default_factory=dict)  # every template seen in training -> occurrences
    total: int = 0  # training events

    @classmethod
    def build(cls, template_ids: np.ndarray, *, kind: str = EVENT_KIND, top_k: int = 32) -> FeatureVocabulary:
        ids, counts = np.unique(np.asarray(template_ids, dtype=np.int64), return_counts=True)
        # Most frequent first; ties broken by id so the same data always gives the same vocabulary.
        order = np.lexsort((ids, -counts))
        ids, counts = ids[order], counts[order]
        return cls(
            kind=kind,
            columns=tuple(int(t) for t in ids[:top_k]),
            counts={int(t): int(c) for t, c in zip(ids, counts, strict=True)},
            total=int(counts.sum()),
        )

    @property
    def feature_names(self) -> list[str]:
        tpl = [f"tpl={t}" for t in self.columns] + ["tpl=other"]
        if self.kind == EVENT_KIND:
            return ["template_rarity", "first_seen_template", "log_length", "numeric_tokens", "severity", *tpl]
        return [
            "log_events",
            "distinct_templates",
            "unseen_templates",
            "max_template_rarity",
            "mean_log_length",
            "log_rate_per_min",
            *[f"count:{n}" for n in tpl],
        ]

    @property
    def width(self) -> int:
        return len(self.feature_names)

    def rarity(self, template_ids: np.ndarray) -> np.ndarray:
        """-log10 of each template's training frequency (add-half smoothed; unseen templates score highest)."""
        counts = self.lookup_counts(template_ids)
        return -np.log10((counts + 0.5) / (self.total + 1.0))

    @cached_property
    def _count_table(self) -> tuple[np.ndarray, np.ndarray]:
        known = np.fromiter(self.counts.keys(), dtype=np.int64, count=len(self.counts))
        vals = np.fromiter(self.counts.values(), dtype=np.float64, count=len(self.counts))
        order = np.argsort(known)
        return known[order], vals[order]

    @cached_property
    def _column_table(self) -> tuple[np.ndarray, np.ndarray]:
        cols = np.asarray(self.columns, dtype=np.int64)
        order = np.argsort(cols)
        return cols[order], order

    def lookup_counts(self, template_ids: np.ndarray) -> np.ndarray:
        """Training occurrences of each template (0 for templates the vocabulary has never seen)."""
        ids = np.asarray(template_ids, dtype=np.int64)
        if not self.counts:
            return np.zeros(len(ids), dtype=np.float64)
        known, vals = self._count_table
        pos = np.clip(np.searchsorted(known, ids), 0, len(known) - 1)
        return np.where(known[pos] == ids, vals[pos], 0.0)

    def column_index(self, template_ids: np.ndarray) -> np.ndarray:
        """Column position of each template among `columns`; templates without a column map to 'other'."""
        ids = np.asarray(template_ids, dtype=np.int64)
        other = len(self.columns)
        if not self.columns:
            return np.full(len(ids), other, dtype=np.int64)
        sorted_cols, order = self._column_table
        pos = np.clip(np.searchsorted(sorted_cols, ids), 0, len(sorted_cols) - 1)
        return np.where(sorted_cols[pos] == ids, order[pos], other).astype(np.int64)

    def to_json(self) -> str:
        return json.dumps(
            {
                "kind": self.kind,
                "columns": list(self.columns),
                "counts": {str(k): v for k, v in sorted(self.counts.items())},
                "total": self.total,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> FeatureVocabulary:
        """Parse a persisted vocabulary; raises ValueError with the reason when it is malformed."""
        try:
            data: Any = json.loads(text)
            kind = str(data["kind"])
            if kind not in (EVENT_KIND, WINDOW_KIND):
                raise ValueError(f"unknown feature kind {kind!r}")
            return cls(
                kind=kind,
                columns=tuple(int(t) for t in data["columns"]),
                counts={int(k): int(v) for k, v in data["counts"].items()},
                total=int(data["total"]),
            )
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
            raise ValueError(f"malformed feature vocabulary: {exc}") from exc


@dataclass
class EventColumns:
    """The raw per-event inputs features are computed from (kept small so a baseline fits in memory)."""

    template_ids: np.ndarray  # int64
    lengths: np.ndarray  # int64, message length in characters
    numeric_tokens: np.ndarray  # int64
    severity: np.ndarray  # float64, syslog 0-7

    def __len__(self) -> int:
        return len(self.template_ids)

    @classmethod
    def concat(cls, parts: list[EventColumns]) -> EventColumns:
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in _EVENT_FIELDS))

    @classmethod
    def empty(cls) -> EventColumns:
        return cls(
            np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)
        )

    def take(self, index: np.ndarray | slice) -> EventColumns:
        return EventColumns(*(getattr(self, f)[index] for f in _EVENT_FIELDS))


_EVENT_FIELDS = ("template_ids", "lengths", "numeric_tokens", "severity")


def event_columns(
    messages: pa.Array | pa.ChunkedArray | list[str | None],
    template_ids: np.ndarray,
    severity: pa.Array | pa.ChunkedArray | np.ndarray | None = None,
) -> EventColumns:
    """Measure messages with pyarrow compute kernels (no per-row Python); NULL messages count as empty."""
    msgs = messages if isinstance(messages, pa.Array | pa.ChunkedArray) else pa.array(messages, pa.string())
    if not pa.types.is_string(msgs.type) and not pa.types.is_large_string(msgs.type):
        msgs = pc.cast(msgs, pa.string())
    lengths = pc.fill_null(pc.utf8_length(msgs), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    numeric = pc.fill_null(pc.count_substring_regex(msgs, _NUMERIC_RUN), 0)
    numeric_np = numeric.to_numpy(zero_copy_only=False).astype(np.int64)
    n = len(lengths)
    if severity is None:
        sev = np.full(n, _DEFAULT_SEVERITY, dtype=np.float64)
    elif isinstance(severity, np.ndarray):
        sev = severity.astype(np.float64)
    else:
        sev = pc.fill_null(severity, _DEFAULT_SEVERITY).to_numpy(zero_copy_only=False).astype(np.float64)
    tids = np.asarray(template_ids, dtype=np.int64)
    if len(tids) != n:
        raise ValueError(f"{len(tids)} template ids for {n} messages")
    return EventColumns(tids, lengths, numeric_np, sev)


def event_features(cols: EventColumns, vocab: FeatureVocabulary) -> np.ndarray:
    """One float32 row per event, columns as `vocab.feature_names` (kind 'event')."""
    n = len(cols)
    k = len(vocab.columns) + 1
    out = np.zeros((n, 5 + k), dtype=np.float32)
    counts = vocab.lookup_counts(cols.template_ids)
    out[:, 0] = -np.log10((counts + 0.5) / (vocab.total + 1.0))
    out[:, 1] = counts == 0
    out[:, 2] = np.log1p(cols.lengths)
    out[:, 3] = cols.numeric_tokens
    out[:, 4] = cols.severity
    out[np.arange(n), 5 + vocab.column_index(cols.template_ids)] = 1.0
    return out


@dataclass
class WindowMatrix:
    """Per-entity-window feature rows; `keys[i]` names the entity (and window start) of row i."""

    keys: list[str]
    features: np.ndarray  # float32 (n_windows, vocab.width)
    first_row: np.ndarray  # index of each window's first event in the input, for evidence
    unseen: list[list[int]]  # template ids each window used that the vocabulary has never seen
    window_of: np.ndarray | None = None  # per input event: its row in `keys`


def window_features(
    entities: np.ndarray | list[str],
    cols: EventColumns,
    vocab: FeatureVocabulary,
    *,
    timestamps_s: np.ndarray | None = None,
    window_s: float | None = None,
) -> WindowMatrix:
    """Group events by entity (and by fixed time window when `window_s` is given) into count-vector rows.

    HDFS blocks use the block id as the entity with no time window; live traffic uses host or src_ip with
    `window_s` (e.g. 60 s). Columns as `vocab.feature_names` (kind 'window').
    """
    ents = np.asarray(entities, dtype=object)
    n = len(cols)
    if len(ents) != n:
        raise ValueError(f"{len(ents)} entities for {n} events")
    if window_s is not None and timestamps_s is not None:
        bucket = np.floor(np.asarray(timestamps_s, dtype=np.float64) / window_s).astype(np.int64)
        keys_in = np.array([f"{e}@{b * window_s:.0f}" for e, b in zip(ents, bucket, strict=True)], dtype=object)
    else:
        keys_in = ents.astype(str).astype(object)
    if n == 0:
        return WindowMatrix([], np.zeros((0, vocab.width), np.float32), np.zeros(0, np.int64), [])
    # Windows numbered in order of first appearance (what a timeline reader expects): a hash table in Arrow, where
    # sorting the key strings cost most of the scoring of a batch.
    enc = pa.array(keys_in, pa.string()).dictionary_encode()
    win = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    uniq = enc.dictionary.to_pylist()
    _, first_row = np.unique(win, return_index=True)
    m = len(uniq)
    k = len(vocab.columns) + 1
    col = vocab.column_index(cols.template_ids)
    counts = np.bincount(win * k + col, minlength=m * k).reshape(m, k).astype(np.float64)
    events = np.bincount(win, minlength=m).astype(np.float64)

    known = vocab.lookup_counts(cols.template_ids)
    rarity = -np.log10((known + 0.5) / (vocab.total + 1.0))
    max_rarity = np.full(m, -np.inf)
    np.maximum.at(max_rarity, win, rarity)

    tids = np.asarray(cols.template_ids, np.int64)
    t_lo = int(tids.min())
    span = int(tids.max()) - t_lo + 1
    pair_code = np.unique(win * span + (tids - t_lo))
    pair = np.stack([pair_code // span, pair_code % span + t_lo])
    distinct = np.bincount(pair[0], minlength=m).astype(np.float64)
    unseen_mask = vocab.lookup_counts(pair[1]) == 0
    unseen_pairs = pair[:, unseen_mask]
    unseen_n = np.bincount(unseen_pairs[0], minlength=m).astype(np.float64)
    unseen: list[list[int]] = [[] for _ in range(m)]
    for w, t in zip(unseen_pairs[0].tolist(), unseen_pairs[1].tolist(), strict=True):
        unseen[w].append(t)

    mean_len = np.bincount(win, weights=np.log1p(cols.lengths), minlength=m) / np.maximum(events, 1)
    if timestamps_s is not None:
        ts = np.asarray(timestamps_s, dtype=np.float64)
        lo = np.full(m, np.inf)
        hi = np.full(m, -np.inf)
        np.minimum.at(lo, win, ts)
        np.maximum.at(hi, win, ts)
        span_min = np.maximum((hi - lo) / 60.0, 1.0 / 60.0)
        log_rate = np.log1p(events / span_min)
    else:
        log_rate = np.zeros(m)

    out = np.empty((m, 6 + k), dtype=np.float32)
    out[:, 0] = np.log1p(events)
    out[:, 1] = distinct
    out[:, 2] = unseen_n
    out[:, 3] = max_rarity
    out[:, 4] = mean_len
    out[:, 5] = log_rate
    out[:, 6:] = counts
    return WindowMatrix([str(u) for u in uniq], out, first_row.astype(np.int64), unseen, win)


def rarity_words(count: float, total: int) -> str:
    """'never seen' / 'seen 3 times in 50,000' — the template-rarity half of an explanation."""
    if count <= 0:
        return f"template never seen in {total:,} baseline events"
    share = count / max(total, 1)
    return f"template seen {int(count):,}× in {total:,} baseline events ({share:.3%}, 1 in {math.ceil(1 / share):,})"
