"""The console's `:` SQL prompt, driven with Pilot against a real engine: the attacks from issue 12 (a playbook
expiry planted through a CTE, the audit log wiped through a CTE, a private file read, COPY, ATTACH, SET) are
refused with one sentence on the status line and change nothing, while a plain SELECT shows its rows."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input

from app.ui.sql_screen import SqlScreen
from store.analyst_sql import is_sealed
from tests.test_ui_support import add_events, auth_events, make_app, make_engine, settle

SECRET = "s3cret-from-a-root-only-file"


@pytest.fixture
def engine(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    eng = make_engine(tmp_path)
    add_events(eng, auth_events(1, 10))
    eng.writer.call(lambda con: con.execute(
        "INSERT INTO audit_log VALUES (1, now(), 'proposal', 'system', 't', NULL, NULL, NULL, NULL, '{}', "
        "'0', '1')")).result(timeout=30)
    (tmp_path / "shadow").write_text(SECRET + "\n")
    yield eng
    eng.stop()


def store_counts(engine) -> tuple[int, int, int]:
    cur = engine.store.cursor()
    try:
        return cur.execute("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM audit_log), "
                           "(SELECT count(*) FROM playbook_expiries)").fetchone()
    finally:
        cur.close()


async def run(app, pilot, screen: SqlScreen, sql: str) -> None:
    screen.query_one(Input).value = sql
    await pilot.press("enter")
    await settle(app, pilot)


async def test_console_sql_refuses_the_attacks_and_runs_a_select(engine, tmp_path) -> None:
    assert is_sealed(engine.store.con)  # DuckDB itself keeps the engine's connection away from files and SET
    before = store_counts(engine)
    attacks = [
        ("WITH x AS (INSERT INTO playbook_expiries VALUES ('e1', 'x', NULL, 'block_ip_nft', 'k', now(), "
         "'[{\"id\":\"r\",\"action\":\"test\",\"argv\":[\"touch\",\"/tmp/pwned\"],\"timeout_s\":5,"
         "\"on_failure\":\"continue\"}]', 'pending', NULL, NULL) RETURNING expiry_id) SELECT * FROM x", "read-only"),
        ("WITH d AS (DELETE FROM audit_log RETURNING seq) SELECT count(*) FROM d", "read-only"),
        (f"SELECT * FROM read_text('{tmp_path / 'shadow'}')", "files"),
        (f"SELECT * FROM read_csv('{tmp_path / 'shadow'}')", "files"),
        (f"COPY (SELECT * FROM events) TO '{tmp_path / 'out.csv'}'", "COPY"),
        (f"ATTACH '{tmp_path / 'other.duckdb'}' AS o", "ATTACH"),
        ("SET enable_external_access = true", "SET"),
        ("SELECT 1; DELETE FROM events", "one statement at a time"),
    ]
    app = make_app(engine, tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("colon")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, SqlScreen)
        for sql, words in attacks:
            await run(app, pilot, screen, sql)
            status = str(screen.query_one("#sql-status").render())
            assert screen.error is not None and words in screen.error, (sql, screen.error)
            assert "refused" in status or "does not exist" in status, (sql, status)
            assert SECRET not in status
        await run(app, pilot, screen, "SELECT event_id, src_ip FROM events ORDER BY event_id LIMIT 3")
        assert screen.error is None
        table = screen.query_one(DataTable)
        assert table.row_count == 3
        assert [str(c) for c in table.get_row_at(0)] == ["1", "203.0.113.7"]
        assert "3 rows" in str(screen.query_one("#sql-status").render())
    assert store_counts(engine) == before
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "other.duckdb").exists()
