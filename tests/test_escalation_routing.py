"""An alert whose severity rises is routed again: a brute force first seen at medium (a proposal is prepared) that
grows to high reaches the manual review queue. The real engine: a tailed file, the real detectors, the engine's
response desk on a test playbook config (outputs in the test's temp directory)."""

from __future__ import annotations

import json
from pathlib import Path

from .ollama_server import wait_for
from .playbook_support import make_config

INTRUDER = "198.51.100.66"


def failures(start: int, n: int) -> str:
    return "".join(f"Nov 21 07:00:{k % 60:02d} web-01 sshd[2000]: Failed password for admin from {INTRUDER} "
                   f"port {41000 + k} ssh2\n" for k in range(start, start + n))


def test_medium_alert_that_grows_to_high_reaches_review(tmp_path: Path) -> None:
    from app.config import Config
    from app.engine import Engine

    log = tmp_path / "auth.log"
    log.write_text("")
    cfg = Config()
    cfg.sources.watch = [str(log)]
    cfg.sources.poll_interval = 0.2
    engine = Engine(cfg, db_path=tmp_path / "vigil.duckdb", playbook_config=make_config(tmp_path))
    desk = engine.responses
    assert desk is not None
    engine.start()

    def routed() -> list[tuple[int, dict]]:
        cur = engine.store.cursor()
        try:
            rows = cur.execute("SELECT alert_id, record FROM audit_log WHERE kind = 'routed' AND alert_id IN "
                               "(SELECT alert_id FROM alerts WHERE rule_id = 'auth.bruteforce') ORDER BY seq"
                               ).fetchall()
        finally:
            cur.close()
        return [(int(a), json.loads(r)["data"]) for a, r in rows]

    try:
        with log.open("a") as fh:
            fh.write(failures(0, 6))
        assert wait_for(lambda: len(routed()) >= 1, timeout=120), "the medium brute force was never routed"
        first = routed()
        assert [d["action"] for _, d in first] == ["prepare"], first
        with log.open("a") as fh:
            fh.write(failures(6, 20))
        assert wait_for(lambda: len(routed()) >= 2, timeout=120), (
            f"the alert rose to high and was not routed again: {routed()}")
        again = routed()
        assert again[1][0] == first[0][0], "the same alert is routed again, not a new one"
        assert again[1][1]["action"] == "review"
        assert desk.reviews == 1
        _, notices = engine.outbox.drain()
        # Said of the alert's incident when it has one: "review: incident #N (alert #M) (high) — …".
        assert any(n.startswith("review: ") and (f"alert #{first[0][0]} (high)" in n or f"(alert #{first[0][0]}) (high)"
                   in n) for n in notices), notices
        # More failures at the same severity route nothing more.
        with log.open("a") as fh:
            fh.write(failures(26, 5))

        def all_handled() -> bool:  # scored, committed, handed on (idle is set only after that), routed
            cur = engine.store.cursor()
            try:
                count = cur.execute("SELECT max(count) FROM alerts WHERE rule_id = 'auth.bruteforce'").fetchone()[0]
            finally:
                cur.close()
            router = desk.router
            return count == 31 and engine.detection.idle.is_set() and router.routed == router.submitted

        assert wait_for(all_handled, timeout=120)
        assert len(routed()) == 2
    finally:
        engine.stop()
