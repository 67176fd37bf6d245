"""Train every model family from a baseline (event columns, or closed entity windows) into the model dir.

Shared by the `ModelBank` (automatic training after the learning period) and `vigil train` (on demand).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from detectors.features import EVENT_KIND, WINDOW_KIND, EventColumns, FeatureVocabulary, event_features, window_features
from detectors.models.artifact import model_path, write_model
from detectors.models.families import FAMILIES, train_family
from detectors.models.windows import WindowChunk

MIN_TRAINING_EVENTS = 100
MIN_TRAINING_WINDOWS = 50


class TrainingCancelled(Exception):
    """The stop event was set between two families; nothing half-written was left behind."""


def train_event_models(
    cols: EventColumns,
    model_dir: Path,
    *,
    families: tuple[str, ...] = FAMILIES,
    top_k: int = 32,
    seed: int = 0,
    stop: threading.Event | None = None,
) -> list[Path]:
    """Fit each family on `event_features(cols)` and atomically replace `<model_dir>/<family>-event.onnx`."""
    if len(cols) < MIN_TRAINING_EVENTS:
        raise ValueError(f"need at least {MIN_TRAINING_EVENTS} baseline events to train, have {len(cols)}")
    vocab = FeatureVocabulary.build(cols.template_ids, kind=EVENT_KIND, top_k=top_k)
    return _fit_and_write(event_features(cols, vocab), vocab, EVENT_KIND, model_dir, families, seed, stop)


def train_window_models(
    data: WindowChunk,
    model_dir: Path,
    *,
    families: tuple[str, ...] = FAMILIES,
    top_k: int = 32,
    seed: int = 0,
    stop: threading.Event | None = None,
) -> list[Path]:
    """Fit each family on the closed windows' count vectors; replaces `<model_dir>/<family>-window.onnx`."""
    vocab = FeatureVocabulary.build(data.cols.template_ids, kind=WINDOW_KIND, top_k=top_k)
    X = window_features(data.keys, data.cols, vocab, timestamps_s=data.times_s).features
    if len(X) < MIN_TRAINING_WINDOWS:
        raise ValueError(f"need at least {MIN_TRAINING_WINDOWS} windows to train, have {len(X)}")
    return _fit_and_write(X, vocab, WINDOW_KIND, model_dir, families, seed, stop)


def _fit_and_write(X: Any, vocab: FeatureVocabulary, kind: str, model_dir: Path, families: tuple[str, ...],
                   seed: int, stop: threading.Event | None) -> list[Path]:
    """Fit each family on X and atomically replace `<model_dir>/<family>-<kind>.onnx`; checks `stop` between."""
    when = datetime.now(UTC)
    paths: list[Path] = []
    for family in families:
        if stop is not None and stop.is_set():
            raise TrainingCancelled(f"{kind} training stopped before {family}")
        trained = train_family(family, X, seed=seed)
        paths.append(write_model(trained, vocab, X, model_path(model_dir, family, kind), trained_at=when))
    return paths
