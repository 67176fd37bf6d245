"""Local API and similar-alert figures on a store holding 100,000 alerts: latency of `/api/v1/alerts` over real
HTTP (p50/p95, against the same query run straight on DuckDB in-process), the time to embed every alert, and
the time of one similar-alert look-up (DuckDB cosine over every stored vector, against numpy brute force on the
same vectors in memory).

Run standalone: `python -m bench.bench_api [--alerts N] [--requests N]`.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

RULES = ["auth.bruteforce", "auth.slow_guessing", "auth.password_spray", "auth.ssh_root_password_failure",
         "web.scanner", "web.sql_injection_query", "web.sensitive_file_probe", "priv.sudo_root_shell",
         "sys.oom_killer", "net.device_alert"]
TEMPLATES = ["Failed password for <*> from <*> port <*> ssh2", "Accepted password for <*> from <*> port <*> ssh2",
             "Invalid user <*> from <*> port <*>", "GET <*> HTTP/1.1 404", "GET /wp-login.php HTTP/1.1 200",
             "Out of memory: Killed process <*> (<*>)", "<*> : TTY=<*> ; PWD=<*> ; USER=root ; COMMAND=<*>",
             "%ASA-4-106023: Deny tcp src outside:<*> dst inside:<*>"]


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def build_store(path: Path, alerts: int) -> Any:
    """A store with `alerts` alerts over 10,000 entities, each citing 4 of 8 × alerts/10 events."""
    from app.config import Config
    from app.storage import open_store

    store = open_store(path, Config())
    con = store.con
    n_events = max(1000, alerts * 2)
    con.execute("INSERT INTO templates SELECT i, t, now(), 'h' FROM (SELECT unnest(range(?)) AS i, "
                "unnest(?::VARCHAR[]) AS t)", [len(TEMPLATES), TEMPLATES])
    con.execute(f"""
        INSERT INTO events (event_id, ts, received_at, source, host, app, message, template_id, src_ip, "user",
                            category, outcome, raw, service, "action")
        SELECT i, now() - INTERVAL (i) SECOND, now(), 'file:/var/log/bench.log', 'host' || (i % 40), 'sshd',
               'message ' || i, i % {len(TEMPLATES)}, '198.18.' || (i % 250) || '.' || (i % 200),
               ['root', 'admin', 'backup', 'alice'][1 + i % 4], 'authentication',
               CASE WHEN i % 9 = 0 THEN 'success' ELSE 'failure' END, 'raw ' || i, 'sshd',
               CASE WHEN i % 9 = 0 THEN 'login' ELSE 'login_failed' END
        FROM range(1, {n_events + 1}) t(i)""")
    con.execute(f"""
        INSERT INTO alerts (alert_id, created_at, first_seen, last_seen, detector, rule_id, entity, score, severity,
                            title, summary, event_ids, "count", status, why, host, category)
        SELECT i, now() - INTERVAL (i) MINUTE, now() - INTERVAL (i) MINUTE, now() - INTERVAL (i) MINUTE,
               'sigma', (?::VARCHAR[])[1 + i % 10], 'src_ip=198.18.' || (i % 50) || '.' || (i % 200),
               0.5, ['low', 'medium', 'high', 'critical'][1 + (i * 7) % 4], 'bench alert ' || (i % 10),
               'summary', [1 + (i * 13) % {n_events}, 1 + (i * 17) % {n_events}, 1 + (i * 19) % {n_events},
               1 + (i * 23) % {n_events}], 4, ['new', 'acknowledged', 'resolved', 'false_positive'][1 + i % 4],
               'why', 'host' || (i % 40), 'authentication'
        FROM range(1, {alerts + 1}) t(i)""", [RULES])
    return store


def run_api(alerts: int, requests: int) -> None:
    import httpx

    from app.config import Config
    from app.engine import Engine

    with tempfile.TemporaryDirectory() as tmp:
        import os

        os.environ["XDG_DATA_HOME"] = str(Path(tmp) / "data")
        db = Path(tmp) / "bench.duckdb"
        build_store(db, alerts).close()
        cfg = Config()
        cfg.detectors.enabled = False
        cfg.api.listen = "127.0.0.1:0"
        engine = Engine(cfg, db_path=db).start()
        try:
            assert engine.api is not None
            token = engine.api.token_path.read_text().strip()
            variants = {"newest 100": {}, "severity=high": {"severity": "high"},
                        "entity=…": {"entity": "src_ip=198.18.7.7"}, "status=new,acknowledged": {
                            "status": "new,acknowledged"}}
            rng = random.Random(7)
            with httpx.Client(base_url=engine.api.url, headers={"Authorization": f"Bearer {token}"},
                              timeout=60, trust_env=False) as client:
                client.get("/api/v1/alerts")  # warm the connection
                for name, params in variants.items():
                    http, direct = [], []
                    for _ in range(requests):
                        t0 = time.perf_counter()
                        r = client.get("/api/v1/alerts", params=params)
                        http.append((time.perf_counter() - t0) * 1000)
                        assert r.status_code == 200
                    for _ in range(requests):
                        cur = engine.store.cursor()
                        t0 = time.perf_counter()
                        _direct_query(cur, params)
                        direct.append((time.perf_counter() - t0) * 1000)
                        cur.close()
                    print(f"  GET /api/v1/alerts {name:<26} p50 {statistics.median(http):6.1f} ms  "
                          f"p95 {_pct(http, 95):6.1f} ms   (same query on DuckDB in-process: p95 "
                          f"{_pct(direct, 95):5.1f} ms; HTTP+JSON adds {_pct(http, 95) - _pct(direct, 95):5.1f} ms)")
                    rng.random()
            print(f"  ({alerts:,} alerts, {requests} requests per variant, one keep-alive client)")
        finally:
            engine.stop()


def _direct_query(cur: Any, params: dict[str, str]) -> None:
    """The API's own SQL (app.api.routes.alerts_sql), run in-process: what HTTP and JSON add is the difference."""
    from app.api.routes import alerts_sql

    where, args = [], []
    for key, value in params.items():
        if key == "entity":
            where.append("entity = ?")
            args.append(value)
        else:
            where.append(f"{key} IN (SELECT unnest(?::VARCHAR[]))")
            args.append(value.split(","))
    cur.execute(alerts_sql(where), [*args, 101]).fetchall()


