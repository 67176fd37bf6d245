"""Per-entity time windows: they close on event time, stay bounded, and window models learn and flag bursts."""

from __future__ import annotations

import time

import numpy as np
import pyarrow as pa

from detectors.features import WINDOW_KIND, EventColumns
from detectors.models import BankConfig, ModelBank, model_path
from detectors.models.windows import EntityWindows
from store.schema import EVENT_SCHEMA, UTC_TS

T0 = 1_790_000_000.0  # an arbitrary epoch second, aligned to a minute below


def _cols(n: int, tid: int = 1) -> EventColumns:
    return EventColumns(np.full(n, tid, np.int64), np.full(n, 40, np.int64), np.zeros(n, np.int64),
                        np.full(n, 6.0))


def test_windows_close_once_event_time_passes_them_and_late_events_are_counted():
    w = EntityWindows(60, grace_s=5)
    base = 60 * np.floor(T0 / 60)
    ents = np.array(["host=a", "host=b", "host=a"], dtype=object)
    assert w.add(ents, _cols(3), np.array([base + 1, base + 2, base + 50]), np.array([1, 2, 3])) is None
    # 64 s past the window end minus 5 s grace: the first window is still open.
    assert w.add(ents[:1], _cols(1), np.array([base + 64]), np.array([4])) is None
    closed = w.add(ents[:1], _cols(1), np.array([base + 66]), np.array([5]))
    assert closed is not None
    assert sorted(closed.event_ids.tolist()) == [1, 2, 3]
    assert closed.windows == 2  # host=a and host=b of the first minute
    late = w.add(ents[:1], _cols(1), np.array([base + 10]), np.array([6]))
    assert late is None and w.late_events == 1


def test_open_windows_are_bounded():
    w = EntityWindows(60, max_open_events=100)
    ents = np.array(["host=a"] * 80, dtype=object)
    base = 60 * np.floor(T0 / 60)
    assert w.add(ents, _cols(80), np.full(80, base + 1), np.arange(80)) is None
    closed = w.add(ents, _cols(80), np.full(80, base + 61), np.arange(80, 160))
    assert closed is not None and len(closed) == 80  # the older minute was released early


def _traffic(minute: int, start_id: int, *, burst: bool = False) -> pa.RecordBatch:
    """One minute of ordinary traffic from 12 hosts; with `burst`, one address hammers a rare template."""
    rng = np.random.default_rng(minute)
    rows: dict[str, list] = {f.name: [] for f in EVENT_SCHEMA}
    base = 60 * np.floor(T0 / 60) + minute * 60
    events = []
    for h in range(12):
        for _ in range(int(rng.integers(8, 14))):
            tid = int(rng.choice([1, 2, 3, 4], p=[0.4, 0.3, 0.2, 0.1]))
            at = float(rng.uniform(0, 59))
            events.append((at, f"web{h}", None, tid, f"request kind {tid} served in {rng.integers(1, 99)} ms"))
    if minute % 7 == 3:
        events.append((30.0, "web0", None, 5, "Failed password for root from 198.51.100.4 port 4000 ssh2"))
    if burst:
        events += [(i * 0.19, "web0", "203.0.113.9", 5,
                    f"Failed password for root from 203.0.113.9 port {4000 + i} ssh2") for i in range(300)]
    events.sort(key=lambda e: e[0])
    for i, (at, host, ip, tid, msg) in enumerate(events):
        rows["event_id"].append(start_id + i)
        rows["ts"].append(int((base + at) * 1e6))
        rows["received_at"].append(int((base + at) * 1e6))
        rows["source"].append("file:/var/log/test.log")
        rows["host"].append(host)
        rows["src_ip"].append(ip)
        rows["template_id"].append(tid)
        rows["message"].append(msg)
        rows["severity"].append(6)
    arrays = []
    for f in EVENT_SCHEMA:
        vals = rows[f.name]
        if not vals:
            arrays.append(pa.nulls(len(events), f.type))
        elif f.type == UTC_TS:
            arrays.append(pa.array(vals, pa.int64()).cast(UTC_TS))
        else:
            arrays.append(pa.array(vals, f.type))
    return pa.RecordBatch.from_arrays(arrays, schema=EVENT_SCHEMA)


def test_window_models_learn_then_flag_a_burst_from_one_address(tmp_path):
    cfg = BankConfig(baseline_events=100_000, baseline_windows=120, window_s=60.0)
    bank = ModelBank(tmp_path, cfg)
    next_id = 1
    minute = 0
    deadline = time.monotonic() + 60
    while bank.state()["windows"]["mode"] != "active":
        assert time.monotonic() < deadline, bank.state()["windows"]
        b = _traffic(minute, next_id)
        next_id += b.num_rows
        minute += 1
        bank.score(b)
        if bank.state()["windows"]["training"]:
            bank.wait_idle(60)
    st = bank.state()
    assert st["mode"] == "learning", "the event track has its own, larger baseline"
    assert st["windows"]["baseline"] >= 120
    assert model_path(tmp_path, "pca", WINDOW_KIND).exists()

    hits = []
    for extra in range(3):
        b = _traffic(minute, next_id, burst=(extra == 0))
        next_id += b.num_rows
        minute += 1
        hits += bank.score(b)
    burst = [h for h in hits if h.entity == "src_ip=203.0.113.9"]
    assert {h.detector for h in burst} >= {"model:pca-window"}
    for h in burst:
        assert h.severity in ("high", "critical")
        assert len(h.event_ids) == 100  # evidence capped per window
        assert "60s window" in h.why
    quiet = [h for h in hits if h.entity != "src_ip=203.0.113.9"]
    assert len(quiet) <= 2, quiet


def test_a_corrupt_window_model_disables_only_the_window_track(tmp_path):
    from detectors.features import EVENT_KIND
    from detectors.models.bank import batch_columns
    from detectors.models.bench import synthetic_batch
    from detectors.models.trainer import train_event_models

    train_event_models(batch_columns(synthetic_batch(500, seed=1)), tmp_path, families=("pca",))
    model_path(tmp_path, "pca", WINDOW_KIND).write_bytes(b"\x08\x01garbage")
    bank = ModelBank(tmp_path, BankConfig(families=("pca",), baseline_windows=50))
    st = bank.state()
    assert st["mode"] == "active" and model_path(tmp_path, "pca", EVENT_KIND).exists()
    assert st["windows"]["mode"] == "error" and "pca-window.onnx" in st["windows"]["error"]
    bank.score(synthetic_batch(100, seed=2))
    assert bank.state()["scored_events"] == 100  # the event models carry on scoring


def test_a_far_future_timestamp_cannot_close_every_window():
    from detectors.models.windows import event_times

    now = 60 * np.floor(T0 / 60)
    batch = pa.RecordBatch.from_pydict(
        {"ts": pa.array([int((now + 10) * 1e6), int(4_102_444_800 * 1e6), None], pa.int64()).cast(UTC_TS),
         "received_at": pa.array([int((now + 11) * 1e6)] * 2 + [None], pa.int64()).cast(UTC_TS)})
    t = event_times(batch, fallback_s=123.0)
    assert t.tolist() == [now + 10, now + 11 + 300, 123.0]
