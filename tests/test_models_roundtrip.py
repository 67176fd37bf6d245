"""Both model families survive scikit-learn -> skl2onnx file -> onnxruntime with the same scores and metadata."""

from __future__ import annotations

import json
import stat

import numpy as np
import onnx
import pytest

from detectors.features import EVENT_KIND, FeatureVocabulary
from detectors.models import FAMILIES, LoadedModel, SeverityLevels, model_path, train_family, write_model
from detectors.models.severity import SeverityMapper


def _training_data(n: int = 1500, seed: int = 0):
    rng = np.random.default_rng(seed)
    tids = rng.choice(np.arange(1, 11), size=n, p=np.r_[[0.3, 0.2, 0.1], np.full(7, 0.4 / 7)])
    vocab = FeatureVocabulary.build(tids, kind=EVENT_KIND, top_k=6)
    # Correlated columns (two latent factors plus noise), as real event features are, so PCA has structure.
    latent = rng.normal(size=(n, 2)) @ rng.normal(size=(2, vocab.width))
    X = (latent + 0.1 * rng.normal(size=(n, vocab.width))).astype(np.float32)
    X[:, 1] = 0.0  # a constant column (no first-seen templates in training), like real baselines
    return vocab, X, rng


@pytest.mark.parametrize("family", FAMILIES)
def test_onnx_scores_match_scikit_learn(tmp_path, family):
    vocab, X, rng = _training_data()
    trained = train_family(family, X)
    path = write_model(trained, vocab, X, model_path(tmp_path, family, EVENT_KIND))
    model = LoadedModel(path)
    Z = np.vstack([X[:500], rng.normal(scale=3.0, size=(500, vocab.width)).astype(np.float32)])
    got = model.score(Z).scores
    want = trained.reference_scores(Z)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    # Outliers must score higher than the training data, or the sign convention is wrong.
    assert np.median(got[500:]) > np.percentile(got[:500], 90)


@pytest.mark.parametrize("family", FAMILIES)
def test_model_file_carries_metadata_and_is_private(tmp_path, family):
    vocab, X, _ = _training_data()
    path = write_model(train_family(family, X), vocab, X, model_path(tmp_path, family, EVENT_KIND))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta["family"] == family
    assert meta["training_size"] == str(len(X))
    assert FeatureVocabulary.from_json(meta["feature_vocabulary"]) == vocab
    assert json.loads(meta["feature_names"]) == vocab.feature_names
    p = [float(meta[k]) for k in ("score_p85", "score_p95", "score_p99", "score_p99.9")]
    assert p == sorted(p)
    assert meta["version"].startswith(f"{family}-event-")
    assert not list(tmp_path.glob("*.tmp")), "temporary file left behind"


def test_severity_follows_training_percentiles_and_levels_are_configurable(tmp_path):
    vocab, X, _ = _training_data()
    path = write_model(train_family("pca", X), vocab, X, model_path(tmp_path, "pca", EVENT_KIND))
    model = LoadedModel(path)
    sev = model.score(X).severity
    share = np.bincount(sev + 1, minlength=5) / len(sev)  # -1 none, 0 low … 3 critical
    assert share[0] == pytest.approx(0.85, abs=0.01)
    assert share[1] == pytest.approx(0.10, abs=0.01)
    assert share[2] == pytest.approx(0.04, abs=0.01)
    strict = LoadedModel(path, SeverityLevels(low=99.0, medium=99.5, high=99.9, critical=100.0))
    assert (strict.score(X).severity >= 0).mean() == pytest.approx(0.01, abs=0.005)
    with pytest.raises(ValueError, match="must rise"):
        SeverityLevels(low=95, medium=90)


def test_ties_at_a_threshold_stay_below_it():
    mapper = SeverityMapper({50.0: 0.0, 85.0: 0.0, 95.0: 0.0, 99.0: 1.0, 99.9: 2.0, 100.0: 3.0}, SeverityLevels())
    assert mapper.severity_index(np.array([0.0, 0.5, 1.5, 2.5])).tolist() == [-1, 1, 2, 3]


def test_explanations_name_the_feature_that_moved(tmp_path):
    vocab, X, _ = _training_data()
    for family in FAMILIES:
        path = write_model(train_family(family, X), vocab, X, model_path(tmp_path, family, EVENT_KIND))
        model = LoadedModel(path)
        x = np.zeros((1, vocab.width), np.float32)
        x[0, vocab.feature_names.index("log_length")] = 25.0
        scored = model.score(x)
        contrib = scored.contributions[0] if scored.contributions is not None else None
        assert model.top_features(x[0], contrib)[0][0] == "log_length", family
