"""`vigil rules`: list, show, test one file over logs, disable and enable — through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAILS = [f"Dec 10 09:00:0{i} h sshd[1]: Failed password for root from 203.0.113.4 port 1 ssh2" for i in range(6)]


def vigil(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp / "cfg"), XDG_DATA_HOME=str(tmp / "data"))
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


def test_list_and_show(tmp_path: Path) -> None:
    out = vigil(tmp_path, "rules", "list", "--format", "json")
    assert out.returncode == 0, out.stderr
    rules = {r["id"]: r for r in json.loads(out.stdout)["rules"]}
    assert rules["auth.bruteforce"]["kind"] == "correlation:event_count" and rules["auth.bruteforce"]["attack"]
    assert rules["auth.login_failed"]["alerts"] is False  # a building block of the correlations
    table = vigil(tmp_path, "rules", "list").stdout
    assert "auth.password_spray" in table and "T1110.003" in table
    shown = vigil(tmp_path, "rules", "show", "auth.bruteforce")
    assert "correlation:" in shown.stdout and "event_count of auth.login_failed" in shown.stdout
    missing = vigil(tmp_path, "rules", "show", "nope")
    assert missing.returncode == 1 and "no rule 'nope'" in missing.stderr and "Traceback" not in missing.stderr


def test_test_runs_one_file_over_logs(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text("\n".join(FAILS) + "\n")
    rule = ROOT / "detectors" / "sigma_rules" / "auth" / "bruteforce.yml"
    out = vigil(tmp_path, "rules", "test", str(rule), str(log))
    assert out.returncode == 0, out.stderr
    assert "auth.bruteforce  src_ip=203.0.113.4  6 event(s)" in out.stdout and "1 hit(s) from 1 rule(s)" in out.stdout
    bad = vigil(tmp_path, "rules", "test", str(tmp_path / "none.yml"), str(log))
    assert bad.returncode == 1 and "no such rule file" in bad.stderr


def test_disable_stops_the_rule_and_enable_brings_it_back(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text("\n".join(FAILS) + "\n")
    off = vigil(tmp_path, "rules", "disable", "auth.bruteforce")
    assert off.returncode == 0 and "disabled auth.bruteforce" in off.stdout, off.stderr
    assert "disabled" in vigil(tmp_path, "rules", "list").stdout
    assert vigil(tmp_path, "ingest", "--detect", "--db", str(tmp_path / "a.duckdb"), str(log)).returncode == 0
    q = vigil(tmp_path, "query", "--db", str(tmp_path / "a.duckdb"), "--format", "csv",
              "SELECT count(*) FROM alerts WHERE rule_id = 'auth.bruteforce'")
    assert q.stdout.strip().splitlines()[-1] == "0", q.stdout + q.stderr
    assert vigil(tmp_path, "rules", "enable", "auth.bruteforce").returncode == 0
    assert vigil(tmp_path, "ingest", "--detect", "--db", str(tmp_path / "b.duckdb"), str(log)).returncode == 0
    q = vigil(tmp_path, "query", "--db", str(tmp_path / "b.duckdb"), "--format", "csv",
              "SELECT count(*) FROM alerts WHERE rule_id = 'auth.bruteforce'")
    assert q.stdout.strip().splitlines()[-1] == "1", q.stdout + q.stderr
