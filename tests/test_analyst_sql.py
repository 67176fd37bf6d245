"""The analyst SQL gate holds by DuckDB's own enforcement: on a sealed store (as the engine and `vigil query` open
it) one SELECT runs in a read-only transaction; writes hidden in CTEs, file reads and writes, ATTACH, INSTALL,
LOAD, SET, PRAGMA, CALL and second statements are refused with one sentence, and nothing changes on disk.
Real DuckDB files and real `vigil query` subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from store import analyst_sql
from store.analyst_sql import AnalystSqlError, analyst_cursor
from store.db import Store

from .playbook_support import open_db

SECRET = "s3cret-line-from-a-private-file"
WRITTEN = ("out.csv", "events.csv", "exp", "other.duckdb")  # what the attacks below would create


def attacks(tmp: Path) -> list[tuple[str, str]]:
    """(sql, the words the refusal must contain)."""
    secret = tmp / "secret.txt"
    return [
        ("WITH x AS (INSERT INTO playbook_expiries VALUES ('e', 'x', NULL, 'p', 'k', now(), '[]', 'pending', NULL, "
         "NULL) RETURNING expiry_id) SELECT * FROM x", "read-only"),
        ("WITH d AS (DELETE FROM audit_log RETURNING seq) SELECT count(*) FROM d", "read-only"),
        ("WITH u AS (UPDATE events SET raw = 'x' RETURNING event_id) SELECT count(*) FROM u", "read-only"),
        (f"SELECT * FROM read_text('{secret}')", "files"),
        (f"SELECT * FROM read_csv('{secret}')", "files"),
        (f"SELECT * FROM read_blob('{secret}')", "files"),
        (f"SELECT * FROM query('SELECT * FROM read_text(''{secret}'')')", "files"),
        (f"SELECT * FROM glob('{tmp}/*')", "files"),
        (f"FROM '{secret}'", "does not exist"),  # no replacement scan of files on a sealed store
        (f"COPY (SELECT 1) TO '{tmp}/out.csv'", "COPY"),
        (f"COPY events TO '{tmp}/events.csv'", "COPY"),
        (f"EXPORT DATABASE '{tmp}/exp'", "EXPORT"),
        (f"ATTACH '{tmp}/other.duckdb' AS o", "ATTACH"),
        ("INSTALL httpfs", "INSTALL"),
        ("LOAD httpfs", "INSTALL"),
        ("SET enable_external_access = true", "SET"),
        ("RESET lock_configuration", "SET"),
        ("PRAGMA database_size", "PRAGMA"),
        ("CALL pragma_version()", "CALL"),
        ("SELECT 1; SELECT 2", "one statement at a time"),
        ("ROLLBACK", "BEGIN/COMMIT/ROLLBACK"),
        ("SELECT 1; COMMIT; DELETE FROM events", "one statement at a time"),
        ("DELETE FROM events", "DELETE"),
        ("CREATE TABLE z AS SELECT 1", "CREATE"),
        ("EXPLAIN ANALYZE DELETE FROM events", "read-only"),
    ]


def seeded_store(tmp: Path) -> Path:
    path = tmp / "vigil.duckdb"
    con, db = open_db(path)
    con.execute("INSERT INTO events (event_id, received_at, source, raw) VALUES (1, now(), 'test', 'line one')")
    from playbooks.audit import AuditLog

    AuditLog(db).record("proposal", actor_type="system", actor_id="t", data={})
    con.close()
    (tmp / "secret.txt").write_text(SECRET + "\n")
    return path


def counts(con: duckdb.DuckDBPyConnection) -> tuple[int, int, int]:
    return con.execute("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM audit_log), "
                       "(SELECT count(*) FROM playbook_expiries)").fetchone()


@pytest.fixture()
def sealed(tmp_path: Path):
    """The store as the engine holds it: read-write, sealed."""
    store = Store.open(seeded_store(tmp_path), sealed=True)
    yield store, tmp_path
    store.close()


def test_every_attack_is_refused_on_the_engines_sealed_read_write_store(sealed) -> None:
    store, tmp = sealed
    before = counts(store.con)
    for sql, words in attacks(tmp):
        with analyst_cursor(store.con) as cur, pytest.raises(AnalystSqlError) as err:
            analyst_sql.execute(cur, sql).fetchall()
        message = str(err.value)
        assert words in message, (sql, message)
        assert "\n" not in message and SECRET not in message
    assert counts(store.con) == before
    assert not [name for name in WRITTEN if (tmp / name).exists()]


def test_a_plain_select_works_and_the_writer_still_writes(sealed) -> None:
    store, _tmp = sealed
    with analyst_cursor(store.con) as cur:
        assert analyst_sql.execute(cur, "SELECT raw FROM events WHERE event_id = 1").fetchall() == [("line one",)]
        assert analyst_sql.execute(cur, "SUMMARIZE events").fetchall()
        assert analyst_sql.execute(cur, "SHOW TABLES").fetchall()
    # Sealing limits files and settings, not the store's own writes (the engine's writer keeps working).
    store.con.execute("INSERT INTO events (event_id, received_at, source, raw) VALUES (2, now(), 'test', 'two')")
    assert store.con.execute("SELECT count(*) FROM events").fetchone() == (2,)


def test_gate_fails_closed_on_a_store_that_is_not_sealed(tmp_path: Path) -> None:
    store = Store.open(seeded_store(tmp_path))
    try:
        with pytest.raises(AnalystSqlError, match="not sealed"), analyst_cursor(store.con):
            pass
    finally:
        store.close()


def test_a_plain_cursor_of_the_engines_connection_is_refused(sealed) -> None:
    store, _tmp = sealed
    cur = store.cursor()
    try:
        with pytest.raises(AnalystSqlError, match="analyst_cursor"):
            analyst_sql.execute(cur, "WITH d AS (DELETE FROM events RETURNING 1) SELECT * FROM d")
    finally:
        cur.close()
    assert counts(store.con)[0] == 1


def test_the_read_only_transaction_ends_with_the_cursor(sealed) -> None:
    store, _tmp = sealed
    with analyst_cursor(store.con) as cur:
        analyst_sql.execute(cur, "SELECT 1").fetchall()
    # A fresh analyst cursor after a refused write still works: nothing is left half-open.
    with analyst_cursor(store.con) as cur, pytest.raises(AnalystSqlError):
        analyst_sql.execute(cur, "WITH d AS (DELETE FROM events RETURNING 1) SELECT * FROM d").fetchall()
    with analyst_cursor(store.con) as cur:
        assert analyst_sql.execute(cur, "SELECT count(*) FROM events").fetchone() == (1,)


# -- `vigil query`, a real subprocess -------------------------------------------------------------------------
def vigil_query(tmp: Path, db: Path, sql: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp / "cfg"), "XDG_DATA_HOME": str(tmp / "data")}
    return subprocess.run([sys.executable, "-m", "app", "query", "--db", str(db), "--format", "csv", sql],
                          capture_output=True, text=True, timeout=120, env=env, check=False)


def test_every_attack_is_refused_on_the_read_only_sealed_store_vigil_query_opens(tmp_path: Path) -> None:
    store = Store.open(seeded_store(tmp_path), read_only=True, sealed=True)
    try:
        for sql, words in attacks(tmp_path):
            with analyst_cursor(store.con) as cur, pytest.raises(AnalystSqlError) as err:
                analyst_sql.execute(cur, sql).fetchall()
            assert words in str(err.value), (sql, str(err.value))
            assert "\n" not in str(err.value) and SECRET not in str(err.value)
    finally:
        store.close()
    assert not [name for name in WRITTEN if (tmp_path / name).exists()]


def test_vigil_query_refuses_each_kind_of_attack_with_one_line_and_changes_nothing(tmp_path: Path) -> None:
    """Every attack is refused by the gate on both kinds of store (tests above); through the real CLI, one of
    each kind of refusal (a Python start-up per query is what makes this test slow)."""
    db = seeded_store(tmp_path)
    kinds: dict[str, str] = {}
    for sql, words in attacks(tmp_path):
        kinds.setdefault(words, sql)
    for words, sql in kinds.items():
        r = vigil_query(tmp_path, db, sql)
        assert r.returncode == 1, (sql, r.stdout, r.stderr)
        assert r.stderr.startswith("vigil query: ") and r.stderr.count("\n") == 1, (sql, r.stderr)
        assert words in r.stderr, (sql, r.stderr)
        assert SECRET not in r.stdout + r.stderr and "Traceback" not in r.stderr
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert counts(con) == (1, 1, 0)
    finally:
        con.close()
    assert not [name for name in WRITTEN if (tmp_path / name).exists()]


def test_vigil_query_runs_a_plain_select(tmp_path: Path) -> None:
    db = seeded_store(tmp_path)
    r = vigil_query(tmp_path, db, "SELECT event_id, raw FROM events ORDER BY event_id")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["event_id,raw", "1,line one"]
