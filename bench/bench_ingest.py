"""Ingest throughput: `vigil ingest` of generated lines (file → committed rows, end to end, in a subprocess,
peak RSS), against the same rows inserted straight into DuckDB as prebuilt Arrow batches in the same run."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.gen import write_lines

ROOT = Path(__file__).resolve().parent.parent


def _vigil() -> list[str]:
    exe = ROOT / ".venv" / "bin" / "vigil"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "app"]


def raw_insert_rate(lines: list[str], db: Path, full_schema: bool) -> float:
    """Rows/s of INSERT … SELECT from Arrow batches built before the clock starts."""
    import duckdb
    import pyarrow as pa

    now = datetime(2026, 11, 21, 10, 0, 0, tzinfo=UTC)
    batches = []
    if full_schema:
        from store.parsers import ParserChain
        from store.pipeline import EventBatchBuilder

        chain = ParserChain()
        for i in range(0, len(lines), 5000):
            b = EventBatchBuilder()
            b.first_id = i + 1
            b.extend([chain.parse(x.encode(), now) for x in lines[i:i + 5000]], now, "file:bench", None, None)
            batches.append(b.build())
        from store.db import Store

        con = Store.open(db).con
        sql = "INSERT INTO events SELECT * FROM b"
    else:
        for i in range(0, len(lines), 5000):
            chunk = lines[i:i + 5000]
            n = len(chunk)
            batches.append(pa.table({
                "event_id": pa.array(range(i, i + n), pa.int64()), "ts": [now] * n, "received_at": [now] * n,
                "source": ["file:in.log"] * n, "host": [x.split(" ", 4)[3] if len(x.split(" ", 4)) > 4 else ""
                                                       for x in chunk],
                "app": ["app"] * n, "pid": pa.array([42] * n, pa.int32()), "severity": pa.array([6] * n, pa.int8()),
                "message": chunk, "raw": chunk}))
        con = duckdb.connect(str(db))
        con.execute("CREATE TABLE t(event_id BIGINT, ts TIMESTAMPTZ, received_at TIMESTAMPTZ, source VARCHAR, "
                    "host VARCHAR, app VARCHAR, pid INTEGER, severity TINYINT, message VARCHAR, raw VARCHAR)")
        sql = "INSERT INTO t SELECT * FROM b"
    t0 = time.perf_counter()
    for b in batches:  # noqa: B007 — `b` is read by DuckDB's replacement scan
        con.execute(sql)
    con.execute("CHECKPOINT")
    dt = time.perf_counter() - t0
    con.close()
    return len(lines) / dt


def run(n: int = 1_000_000) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as d:
        tmp = Path(d)
        src = write_lines(tmp / "in.log", n)
        lines = src.read_text().splitlines()
        env = dict(os.environ, XDG_DATA_HOME=str(tmp / "data"), XDG_CONFIG_HOME=str(tmp / "cfg"))
        for detect in (False, True):
            db = tmp / f"v{int(detect)}.duckdb"
            args = [*_vigil(), "ingest", "--db", str(db), str(src)] + (["--detect"] if detect else [])
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            t0 = time.perf_counter()
            out = subprocess.run(args, capture_output=True, text=True, env=env)
            dt = time.perf_counter() - t0
            rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            if out.returncode != 0:
                print(out.stderr, file=sys.stderr)
                raise SystemExit("vigil ingest failed")
            label = "store+detect" if detect else "store only"
            print(f"  vigil ingest ({label}): {n:,} lines in {dt:.2f} s = {n / dt:,.0f} lines/s end to end "
                  f"(process start included); peak RSS {max(rss, before) / 1024:,.0f} MB")
            if not detect:
                e2e = n / dt
            else:
                e2e_detect = n / dt
        raw10 = raw_insert_rate(lines, tmp / "raw10.duckdb", full_schema=False)
        rawfull = raw_insert_rate(lines, tmp / "rawfull.duckdb", full_schema=True)
    print(f"  raw DuckDB Arrow insert, 10 columns (acceptance baseline): {raw10:,.0f} rows/s")
    print(f"  raw DuckDB Arrow insert, Vigil's full event schema (prebuilt): {rawfull:,.0f} rows/s")
    print(f"  ratio store-only / raw-10col = {e2e / raw10:.2f}; / raw-full = {e2e / rawfull:.2f} "
          f"(target ≥ 0.5; ≥ 100,000 lines/s)")
    return {"e2e": e2e, "e2e_detect": e2e_detect, "raw10": raw10, "rawfull": rawfull}


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
