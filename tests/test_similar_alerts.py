"""Similar past alerts: vectors kept in DuckDB and compared there, written by the engine off the scorer's path,
listed by `vigil similar` with how each earlier alert ended, shown in the detail pane and given to the chat."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from app.config import Config
from app.engine import Engine
from detectors.alert_embedding import DIMS, MODEL
from detectors.similar_alerts import alert_vectors, missing_ids, similar_to, store_vectors
from playbooks.chat import PlaybookSession
from playbooks.db import PlaybookDb
from tests.conftest import vigil_cmd
from tests.ollama_server import OllamaTestServer, Reply
from tests.playbook_support import make_config
from tests.test_ui_support import add_alert, add_events, add_template, auth_events, make_app, make_engine, settle


def wait_for(pred: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := pred():
            return value
        time.sleep(0.05)
    return pred()


def backup_failures(day: int, host: str, ip: str, pid: int) -> str:
    return "".join(f"Nov {day} 09:00:{10 + i} {host} sshd[{pid + i}]: Failed password for backup from {ip} port "
                   f"6{i:02d} ssh2\n" for i in range(1, 13))


def vigil(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*vigil_cmd(), *args], capture_output=True, text=True, timeout=300)


def first_alert(db: Path, entity: str) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        row = con.execute("SELECT min(alert_id) FROM alerts WHERE entity = ? AND severity <> 'low'",
                          [entity]).fetchone()
    finally:
        con.close()
    assert row is not None and row[0] is not None
    return int(row[0])


def test_the_false_positive_look_alike_ranks_first_with_who_closed_it(tmp_path: Path) -> None:
    db = tmp_path / "v.duckdb"
    day1 = tmp_path / "day1.log"
    day1.write_text(backup_failures(21, "backup1", "198.18.1.50", 400)
                    + "Nov 21 09:30:00 web1 kernel: Out of memory: Killed process 4242 (java) total-vm:9000000kB\n")
    assert vigil("ingest", "--detect", "--db", str(db), str(day1)).returncode == 0
    fp = first_alert(db, "src_ip=198.18.1.50")
    con = duckdb.connect(str(db))
    con.execute("UPDATE alerts SET status = 'false_positive', status_by = 'alice', status_at = ? WHERE alert_id = ?",
                [datetime(2026, 11, 21, 10, 0, tzinfo=UTC), fp])
    oom = con.execute("SELECT alert_id FROM alerts WHERE rule_id LIKE '%oom%'").fetchone()
    con.close()
    day2 = tmp_path / "day2.log"
    day2.write_text(backup_failures(22, "backup2", "198.18.1.51", 500))
    assert vigil("ingest", "--detect", "--db", str(db), str(day2)).returncode == 0
    new = first_alert(db, "src_ip=198.18.1.51")

    out = vigil("similar", "--db", str(db), "--alert", str(new), "--format", "json")
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    found = body["similar"]
    assert body["model"] == MODEL and found[0]["alert_id"] == fp
    assert found[0]["status"] == "false_positive" and found[0]["status_by"] == "alice"
    assert found[0]["outcome"] == "marked false positive by alice on 2026-11-21"
    assert all(s["alert_id"] < new for s in found)
    scores = [s["score"] for s in found]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0.9
    if oom is not None:  # the unrelated alert, if listed at all, ranks below every look-alike
        assert oom[0] not in [s["alert_id"] for s in found[:2]]

    table = vigil("similar", "--db", str(db), "--alert", str(new))
    assert table.returncode == 0 and "marked false positive by alice" in table.stdout
    con = duckdb.connect(str(db), read_only=True)
    embedded = con.execute("SELECT count(*), count(*) FILTER (WHERE model = ?) FROM alert_embeddings",
                           [MODEL]).fetchone()
    total = con.execute("SELECT count(*) FROM alerts").fetchone()
    con.close()
    assert embedded is not None and total is not None and embedded[0] == embedded[1] == total[0]


def test_unknown_alert_and_bad_top_are_one_clear_line(tmp_path: Path) -> None:
    db = tmp_path / "v.duckdb"
    log = tmp_path / "a.log"
    log.write_text(backup_failures(21, "backup1", "198.18.1.50", 400))
    assert vigil("ingest", "--detect", "--db", str(db), str(log)).returncode == 0
    missing = vigil("similar", "--db", str(db), "--alert", "9999")
    assert missing.returncode == 1 and missing.stderr.strip() == f"vigil similar: no alert 9999 in {db}"
    bad = vigil("similar", "--db", str(db), "--alert", "1", "--top", "0")
    assert bad.returncode == 2 and "--top must be at least 1" in bad.stderr and "Traceback" not in bad.stderr


def test_the_engine_embeds_alerts_on_its_own_thread(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text("")
    cfg = Config()
    cfg.sources.watch = [str(log)]
    engine = Engine(cfg, db_path=tmp_path / "vigil.duckdb").start()
    try:
        assert engine.embedder is not None
        assert any(t.name == "vigil-embedder" for t in threading.enumerate())
        with log.open("a") as fh:
            fh.write(backup_failures(21, "backup1", "198.18.1.50", 400))

        def counts() -> tuple[int, int]:
            cur = engine.store.cursor()
            try:
                a = cur.execute("SELECT count(*) FROM alerts").fetchone()
                e = cur.execute("SELECT count(*) FROM alert_embeddings").fetchone()
            finally:
                cur.close()
            assert a is not None and e is not None
            return int(a[0]), int(e[0])

        assert wait_for(lambda: counts()[0] > 0 and counts()[0] == counts()[1])
        cur = engine.store.cursor()
        try:
            norms = cur.execute("SELECT min(array_cosine_similarity(vec, vec)), max(array_length(vec::FLOAT[])) "
                                "FROM alert_embeddings").fetchone()
        finally:
            cur.close()
        assert norms is not None and abs(norms[0] - 1.0) < 1e-5 and norms[1] == DIMS
    finally:
        engine.stop()
    assert not any(t.name == "vigil-embedder" and t.is_alive() for t in threading.enumerate())


def _alerts_with_history(tmp_path: Path) -> Engine:
    """Alert 1 (closed as false positive by alice, a playbook ran for it), 2 unrelated, 3 like 1."""
    engine = make_engine(tmp_path)
    add_template(engine, 7, "Failed password for <*> from <*> port <*>")
    add_events(engine, auth_events(1, 10))
    add_events(engine, [{"event_id": 50, "ts": datetime(2026, 11, 20, 9, 30, tzinfo=UTC),
                         "received_at": datetime(2026, 11, 20, 9, 30, tzinfo=UTC), "source": "file:/var/log/kern.log",
                         "host": "web1", "app": "kernel", "message": "Out of memory: Killed process 4242 (java)",
                         "raw": "kernel: Out of memory: Killed process 4242 (java)", "template_id": None,
                         "src_ip": None, "user": None, "fields": "{}"}])
    add_alert(engine, 1, event_ids=[1, 2, 3])
    add_alert(engine, 2, event_ids=[50], entity="host=web1", title="OOM killer", rule_id="sys.oom_killer",
              detector="sigma")
    add_alert(engine, 3, event_ids=[6, 7, 8], minutes=30)

    def history(con: Any) -> None:
        con.execute("UPDATE alerts SET status = 'false_positive', status_by = 'alice', status_at = ? "
                    "WHERE alert_id = 1", [datetime(2026, 11, 20, 10, 0, tzinfo=UTC)])
        con.execute("INSERT INTO playbook_proposals (proposal_id, created_at, alert_id, source, playbook_id, "
                    "accepted, status) VALUES ('p1', now(), 1, 'llm', 'block_ip_nft', true, 'succeeded')")
        con.execute("INSERT INTO playbook_executions (execution_id, proposal_id, kind, status, started_at, "
                    "finished_at, actor_type, actor_id) VALUES ('x1', 'p1', 'run', 'succeeded', now(), now(), "
                    "'human', 'bob')")
        ids, vectors = alert_vectors(con, [1, 2])
        store_vectors(con, ids, vectors)

    engine.writer.call(history).result(timeout=30)
    return engine


def test_similar_lists_the_playbook_that_ran(tmp_path: Path) -> None:
    engine = _alerts_with_history(tmp_path)
    try:
        found = similar_to(engine.store.cursor(), 3, k=5, min_score=0.0)
        assert found is not None and [s.alert_id for s in found] == [1, 2]
        top = found[0]
        assert top.playbooks and top.playbooks[0]["playbook_id"] == "block_ip_nft"
        assert top.outcome() == ("marked false positive by alice on 2026-11-20; playbook block_ip_nft ran "
                                 "(succeeded)")
        assert found[1].score < top.score
        assert similar_to(engine.store.cursor(), 999) is None
    finally:
        engine.stop()


async def test_detail_pane_shows_the_top_three_similar(tmp_path: Path) -> None:
    engine = _alerts_with_history(tmp_path)
    app = make_app(engine, tmp_path)
    try:
        async with app.run_test(size=(120, 50)) as pilot:
            await settle(app, pilot)
            app.main_screen.open_detail(3)
            await settle(app, pilot, rounds=5)
            pane = app.main_screen.detail
            text = str(pane.query_one("#detail-similar").render())
            assert "similar past alerts" in text and "#1 SSH brute force" in text
            assert "marked false positive by alice" in text and "block_ip_nft ran" in text
            assert [s.alert_id for s in pane.similar][:1] == [1] and len(pane.similar) <= 3
    finally:
        engine.stop()


def test_chat_prompt_and_offline_answer_carry_how_look_alikes_ended(tmp_path: Path) -> None:
    engine = _alerts_with_history(tmp_path)
    server = OllamaTestServer().start()
    try:
        db = PlaybookDb.via_writer(engine.writer, engine.store)
        session = PlaybookSession(make_config(tmp_path, ollama_host=server.url), db)
        server.replies.append(Reply("text", text="Looks like the backup job again."))
        result = session.ask("what is this?", alert_id=3)
        assert result.llm_used
        user = next(m["content"] for m in server.chat_requests()[0]["messages"] if m["role"] == "user")
        assert "similar_past_alerts" in user and "marked false positive by alice" in user
        assert user.index("similar_past_alerts") > user.index("<<untrusted-")  # inside the fence, as data

        offline = PlaybookSession(make_config(tmp_path), db)  # nothing listens: offline explanation
        answer = offline.ask("what is this?", alert_id=3).answer
        assert "Last time: alert 1" in answer and "marked false positive by alice" in answer
    finally:
        server.stop()
        engine.stop()


def test_vectors_are_fixed_size_float_arrays_in_duckdb(tmp_path: Path) -> None:
    engine = _alerts_with_history(tmp_path)
    try:
        row = engine.store.cursor().execute(
            "SELECT data_type FROM duckdb_columns() WHERE table_name = 'alert_embeddings' AND column_name = 'vec'"
        ).fetchone()
        assert row is not None and row[0] == f"FLOAT[{DIMS}]"
    finally:
        engine.stop()


def test_embedding_and_the_engine_leave_scikit_learn_out_of_the_process(tmp_path: Path) -> None:
    """scikit-learn (with SciPy) costs a process 50–100 MB resident and ~1.5 s of CPU: only the training child may
    import it. Run in a fresh interpreter, since this test process has imported it elsewhere."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from app.config import Config\n"
        "from app.engine import Engine\n"
        "from detectors.alert_embedding import embed\n"
        "v = embed([['rule:ssh.bruteforce', 'w:failed', 'w:password'], []])\n"
        "assert v.shape == (2, 256) and abs(float((v[0] ** 2).sum()) - 1) < 1e-5 and not v[1].any()\n"
        f"engine = Engine(Config(), db_path=Path({str(tmp_path / 'v.duckdb')!r})).start()\n"
        "engine.stop()\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy', 'skl2onnx', 'onnx'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_vectors_of_an_older_scheme_are_embedded_again(tmp_path: Path) -> None:
    engine = _alerts_with_history(tmp_path)
    try:
        con = engine.store.cursor()
        wait_for(lambda: con.execute("SELECT count(*) FROM alert_embeddings").fetchone()[0] > 0)
        engine.writer.call(lambda c: c.execute("UPDATE alert_embeddings SET model = 'hash256-v1'")).result(timeout=30)

        def again(c: Any) -> None:  # inside the writer's transaction; the engine's embedder may race: fine
            store_vectors(c, *alert_vectors(c, missing_ids(c, 1000)))

        engine.writer.call(again).result(timeout=60)
        rows = con.execute("SELECT model, count(*) FROM alert_embeddings GROUP BY ALL").fetchall()
        assert rows == [(MODEL, con.execute("SELECT count(*) FROM alerts").fetchone()[0])]
    finally:
        engine.stop()
