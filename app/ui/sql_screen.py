"""SQL: a read-only prompt over the store (one SELECT, through the analyst gate in store.analyst_sql), results
in a table capped at a few hundred rows and labelled "N of >N rows" when capped, with export of the full result
to CSV or JSONL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static
from textual.worker import get_current_worker

from app.ui.queries import QueryError, SqlResult, analyst_reading, export_sql, run_sql
from app.ui.text import clean, plain

if TYPE_CHECKING:
    from app.ui.app import VigilApp

EXAMPLE = "SELECT severity, count(*) FROM alerts GROUP BY 1 ORDER BY 2 DESC"


class SqlDone(Message):
    def __init__(self, result: SqlResult | None, error: str | None) -> None:
        super().__init__()
        self.result, self.error = result, error


class SqlExported(Message):
    def __init__(self, path: Path | None, rows: int, error: str | None) -> None:
        super().__init__()
        self.path, self.rows, self.error = path, rows, error


def cell(value: Any) -> Text:
    if value is None:
        return Text("NULL", style="dim italic")
    if isinstance(value, datetime):
        return Text(value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"))
    if isinstance(value, float):
        return Text(f"{value:.4g}", justify="right")
    if isinstance(value, int) and not isinstance(value, bool):
        return Text(f"{value}", justify="right")
    return plain(value, limit=200)


class SqlScreen(Screen[None]):
    app: VigilApp

    DEFAULT_CSS = """
    SqlScreen #sql-title { height: 1; background: $primary 40%; text-style: bold; }
    SqlScreen #sql-input { height: 3; }
    SqlScreen DataTable { height: 1fr; }
    SqlScreen #sql-status { height: auto; max-height: 4; background: $panel; }
    """
    BINDINGS = [
        Binding("escape", "back", "Alerts", id="sql.back"),
        Binding("f2", "export('csv')", "Export CSV", id="sql.export_csv"),
        Binding("f3", "export('jsonl')", "Export JSONL", id="sql.export_jsonl"),
        Binding("up", "history(-1)", "History", show=False, id="sql.history_prev"),
        Binding("down", "history(1)", "History", show=False, id="sql.history_next"),
    ]

    def __init__(self, cap: int = 500) -> None:
        super().__init__()
        self.cap = cap
        self.result: SqlResult | None = None
        self.error: str | None = None
        self.history: list[str] = []
        self._hist_pos = 0
        self.last_export: Path | None = None
        self._running: Any = None  # the cursor of the query in flight, so Esc or a new query can interrupt it

    def compose(self) -> ComposeResult:
        yield Static(" VIGIL  SQL — read-only; tables: events, alerts (F2 CSV, F3 JSONL)", id="sql-title")
        yield Input(placeholder=f"e.g. {EXAMPLE}", id="sql-input")
        yield DataTable(cursor_type="row", zebra_stripes=True, id="sql-result")
        yield Static(Text(" type a query and press Enter", style="dim"), id="sql-status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        if self.history:
            self.query_one(Input).value = self.history[-1]

    def on_screen_resume(self) -> None:
        self.query_one(Input).focus()

    def action_back(self) -> None:
        if self._interrupt():
            self._status(Text(" cancelled", style="bold yellow"))
            return
        self.app.action_view("alerts")

    def _interrupt(self) -> bool:
        cur, self._running = self._running, None
        if cur is None:
            return False
        try:
            cur.interrupt()
        except Exception:
            pass
        return True

    def action_history(self, step: int) -> None:
        inp = self.query_one(Input)
        if not self.history or self.focused is not inp:
            if self.focused is not inp:
                table = self.query_one(DataTable)
                table.action_cursor_up() if step < 0 else table.action_cursor_down()
            return
        self._hist_pos = max(0, min(len(self.history), self._hist_pos + step))
        inp.value = self.history[self._hist_pos] if self._hist_pos < len(self.history) else ""
        inp.cursor_position = len(inp.value)

    @on(Input.Submitted, "#sql-input")
    def _submitted(self, event: Input.Submitted) -> None:
        self.submit(event.value)

    def submit(self, sql: str) -> None:
        sql = sql.strip()
        if not sql or self.app.engine is None:
            return
        if not self.history or self.history[-1] != sql:
            self.history.append(sql)
            self.history = self.history[-50:]
        self._hist_pos = len(self.history)
        self.app.remember(sql=sql, sql_history=list(self.history))
        self._interrupt()
        self._status(Text(" running… (Esc cancels)", style="italic"))
        self._run(self.app.engine.store, sql)

    @work(thread=True, exclusive=True, exit_on_error=False, group="sql")
    def _run(self, store: Any, sql: str) -> None:
        worker = get_current_worker()
        mine: Any = None
        try:
            with analyst_reading(store) as cur:
                self._running = mine = cur
                result, error = run_sql(cur, sql, self.cap), None
        except QueryError as exc:
            result, error = None, str(exc)
        finally:
            if self._running is mine:
                self._running = None
        if not worker.is_cancelled:
            self.post_message(SqlDone(result, error))

    def on_sql_done(self, message: SqlDone) -> None:
        self.error = message.error
        if message.result is None:
            # DuckDB's messages span lines (the query, a caret under the error): shown as lines, not as `\x0a`.
            lines = [clean(line, 300) for line in (message.error or "failed").splitlines() if line.strip()][:4]
            self._status(Text(" " + "\n ".join(lines), style="bold red"))
            return
        self.result = r = message.result
        table = self.query_one(DataTable)
        with self.app.batch_update():
            table.clear(columns=True)
            table.add_columns(*(Text(clean(c, 40)) for c in r.columns))
            table.add_rows([[cell(v) for v in row] for row in r.rows])
        timing = "" if self.app.frozen else f" · {r.seconds:.2f} s"
        self._status(Text(f" {r.count_label()}{timing}", style="bold" if r.capped else ""))

    def action_export(self, fmt: str) -> None:
        if self.result is None or self.app.engine is None:
            self.notify("run a query first", severity="warning", markup=False)
            return
        from app.ui.main_screen import exports_dir

        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        self._export(self.app.engine.store, self.result.sql, exports_dir() / f"query-{stamp}.{fmt}", fmt)

    @work(thread=True, exit_on_error=False, group="sql-export")
    def _export(self, store: Any, sql: str, path: Path, fmt: str) -> None:
        try:
            with analyst_reading(store) as cur:
                n = export_sql(cur, sql, path, fmt)
        except (QueryError, OSError) as exc:
            self.post_message(SqlExported(None, 0, str(exc)))
            return
        self.post_message(SqlExported(path, n, None))

    def on_sql_exported(self, message: SqlExported) -> None:
        if message.error:
            self.notify(f"export failed: {clean(message.error, 200)}", severity="error", markup=False)
            return
        self.last_export = message.path
        self.notify(f"exported {message.rows:,} rows to {message.path}", markup=False)

    def _status(self, text: Text) -> None:
        self.query_one("#sql-status", Static).update(text)
