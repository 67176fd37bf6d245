"""How well similar-alert retrieval finds look-alikes, on the shared datasets: the labelled SSH day
(`gen_auth2.py labelled`: relevant = another address of the same attacker kind) and the CrowdSec hub cases
(relevant = an alert of another case expecting the same scenario). Queries never count alerts of their own
address or case. Prints P@1 and MRR (plain and macro over labels) for the shipped hashing vectors, and for
WordLlama (weights in its wheel) on the same features written out as text, when that package is installed.

Run: `python -m bench.bench_similar_quality` (needs ../shared/datasets; optional: `pip install wordllama`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


def _features(con: Any, alert_ids: list[int]) -> tuple[np.ndarray, list[str]]:
    from detectors.alert_embedding import alert_tokens
    from detectors.similar_alerts import alert_vectors

    _, vectors = alert_vectors(con, alert_ids)
    texts = []
    for aid in alert_ids:
        a = con.execute("SELECT rule_id, entity, detector, category, event_ids[1:20] FROM alerts WHERE alert_id = ?",
                        [aid]).fetchall()[0]
        ev = con.execute('SELECT t.template, e.message, e.service, e."action", e.outcome, e.app, e."user", e.host '
                         "FROM events e LEFT JOIN templates t USING (template_id) "
                         "WHERE event_id IN (SELECT unnest(?::BIGINT[]))", [a[4]]).fetchall()
        rows = [dict(zip(("template", "message", "service", "action", "outcome", "app", "user", "host"), r,
                         strict=True)) for r in ev]
        tokens = alert_tokens({"rule_id": a[0], "entity": a[1], "detector": a[2], "category": a[3]}, rows)
        texts.append(" ".join(sorted({t.split(":", 1)[1].replace(".", " ").replace("_", " ") for t in tokens})))
    return vectors, texts


def auth_day(tmp: Path) -> tuple[list[dict[str, Any]], np.ndarray, list[str]]:
    import duckdb

    log, truth, db = tmp / "auth.log", tmp / "truth.tsv", tmp / "auth.duckdb"
    subprocess.run([sys.executable, str(SHARED / "acceptance" / "gen_auth2.py"), "labelled", str(log), str(truth)],
                   check=True)
    subprocess.run([str(ROOT / ".venv" / "bin" / "vigil"), "ingest", "--detect", "--db", str(db), str(log)],
                   check=True, capture_output=True)
    labels = {}
    for line in truth.read_text().splitlines():
        ip, label, *kind = line.split("\t")
        labels[ip] = f"{label}/{kind[0]}" if kind else label
    con = duckdb.connect(str(db))
    rows = []
    for aid, entity in con.execute("SELECT alert_id, entity FROM alerts ORDER BY alert_id").fetchall():
        ip = entity.split("=", 1)[1] if entity and "=" in entity else None
        if ip in labels:
            rows.append({"alert_id": aid, "group": ip, "labels": {labels[ip]}})
    vectors, texts = _features(con, [r["alert_id"] for r in rows])
    return rows, vectors, texts


def crowdsec_cases(tmp: Path) -> tuple[list[dict[str, Any]], np.ndarray, list[str]]:
    import duckdb

    from app.config import Config
    from app.engine import Engine
    from store.sources.base import LineBatch

    root = SHARED / "datasets" / "crowdsec-hub-tests"
    cases = [json.loads(x) for x in (root / "labels.jsonl").read_text().splitlines() if x.strip()]
    cases = [c for c in cases if c.get("expect_alerts")]
    db = tmp / "crowdsec.duckdb"
    engine = Engine(Config(), db_path=db, respond=False).start()
    spans = []
    for case in cases:
        first = engine.ids.horizon() + 1
        for name in case["log_files"]:
            lines = (root / "cases" / case["case"] / name).read_bytes().splitlines()
            hint = "jsonl" if name.endswith((".json", ".ndjson")) else None
            engine.submit(LineBatch(f"file:/cases/{case['case']}/{name}", lines, datetime.now(UTC), format_hint=hint))
        engine.wait_idle(300)
        spans.append((first, engine.ids.horizon(), case["case"], {a["scenario"] for a in case["expect_alerts"]}))
    engine.stop()
    con = duckdb.connect(str(db))
    rows = []
    for aid, eid in con.execute("SELECT alert_id, event_ids[1] FROM alerts ORDER BY alert_id").fetchall():
        span = next((s for s in spans if s[0] <= int(eid) <= s[1]), None)
        if span is not None:
            rows.append({"alert_id": aid, "group": span[2], "labels": span[3]})
    vectors, texts = _features(con, [r["alert_id"] for r in rows])
    return rows, vectors, texts


def evaluate(rows: list[dict[str, Any]], vectors: np.ndarray) -> tuple[int, float, float, float, float]:
    v = vectors / (np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-9)
    sims = v @ v.T
    per: dict[str, list[tuple[bool, float]]] = defaultdict(list)
    for i, r in enumerate(rows):
        candidates = [j for j, o in enumerate(rows) if o["group"] != r["group"]]
        relevant = {j for j in candidates if rows[j]["labels"] & r["labels"]}
        if not relevant:
            continue
        ranked = sorted(candidates, key=lambda j: (-sims[i, j], j))
        rank = next(k for k, j in enumerate(ranked, 1) if j in relevant)
        per[sorted(r["labels"])[0]].append((rank == 1, 1 / rank))
    every = [x for v in per.values() for x in v]
    return (len(every), float(np.mean([a for a, _ in every])), float(np.mean([b for _, b in every])),
            float(np.mean([np.mean([a for a, _ in v]) for v in per.values()])),
            float(np.mean([np.mean([b for _, b in v]) for v in per.values()])))


def run() -> None:
    try:
        import wordllama
        from wordllama import WordLlama

        model: Any = WordLlama.load(cache_dir=Path(wordllama.__file__).parent)  # the wheel's own files, no hub
    except Exception as exc:
        model = None
        print(f"  (WordLlama not measured: {type(exc).__name__}: {exc})")
    with tempfile.TemporaryDirectory() as tmp:
        for name, build in (("labelled SSH day", auth_day), ("CrowdSec hub cases", crowdsec_cases)):
            rows, hashed, texts = build(Path(tmp))
            results = {"hashing (shipped)": evaluate(rows, hashed)}
            if model is not None:
                results["WordLlama"] = evaluate(rows, np.asarray(model.embed(texts, norm=True), dtype=np.float32))
            for method, (n, p1, mrr, mp1, mmrr) in results.items():
                print(f"  {name:<20} {method:<18} {n:4d} queries  P@1 {p1:.3f}  MRR {mrr:.3f}  "
                      f"macro P@1 {mp1:.3f}  macro MRR {mmrr:.3f}")


if __name__ == "__main__":
    run()
