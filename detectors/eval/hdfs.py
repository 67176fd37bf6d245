"""`vigil eval hdfs`: block-level anomaly detection on HDFS_v1 (loglead 2 % dev split), trained WITHOUT labels.

Blocks (lines grouped by their first `blk_` id) are ordered by first appearance; the earlier part trains,
the later part is scored. A block is flagged when it uses a template that was rare or absent in training
(present in < `--rare-share` of training blocks) OR its count vector scores at/above `--level` on the
IsolationForest, scored through the production path: scikit-learn -> skl2onnx file -> onnxruntime.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detectors.eval.common import DatasetMissing, EvalResult, datasets_root, require
from detectors.features import WINDOW_KIND, EventColumns, FeatureVocabulary, event_columns, window_features
from detectors.models.artifact import LoadedModel, model_path, write_model
from detectors.models.families import FAMILIES, train_family
from detectors.models.severity import SeverityLevels
from detectors.templates import TemplateMiner
from store.schema import SEVERITIES

DEFAULT_DIR = "hdfs-loglead-2pct-dev"
_HEADER = r"^\d+ \d+ \d+ (?P<level>[A-Z]+) (?P<component>[^ :]+): (?P<content>.*)$"
_BLOCK = r"(?P<blk>blk_-?\d+)"
# The window feature columns that describe the block's shape, not its text: fed to the outlier models.
_COUNT_OFFSET = 6


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--train", type=Path, help="directory with one *.log (+ labels, ignored) to train on")
    parser.add_argument("--test", type=Path, help="directory with one *.log + anomaly_label.csv to score")
    parser.add_argument("--train-fraction", type=float, default=0.5,
                        help="without --train/--test: share of blocks (in time order) used for training")
    parser.add_argument("--rare-share", type=float, default=0.02,
                        help="a template used by fewer than this share of training blocks counts as rare")
    parser.add_argument("--level", choices=SEVERITIES, default="high",
                        help="model severity at which a block is flagged (high = above training p99)")


@dataclass
class Layout:
    log: Path
    labels: Path | None


def find_layout(directory: Path, *, need_labels: bool) -> Layout:
    require(directory, "HDFS directory")
    logs = sorted(directory.glob("*.log"))
    if len(logs) != 1:
        raise DatasetMissing(f"{directory} must hold exactly one *.log file, found {len(logs)}")
    labels = directory / "anomaly_label.csv"
    if need_labels:
        require(labels, "HDFS block labels (anomaly_label.csv)")
    return Layout(logs[0], labels if labels.exists() else None)


def read_labels(path: Path) -> dict[str, bool]:
    with path.open(newline="", encoding="utf-8") as fh:
        return {row["BlockId"]: row["Label"].strip().lower() == "anomaly" for row in csv.DictReader(fh)}


@dataclass
class Blocks:
    """Lines that carry a block id: per line the block, message and severity-free event columns."""

    block: np.ndarray  # object (str)
    cols: EventColumns
    skipped: int  # lines without a blk_ id


def read_blocks(log: Path, miner: TemplateMiner) -> Blocks:
    text = log.read_text(encoding="utf-8", errors="replace")
    lines = pa.array(text.splitlines(), pa.string())
    parts = pc.extract_regex(lines, _HEADER)
    content = pc.if_else(pc.is_valid(parts), pc.struct_field(parts, "content"), lines)
    blk = pc.struct_field(pc.extract_regex(lines, _BLOCK), "blk")  # first id on the line (README)
    has = pc.is_valid(blk)
    content = pc.filter(content, has)
    block = np.asarray(pc.filter(blk, has).to_numpy(zero_copy_only=False), dtype=object)
    tids = miner.assign(content)
    return Blocks(block, event_columns(content, tids), int(len(lines) - len(block)))


def rare_columns(train_counts: np.ndarray, share: float) -> np.ndarray:
    """Count columns used by fewer than `share` of the training blocks (the 'other' column is always rare)."""
    used = (train_counts > 0).mean(axis=0)
    rare = used < share
    rare[-1] = True
    return rare


def run(args: argparse.Namespace) -> EvalResult:
    t0 = time.perf_counter()
    frac = float(getattr(args, "train_fraction", 0.5))
    share = float(getattr(args, "rare_share", 0.02))
    level = SEVERITIES.index(getattr(args, "level", "high") or "high")
    train_dir, test_dir = getattr(args, "train", None), getattr(args, "test", None)
    miner = TemplateMiner()
    notes: list[str] = []
    if (train_dir is None) != (test_dir is None):
        raise DatasetMissing("--train and --test go together (each a directory: one *.log + anomaly_label.csv)")
    if train_dir is not None and test_dir is not None:
        train_layout = find_layout(Path(train_dir), need_labels=False)
        test_layout = find_layout(Path(test_dir), need_labels=True)
        tr = read_blocks(train_layout.log, miner)
        te = read_blocks(test_layout.log, miner)
        labels = read_labels(test_layout.labels)  # type: ignore[arg-type]
        train_labels = read_labels(train_layout.labels) if train_layout.labels else {}
        notes.append(f"train: {train_layout.log}  test: {test_layout.log}")
        all_blocks = Blocks(np.concatenate([tr.block, te.block]), EventColumns.concat([tr.cols, te.cols]),
                            tr.skipped + te.skipped)
        n_train_lines = len(tr.block)
        train_keys: set[str] | None = None
    else:
        layout = find_layout(datasets_root() / DEFAULT_DIR, need_labels=True)
        all_blocks = read_blocks(layout.log, miner)
        labels = read_labels(layout.labels)  # type: ignore[arg-type]
        train_labels = labels
        n_train_lines = -1
        order = _first_appearance(all_blocks.block)
        cut = int(len(order) * frac)
        train_keys = set(order[:cut].tolist())
        notes.append(f"{layout.log}: first {frac:.0%} of blocks (by first line) train, the rest test")
    t_parse = time.perf_counter() - t0

    if train_keys is not None:
        in_train = np.fromiter((b in train_keys for b in all_blocks.block), dtype=bool, count=len(all_blocks.block))
    else:
        in_train = np.arange(len(all_blocks.block)) < n_train_lines
    tr_cols, te_cols = all_blocks.cols.take(in_train), all_blocks.cols.take(~in_train)
    vocab = FeatureVocabulary.build(tr_cols.template_ids, kind=WINDOW_KIND, top_k=64)
    W_tr = window_features(all_blocks.block[in_train], tr_cols, vocab)
    W_te = window_features(all_blocks.block[~in_train], te_cols, vocab)
    y = np.array([labels.get(k, False) for k in W_te.keys], dtype=bool)
    missing_labels = sum(1 for k in W_te.keys if k not in labels)

    rare = rare_columns(W_tr.features[:, _COUNT_OFFSET:], share)
    rare_tr = (W_tr.features[:, _COUNT_OFFSET:][:, rare] > 0).any(axis=1)
    rare_te = (W_te.features[:, _COUNT_OFFSET:][:, rare] > 0).any(axis=1) | (W_te.features[:, 2] > 0)
    # Blocks with rare templates are already flagged; keeping them out of the outlier models' baseline
    # stops the anomalies hidden in unlabeled training data from teaching the models that they are normal.
    clean = W_tr.features[~rare_tr]

    flagged: dict[str, np.ndarray] = {"rare_template": rare_te}
    with tempfile.TemporaryDirectory(prefix="vigil-eval-hdfs-") as tmp:
        for family in FAMILIES:
            trained = train_family(family, clean)
            path = write_model(trained, vocab, clean, model_path(Path(tmp), family, WINDOW_KIND))
            model = LoadedModel(path, SeverityLevels())
            flagged[family] = model.score(W_te.features).severity >= level
    t_total = time.perf_counter() - t0

    decision = rare_te | flagged["iforest"]
    res = _confusion(EvalResult("hdfs", unit="blocks"), decision, y)
    contamination = sum(1 for k in W_tr.keys if train_labels.get(k, False))
    notes += [
        f"method: flag = template in < {share:.0%} of training blocks (or unseen) OR iforest severity >= "
        f"{SEVERITIES[level]}; no labels used in training",
        f"train blocks {len(W_tr.keys)} (unlabeled; {contamination} are anomalous per labels, read only for "
        f"this note), {int(rare_tr.sum())} with rare templates kept out of the model baseline; "
        f"test blocks {len(W_te.keys)} ({int(y.sum())} anomalous)",
        f"templates: {len(miner)} mined, {len(vocab.counts)} in training, {int(rare.sum()) - 1} rare",
    ]
    if missing_labels:
        notes.append(f"{missing_labels} test blocks have no label and count as normal")
    if all_blocks.skipped:
        notes.append(f"{all_blocks.skipped} lines without a blk_ id ignored")
    res.notes = notes
    for name, pred in [*flagged.items(), ("rare_template|pca", rare_te | flagged["pca"])]:
        part = _confusion(EvalResult(name), pred, y)
        res.extra[f"{name} f1"] = round(part.f1, 4)
        res.extra[f"{name} tp/fp/fn"] = f"{part.tp}/{part.fp}/{part.fn}"
    res.extra["seconds (parse+mine)"] = round(t_parse, 2)
    res.extra["seconds total"] = round(t_total, 2)
    return res


def _first_appearance(blocks: np.ndarray) -> np.ndarray:
    uniq, first = np.unique(blocks.astype(str), return_index=True)
    return uniq[np.argsort(first, kind="stable")].astype(object)


def _confusion(res: EvalResult, pred: np.ndarray, y: np.ndarray) -> EvalResult:
    res.tp = int((pred & y).sum())
    res.fp = int((pred & ~y).sum())
    res.fn = int((~pred & y).sum())
    res.tn = int((~pred & ~y).sum())
    return res
