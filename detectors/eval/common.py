"""The shape every `vigil eval` result takes, so each dataset prints the same figures the same way.

The last line of the rendered output is always `precision=… recall=… f1=…` (scripts grep it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class DatasetMissing(Exception):
    """The labelled data is not where it should be; the message says where we looked."""


def datasets_root() -> Path:
    """$VIGIL_DATASETS, else `../shared/datasets` beside this checkout, else relative to the working directory."""
    import os

    env = os.environ.get("VIGIL_DATASETS")
    if env:
        return Path(env)
    beside_checkout = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
    if beside_checkout.exists():
        return beside_checkout
    return Path.cwd().parent / "shared" / "datasets"


def require(path: Path, what: str) -> Path:
    if not path.exists():
        raise DatasetMissing(
            f"{what} not found at {path} (set VIGIL_DATASETS or run from a checkout beside ../shared)"
        )
    return path


@dataclass
class EvalResult:
    dataset: str
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    unit: str = "items"  # what one count is: blocks, lines, addresses, sessions …
    notes: list[str] = field(default_factory=list)
    extra: dict[str, float | int | str] = field(default_factory=dict)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def render(self) -> str:
        lines = [f"dataset: {self.dataset} (unit: {self.unit})"]
        lines += [f"  {n}" for n in self.notes]
        for k, v in self.extra.items():
            lines.append(f"  {k}: {v:.4f}" if isinstance(v, float) else f"  {k}: {v}")
        lines.append(f"  confusion: tp={self.tp} fp={self.fp} fn={self.fn} tn={self.tn}")
        lines.append(f"precision={self.precision:.4f} recall={self.recall:.4f} f1={self.f1:.4f}")
        return "\n".join(lines)


def combine(name: str, results: list[EvalResult]) -> EvalResult:
    """Micro-averaged total over several results (used when one dataset has several parts)."""
    total = EvalResult(name, unit=results[0].unit if results else "items")
    for r in results:
        total.tp += r.tp
        total.fp += r.fp
        total.fn += r.fn
        total.tn += r.tn
    return total
