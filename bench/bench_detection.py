"""Detection figures, each against a baseline measured in the same run:

- `run_vs_fail2ban`: one generated jump-host auth.log (Debian 12 sshd + PAM) through fail2ban-regex's sshd filter,
  `vigil ingest` store-only and `vigil ingest --detect`: lines/s, peak RSS, the ratios, benign users alerted.
- `run_latency`: a line appended to a watched file → its alert committed, p50/p95, at 20k lines/s offered.
- `run_sigma_scale`: rule evaluation throughput with the shipped rules, then with the 289 SigmaHQ rules added.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.bench_ingest import _vigil
from bench.gen_auth import ATTACKERS, USERS, write_jump_host_log

TARGETS = "targets: detect ≥ 2.5× fail2ban-regex, ≥ 0.6× store-only, peak RSS ≤ 500 MB, 0 benign users alerted"


def _measure(args: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(seconds, peak RSS MB, exit code) of one child process, from its own rusage."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - t0, usage.ru_maxrss / 1024, proc.returncode


def run_vs_fail2ban(n: int = 300_000, runs: int = 3) -> dict[str, float]:
    """Each tool `runs` times, interleaved (a slow moment of a shared VM hits all three alike); medians, ranges and
    ratios of medians. Detection's own time varies from run to run: on a fresh store the models train part-way
    through, and how much of the file they then score depends on when training ends."""
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as d:
        tmp = Path(d)
        log = write_jump_host_log(tmp / "auth.log", n)
        env = dict(os.environ, XDG_DATA_HOME=str(tmp / "data"), XDG_CONFIG_HOME=str(tmp / "cfg"))
        f2b = shutil.which("fail2ban-regex")
        if not f2b:
            print("  fail2ban-regex: not installed (Debian package fail2ban; `make bench` installs it as root)")
        rates: dict[str, list[float]] = {"f2b": [], "store": [], "detect": []}
        rss: dict[str, list[float]] = {"f2b": [], "store": [], "detect": []}
        benign, attackers = [], []
        for i in range(runs):
            if f2b:
                s, mb, _ = _measure([f2b, str(log), "sshd"], env)
                rates["f2b"].append(n / s)
                rss["f2b"].append(mb)
            for key, extra in (("store", []), ("detect", ["--detect"])):
                # A directory per run: trained models are kept beside the store, and every run starts fresh.
                db = tmp / f"{key}{i}" / "vigil.duckdb"
                s, mb, rc = _measure([*_vigil(), "ingest", "--db", str(db), *extra, str(log)], env)
                if rc:
                    raise SystemExit(f"vigil ingest {' '.join(extra)} failed (exit {rc})")
                rates[key].append(n / s)
                rss[key].append(mb)
            b, a = _alerted(tmp / f"detect{i}" / "vigil.duckdb")
            benign.append(b)
            attackers.append(a)

        def line(key: str) -> str:
            r, m = rates[key], rss[key]
            return (f"median {statistics.median(r):,.0f} lines/s (runs {', '.join(f'{x:,.0f}' for x in r)}), "
                    f"peak RSS {statistics.median(m):,.0f} MB (max {max(m):,.0f})")

        out: dict[str, float] = {}
        for key in rates:
            if rates[key]:
                out[key], out[f"{key}_rss"] = statistics.median(rates[key]), max(rss[key])
        if f2b:
            print(f"  fail2ban-regex (sshd filter, regex only, no store): {line('f2b')}")
        print(f"  vigil ingest (store only, process start included): {line('store')}")
        print(f"  vigil ingest (store + detect, process start included): {line('detect')}")
        out["benign_alerted"], out["attackers_alerted"] = max(benign), min(attackers)
        ratio = f"{out['detect'] / out['f2b']:.2f}× fail2ban-regex, " if "f2b" in out else ""
        print(f"  ratios of medians: detect = {ratio}{out['detect'] / out['store']:.2f}× store-only; benign users with "
              f"a medium+ alert: at most {max(benign)} of {len(USERS)} in any run; attacking addresses alerted: at "
              f"least {min(attackers)} of {len(ATTACKERS)}")
        print(f"  {TARGETS}")
        return out


def _alerted(db: Path) -> tuple[int, int]:
    """(benign users, attacking addresses) with a medium+ alert in one run's store."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        q = ("SELECT count(DISTINCT entity) FROM alerts WHERE severity IN ('medium','high','critical') "
             "AND entity LIKE ?")
        return (con.execute(q, ["src_ip=198.51.100.%"]).fetchone()[0],
                con.execute(q, ["src_ip=203.0.113.%"]).fetchone()[0])
    finally:
        con.close()


