"""Grounded triage: every claim shown cites events that were in the evidence given; a model that invents event
ids (or techniques no rule tag supports) loses those claims before display. Real store (made by `vigil ingest
--detect`), the real Ollama client against the in-test wire-protocol server, the real console."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import duckdb
import pytest

from app.config import Config
from app.engine import Engine
from playbooks.triage import CLAIMS_SCHEMA, rule_tags, triage, triage_alert
from tests.conftest import vigil_cmd
from tests.ollama_server import OllamaTestServer, Reply
from tests.playbook_support import make_config
from tests.test_ui_support import make_app, settle

ATTACKER = "203.0.113.9"


@pytest.fixture(scope="module")
def incident_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A brute force that ends in a successful login, detected by the shipped rules."""
    root = tmp_path_factory.mktemp("triage")
    log = root / "auth.log"
    lines = [f"Nov 21 09:00:{10 + i} jump1 sshd[{600 + i}]: Failed password for admin from {ATTACKER} port "
             f"{40000 + i} ssh2" for i in range(12)]
    lines.append(f"Nov 21 09:00:30 jump1 sshd[700]: Accepted password for admin from {ATTACKER} port 40100 ssh2")
    log.write_text("\n".join(lines) + "\n")
    db = root / "v.duckdb"
    out = subprocess.run([*vigil_cmd(), "ingest", "--detect", "--db", str(db), str(log)], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return db


def incident_facts(db: Path) -> tuple[int, set[int], set[int]]:
    """(the brute-force alert's id, every event id of the attacker's alerts, all event ids in the store)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        aid = con.execute("SELECT min(alert_id) FROM alerts WHERE rule_id = 'auth.bruteforce'").fetchone()
        cited = con.execute("SELECT list(DISTINCT e) FROM (SELECT unnest(event_ids) AS e FROM alerts "
                            "WHERE entity = ?)", [f"src_ip={ATTACKER}"]).fetchone()
        every = con.execute("SELECT list(event_id) FROM events").fetchone()
    finally:
        con.close()
    assert aid is not None and aid[0] is not None and cited is not None and every is not None
    return int(aid[0]), set(cited[0]), set(every[0])


def test_offline_triage_cites_only_evidence_and_rule_tags(incident_db: Path) -> None:
    aid, cited, _ = incident_facts(incident_db)
    out = subprocess.run([*vigil_cmd(), "triage", "--db", str(incident_db), "--alert", str(aid), "--offline",
                          "--format", "json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["source"] == "offline" and report["entity"] == f"src_ip={ATTACKER}"
    sections = {c["section"] for c in report["claims"]}
    assert sections == {"what_happened", "intent", "techniques", "next_steps"}
    for claim in report["claims"]:
        assert claim["event_ids"] and set(claim["event_ids"]) <= cited, claim
    techniques = " ".join(c["text"] for c in report["claims"] if c["section"] == "techniques")
    assert "T1110.001 Password Guessing" in techniques
    assert "T1110.001" in report["techniques"]
    assert any("login as admin succeeded" in c["text"] for c in report["claims"])
    text = subprocess.run([*vigil_cmd(), "triage", "--db", str(incident_db), "--alert", str(aid), "--offline"],
                          capture_output=True, text=True, timeout=300)
    assert "ATT&CK techniques:" in text.stdout and "What to check next:" in text.stdout
    missing = subprocess.run([*vigil_cmd(), "triage", "--db", str(incident_db), "--alert", "9999"],
                             capture_output=True, text=True, timeout=300)
    assert missing.returncode == 1 and "no alert 9999" in missing.stderr and "Traceback" not in missing.stderr


def test_claims_citing_invented_events_are_dropped_before_display(incident_db: Path, tmp_path: Path) -> None:
    aid, cited, every = incident_facts(incident_db)
    real = sorted(cited)
    invented = max(every) + 1000
    server = OllamaTestServer().start()
    server.replies.append(Reply("json", obj={"claims": [
        {"section": "what_happened", "text": "Twelve failed logins for admin, then one succeeded.",
         "event_ids": real[:2]},
        {"section": "what_happened", "text": "The attacker also dumped /etc/shadow.", "event_ids": [invented]},
        {"section": "intent", "text": "Credential theft.", "event_ids": []},
        {"section": "techniques", "text": "T1059 Command and Scripting Interpreter", "event_ids": real[:1]},
        {"section": "techniques", "text": "T1110.001 Password Guessing", "event_ids": real[:1]},
        {"section": "next_steps", "text": "Reset admin's password.", "event_ids": [real[0], invented]},
    ]}))
    con = duckdb.connect(str(incident_db), read_only=True)
    try:
        report = triage(con, aid, make_config(tmp_path, ollama_host=server.url), tags=rule_tags())
    finally:
        con.close()
        server.stop()
    assert report.source == "llm:llama3.2"
    assert [c.text for c in report.claims] == ["Twelve failed logins for admin, then one succeeded.",
                                               "T1110.001 Password Guessing"]
    reasons = [d["reason"] for d in report.dropped]
    assert len(reasons) == 4
    assert sum(f"cites event {invented}, which is not in the evidence" in r for r in reasons) == 2
    assert any(r.startswith("cites no event") for r in reasons)
    assert any("names T1059, which no rule tag of this incident supports" in r for r in reasons)
    assert "dumped /etc/shadow" not in report.text() and "dropped before display" in report.text()
    request = server.chat_requests()[0]
    assert request["format"] == CLAIMS_SCHEMA
    user = request["messages"][1]["content"]
    assert "<<untrusted-" in user and "attack.t1110.001" in user and f'"event_id": {real[0]}' in user


def test_a_model_that_invents_every_citation_gets_the_offline_summary(incident_db: Path, tmp_path: Path) -> None:
    aid, cited, every = incident_facts(incident_db)
    server = OllamaTestServer().start()
    server.replies.append(Reply("json", obj={"claims": [
        {"section": "what_happened", "text": f"Lateral movement to 10.0.0.{i}.", "event_ids": [max(every) + i]}
        for i in range(1, 4)]}))
    con = duckdb.connect(str(incident_db), read_only=True)
    try:
        report = triage_alert(con, aid, make_config(tmp_path, ollama_host=server.url))
    finally:
        con.close()
        server.stop()
    assert report.source == "offline" and "every model claim was dropped" in report.note
    assert len(report.dropped) == 3 and report.claims
    assert all(set(c.event_ids) <= cited for c in report.claims)
    assert "Lateral movement" not in report.text()


async def test_console_t_key_in_the_detail_pane_shows_the_triage(incident_db: Path, tmp_path: Path) -> None:
    aid, cited, _ = incident_facts(incident_db)
    server = OllamaTestServer().start()
    server.replies.append(Reply("json", obj={"claims": [
        {"section": "what_happened", "text": "Password guessing against admin ended in a login.",
         "event_ids": sorted(cited)[-2:]},
        {"section": "next_steps", "text": "Check what admin did after logging in.", "event_ids": [999_999]}]}))
    cfg = Config()
    cfg.detectors.enabled = False
    cfg.llm.host = server.url
    db = tmp_path / "copy.duckdb"
    db.write_bytes(incident_db.read_bytes())
    engine = Engine(cfg, db_path=db).start()
    app = make_app(engine, tmp_path, cfg)
    try:
        async with app.run_test(size=(120, 50)) as pilot:
            await settle(app, pilot)
            app.main_screen.open_detail(aid)
            await settle(app, pilot)
            pane = app.main_screen.detail
            pane.focus()
            await pilot.press("t")
            await settle(app, pilot, rounds=6)
            shown = str(pane.query_one("#detail-triage").render())
            assert "llm:llama3.2" in shown and "Password guessing against admin ended in a login." in shown
            assert "Check what admin did" not in shown and "1 claim(s) dropped" in shown
            assert pane.triage_report is not None and len(pane.triage_report.dropped) == 1
    finally:
        server.stop()
        engine.stop()
