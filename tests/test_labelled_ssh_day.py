"""Detection quality on a generated SSH day, through `vigil ingest --detect`: fast brute forcers, brute forcers who
get in, low-and-slow guessers (one try every 5–10 minutes for hours) and 500 benign users who sometimes mistype.
Every attacker gets a medium+ alert, those who got in a high+ one, and no benign user anything medium+."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb

from bench.gen_auth import write_labelled_day

ROOT = Path(__file__).resolve().parents[1]
RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}


def test_every_attacker_alerted_none_of_the_benign_users(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    truth = write_labelled_day(log)
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "cfg"), XDG_DATA_HOME=str(tmp_path / "data"))
    out = subprocess.run([sys.executable, "-m", "app", "ingest", "--detect", "--db", str(tmp_path / "v.duckdb"),
                          str(log)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    con = duckdb.connect(str(tmp_path / "v.duckdb"), read_only=True)
    worst: dict[str, int] = {}
    for entity, severity in con.execute("SELECT entity, severity FROM alerts WHERE entity LIKE 'src_ip=%'").fetchall():
        ip = entity.split("=", 1)[1]
        worst[ip] = max(worst.get(ip, 0), RANK[severity])
    con.close()
    missed = {ip: kind for ip, kind in truth.items() if kind != "benign" and worst.get(ip, 0) < RANK["medium"]}
    benign = [ip for ip, kind in truth.items() if kind == "benign" and worst.get(ip, 0) >= RANK["medium"]]
    got_in = [ip for ip, kind in truth.items() if kind == "success" and worst.get(ip, 0) < RANK["high"]]
    assert not missed, f"attackers without a medium+ alert: {missed}"
    assert not benign, f"benign users with a medium+ alert: {benign}"
    assert not got_in, f"attackers who got in without a high+ alert: {got_in}"
