"""Features are deterministic, vectorised over Arrow columns, and line up with the persisted vocabulary."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from detectors.features import (
    EVENT_KIND,
    WINDOW_KIND,
    FeatureVocabulary,
    event_columns,
    event_features,
    rarity_words,
    window_features,
)
from detectors.templates import TemplateMiner

MESSAGES = [
    "Accepted password for alice from 10.0.0.1 port 50000 ssh2",
    "Accepted password for bob from 10.0.0.2 port 50001 ssh2",
    "Failed password for root from 203.0.113.7 port 40000 ssh2",
    "Failed password for root from 203.0.113.7 port 40001 ssh2",
    "Failed password for root from 203.0.113.7 port 40002 ssh2",
    "session opened for user alice",
    None,
]


def _cols(messages: list[str | None]):
    miner = TemplateMiner()
    return miner, event_columns(pa.array(messages, pa.string()), miner.assign(messages))


def test_event_features_are_deterministic_across_fresh_miners():
    _, a = _cols(MESSAGES)
    _, b = _cols(MESSAGES)
    va = FeatureVocabulary.build(a.template_ids, top_k=4)
    vb = FeatureVocabulary.build(b.template_ids, top_k=4)
    assert va == vb
    np.testing.assert_array_equal(event_features(a, va), event_features(b, vb))


def test_vocabulary_survives_json_round_trip_and_rejects_garbage():
    _, cols = _cols(MESSAGES)
    vocab = FeatureVocabulary.build(cols.template_ids, top_k=2)
    again = FeatureVocabulary.from_json(vocab.to_json())
    assert again == vocab
    assert again.feature_names == vocab.feature_names
    with pytest.raises(ValueError, match="malformed feature vocabulary"):
        FeatureVocabulary.from_json('{"kind": "event"}')
    with pytest.raises(ValueError, match="unknown feature kind"):
        FeatureVocabulary.from_json('{"kind": "x", "columns": [], "counts": {}, "total": 0}')


def test_event_columns_measure_length_numbers_and_tolerate_null():
    _, cols = _cols(MESSAGES)
    assert cols.lengths[0] == len(MESSAGES[0])
    assert cols.numeric_tokens[0] == 6  # 10 0 0 1 50000 2
    assert cols.lengths[-1] == 0 and cols.numeric_tokens[-1] == 0
    assert cols.template_ids[-1] == -1


def test_unseen_template_is_flagged_first_seen_and_rarest():
    miner, cols = _cols(MESSAGES)
    vocab = FeatureVocabulary.build(cols.template_ids, top_k=8)
    new = ["kernel: segfault at 0000 ip 00007f error 4 in libc.so"]
    new_cols = event_columns(pa.array(new), miner.assign(new))
    X_old = event_features(cols, vocab)
    X_new = event_features(new_cols, vocab)
    names = vocab.feature_names
    assert X_new[0, names.index("first_seen_template")] == 1.0
    assert X_old[:, names.index("first_seen_template")].max() == 0.0
    assert X_new[0, names.index("template_rarity")] > X_old[:, names.index("template_rarity")].max()
    # The unseen template has no column of its own: it lands in tpl=other.
    assert X_new[0, names.index("tpl=other")] == 1.0
    # The most frequent template ("Failed password…", 3 of 7) gets the first one-hot column.
    assert vocab.columns[0] == cols.template_ids[2]


def test_window_features_count_templates_per_block_in_appearance_order():
    _, cols = _cols(MESSAGES[:6])
    vocab = FeatureVocabulary.build(cols.template_ids, kind=WINDOW_KIND, top_k=8)
    blocks = ["b2", "b2", "b1", "b1", "b1", "b2"]
    W = window_features(blocks, cols, vocab)
    assert W.keys == ["b2", "b1"]
    assert list(W.first_row) == [0, 2]
    names = vocab.feature_names
    failed = names.index(f"count:tpl={cols.template_ids[2]}")
    accepted = names.index(f"count:tpl={cols.template_ids[0]}")
    assert W.features[1, failed] == 3 and W.features[1, accepted] == 0
    assert W.features[0, accepted] == 2
    assert W.features[0, names.index("distinct_templates")] == 2
    assert W.features[:, names.index("unseen_templates")].tolist() == [0, 0]


def test_window_features_split_entities_by_time_window_and_list_unseen_templates():
    miner, cols = _cols(MESSAGES[:6])
    vocab = FeatureVocabulary.build(cols.template_ids[:2], kind=WINDOW_KIND)
    ts = np.array([0, 10, 20, 70, 80, 130], dtype=float)
    W = window_features(["h"] * 6, cols, vocab, timestamps_s=ts, window_s=60)
    assert W.keys == ["h@0", "h@60", "h@120"]
    assert [len(u) for u in W.unseen] == [1, 1, 1]
    assert W.features[:, vocab.feature_names.index("log_events")].tolist() == pytest.approx(
        np.log1p([3, 2, 1]).tolist(), rel=1e-6)


def test_event_vocabulary_kind_and_rarity_words():
    _, cols = _cols(MESSAGES)
    vocab = FeatureVocabulary.build(cols.template_ids)
    assert vocab.kind == EVENT_KIND
    assert "never seen" in rarity_words(0, 1000)
    assert "1 in 100" in rarity_words(10, 1000)
