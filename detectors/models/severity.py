"""Map an anomaly score to a severity through the percentiles of the model's own training scores.

A score above the training p85 is low, p95 medium, p99 high, p99.9 critical by default; the levels are
configurable, and any level between the stored percentiles is interpolated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from store.schema import SEVERITIES

# Percentiles of the training scores stored in every model file (metadata `score_percentiles`).
PERCENTILE_GRID: tuple[float, ...] = (50.0, 75.0, 85.0, 90.0, 95.0, 97.5, 99.0, 99.5, 99.9, 99.99, 100.0)


def percentile_key(p: float) -> str:
    """85 -> 'p85', 99.9 -> 'p99.9' (the metadata key names)."""
    return f"p{p:g}"


@dataclass(frozen=True)
class SeverityLevels:
    """Training-score percentiles at which low / medium / high / critical start."""

    low: float = 85.0
    medium: float = 95.0
    high: float = 99.0
    critical: float = 99.9

    def __post_init__(self) -> None:
        levels = self.as_tuple()
        if not all(0.0 < p <= 100.0 for p in levels) or list(levels) != sorted(levels):
            raise ValueError(f"severity percentiles must rise within (0, 100]: {levels}")

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.low, self.medium, self.high, self.critical)


class SeverityMapper:
    """Score -> (percentile of training scores, severity index 0..3 or -1 when below `low`)."""

    def __init__(self, grid_scores: dict[float, float], levels: SeverityLevels) -> None:
        pts = sorted(grid_scores.items())
        self._pcts = np.array([p for p, _ in pts], dtype=np.float64)
        # Ties in the training scores give flat stretches; np.maximum.accumulate keeps the curve monotone.
        self._vals = np.maximum.accumulate(np.array([v for _, v in pts], dtype=np.float64))
        self.levels = levels
        self.thresholds = np.interp(np.array(levels.as_tuple()), self._pcts, self._vals)

    def percentile(self, scores: np.ndarray) -> np.ndarray:
        return np.interp(scores, self._vals, self._pcts, left=0.0, right=100.0)

    def severity_index(self, scores: np.ndarray) -> np.ndarray:
        # Strictly above a threshold: when many training scores tie at the threshold they stay quiet.
        return np.searchsorted(self.thresholds, scores, side="left") - 1

    @staticmethod
    def name(index: int) -> str | None:
        return SEVERITIES[index] if 0 <= index < len(SEVERITIES) else None
