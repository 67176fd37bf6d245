"""The console's Textual-free parts: the alert ring, log-text escaping, filters, the read-only SQL gate, the
state file and the outbox id extraction, against real DuckDB where a database is involved."""

from __future__ import annotations

import json
import os
import unicodedata
from datetime import UTC, datetime

import duckdb
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.ui.alert_ring import AlertRing, AlertRow
from app.ui.queries import EventFilter, QueryError, filter_where, run_sql
from app.ui.state import StateFile, UiState
from app.ui.status_bar import source_health, sparkline
from app.ui.text import clean, plain
from store.analyst_sql import SEALED_CONFIG, AnalystSqlError, analyst_cursor, check_statement


def row(aid: int, count: int = 1) -> AlertRow:
    now = datetime(2026, 11, 20, tzinfo=UTC)
    return AlertRow(aid, now, now, now, "rule", "r", "src_ip=1.2.3.4", 0.5, "high", "t", "s", count, "new",
                    None, None, "h", "auth")


def test_ring_replaces_in_place_and_evicts_oldest_first():
    ring = AlertRing(3)
    assert ring.upsert([row(1), row(2), row(3)]) == (3, 0, 0)
    assert ring.upsert([row(2, count=9), row(4)]) == (1, 1, 1)
    assert [r.alert_id for r in ring] == [2, 3, 4]
    assert ring.get(2).count == 9 and ring.version[2] == 2
    assert ring.index_of(4) == 2 and ring.index_of(1) is None and ring.evicted_total == 1


def test_ring_survives_a_batch_larger_than_itself():
    ring = AlertRing(2)
    ring.upsert([row(i) for i in range(1, 6)])
    assert [r.alert_id for r in ring] == [4, 5] and ring.index_of(5) == 1


def test_clean_makes_controls_visible_and_keeps_markup_as_text():
    assert clean("a\x1b[31mb\x07\r\n") == "a\\x1b[31mb\\x07\\x0d\\x0a"
    assert clean("[bold]x[/]") == "[bold]x[/]"
    assert clean("abc\u202eevil") == "abc\\u202eevil"  # a right-to-left override cannot reorder the line
    assert clean("x" * 50, limit=10) == "x" * 10 + "…"
    assert plain("[red]r[/]").spans == []


@given(st.text())
def test_clean_never_lets_a_control_or_format_character_through(value):
    out = clean(value, limit=10_000)
    assert not any(unicodedata.category(ch) in ("Cc",) for ch in out)
    assert not any(ch in out for ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def test_filter_syntax_keep_drop_regex():
    assert EventFilter.parse("sshd") == EventFilter("sshd")
    assert EventFilter.parse("!~fail(ed)?") == EventFilter("fail(ed)?", regex=True, invert=True)
    with pytest.raises(QueryError, match="bad regex"):
        EventFilter.parse("~(unclosed")
    with pytest.raises(QueryError):
        EventFilter.parse("!")


def test_filters_bind_patterns_as_parameters():
    con = duckdb.connect()
    con.execute("CREATE TABLE events (raw VARCHAR)")
    con.execute("INSERT INTO events VALUES ('it''s fine'), ('x'' OR 1=1 --'), (NULL)")
    where, params = filter_where([EventFilter("' OR 1=1 --"), EventFilter("nope", invert=True, enabled=False)])
    assert params == ["' OR 1=1 --"]
    assert con.execute(f"SELECT raw FROM events WHERE {where}", params).fetchall() == [("x' OR 1=1 --",)]
    where, params = filter_where([EventFilter("fine", invert=True)])
    assert con.execute(f"SELECT count(*) FROM events WHERE {where}", params).fetchone() == (2,)  # NULL kept


@pytest.mark.parametrize("sql", [
    "DELETE FROM events", "UPDATE alerts SET status='resolved'", "DROP TABLE events", "INSERT INTO t VALUES (1)",
    "COPY (SELECT 1) TO '/tmp/x.csv'", "ATTACH ':memory:' AS m", "SET threads=1", "PRAGMA database_size",
    "CALL pragma_version()", "LOAD json", "EXPORT DATABASE '/tmp/x'", "SELECT 1; DELETE FROM events",
    "CREATE TABLE x AS SELECT 1",
])
def test_sql_prompt_refuses_anything_but_one_read(sql):
    with pytest.raises(AnalystSqlError):
        check_statement(duckdb.connect(), sql)


def test_sql_prompt_reads_show_describe_and_caps_with_a_probe_row():
    con = duckdb.connect(config=dict(SEALED_CONFIG))
    con.execute("CREATE TABLE t AS SELECT range AS n FROM range(10)")
    with analyst_cursor(con) as cur:
        assert run_sql(cur, "DESCRIBE t").columns[0] == "column_name"
        r = run_sql(cur, "SELECT n FROM t ORDER BY n", cap=4)
        assert r.rows == [(0,), (1,), (2,), (3,)] and r.capped and r.count_label() == "4 of >4 rows"
        r = run_sql(cur, "FROM t", cap=10)
        with pytest.raises(QueryError, match="read-only"):
            run_sql(cur, "WITH d AS (DELETE FROM t RETURNING n) SELECT count(*) FROM d")
    assert not r.capped and r.count_label() == "10 rows"


def test_state_file_round_trip_private_and_corrupt_file_set_aside(tmp_path):
    path = tmp_path / "vigil" / "console.json"
    sf = StateFile(path)
    assert sf.load() == UiState()
    state = UiState(view="sql", filters=[{"pattern": "x", "regex": False, "invert": True, "enabled": True}])
    assert sf.save(state) and not sf.save(state)  # unchanged state is not rewritten
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert StateFile(path).load() == state
    path.write_text("{not json")
    assert StateFile(path).load() == UiState()
    assert path.with_suffix(".bad").exists()
    path.write_text(json.dumps({"view": "nowhere", "unknown": 1, "marked": [1, "x"]}))
    restored = StateFile(path).load()
    assert restored.view == "alerts" and restored.marked == [1]


def test_status_helpers():
    assert sparkline([0, 5, 10]) == "▁▅█"
    assert source_health([{"state": "running"}, {"error": "bind failed", "drops": 7}, {"running": False}]) == (
        1, 3, 7)
