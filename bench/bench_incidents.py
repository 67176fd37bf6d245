"""Alerts per attacker before and after incidents, on the shared datasets: `vigil ingest --detect` (the real CLI)
into a fresh store, then count alerts, incidents and attackers (the distinct source addresses the alerts cite as
evidence). Not a test: it prints figures. `python -m bench bench_incidents` or `python -m bench.bench_incidents`."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
DATASETS = Path(os.environ.get("VIGIL_DATASETS", ROOT.parent / "shared" / "datasets"))
FILES = [
    ("loghub OpenSSH 2k", "loghub/OpenSSH/OpenSSH_2k.log"),
    ("elastic auth.log", "elastic-examples-security/auth.log"),
]


def measure(path: Path) -> dict[str, float]:
    vigil = ROOT / ".venv" / "bin" / "vigil"
    cmd = [str(vigil)] if vigil.exists() else [sys.executable, "-m", "app"]
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "v.duckdb"
        env = {**os.environ, "XDG_DATA_HOME": tmp, "XDG_CONFIG_HOME": tmp}
        subprocess.run([*cmd, "ingest", "--detect", "--db", str(db), str(path)], check=True, env=env,
                       capture_output=True)
        con = duckdb.connect(str(db), read_only=True)
        try:
            alerts = con.execute("SELECT count(*) FROM alerts").fetchone()[0]
            incidents = con.execute("SELECT count(*) FROM incidents").fetchone()[0]
            attackers = con.execute(
                "SELECT count(DISTINCT e.src_ip) FROM events e WHERE e.src_ip IS NOT NULL AND e.event_id IN "
                "(SELECT unnest(event_ids) FROM alerts)").fetchone()[0]
            by_address = con.execute("SELECT count(*) FROM incidents WHERE entity LIKE 'src_ip=%'").fetchone()[0]
            biggest = con.execute("SELECT max(alert_count) FROM incidents").fetchone()[0]
        finally:
            con.close()
    return {"alerts": alerts, "incidents": incidents, "attackers": attackers, "by_address": by_address,
            "biggest": biggest or 0}


def run() -> None:
    print(f"  {'dataset':<20} {'alerts':>7} {'incidents':>9} {'attackers':>9}  alerts/attacker  incidents/attacker")
    for name, rel in FILES:
        path = DATASETS / rel
        if not path.exists():
            print(f"  {name:<20} (not available at {path})")
            continue
        m = measure(path)
        per_alert = m["alerts"] / max(1, m["attackers"])
        per_incident = m["incidents"] / max(1, m["attackers"])
        print(f"  {name:<20} {m['alerts']:>7,} {m['incidents']:>9,} {m['attackers']:>9,}  {per_alert:>15.2f}  "
              f"{per_incident:>18.2f}   ({m['by_address']} incidents keyed by address, largest folds "
              f"{m['biggest']} alerts)")


if __name__ == "__main__":
    run()
