"""The detail pane for the selected alert: title, why it fired, entity, evidence events with parsed fields,
their templates, and the lines before and after the latest evidence event, read from the store in a worker.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static
from textual.worker import get_current_worker

from app.ui.queries import AlertDetail, alert_detail, fmt_time, parsed_fields, reading
from app.ui.text import clean
from app.ui.themes import severity_style


class DetailLoaded(Message):
    def __init__(self, alert_id: int, detail: AlertDetail | None, error: str | None = None) -> None:
        super().__init__()
        self.alert_id = alert_id
        self.detail = detail
        self.error = error


def render_detail(detail: AlertDetail, theme: str) -> Text:
    """Everything from the store goes in as plain strings (escaped), so log text cannot restyle the pane."""
    a = detail.alert
    sev = str(a.get("severity") or "low")
    t = Text(end="")
    t.append(f" {sev.upper()} ", style=severity_style(theme, sev) or "bold")
    t.append(" ")
    t.append(clean(a.get("title") or a.get("rule_id") or "alert"), style="bold")
    t.append(f"   #{a.get('alert_id')}\n", style="dim")
    t.append("status ", style="dim")
    t.append(clean(a.get("status")))
    if a.get("status_by"):
        t.append(f" by {clean(a.get('status_by'))} at {fmt_time(a.get('status_at'), True)}")
    t.append("  count ", style="dim")
    t.append(f"{a.get('count') or 0:,}")
    if a.get("score") is not None:
        t.append("  score ", style="dim")
        t.append(f"{float(a['score']):.2f}")
    t.append("  detector ", style="dim")
    t.append(clean(a.get("detector")) + (f"/{clean(a.get('rule_id'))}" if a.get("rule_id") else ""))
    t.append("\nentity ", style="dim")
    t.append(clean(a.get("entity") or "-"), style="bold")
    if a.get("host"):
        t.append("  host ", style="dim")
        t.append(clean(a.get("host")))
    t.append("  seen ", style="dim")
    t.append(f"{fmt_time(a.get('first_seen'), True)} → {fmt_time(a.get('last_seen'), True)} UTC")
    t.append("  detected ", style="dim")  # when the scorer raised it: differs from event time while it catches up
    t.append(f"{fmt_time(a.get('created_at'), True)} UTC")
    t.append("\nwhy ", style="dim")
    t.append(clean(a.get("why") or a.get("summary") or "-", 4000))
    t.append(f"\n\nevidence ({len(detail.evidence)} of {detail.evidence_total}, latest last)\n", style="bold")
    for e in detail.evidence:
        t.append(f" {e['event_id']:>8} ", style="dim")
        t.append(fmt_time(e.get("ts") or e.get("received_at"), True) + " ")
        t.append(clean(e.get("raw")))
        t.append("\n")
        fields = parsed_fields(e)
        if fields:
            t.append("          ")
            for i, (k, v) in enumerate(fields):
                if i:
                    t.append("  ")
                t.append(clean(k, 60) + "=", style="dim")
                t.append(clean(v, 300))
            t.append("\n")
        tid = e.get("template_id")
        if tid is not None and int(tid) in detail.templates:
            t.append("          template ", style="dim")
            t.append(clean(detail.templates[int(tid)]), style="italic")
            t.append("\n")
    if detail.context_of is not None:
        t.append(f"\ncontext around {detail.context_of} (same source)\n", style="bold")
        evidence = {int(e["event_id"]): e for e in detail.evidence}
        for marker, rows in (("  ", detail.context_before), ("▶ ", [evidence[detail.context_of]]),
                             ("  ", detail.context_after)):
            for e in rows:
                t.append(marker, style="bold")
                t.append(f"{e['event_id']:>8} ", style="dim")
                t.append(clean(e.get("raw")), style="bold" if marker.strip() else "")
                t.append("\n")
    return t


class DetailPane(VerticalScroll, can_focus=True):
    """Shows one alert; `show(id)` loads it in the `detail` worker group (a newer request supersedes)."""

    DEFAULT_CSS = """
    DetailPane { height: 50%; border-top: solid $primary; background: $surface; padding: 0 1; }
    """

    def __init__(self, store: Any = None, *, context: int = 3, id: str | None = None) -> None:
        super().__init__(id=id)
        self.store = store
        self.context = context
        self.alert_id: int | None = None
        self.detail: AlertDetail | None = None
        self.loads = 0

    def compose(self) -> ComposeResult:
        yield Static(Text("select an alert and press enter", style="dim"), id="detail-body")

    def show(self, alert_id: int | None) -> None:
        self.alert_id = alert_id
        if alert_id is None or self.store is None:
            self.query_one("#detail-body", Static).update(Text("no alert selected", style="dim"))
            return
        self.load(alert_id)

    @work(thread=True, exclusive=True, exit_on_error=False, group="detail")
    def load(self, alert_id: int) -> None:
        worker = get_current_worker()
        try:
            with reading(self.store) as cur:
                detail = alert_detail(cur, alert_id, context=self.context)
            error = None if detail is not None else f"alert {alert_id} is no longer in the store"
        except Exception as exc:  # shown in the pane, never fatal
            detail, error = None, f"{type(exc).__name__}: {exc}"
        if not worker.is_cancelled:
            self.post_message(DetailLoaded(alert_id, detail, error))

    def on_detail_loaded(self, message: DetailLoaded) -> None:
        message.stop()
        if message.alert_id != self.alert_id:
            return
        self.loads += 1
        self.detail = message.detail
        body = self.query_one("#detail-body", Static)
        if message.detail is None:
            body.update(Text(clean(message.error or "not found"), style="bold red"))
            return
        body.update(render_detail(message.detail, self.app.theme))
