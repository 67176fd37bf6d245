"""Grouped alerts on a real DuckDB file: grouping window, evidence cap, max severity, status lifecycle,
closed alerts never reopened, ids monotonic across restarts, upsert never touching status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.storage import open_store
from detectors.alerts import AlertGrouper, AlertStatusError, Hit
from detectors.replay import parsed_batches
from detectors.scorer import Scorer, ScorerConfig
from detectors.templates import TemplateMiner

T0 = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)


def hit(sec: float, sev: str = "medium", ids: tuple[int, ...] = (1,), entity: str = "src_ip=1.2.3.4") -> Hit:
    return Hit("rule", "r1", entity, sev, "Title", "why", ids, T0 + timedelta(seconds=sec))


def test_hits_within_window_group_and_later_ones_start_a_new_alert():
    g = AlertGrouper(window=timedelta(minutes=10))
    a = g.add(hit(0)).alert_id
    assert g.add(hit(300, "high", (2,))).alert_id == a
    assert g.add(hit(300 + 601, ids=(3,))).alert_id != a
    ups = g.take_updates()
    assert [u.severity for u in ups] == ["high", "medium"]
    assert ups[0].count == 2 and ups[0].event_ids == [1, 2]


def test_evidence_is_capped_keeping_first_and_latest():
    g = AlertGrouper(evidence_cap=10)
    for i in range(100):
        g.add(hit(i, ids=(i,)))
    (u,) = g.take_updates()
    assert u.count == 100 and u.event_ids == [0, 1, 2, 3, 4, 95, 96, 97, 98, 99]


def _db(tmp_path):
    return open_store(tmp_path / "a.duckdb").con


def _failures(start: int, n: int) -> list[str]:
    out = []
    for i in range(n):
        t = start + i
        out.append(f"Dec 10 09:{t // 60:02d}:{t % 60:02d} LabSZ sshd[1]: Failed password for root from "
                   f"183.62.140.253 port {40000 + i} ssh2")
    return out


def _score(scorer: Scorer, con, lines: list[str], first_id: int = 1):
    out = []
    for b in parsed_batches(lines, miner=TemplateMiner(), first_id=first_id):
        out += scorer.apply(con, scorer.process(b))
    return out


def test_status_lifecycle_and_closed_alert_is_not_reopened(tmp_path):
    con = _db(tmp_path)
    s = Scorer(ScorerConfig(novelty_warmup_events=10**9))
    first = _score(s, con, _failures(0, 6))
    aid = next(u.alert_id for u in first if u.rule_id == "auth.bruteforce")
    with pytest.raises(AlertStatusError):
        s.set_status(con, aid, "bogus", "ana")
    s.set_status(con, aid, "acknowledged", "ana")
    s.set_status(con, aid, "resolved", "ana")
    with pytest.raises(AlertStatusError):
        s.set_status(con, aid, "new", "ana")
    more = _score(s, con, _failures(7, 3), first_id=100)
    brute = [u for u in more if u.rule_id == "auth.bruteforce"]
    assert brute and all(u.alert_id != aid for u in brute)
    row = con.execute("SELECT status, status_by, count FROM alerts WHERE alert_id = ?", [aid]).fetchone()
    assert row == ("resolved", "ana", 6)


def test_upsert_keeps_acknowledged_status_and_ids_continue_after_restart(tmp_path):
    con = _db(tmp_path)
    s = Scorer(ScorerConfig(novelty_warmup_events=10**9))
    ups = _score(s, con, _failures(0, 6))
    aid = next(u.alert_id for u in ups if u.rule_id == "auth.bruteforce")
    s.set_status(con, aid, "acknowledged", "ana")
    _score(s, con, _failures(6, 2), first_id=50)
    row = con.execute("SELECT status, count FROM alerts WHERE alert_id = ?", [aid]).fetchone()
    assert row == ("acknowledged", 8)
    top = con.execute("SELECT max(alert_id) FROM alerts").fetchone()[0]
    s2 = Scorer(ScorerConfig(novelty_warmup_events=10**9))
    s2.resume(con)
    again = _score(s2, con, _failures(8, 1), first_id=80)
    # Within the window the open group is resumed, not duplicated.
    assert [u.alert_id for u in again if u.rule_id == "auth.bruteforce"] in ([aid], [])
    fresh = [f"Dec 10 12:00:0{i} LabSZ sshd[1]: Failed password for root from 9.9.9.9 port 1 ssh2"
             for i in range(5)]
    later = _score(s2, con, fresh, first_id=90)
    assert all(u.alert_id > top for u in later)