def run_similar(alerts: int, lookups: int = 100) -> None:
    import numpy as np

    from detectors.alert_embedding import DIMS
    from detectors.similar_alerts import embed_missing, similar_to

    with tempfile.TemporaryDirectory() as tmp:
        store = build_store(Path(tmp) / "bench.duckdb", alerts)
        try:
            import sklearn.feature_extraction.text  # noqa: F401  (its ~1 s import is not part of the figure)

            t0 = time.perf_counter()
            n = embed_missing(store.con)
            took = time.perf_counter() - t0
            print(f"  embed {n:,} alerts (rule, entity kind, evidence templates and fields → {DIMS} floats): "
                  f"{took:.1f} s ({n / took:,.0f} alerts/s, off the scorer's path)")
            rng = random.Random(11)
            ids = [rng.randint(alerts // 2, alerts) for _ in range(lookups)]
            timings = []
            for aid in ids:
                t0 = time.perf_counter()
                found = similar_to(store.con, aid, k=5)
                timings.append((time.perf_counter() - t0) * 1000)
                assert found is not None
            ids_all, vecs = zip(*store.con.execute("SELECT alert_id, vec FROM alert_embeddings").fetchall(),
                                strict=True)
            matrix = np.asarray(vecs, dtype=np.float32)
            brute = []
            for aid in ids:  # the vectors are unit length: cosine is a dot product
                t0 = time.perf_counter()
                scores = matrix[: aid - 1] @ matrix[aid - 1]
                np.argpartition(-scores, 5)[:5]
                brute.append((time.perf_counter() - t0) * 1000)
            print(f"  similar-alert look-up at {alerts:,} alerts: p50 {statistics.median(timings):6.1f} ms  p95 "
                  f"{_pct(timings, 95):6.1f} ms  (numpy brute force on the same vectors in memory: p95 "
                  f"{_pct(brute, 95):5.1f} ms; ratio {_pct(timings, 95) / max(_pct(brute, 95), 1e-6):.1f}x)")
            print(f"  vectors stored: {len(ids_all):,} rows of FLOAT[{DIMS}] ({len(ids_all) * DIMS * 4 / 1e6:,.0f} MB "
                  "uncompressed)")
        finally:
            store.close()


def run(alerts: int = 100_000, requests: int = 200) -> None:
    run_api(alerts, requests)
    run_similar(alerts)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--alerts", type=int, default=100_000)
    p.add_argument("--requests", type=int, default=200)
    a = p.parse_args()
    run(a.alerts, a.requests)


if __name__ == "__main__":
    main()
