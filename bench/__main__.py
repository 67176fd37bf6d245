"""`make bench`: every benchmark in one run, each printing its figures and ratios against a baseline measured
in the same run. Timings vary ±15 % on a shared 2-core VM; run on an idle machine."""

from __future__ import annotations

import importlib
import os
import sys
import time

SECTIONS = [
    ("Ingest: file → committed rows", "bench.bench_ingest", "run", {}),
    ("Templates: masked cache vs plain drain3", "bench.bench_detect", "run_templates", {}),
    ("Scoring: ONNX models per batch", "bench.bench_detect", "run_scoring", {}),
    ("Ingest + score end to end", "bench.bench_detect", "run_ingest_score", {}),
    ("Detection vs fail2ban on a jump host's auth.log", "bench.bench_detection", "run_vs_fail2ban", {}),
    ("Detection latency: line appended → alert committed", "bench.bench_detection", "run_latency", {}),
    ("Sigma at scale: shipped rules vs + 289 SigmaHQ rules", "bench.bench_detection", "run_sigma_scale", {}),
    ("Incidents: alerts per attacker before and after", "bench.bench_incidents", "run", {}),
    ("Syslog TCP: 1M messages, 4 senders", "bench.bench_net", "run_tcp", {}),
    ("Syslog UDP: fixed offered rate", "bench.bench_net", "run_udp", {}),
    ("Forward: site → NATS JetStream → central", "bench.bench_forward", "run", {}),
    ("Console: first frame, key latency under ingest, RSS", "bench.bench_ui", "run", {}),
    ("Local API and similar alerts at 100k alerts", "bench.bench_api", "run", {}),
]


def main() -> int:
    only = set(sys.argv[1:])
    failures = 0
    print(f"Vigil benchmarks on {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    for title, module, func, kwargs in SECTIONS:
        if only and module.rsplit(".", 1)[-1] not in only and func not in only:
            continue
        print(f"\n== {title} ==", flush=True)
        t0 = time.perf_counter()
        try:
            getattr(importlib.import_module(module), func)(**kwargs)
        except Exception as exc:  # one broken bench must not hide the others' figures
            failures += 1
            print(f"  FAILED: {type(exc).__name__}: {exc}")
        print(f"  ({time.perf_counter() - t0:.1f} s)", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
