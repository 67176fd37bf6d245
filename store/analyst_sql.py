"""The one gate for SQL a person types (console `:` prompt, `vigil query`, a local API): exactly one SELECT,
run in a read-only transaction on a connection DuckDB itself keeps away from files, extensions and settings.

DuckDB enforces the limits, not string matching: its parser counts statements and names their type; a
`BEGIN TRANSACTION READ ONLY` makes any write fail, a DML hidden in a CTE included; a connection opened
with `SEALED_CONFIG` cannot touch a file (read_text, read_csv, COPY, EXPORT, ATTACH, INSTALL, LOAD) and cannot
change a setting. Both settings are per database instance in DuckDB, not per cursor, so the store is sealed
when it is opened (`Store.open(sealed=True)`) and the gate refuses to run on a connection that is not.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator

import duckdb

# Passed to duckdb.connect: no file system outside the database file itself, no extension downloads or loads,
# and no `SET` afterwards (so nothing can turn file access back on).
SEALED_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "allow_community_extensions": False,
    "lock_configuration": True,
}

_ANALYST_CURSORS: weakref.WeakSet[duckdb.DuckDBPyConnection] = weakref.WeakSet()  # inside analyst_cursor()
_READ_KINDS = {"SELECT", "EXPLAIN"}  # SHOW, DESCRIBE, SUMMARIZE, VALUES and FROM-first parse as SELECT
_FILE_KINDS = {"COPY", "EXPORT", "ATTACH", "DETACH", "LOAD", "COPY_DATABASE"}


class AnalystSqlError(Exception):
    """A statement the gate refuses or DuckDB rejects; the message is one sentence for the analyst."""


def is_sealed(con: duckdb.DuckDBPyConnection) -> bool:
    """True when DuckDB will refuse file access and setting changes on this connection's database."""
    row = con.execute("SELECT current_setting('enable_external_access'), current_setting('lock_configuration')"
                      ).fetchone()
    return row is not None and row[0] is False and row[1] is True


def check_statement(con: duckdb.DuckDBPyConnection, sql: str) -> str:
    """The statement text if DuckDB's parser finds exactly one SELECT (or EXPLAIN) in it; else AnalystSqlError."""
    text = sql.strip().rstrip(";").strip()
    if not text:
        raise AnalystSqlError("empty query")
    try:
        statements = con.extract_statements(text)
    except duckdb.Error as exc:
        raise AnalystSqlError(f"syntax: {_first_line(exc)}") from exc
    if len(statements) != 1:
        raise AnalystSqlError(f"refused: one statement at a time (found {len(statements)})")
    kind = statements[0].type.name
    if kind in _READ_KINDS:
        return text
    if kind in _FILE_KINDS:
        raise AnalystSqlError(f"refused: {_label(kind)} reaches files or extensions, which analyst SQL cannot")
    if kind == "MULTI":
        raise AnalystSqlError("refused: this statement expands to several; write it as a single SELECT")
    raise AnalystSqlError(f"refused: {_label(kind)} is not allowed; analyst SQL is one read-only SELECT")


@contextlib.contextmanager
def analyst_cursor(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor of `con` inside a read-only transaction, rolled back and closed afterwards. Refuses a connection
    that is not sealed, so a caller that forgot `sealed=True` fails closed instead of opening a hole."""
    cur = con.cursor()
    try:
        if not is_sealed(cur):
            raise AnalystSqlError("refused: this store connection is not sealed (file access is on); "
                                  "analyst SQL runs only on a sealed store")
        cur.execute("BEGIN TRANSACTION READ ONLY")
        _ANALYST_CURSORS.add(cur)
        try:
            yield cur
        finally:
            _ANALYST_CURSORS.discard(cur)
            with contextlib.suppress(duckdb.Error):
                cur.execute("ROLLBACK")
    finally:
        cur.close()


def _require_analyst(cur: duckdb.DuckDBPyConnection) -> None:
    # A plain cursor of the engine's connection could write through a CTE: only `analyst_cursor` ones may run.
    if cur not in _ANALYST_CURSORS:
        raise AnalystSqlError("refused: analyst SQL runs only on a cursor from analyst_cursor()")


def relation(cur: duckdb.DuckDBPyConnection, sql: str) -> tuple[str, duckdb.DuckDBPyRelation | None]:
    """(checked text, lazy relation) for `sql` on an analyst cursor; fetch it inside `translated()`."""
    _require_analyst(cur)
    text = check_statement(cur, sql)
    with translated():
        return text, cur.sql(text)


def execute(cur: duckdb.DuckDBPyConnection, sql: str) -> duckdb.DuckDBPyConnection:
    """Run `sql` on an analyst cursor; rows are then fetched from the cursor inside `translated()`."""
    _require_analyst(cur)
    text = check_statement(cur, sql)
    with translated():
        return cur.execute(text)


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """DuckDB errors raised while a query runs or is fetched, as one sentence (AnalystSqlError)."""
    try:
        yield
    except duckdb.Error as exc:
        raise AnalystSqlError(explain(exc)) from exc


def explain(exc: BaseException) -> str:
    """What a refused or failed query means, in words for the analyst."""
    text = str(exc)
    low = text.lower()
    if isinstance(exc, duckdb.PermissionException) or "disabled by configuration" in low \
            or "disabled through configuration" in low:
        return "refused: analyst SQL cannot read or write files or load extensions"
    if "read-only mode" in low or "read-only transaction" in low or "attached in read-only" in low:
        return "refused: analyst SQL is read-only, and this statement writes to the store"
    if "configuration has been locked" in low:
        return "refused: analyst SQL cannot change settings"
    if isinstance(exc, duckdb.InterruptException):
        return "interrupted (cancelled)"
    return _first_line(exc)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _label(kind: str) -> str:
    return {"LOAD": "INSTALL/LOAD", "SET": "SET/RESET/USE", "TRANSACTION": "BEGIN/COMMIT/ROLLBACK"}.get(
        kind, kind.replace("_", " "))
