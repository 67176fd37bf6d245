"""Detector figures: templates/s (masked cache vs plain drain3 on the same lines, same run), ONNX scoring
events/s per batch, and end-to-end ingest+score lines/s."""

from __future__ import annotations

import tempfile
from pathlib import Path

from detectors.eval.common import datasets_root


def _sample_lines(limit: int = 60_000) -> tuple[str, list[str]]:
    for rel in ("hdfs-loglead-2pct-dev/HDFS_2pct_dev.log", "elastic-examples-security/auth.log"):
        p = datasets_root() / rel
        if p.exists():
            return rel, p.read_text(encoding="utf-8", errors="replace").splitlines()[:limit]
    from bench.gen import write_lines

    print("  (../shared/datasets absent: using generated lines)")
    with tempfile.TemporaryDirectory() as d:
        return "generated", write_lines(Path(d) / "g.log", limit).read_text().splitlines()


def run_templates() -> dict[str, float]:
    from detectors.templates import bench_templates

    name, lines = _sample_lines()
    r = bench_templates(lines)
    print(f"  lines: {name}, {int(r['lines']):,} lines, {int(r['templates'])} templates")
    print(f"  masked cache (warm): {r['cached_lines_per_s']:,.0f} lines/s ({r['cached_us_per_line']:.2f} µs/line); "
          f"cold first pass {r['cold_lines_per_s']:,.0f} lines/s")
    print(f"  plain drain3 (same lines): {r['drain3_lines_per_s']:,.0f} lines/s "
          f"({r['drain3_us_per_line']:.1f} µs/line)")
    print(f"  speed-up: {r['cached_lines_per_s'] / r['drain3_lines_per_s']:.1f}x")
    return r


def run_scoring() -> dict[str, float]:
    from detectors.models.bench import bench_scoring

    r = bench_scoring(n=100_000)
    for k, v in r.items():
        if k.endswith("_per_s"):
            print(f"  {k.replace('_', ' ')}: {v:,.0f} (goal ≥ 100,000 events/s)")
    return r


def run_ingest_score(n: int = 200_000) -> None:
    """End to end with detection: `vigil ingest --detect` (templates, rules, Sigma, models in learning mode
    then active), compared with store-only on the same lines in the same run."""
    import os
    import subprocess
    import sys
    import time

    from bench.bench_ingest import _vigil
    from bench.gen import write_lines

    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as d:
        tmp = Path(d)
        src = write_lines(tmp / "in.log", n)
        env = dict(os.environ, XDG_DATA_HOME=str(tmp / "data"), XDG_CONFIG_HOME=str(tmp / "cfg"))
        rates = {}
        for detect in (False, True):
            args = [*_vigil(), "ingest", "--db", str(tmp / f"v{int(detect)}.duckdb"), str(src)]
            args += ["--detect"] if detect else []
            t0 = time.perf_counter()
            out = subprocess.run(args, capture_output=True, text=True, env=env)
            if out.returncode:
                print(out.stderr, file=sys.stderr)
                raise SystemExit("vigil ingest failed")
            rates[detect] = n / (time.perf_counter() - t0)
        print(f"  ingest+score (templates, rules, Sigma, models): {rates[True]:,.0f} lines/s vs store only "
              f"{rates[False]:,.0f} lines/s on the same {n:,} lines (ratio {rates[True] / rates[False]:.2f})")
