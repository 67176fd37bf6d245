"""The model families: train with scikit-learn, export with skl2onnx, and say how ONNX outputs become scores.

`iforest` is an IsolationForest (score = -score_samples). `pca` is StandardScaler+PCA reconstruction error;
its residual (x - reconstruction) is an affine map of x, exported as a multi-output linear model so the
per-feature residuals (the explanation) come out of the ONNX graph.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import onnx

# scikit-learn and skl2onnx are imported inside the training functions: they take seconds to import and only
# training needs them, while every `vigil` command (and scoring) only needs onnxruntime.

TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
FAMILIES: tuple[str, ...] = ("iforest", "pca")


@dataclass
class TrainedFamily:
    family: str
    onnx_model: onnx.ModelProto
    reference_scores: Callable[[np.ndarray], np.ndarray]  # scikit-learn's own scores, for round-trip checks


def train_family(family: str, X: np.ndarray, *, seed: int = 0, **options: float) -> TrainedFamily:
    X = np.ascontiguousarray(X, dtype=np.float32)
    if X.ndim != 2 or len(X) < 2:
        raise ValueError(f"need a 2-D training matrix with at least 2 rows, got shape {X.shape}")
    if family == "iforest":
        return _train_iforest(X, seed, int(options.get("n_estimators", 32)))
    if family == "pca":
        return _train_pca(X, seed, float(options.get("variance", 0.95)))
    raise ValueError(f"unknown model family {family!r}; known: {', '.join(FAMILIES)}")


def onnx_scores(family: str, outputs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
    """(score per row, per-feature contribution matrix or None) from one session run's named outputs."""
    if family == "iforest":
        return -outputs["score_samples"].reshape(-1).astype(np.float64), None
    if family == "pca":
        residual = outputs["variable"].astype(np.float64)
        contrib = residual * residual
        return contrib.sum(axis=1), contrib
    raise ValueError(f"unknown model family {family!r}")


def output_names(family: str) -> list[str]:
    return ["score_samples"] if family == "iforest" else ["variable"]


def _train_iforest(X: np.ndarray, seed: int, n_estimators: int) -> TrainedFamily:
    from skl2onnx import to_onnx
    from sklearn.ensemble import IsolationForest

    # 32 trees of 256 samples: enough to rank our low-dimensional features, and ~3x faster than 100.
    model = IsolationForest(n_estimators=n_estimators, max_samples=min(256, len(X)), random_state=seed)
    model.fit(X)
    onx = to_onnx(
        model, X[:1], options={IsolationForest: {"score_samples": True}}, target_opset=TARGET_OPSET
    )
    return TrainedFamily("iforest", onx, lambda Z: -model.score_samples(np.asarray(Z, np.float32)))


def _train_pca(X: np.ndarray, seed: int, variance: float) -> TrainedFamily:
    from skl2onnx import to_onnx
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LinearRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(X)
    Xs = scaler.transform(X)
    d = X.shape[1]
    with warnings.catch_warnings():
        # All-constant training data has no variance to explain (ratio NaN; sklearn warns): one component
        # is then as good as any, and the residual of every new value is still measured.
        warnings.simplefilter("ignore", RuntimeWarning)
        full = PCA(random_state=seed).fit(Xs)
        ratio = np.nan_to_num(np.cumsum(full.explained_variance_ratio_), nan=1.0)
        k = int(min(max(1, np.searchsorted(ratio, variance) + 1), max(1, d - 1), len(ratio)))
        pca = PCA(n_components=k, random_state=seed).fit(Xs)

    # residual = (x - m)/s - mu - ((x - m)/s - mu) W^T W  =  x A + c   (W: k x d, orthonormal rows)
    proj = np.eye(d) - pca.components_.T @ pca.components_
    A = (proj.T / scaler.scale_).T  # diag(1/s) @ proj
    c = -(scaler.mean_ / scaler.scale_ + pca.mean_) @ proj
    residual_map = LinearRegression()
    residual_map.fit(X[:2].astype(np.float64), np.zeros((2, d)))  # shapes only; parameters set below
    residual_map.coef_ = A.T.copy()
    residual_map.intercept_ = c.copy()
    onx = to_onnx(residual_map, X[:1], target_opset=TARGET_OPSET)

    def reference(Z: np.ndarray) -> np.ndarray:
        Zs = scaler.transform(np.asarray(Z, np.float64))
        recon = pca.inverse_transform(pca.transform(Zs))
        return ((Zs - recon) ** 2).sum(axis=1)

    return TrainedFamily("pca", onx, reference)
