"""`train_from_store` (behind `vigil train`) learns from a real DuckDB file and writes loadable models."""

from __future__ import annotations

import duckdb
import pytest

from detectors.features import EVENT_KIND, WINDOW_KIND
from detectors.models import FAMILIES, LoadedModel, ModelBank, model_path
from detectors.models.bench import synthetic_batch
from detectors.storage import DETECTOR_MIGRATIONS
from detectors.templates import TemplateMiner
from detectors.train import NotEnoughEvents, train_from_store
from store.schema import events_ddl


@pytest.fixture
def con(tmp_path):
    c = duckdb.connect(str(tmp_path / "vigil.duckdb"))
    c.execute(events_ddl())
    for _, sql in DETECTOR_MIGRATIONS:
        c.execute(sql)
    yield c
    c.close()


def _insert(con, batch) -> None:
    con.execute("INSERT INTO events SELECT * FROM batch")


def test_train_from_store_writes_models_the_bank_loads(con, tmp_path):
    batch = synthetic_batch(1500, seed=5)
    _insert(con, batch)
    model_dir = tmp_path / "models"
    paths = train_from_store(con, model_dir, limit=1000)
    assert {model_path(model_dir, f, EVENT_KIND) for f in FAMILIES} <= set(paths)
    for f in FAMILIES:
        assert LoadedModel(model_path(model_dir, f, EVENT_KIND)).training_size == 1000  # the latest `limit`
    bank = ModelBank(model_dir)
    assert bank.state()["mode"] == "active"


def test_events_without_template_ids_are_mined_with_the_stored_templates(con, tmp_path):
    miner = TemplateMiner()
    msgs = [f"Failed password for root from 203.0.113.{i % 9} port {4000 + i} ssh2" for i in range(150)]
    miner.assign(msgs)
    con.executemany("INSERT INTO templates (template_id, template) VALUES (?, ?)",
                    [(t, x) for t, x, _ in miner.take_new()])
    con.executemany(
        "INSERT INTO events (event_id, received_at, source, message) VALUES (?, now(), 'test', ?)",
        list(enumerate(msgs)),
    )
    paths = train_from_store(con, tmp_path / "m", families=("pca",))
    vocab = LoadedModel(paths[0]).vocab
    assert set(vocab.counts) == {1}, "the stored template id (1) must be reused, not renumbered"
    assert vocab.counts[1] == 150


def test_empty_store_says_how_many_events_it_has(con, tmp_path):
    with pytest.raises(NotEnoughEvents, match="has 0 events"):
        train_from_store(con, tmp_path / "m")


def test_window_models_are_trained_when_the_store_spans_enough_windows(con, tmp_path):
    from tests.test_models_windows import _traffic

    next_id = 1
    for minute in range(6):  # 12 hosts x 6 minutes = 72 closed windows
        b = _traffic(minute, next_id)
        next_id += b.num_rows
        _insert(con, b)
    paths = train_from_store(con, tmp_path / "m")
    assert model_path(tmp_path / "m", "pca", WINDOW_KIND) in paths
    w = LoadedModel(model_path(tmp_path / "m", "iforest", WINDOW_KIND))
    assert w.kind == WINDOW_KIND and w.training_size == 72
    st = ModelBank(tmp_path / "m").state()
    assert st["mode"] == "active" and st["windows"]["mode"] == "active"
