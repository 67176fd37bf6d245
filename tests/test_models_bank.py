"""ModelBank: learning mode -> automatic training -> hot swap under load; unusable files -> rules only."""

from __future__ import annotations

import os
import shutil
import threading
import time

import numpy as np
import onnx
import pyarrow as pa
import pytest

from detectors.features import EVENT_KIND, WINDOW_KIND, FeatureVocabulary
from detectors.models import BankConfig, LoadedModel, ModelBank, ModelLoadError, model_path
from detectors.models.artifact import write_model
from detectors.models.bench import synthetic_batch
from detectors.models.families import FAMILIES, train_family

BASELINE = 2000


def _wait(pred, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    """Model files from one real learning run, copied into each test's own directory (training is slow)."""
    d = tmp_path_factory.mktemp("trained")
    bank = ModelBank(d, BankConfig(baseline_events=BASELINE, event_families=FAMILIES))
    bank.score(synthetic_batch(BASELINE, seed=1))
    assert _wait(lambda: bank.state()["mode"] == "active"), bank.state()
    bank.close()
    return d


def _trained_bank(tmp_path, trained_dir, **cfg) -> ModelBank:
    for f in trained_dir.glob("*.onnx"):
        shutil.copy2(f, tmp_path / f.name)
    bank = ModelBank(tmp_path, BankConfig(baseline_events=BASELINE, event_families=FAMILIES, **cfg))
    assert bank.state()["mode"] == "active", bank.state()
    bank.score(synthetic_batch(BASELINE, seed=1))  # the rolling baseline a retrain will use
    return bank


def _odd_batch(start_id: int) -> pa.RecordBatch:
    """One event with a template the baseline never saw and an unusually long, number-heavy message."""
    b = synthetic_batch(50, seed=3, start_id=start_id).to_pydict()
    b["template_id"][7] = 99_999
    b["message"][7] = "kernel: segfault " + " ".join(str(i) for i in range(400))
    b["src_ip"][7] = "203.0.113.66"
    return pa.RecordBatch.from_pydict(b, schema=synthetic_batch(1).schema)


def test_fresh_bank_learns_then_trains_itself_and_scores(tmp_path):
    bank = ModelBank(tmp_path, BankConfig(baseline_events=BASELINE, event_families=FAMILIES))
    assert bank.state()["mode"] == "learning"
    assert bank.score(synthetic_batch(BASELINE // 2, seed=1)) == []
    st = bank.state()
    assert st["mode"] == "learning" and st["progress"] == pytest.approx(0.5)
    bank.score(synthetic_batch(BASELINE // 2, seed=2, start_id=10_000))
    assert _wait(lambda: bank.state()["mode"] == "active"), bank.state()
    st = bank.state()
    assert st["progress"] == 1.0 and {m["family"] for m in st["models"]} == {"iforest", "pca"}
    assert all(m["training_size"] == BASELINE for m in st["models"])
    assert model_path(tmp_path, "iforest", EVENT_KIND).exists()

    hits = bank.score(_odd_batch(50_000))
    # PCA reconstruction catches values far outside the baseline; an IsolationForest cannot extrapolate
    # beyond its training range (an out-of-range value follows the most extreme training points), so it
    # is not required to flag this particular event.
    odd = [h for h in hits if 50_007 in h.event_ids and h.detector == "model:pca"]
    assert len(odd) == 1
    h = odd[0]
    assert h.entity == "src_ip=203.0.113.66"
    assert h.severity == "critical" and h.score > 0.99
    assert h.model_version.startswith("pca-event-")
    assert "template 99999" in h.why and "never seen" in h.why
    assert "numeric_tokens" in h.why or "log_length" in h.why


def test_existing_models_are_loaded_at_start_without_learning(tmp_path, trained_dir):
    _trained_bank(tmp_path, trained_dir).close()
    again = ModelBank(tmp_path, BankConfig(baseline_events=BASELINE, event_families=FAMILIES))
    assert again.state()["mode"] == "active"
    assert again.score(_odd_batch(1))


def test_retraining_hot_swaps_while_a_scoring_thread_keeps_going(tmp_path, trained_dir):
    bank = _trained_bank(tmp_path, trained_dir)
    first = {m["version"] for m in bank.state()["models"]}
    errors: list[BaseException] = []
    versions: set[str] = set()
    scored = 0
    stop = threading.Event()

    def loop() -> None:
        nonlocal scored
        i = 0
        while not stop.is_set():
            try:
                for h in bank.score(_odd_batch(1_000_000 + i * 100)):
                    versions.add(h.model_version)
                scored += 1
            except BaseException as exc:  # the point of the test: nothing may escape across the swap
                errors.append(exc)
            i += 1

    t = threading.Thread(target=loop)
    t.start()
    try:
        assert _wait(lambda: scored >= 3)
        time.sleep(0.001)  # distinct training timestamp -> distinct version
        assert bank.retrain()
        assert not bank.retrain(), "a second retrain must not start while one runs"
        assert _wait(lambda: not bank.state()["training"])
        during = scored
        assert _wait(lambda: scored >= during + 3)
    finally:
        stop.set()
        t.join(10)
    assert not errors, errors
    second = {m["version"] for m in bank.state()["models"]}
    assert second.isdisjoint(first)
    assert bank.state()["swaps"] == 2  # the load at start, then the retrain
    assert versions & first and versions & second, "scoring should have used both generations"
    assert not list(tmp_path.glob(".*.tmp")), "temporary model file left behind"


def test_periodic_retraining_from_the_rolling_baseline(tmp_path, trained_dir):
    bank = _trained_bank(tmp_path, trained_dir, retrain_every_events=1000)
    bank.score(synthetic_batch(1200, seed=9, start_id=100_000))
    assert _wait(lambda: bank.state()["swaps"] == 2 and not bank.state()["training"]), bank.state()


@pytest.mark.parametrize(
    "damage, problem",
    [
        (lambda p: p.write_bytes(b"\x00garbage, not protobuf\xff" * 10), "not a valid ONNX model"),
        (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "not a valid ONNX model"),
        (lambda p: _strip_metadata(p, "score_percentiles"), "missing metadata score_percentiles"),
        (lambda p: _set_metadata(p, "feature_vocabulary", _wider_vocab(p)), "input width mismatch"),
        (lambda p: _set_metadata(p, "feature_vocabulary", "{not json"), "bad metadata"),
        (lambda p: os.remove(p) or p.mkdir(), "cannot read"),
    ],
    ids=["bad-bytes", "truncated", "missing-metadata", "wrong-width", "bad-vocabulary", "unreadable"],
)
def test_unusable_model_file_gives_clear_error_and_bank_runs_rules_only(tmp_path, trained_dir, damage, problem):
    _trained_bank(tmp_path, trained_dir).close()
    path = model_path(tmp_path, "pca", EVENT_KIND)
    damage(path)
    with pytest.raises(ModelLoadError) as info:
        LoadedModel(path)
    assert str(path) in str(info.value) and problem in str(info.value)

    bank = ModelBank(tmp_path, BankConfig(baseline_events=BASELINE, event_families=FAMILIES))
    st = bank.state()
    assert st["mode"] == "error" and problem in st["error"] and str(path) in st["error"]
    assert bank.score(_odd_batch(1)) == []  # no exception, no hits: rules carry on alone
    assert bank.state()["mode"] == "error"


def test_bank_in_error_recovers_by_retraining_from_what_it_kept_collecting(tmp_path, trained_dir):
    _trained_bank(tmp_path, trained_dir).close()
    path = model_path(tmp_path, "iforest", EVENT_KIND)
    path.write_bytes(b"corrupt")
    bank = ModelBank(tmp_path, BankConfig(baseline_events=BASELINE, event_families=FAMILIES))
    assert bank.state()["mode"] == "error"
    bank.score(synthetic_batch(BASELINE, seed=4, start_id=5_000))
    assert bank.state()["mode"] == "error", "an unusable file must not be overwritten without being asked"
    assert bank.retrain()
    assert _wait(lambda: bank.state()["mode"] == "active"), bank.state()
    assert bank.score(_odd_batch(9_000))


def test_window_model_in_the_event_slot_is_rejected(tmp_path):
    rng = np.random.default_rng(0)
    vocab = FeatureVocabulary.build(rng.integers(1, 5, 500), kind=WINDOW_KIND)
    X = rng.normal(size=(500, vocab.width)).astype(np.float32)
    write_model(train_family("pca", X), vocab, X, model_path(tmp_path, "pca", EVENT_KIND))
    bank = ModelBank(tmp_path, BankConfig(baseline_events=BASELINE, families=("pca",)))
    assert bank.state()["mode"] == "error" and "feature kind 'window'" in bank.state()["error"]


def _metadata(path) -> onnx.ModelProto:
    return onnx.load(str(path))


def _strip_metadata(path, key: str) -> None:
    m = _metadata(path)
    keep = [(p.key, p.value) for p in m.metadata_props if p.key != key]
    del m.metadata_props[:]
    for k, v in keep:
        e = m.metadata_props.add()
        e.key, e.value = k, v
    path.write_bytes(m.SerializeToString())


def _set_metadata(path, key: str, value: str) -> None:
    m = _metadata(path)
    for p in m.metadata_props:
        if p.key == key:
            p.value = value
    path.write_bytes(m.SerializeToString())


def _wider_vocab(path) -> str:
    m = _metadata(path)
    vocab = FeatureVocabulary.from_json({p.key: p.value for p in m.metadata_props}["feature_vocabulary"])
    wider = FeatureVocabulary(vocab.kind, (*vocab.columns, 123456), vocab.counts, vocab.total)
    return wider.to_json()
