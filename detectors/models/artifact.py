"""Model files: write an `.onnx` with Vigil's metadata atomically, and load one back into an ONNX session.

Loading checks everything a live scorer relies on (bytes, metadata, input width) and raises `ModelLoadError`
naming the file and the problem, so a bad file disables models instead of crashing the engine.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from detectors.features import FeatureVocabulary
from detectors.models.families import FAMILIES, TrainedFamily, onnx_scores, output_names
from detectors.models.severity import PERCENTILE_GRID, SeverityLevels, SeverityMapper, percentile_key

if TYPE_CHECKING:
    import onnxruntime as ort

REQUIRED_METADATA = (
    "family",
    "version",
    "feature_vocabulary",
    "feature_names",
    "training_size",
    "training_date",
    "score_percentiles",
    "feature_mean",
    "feature_scale",
)


class ModelLoadError(Exception):
    """A model file cannot be used; the message names the file and what is wrong with it."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"model file {path}: {problem}")
        self.path = Path(path)
        self.problem = problem


def model_path(model_dir: Path, family: str, kind: str) -> Path:
    return Path(model_dir) / f"{family}-{kind}.onnx"


def write_model(
    trained: TrainedFamily,
    vocab: FeatureVocabulary,
    X_train: np.ndarray,
    path: Path,
    *,
    trained_at: datetime | None = None,
) -> Path:
    """Attach metadata (vocabulary, training size/date, score percentiles…) and write atomically, mode 0600."""
    X = np.ascontiguousarray(X_train, dtype=np.float32)
    when = (trained_at or datetime.now(UTC)).astimezone(UTC)
    sess = _session(trained.onnx_model.SerializeToString(), threads=1)
    scores, _ = onnx_scores(trained.family, _run(sess, trained.family, X))
    grid = {percentile_key(p): float(np.percentile(scores, p)) for p in PERCENTILE_GRID}
    mean = X.mean(axis=0)
    scale = np.maximum(X.std(axis=0), 0.05)  # floor: a column constant in training still explains a change
    meta = {
        "family": trained.family,
        "version": f"{trained.family}-{vocab.kind}-{when.strftime('%Y%m%dT%H%M%S%fZ')}",
        "feature_kind": vocab.kind,
        "feature_vocabulary": vocab.to_json(),
        "feature_names": json.dumps(vocab.feature_names),
        "training_size": str(len(X)),
        "training_date": when.isoformat(),
        "score_percentiles": json.dumps(grid),
        "feature_mean": json.dumps([round(float(v), 6) for v in mean]),
        "feature_scale": json.dumps([round(float(v), 6) for v in scale]),
    }
    for p in (85.0, 95.0, 99.0, 99.9):
        meta[f"score_{percentile_key(p)}"] = repr(grid[percentile_key(p)])
    import onnx  # training only: importing onnx costs about a second, scoring never needs it

    model = onnx.ModelProto()
    model.CopyFrom(trained.onnx_model)
    del model.metadata_props[:]
    for k, v in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    model.producer_name = "vigil"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(model.SerializeToString())
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)  # readers see the old file or the new one, never half of one
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@dataclass
class Scored:
    scores: np.ndarray  # float64, higher = more anomalous
    percentile: np.ndarray  # of the training scores, 0..100
    severity: np.ndarray  # int, -1 below `low`, 0..3 low..critical
    contributions: np.ndarray | None  # per-feature share of the score (pca) or None


class LoadedModel:
    """An ONNX session plus the metadata needed to build features, map severities and explain scores."""

    def __init__(self, path: Path, levels: SeverityLevels | None = None, *, threads: int = 1) -> None:
        self.path = Path(path)
        try:
            blob = self.path.read_bytes()
        except OSError as exc:
            raise ModelLoadError(path, f"cannot read ({exc.strerror or exc})") from exc
        try:
            self.session = _session(blob, threads=threads)
            meta = dict(self.session.get_modelmeta().custom_metadata_map)
        except Exception as exc:  # onnxruntime raises many types for bad bytes
            raise ModelLoadError(path, f"not a valid ONNX model ({type(exc).__name__}: {exc})") from exc
        missing = [k for k in REQUIRED_METADATA if k not in meta]
        if missing:
            raise ModelLoadError(path, f"missing metadata {', '.join(missing)} (not written by `vigil train`?)")
        try:
            self.family = meta["family"]
            if self.family not in FAMILIES:
                raise ValueError(f"unknown family {self.family!r}")
            self.vocab = FeatureVocabulary.from_json(meta["feature_vocabulary"])
            self.feature_names: list[str] = json.loads(meta["feature_names"])
            grid = {float(k[1:]): float(v) for k, v in json.loads(meta["score_percentiles"]).items()}
            self.mean = np.asarray(json.loads(meta["feature_mean"]), dtype=np.float64)
            self.scale = np.asarray(json.loads(meta["feature_scale"]), dtype=np.float64)
            self.training_size = int(meta["training_size"])
        except (ValueError, TypeError, AttributeError) as exc:
            raise ModelLoadError(path, f"bad metadata: {exc}") from exc
        self.version = meta["version"]
        self.training_date = meta["training_date"]
        self.kind = self.vocab.kind
        width = self.vocab.width
        dims = self.session.get_inputs()[0].shape
        onnx_width = dims[1] if len(dims) == 2 else None
        if onnx_width != width or len(self.feature_names) != width or len(self.mean) != width:
            raise ModelLoadError(
                path,
                f"input width mismatch: graph takes {onnx_width}, vocabulary gives {width}, "
                f"{len(self.feature_names)} feature names, {len(self.mean)} means",
            )
        outs = {o.name for o in self.session.get_outputs()}
        if not set(output_names(self.family)) <= outs:
            raise ModelLoadError(path, f"graph lacks outputs {output_names(self.family)} for {self.family}")
        if len(grid) < 2:
            raise ModelLoadError(path, "score_percentiles needs at least two points")
        self.input_name = self.session.get_inputs()[0].name
        self.mapper = SeverityMapper(grid, levels or SeverityLevels())

    @property
    def width(self) -> int:
        return self.vocab.width

    def score(self, X: np.ndarray) -> Scored:
        X = np.ascontiguousarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.width:
            raise ValueError(f"{self.path.name} expects {self.width} features, got shape {X.shape}")
        scores, contrib = onnx_scores(self.family, _run(self.session, self.family, X, self.input_name))
        return Scored(scores, self.mapper.percentile(scores), self.mapper.severity_index(scores), contrib)

    def top_features(self, x: np.ndarray, contrib: np.ndarray | None, n: int = 3) -> list[tuple[str, float]]:
        """The features that drove one row's score: residual share (pca) or standardised deviation."""
        if contrib is not None:
            weights = np.asarray(contrib, dtype=np.float64)
        else:
            weights = np.abs((np.asarray(x, dtype=np.float64) - self.mean) / self.scale)
        top = np.argsort(-weights, kind="stable")[:n]
        return [(self.feature_names[i], float(weights[i])) for i in top if weights[i] > 0]


def _session(blob: bytes, *, threads: int) -> ort.InferenceSession:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # onnxruntime's own warnings go to stderr and would tear the TUI
    return ort.InferenceSession(blob, sess_options=opts, providers=["CPUExecutionProvider"])


def _run(
    sess: ort.InferenceSession, family: str, X: np.ndarray, input_name: str = "X"
) -> dict[str, np.ndarray]:
    names = output_names(family)
    return dict(zip(names, sess.run(names, {input_name: X}), strict=True))
