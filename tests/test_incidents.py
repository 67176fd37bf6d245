"""Incidents from real log lines through the real engine (pipeline, writer, Sigma rules, detection consumer) into a
real DuckDB store: one row per attacker with its story in order, the highest severity, the ATT&CK techniques from
the rules' tags; attackers are never merged through a shared target; incidents survive a restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.config import Config
from app.engine import Engine
from detectors.incidents import render_phrase, story_of, techniques_from_tags
from playbooks.param_text import format_params, human_duration
from store.sources.base import LineBatch

A, B = "203.0.113.45", "198.51.100.7"
USERS = ["admin", "oracle", "test", "guest", "ubnt", "pi", "support", "user", "ftp", "git"]
T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)


def stamp(t: datetime) -> str:
    return t.strftime("%b %d %H:%M:%S")


def attack_lines() -> list[bytes]:
    lines = []
    for i in range(30):  # A guesses passwords for ten accounts, then for root
        user = USERS[i % len(USERS)] if i < 20 else "root"
        who = f"invalid user {user}" if user != "root" else "root"
        lines.append(f"{stamp(T0 + timedelta(seconds=2 * i))} jump1 sshd[{500 + i}]: Failed password for {who} "
                     f"from {A} port {40000 + i} ssh2")
    t = T0 + timedelta(seconds=70)
    lines.append(f"{stamp(t)} jump1 sshd[600]: Accepted password for root from {A} port 41000 ssh2")
    lines.append(f"{stamp(t + timedelta(seconds=20))} jump1 sudo:     root : TTY=pts/0 ; PWD=/root ; USER=root ; "
                 "COMMAND=/bin/bash")
    for i in range(10):  # B: another attacker guessing root on the same host a little later
        lines.append(f"{stamp(t + timedelta(seconds=60 + 3 * i))} jump1 sshd[{700 + i}]: Failed password for root "
                     f"from {B} port {50000 + i} ssh2")
    return [line.encode() for line in lines]


def run_engine(db: Path, lines: list[bytes]) -> Engine:
    cfg = Config()
    cfg.detectors.learning_events = 1_000_000  # rules only: no model trains on a few dozen lines
    engine = Engine(cfg, db_path=db, respond=False).start()
    engine.submit(LineBatch("file:/var/log/auth.log", lines, datetime.now(UTC)))
    assert engine.wait_idle(timeout=120)
    return engine


def incidents(engine: Engine) -> dict[str, tuple]:
    rows = engine.store.cursor().execute(
        "SELECT entity, incident_id, severity, story, techniques, alert_count, alert_ids FROM incidents").fetchall()
    return {r[0]: r[1:] for r in rows}


def test_one_incident_per_attacker_with_the_story_in_order(tmp_path: Path) -> None:
    engine = run_engine(tmp_path / "v.duckdb", attack_lines())
    try:
        cur = engine.store.cursor()
        alerts = cur.execute("SELECT count(*) FROM alerts").fetchone()[0]
        got = incidents(engine)
        assert set(got) == {f"src_ip={A}", f"src_ip={B}"}, got
        _iid, severity, story, techniques, n_alerts, alert_ids = got[f"src_ip={A}"]
        assert story.startswith(f"{A}: 30 failed passwords → spraying ")
        steps = story.split(": ", 1)[1].split(" → ")
        assert [s.split()[0] for s in steps] == ["30", "spraying", "login", "sudo"], story
        assert "login as root" in story and "sudo to root" in story
        # The sudo alert is about user=root; it joined because root's login from A succeeded just before.
        entities = {r[0] for r in cur.execute("SELECT entity FROM alerts WHERE alert_id IN (SELECT unnest(?))",
                                              [alert_ids]).fetchall()}
        assert "user=root" in entities and f"src_ip={A}" in entities
        assert severity == max((r[0] for r in cur.execute(
            "SELECT severity FROM alerts WHERE alert_id IN (SELECT unnest(?))", [alert_ids]).fetchall()),
            key=["low", "medium", "high", "critical"].index)
        assert {"T1110.001", "T1110.003", "T1548.003"} <= set(techniques)
        assert any(t.startswith("T1078") for t in techniques)
        # B's failures for root never link it to A, although A logged in as root.
        assert got[f"src_ip={B}"][2] == f"{B}: 10 failed passwords"
        assert n_alerts + got[f"src_ip={B}"][4] == alerts  # every alert is in exactly one incident
        placed = cur.execute("SELECT count(*), count(DISTINCT alert_id) FROM incident_alerts").fetchone()
        assert placed == (alerts, alerts)
    finally:
        engine.stop()


def test_incidents_survive_a_restart_and_keep_growing(tmp_path: Path) -> None:
    db = tmp_path / "v.duckdb"
    lines = attack_lines()
    engine = run_engine(db, lines[:31])  # A's failures and its login
    try:
        before = incidents(engine)[f"src_ip={A}"]
    finally:
        engine.stop()
    engine = run_engine(db, lines[31:])  # a new process: the sudo and B arrive after the restart
    try:
        after = incidents(engine)
        assert after[f"src_ip={A}"][0] == before[0]  # the same incident id, grown
        assert after[f"src_ip={A}"][4] > before[4]
        assert after[f"src_ip={A}"][2].endswith("→ sudo to root")
        assert f"src_ip={B}" in after and len(after) == 2
    finally:
        engine.stop()


def test_story_folds_rules_that_see_the_same_events_and_tells_them_in_attack_order() -> None:
    from detectors.incidents import Step

    t = T0
    steps = [
        Step(2, "spray", "spraying {n} users", 8, t, t, "medium", "new", "auth.password_spray", "sigma", 20),
        Step(1, "failures", "{n} failed passwords", 26, t + timedelta(seconds=3), t, "high", "new",
             "auth.bruteforce", "sigma", 26),
        Step(3, "failures", "{n} failed passwords", 30, t + timedelta(seconds=4), t, "medium", "new",
             "auth.slow_guessing", "sigma", 30),
        Step(4, "login", "login as {user}", 1, t + timedelta(minutes=1), t, "high", "new",
             "auth.success_after_failures", "sigma", 1, user="root"),
    ]
    assert story_of(steps) == ["30 failed passwords", "spraying 8 users", "login as root"]
    assert render_phrase("{n} failed passwords", 1) == "1 failed password"
    assert techniques_from_tags(["attack.credential-access", "attack.t1110.001", "attack.T1078"]) == \
        ["T1110.001", "T1078"]


def test_parameters_read_as_key_value_with_durations() -> None:
    assert format_params({"ip": A, "duration": 3600}) == f"ip={A} duration=1h"
    assert format_params({"user": "bob smith", "duration": "5400"}) == 'user="bob smith" duration=1h30m'
    assert human_duration(90) == "1m30s"


def test_a_critical_alert_gets_containment_offline_not_only_notifications(tmp_path: Path) -> None:
    """Issue #14 defect 4: the notify playbooks (which critical alerts add, and which rank first) took every
    offline slot, so the most serious alert offered only notifications, all rejected as not configured."""
    from playbooks.chat import PlaybookSession
    from playbooks.routing import route_alert
    from tests.playbook_support import ATTACKER, bruteforce_alert, make_config, open_db

    con, db = open_db(tmp_path / "c.duckdb")
    session = PlaybookSession(make_config(tmp_path), db)
    try:
        for aid, sev in ((1, "high"), (2, "critical")):
            bruteforce_alert(con, aid, sev, first_event=aid * 100)
        high, critical = (route_alert(session.load_alert(a), session.catalog, session.validator, session.config)
                          for a in (1, 2))
        kinds = {o.playbook_id: session.catalog.get(o.playbook_id).kind for o in critical.proposals}
        contain = [o for o in critical.proposals if kinds[o.playbook_id] == "containment"]
        assert contain and contain[0].params.get("ip") == ATTACKER
        assert {o.playbook_id for o in high.proposals if o.accepted} <= {o.playbook_id for o in contain}
        assert any(kinds[o.playbook_id] == "notify" for o in critical.proposals)  # still told, as well
    finally:
        session.close()
        con.close()


def test_a_line_without_an_address_takes_its_connections(tmp_path: Path) -> None:
    # sshd's "Disconnecting: Too many authentication failures" names no address: the connection's earlier line (same
    # host, same process) does. Another process's line, or one too far back, lends nothing.
    engine = run_engine(tmp_path / "v.duckdb", [
        f"{stamp(T0)} jump1 sshd[4242]: Failed password for root from {A} port 40000 ssh2".encode(),
        f"{stamp(T0)} jump1 sshd[5151]: Failed password for root from {B} port 40001 ssh2".encode(),
        f"{stamp(T0)} jump1 sshd[4242]: Disconnecting: Too many authentication failures [preauth]".encode(),
        f"{stamp(T0)} jump1 sshd[7777]: Disconnecting: Too many authentication failures [preauth]".encode(),
    ])
    try:
        book = engine.incidents
        found = book._session_addresses(engine.store.cursor(), [(3, "jump1", 4242), (4, "jump1", 7777)])
        assert found == {3: A}
    finally:
        engine.stop()
