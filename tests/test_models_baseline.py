"""Models that don't cry wolf: the baseline never learns what the rules flagged, a baseline dominated by a few
addresses or one message shape is refused with the reason, and a model alone is capped at low."""

from __future__ import annotations

import time

import numpy as np
import pyarrow as pa

from detectors.models import BankConfig, ModelBank
from detectors.models.bank import skewed_baseline
from detectors.models.bench import synthetic_batch
from store.schema import EVENT_SCHEMA

BASELINE = 2000


def _wait(pred, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


def _with_addresses(batch: pa.RecordBatch, ips: list[str | None]) -> pa.RecordBatch:
    idx = EVENT_SCHEMA.get_field_index("src_ip")
    return batch.set_column(idx, EVENT_SCHEMA.field("src_ip"), pa.array(ips, pa.string()))


def test_flagged_rows_and_entities_never_reach_the_baseline(tmp_path):
    bank = ModelBank(tmp_path, BankConfig(baseline_events=10**9, window_s=None))
    batch = synthetic_batch(1000, seed=3)
    exclude = np.zeros(1000, dtype=bool)
    exclude[:400] = True
    bank.score(batch, exclude, frozenset())
    assert bank.state()["baseline"] == 600
    # An address flagged after its lines were collected is removed when the baseline is used.
    attacker = [("203.0.113.9" if i % 2 else None) for i in range(1000)]
    bank2 = ModelBank(tmp_path / "b", BankConfig(baseline_events=10**9, window_s=None))
    bank2.score(_with_addresses(batch, attacker))
    bank2.score(synthetic_batch(10, seed=4, start_id=5000), None, frozenset({"src_ip=203.0.113.9"}))
    chunks, _ = bank2._events._clean_baseline()
    assert sum(len(c) for c in chunks) == 500 + 10
    bank.close()
    bank2.close()


def test_a_baseline_dominated_by_three_addresses_is_refused_and_says_why(tmp_path):
    n = BASELINE
    ips = ["203.0.113.5" if i % 10 < 4 else "203.0.113.6" if i % 10 < 7 else f"198.51.100.{i % 200}"
           for i in range(n)]
    bank = ModelBank(tmp_path, BankConfig(baseline_events=n, window_s=None))
    bank.score(_with_addresses(synthetic_batch(n, seed=1), ips))
    state = bank.state()
    assert state["mode"] == "learning" and not state["training"]
    assert "dominated by 3 addresses" in (state["refused"] or "") and "203.0.113.5" in state["refused"]
    # Varied traffic later: the rolling baseline is judged again and training starts.
    varied = [f"198.51.100.{i % 250}" for i in range(n)]
    bank.score(_with_addresses(synthetic_batch(n, seed=2, start_id=10_000), varied))
    assert _wait(lambda: bank.state()["mode"] == "active"), bank.state()
    assert bank.state()["refused"] is None
    bank.close()


def test_one_message_shape_dominating_is_refused():
    from detectors.features import event_columns

    tids = np.array([7] * 950 + list(range(50)), dtype=np.int64)
    cols = event_columns(["x"] * 1000, tids)
    assert "one message shape" in (skewed_baseline([cols], [None]) or "")
    assert skewed_baseline([event_columns(["x"] * 1000, np.arange(1000) % 40)], [None]) is None
