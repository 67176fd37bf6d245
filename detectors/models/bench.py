"""`bench_scoring(n)`: events/s through the live scoring path (features -> ONNX session -> severities).

For `make bench`: synthetic syslog-shaped events, models trained on a baseline of the same shape, and the
figure per family plus the whole `ModelBank.score` path (which also builds hits for flagged rows).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from detectors.features import EVENT_KIND, event_columns, event_features
from detectors.models.artifact import LoadedModel, model_path
from detectors.models.bank import BankConfig, ModelBank
from detectors.models.families import FAMILIES
from detectors.models.trainer import train_event_models
from store.schema import EVENT_SCHEMA, UTC_TS


def synthetic_batch(n: int, *, seed: int = 0, start_id: int = 1, templates: int = 40) -> pa.RecordBatch:
    """Events with a Zipf-like template mix, realistic message lengths and a few hosts/addresses."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, templates + 1)
    tids = rng.choice(templates, size=n, p=weights / weights.sum()).astype(np.int64) + 1
    port = rng.integers(1024, 65535, size=n)
    user = rng.integers(0, 50, size=n)
    msgs = [f"event kind {t} for user u{u} from port {p} ok" + " x" * int(t % 7)
            for t, u, p in zip(tids.tolist(), user.tolist(), port.tolist(), strict=True)]
    hosts = [f"web{i}" for i in rng.integers(0, 8, size=n).tolist()]
    ips = [None if i % 3 else f"198.51.100.{i % 250}" for i in rng.integers(0, 1000, size=n).tolist()]
    t0 = np.datetime64("2026-01-01T00:00:00", "us").astype(np.int64) + start_id * 1000
    stamps = pa.array(t0 + np.arange(n, dtype=np.int64) * 1000, pa.int64()).cast(UTC_TS)
    cols: dict[str, pa.Array] = {
        "event_id": pa.array(np.arange(start_id, start_id + n, dtype=np.int64)),
        "ts": stamps,
        "received_at": stamps,
        "message": pa.array(msgs, pa.string()),
        "template_id": pa.array(tids),
        "severity": pa.array(np.full(n, 6, dtype=np.int8)),
        "host": pa.array(hosts, pa.string()),
        "src_ip": pa.array(ips, pa.string()),
        "source": pa.array(["file:/var/log/bench.log"] * n, pa.string()),
    }
    arrays = [cols.get(f.name, pa.nulls(n, f.type)) for f in EVENT_SCHEMA]
    return pa.RecordBatch.from_arrays(arrays, schema=EVENT_SCHEMA)


def bench_scoring(n: int = 100_000, batch: int = 5_000, threads: int = 1) -> dict[str, float]:
    """Events/s scored per family (features + ONNX + severity) and through `ModelBank.score`, batch by batch."""
    base = synthetic_batch(20_000, seed=1)
    data = synthetic_batch(n, seed=2, start_id=1_000_000)
    out: dict[str, float] = {"events": float(n), "batch": float(batch), "threads": float(threads)}
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        model_dir = Path(tmp)
        from detectors.models.bank import batch_columns

        train_event_models(batch_columns(base), model_dir)
        slices = [data.slice(i, batch) for i in range(0, n, batch)]
        for family in FAMILIES:
            model = LoadedModel(model_path(model_dir, family, EVENT_KIND), threads=threads)
            t0 = time.perf_counter()
            for b in slices:
                cols = event_columns(b.column("message"), b.column("template_id").to_numpy(), b.column("severity"))
                model.score(event_features(cols, model.vocab))
            out[f"{family}_events_per_s"] = n / (time.perf_counter() - t0)
        bank = ModelBank(model_dir, BankConfig(threads=threads, baseline_events=20_000))
        t0 = time.perf_counter()
        hits = 0
        for b in slices:
            hits += len(bank.score(b))
        out["bank_events_per_s"] = n / (time.perf_counter() - t0)
        out["bank_hits"] = float(hits)
    return out


if __name__ == "__main__":
    for k, v in bench_scoring().items():
        print(f"{k}: {v:,.0f}")
