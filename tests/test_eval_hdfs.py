"""`vigil eval hdfs` on slices of the real HDFS dev set written to tmp dirs (skipped when the data is absent).

Lines come from /work/shared/datasets/hdfs-loglead-2pct-dev (LogLead sample of loghub HDFS_v1, Xu et al. 2009;
see that README); the slices are built at test time, nothing is copied into the repository.
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from pathlib import Path

import pytest

from detectors.eval import add_dataset_arguments
from detectors.eval import run as dispatch
from detectors.eval.common import DatasetMissing, datasets_root
from detectors.eval.hdfs import run

DEV = datasets_root() / "hdfs-loglead-2pct-dev"
needs_data = pytest.mark.skipif(not (DEV / "HDFS_2pct_dev.log").exists(),
                                reason=f"HDFS dev dataset not present at {DEV}")
BLK = re.compile(r"blk_-?\d+")


def _args(**kw) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_dataset_arguments("hdfs", p)
    ns = p.parse_args([])
    for k, v in kw.items():
        setattr(ns, k, v)
    return ns


@pytest.fixture(scope="module")
def blocks():
    """(block ids in first-appearance order, lines per block, label per block) from the real dev set."""
    lines: dict[str, list[str]] = defaultdict(list)
    with (DEV / "HDFS_2pct_dev.log").open(encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i >= 60_000:
                break
            m = BLK.search(line)
            if m:
                lines[m.group()].append(line.rstrip("\n"))
    labels = {}
    for row in (DEV / "anomaly_label.csv").read_text().splitlines()[1:]:
        b, lab = row.split(",")
        labels[b] = lab == "Anomaly"
    return list(lines), lines, labels


def _write(d: Path, ids: list[str], lines, labels, *, flip_labels: bool = False) -> Path:
    d.mkdir()
    # Keep the original line order across the chosen blocks, as a real log would have it.
    chosen = set(ids)
    rows = sorted((ln for b in chosen for ln in lines[b]), key=lambda s: s[:13])
    (d / "slice.log").write_text("\n".join(rows) + "\n")
    lab = [f"{b},{'Anomaly' if labels[b] != flip_labels else 'Normal'}" for b in ids]
    (d / "anomaly_label.csv").write_text("BlockId,Label\n" + "\n".join(lab) + "\n")
    return d


@needs_data
def test_slice_flags_the_anomalous_blocks_without_labels_in_training(tmp_path, blocks):
    order, lines, labels = blocks
    train = order[:400]
    later = order[400:]
    test = [b for b in later if labels[b]][:8] + [b for b in later if not labels[b]][:60]
    (res,) = run(_args(train=_write(tmp_path / "train", train, lines, labels),
                       test=_write(tmp_path / "test", test, lines, labels), rare_share=0.02, level="high"))
    assert res.unit == "blocks"
    assert res.tp + res.fn == 8 and res.fp + res.tn == 60
    print(res.render())
    assert res.recall >= 0.75 and res.precision >= 0.85, res.render()


@needs_data
def test_training_labels_are_ignored(tmp_path, blocks):
    order, lines, labels = blocks
    train, test = order[:300], order[300:420]
    t = _write(tmp_path / "test", test, lines, labels)
    flipped = _write(tmp_path / "a", train, lines, labels, flip_labels=True)
    (b,) = run(_args(train=flipped, test=t, rare_share=0.02, level="high"))
    (flipped / "anomaly_label.csv").unlink()
    (c,) = run(_args(train=flipped, test=t, rare_share=0.02, level="high"))
    assert (b.tp, b.fp, b.fn, b.tn) == (c.tp, c.fp, c.fn, c.tn)
    assert b.tp > 0


@needs_data
@pytest.mark.slow
def test_dev_protocol_chooses_on_validation_and_scores_test_once(capsys):
    rc = dispatch("hdfs", _args())
    out = capsys.readouterr().out
    last = out.strip().splitlines()[-1]
    assert rc == 0 and last.startswith("precision=")
    assert "knobs chosen on validation" in out and "hdfs validation" in out and "grid:" in out
    f1 = float(last.rsplit("f1=", 1)[1])
    assert f1 >= 0.95, out


@needs_data
def test_the_session_detector_is_a_real_engine_detector(tmp_path, blocks):
    """Configured in [detectors.sessions], it runs in `vigil ingest --detect` and alerts on unusual blocks."""
    import os
    import subprocess
    import sys

    order, lines, labels = blocks
    chosen = order[:500]
    rows = sorted((ln for b in chosen for ln in lines[b]), key=lambda s: s[:13])
    log = tmp_path / "hdfs.log"
    log.write_text("\n".join(rows) + "\n")
    cfg = tmp_path / "cfg" / "vigil"
    cfg.mkdir(parents=True)
    (cfg / "config.toml").write_text('[detectors.sessions]\nid_pattern = "blk_-?\\\\d+"\nlearn_sessions = 300\n'
                                     'idle_s = 10000000\n')
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "cfg"), XDG_DATA_HOME=str(tmp_path / "data"))
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-m", "app", "ingest", "--detect", "--db", str(tmp_path / "v.duckdb"),
                          str(log)], cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    import duckdb

    con = duckdb.connect(str(tmp_path / "v.duckdb"), read_only=True)
    ents = {r[0].split("=", 1)[1] for r in con.execute(
        "SELECT entity FROM alerts WHERE rule_id = 'session.anomalous'").fetchall()}
    con.close()
    later = [b for b in chosen[300:] if labels.get(b)]
    assert ents and ents <= set(chosen), "no session alert"
    precision = sum(labels.get(b, False) for b in ents) / len(ents)
    assert precision >= 0.8 and len(ents & set(later)) >= len(later) * 0.5, (sorted(ents), later)


def test_missing_directories_say_where_they_looked(tmp_path, capsys):
    with pytest.raises(DatasetMissing, match=str(tmp_path / "nope")):
        run(_args(train=tmp_path / "nope", test=tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetMissing, match="exactly one"):
        run(_args(train=tmp_path / "empty", test=tmp_path / "empty"))
    assert dispatch("hdfs", _args(train=tmp_path / "nope", test=tmp_path / "nope")) == 3
    assert "not found" in capsys.readouterr().err
