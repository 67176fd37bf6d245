"""The forensic bundle reads only configured log sources: an evidence row's `source` (which an imported archive
or a remote site can set to anything) never chooses a file. The dry run lists the files the bundle will read and
the ones it refuses; the real `vigil playbooks dry-run` shows both, and the executed bundle holds nothing else."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from playbooks.chat import PlaybookSession
from playbooks.storage import PLAYBOOK_MIGRATIONS
from store.db import Store
from tests.conftest import ROOT, vigil_cmd

from .playbook_support import ATTACKER, add_alert, add_event, make_config, open_db, unprivileged_catalog
from .test_executor import approved


def evidence_with_forged_sources(con, tmp: Path) -> tuple[Path, Path]:  # noqa: ANN001
    """Alert 7: three failures from the configured auth.log, and two rows whose source names a file outside the
    configured sources (directly, and through `..`). Both files mention the attacker."""
    logs = tmp / "logs"
    logs.mkdir()
    log = logs / "auth.log"
    log.write_text(f"Nov 21 06:00:01 web-01 sshd[1]: Failed password for admin from {ATTACKER} port 1 ssh2\n"
                   "Nov 21 06:00:02 web-01 sshd[2]: Accepted publickey for ops from 192.0.2.1 port 2 ssh2\n")
    secret = tmp / "secret.txt"
    secret.write_text(f"root:SECRET-HASH:{ATTACKER}\n")
    sources = [f"file:{log}"] * 3 + [f"file:{secret}", f"file:{logs}/../secret.txt"]
    for i, source in enumerate(sources):
        add_event(con, 700 + i, src_ip=ATTACKER, user="admin", source=source,
                  message=f"Failed password for admin from {ATTACKER} port {4000 + i} ssh2")
    add_alert(con, 7, [700 + i for i in range(len(sources))], severity="high", entity=f"src_ip={ATTACKER}")
    return log, secret


def test_the_bundle_reads_only_configured_sources_and_says_what_it_refused(tmp_path: Path) -> None:
    con, db = open_db(tmp_path / "vigil.duckdb")
    log, secret = evidence_with_forged_sources(con, tmp_path)
    cfg = make_config(tmp_path, bundle_sources=[str(tmp_path / "logs")])  # a directory, as in [sources] watch
    session = PlaybookSession(cfg, db, catalog=unprivileged_catalog())
    try:
        out, approval = approved(session, 7, "forensic_bundle", {})
        lines = out.plan.dry_run_lines()
        step = next(ln for ln in lines if ln.startswith("step collect:"))
        assert f"--file {log}" in step and str(secret) not in step
        assert f"  note: reads {log}" in lines
        refused = [ln for ln in lines if "will not read" in ln]
        assert len(refused) == 2 and all("not a file under the configured [sources] watch paths" in ln
                                         for ln in refused)
        result = session.execute(out, approval)
        assert result.status == "succeeded", result.steps[0].stderr
    finally:
        session.close()
        con.close()
    bundle = next((tmp_path / "bundles").iterdir())
    slices = sorted(bundle.glob("slice-*.log"))
    assert [p.name for p in slices] == ["slice-00-auth.log.log"]
    assert ATTACKER in slices[0].read_text()
    for f in bundle.iterdir():
        if f.name != "evidence.jsonl":  # the rows themselves name the path, as data
            assert "SECRET-HASH" not in f.read_text(), f


def test_without_configured_sources_the_bundle_reads_no_file(tmp_path: Path) -> None:
    con, db = open_db(tmp_path / "vigil.duckdb")
    evidence_with_forged_sources(con, tmp_path)
    session = PlaybookSession(make_config(tmp_path), db, catalog=unprivileged_catalog())
    try:
        out, _ = approved(session, 7, "forensic_bundle", {})
        lines = out.plan.dry_run_lines()
        assert "--file" not in next(ln for ln in lines if ln.startswith("step collect:"))
        assert sum("will not read" in ln for ln in lines) == 3  # auth.log too: nothing is configured
        assert any("the bundle holds the alert and evidence rows" in ln for ln in lines)
    finally:
        session.close()
        con.close()


def test_cli_dry_run_lists_the_files_and_refuses_the_rest(tmp_path: Path) -> None:
    db = tmp_path / "vigil.duckdb"
    store = Store.open(db, migrations={"playbooks": PLAYBOOK_MIGRATIONS})
    log, secret = evidence_with_forged_sources(store.con, tmp_path)
    store.close()
    cfg = tmp_path / "cfg" / "vigil"
    cfg.mkdir(parents=True)
    (cfg / "config.toml").write_text(f'[sources]\nwatch = ["{tmp_path}/logs/*.log"]\n')
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "cfg"), XDG_DATA_HOME=str(tmp_path / "data"))
    r = subprocess.run([*vigil_cmd(), "playbooks", "dry-run", "forensic_bundle", "--db", str(db), "--alert", "7"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"--file {log}" in r.stdout and f"note: reads {log}" in r.stdout
    assert f"will not read '{secret}'" in r.stdout
    assert f"will not read '{tmp_path}/logs/../secret.txt'" in r.stdout
    assert not (tmp_path / "data" / "vigil" / "bundles").exists()  # a dry run writes nothing