def run_latency(rate: int = 20_000, seconds: float = 20.0, probes: int = 40) -> dict[str, float]:
    """A probe is one new address's five failed passwords written at once among `rate` benign lines/s; latency is
    the time from that write to the brute-force alert being committed (the console sees it then)."""
    from app.config import Config
    from app.engine import Engine

    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as d:
        tmp = Path(d)
        log = tmp / "live.log"
        log.write_text("")
        cfg = Config()
        cfg.sources.watch = [str(log)]
        cfg.sources.poll_interval = 0.1
        cfg.detectors.learning_events = 10**9
        os.environ.setdefault("XDG_DATA_HOME", str(tmp / "data"))
        engine = Engine(cfg, db_path=tmp / "v.duckdb", respond=False)
        written: dict[str, float] = {}
        seen: dict[str, float] = {}

        def on_alerts(updates: list) -> None:
            now = time.monotonic()
            for u in updates:
                ip = (u.entity or "").removeprefix("src_ip=")
                if u.rule_id == "auth.bruteforce" and ip in written and ip not in seen:
                    seen[ip] = now

        engine.detection.on_alerts.append(on_alerts)
        engine.start()
        stop = threading.Event()

        def write() -> None:
            every, k, probe = 0.01, 0, 0
            per_tick = max(1, int(rate * every))
            next_probe = time.monotonic() + 1.0
            t_end = time.monotonic() + seconds
            with log.open("a") as fh:
                while time.monotonic() < t_end and not stop.is_set():
                    now = datetime.now(UTC).strftime("%b %d %H:%M:%S")
                    chunk = [f"{now} jump1 CRON[{2000 + (k + i) % 500}]: pam_unix(cron:session): session opened for "
                             f"user root(uid=0) by (uid=0)" for i in range(per_tick)]
                    k += per_tick
                    ip = None
                    if time.monotonic() >= next_probe and probe < probes:
                        probe += 1
                        ip = f"192.0.2.{probe}"
                        chunk += [f"{now} jump1 sshd[{9000 + j}]: Failed password for root from {ip} port {40000 + j} "
                                  "ssh2" for j in range(5)]
                        next_probe += seconds / (probes + 1)
                    fh.write("\n".join(chunk) + "\n")
                    fh.flush()
                    if ip:
                        written[ip] = time.monotonic()
                    time.sleep(every)

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        writer.join()
        deadline = time.monotonic() + 60
        while len(seen) < len(written) and time.monotonic() < deadline:
            time.sleep(0.1)
        stop.set()
        engine.stop()
    lat = sorted(seen[ip] - written[ip] for ip in seen)
    if not lat:
        print("  no probe alerted")
        return {}
    p50, p95 = statistics.median(lat), lat[min(len(lat) - 1, int(len(lat) * 0.95))]
    print(f"  line appended → alert committed at {rate:,} lines/s offered: p50 {p50 * 1000:,.0f} ms, p95 "
          f"{p95 * 1000:,.0f} ms over {len(lat)} of {len(written)} probes (target p95 ≤ 1 s)")
    return {"p50": p50, "p95": p95}


def run_sigma_scale(n: int = 200_000) -> dict[str, float]:
    """Events/s of rule evaluation alone (parsed batches prepared first): the shipped rules, then with the 289
    SigmaHQ Linux/web/network rules loaded as well."""
    from detectors.eval.common import datasets_root
    from detectors.replay import parsed_batches
    from detectors.rules.evaluate import RuleEngine
    from detectors.rules.ruleset import default_rule_dirs, load_rules
    from detectors.templates import TemplateMiner

    sigmahq = datasets_root() / "sigmahq-rules" / "rules"
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as d:
        log = write_jump_host_log(Path(d) / "auth.log", n)
        batches = list(parsed_batches(log.read_bytes().splitlines(), miner=TemplateMiner()))
    out: dict[str, float] = {}
    sets = [("shipped rules", default_rule_dirs())]
    if sigmahq.exists():
        sets.append(("shipped + SigmaHQ", [*default_rule_dirs(), sigmahq]))
    else:
        print(f"  SigmaHQ rules absent at {sigmahq}: only the shipped rules are measured")
    for label, dirs in sets:
        rs = load_rules(dirs)
        engine = RuleEngine(rs)
        t0 = time.perf_counter()
        hits = sum(len(engine.evaluate(b)) for b in batches)
        rate = n / (time.perf_counter() - t0)
        out[label] = rate
        print(f"  {label}: {len(rs.detections)} detections + {len(rs.correlations)} correlations, "
              f"{rate:,.0f} events/s ({hits:,} merged hits; {len(rs.problems)} not loaded)")
    if len(out) == 2:
        a, b = out.values()
        print(f"  ratio with SigmaHQ / shipped only: {b / a:.2f}")
    return out


if __name__ == "__main__":
    names = sys.argv[1:] or ["run_vs_fail2ban", "run_latency", "run_sigma_scale"]
    for name in names:
        globals()[name]()
