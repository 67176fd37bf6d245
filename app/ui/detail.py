"""The detail pane for the selected incident or alert. An incident: its story, severity, ATT&CK techniques, the
one proposed response and its alerts, then its lead alert. An alert: title, why it fired, entity, evidence events
with parsed fields, their templates, and the lines before and after the latest evidence event. Read from the
store in a worker; the most important lines come first so that a short pane (80×24) shows them.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static
from textual.worker import get_current_worker

from app.ui.queries import (
    AlertDetail,
    IncidentDetail,
    alert_detail,
    fmt_time,
    incident_detail,
    parsed_fields,
    reading,
)
from app.ui.text import clean
from app.ui.themes import severity_style
from detectors.incidents import render_phrase


class DetailLoaded(Message):
    def __init__(self, alert_id: int, detail: AlertDetail | None, error: str | None = None,
                 incident: IncidentDetail | None = None, kind: str = "alert") -> None:
        super().__init__()
        self.alert_id = alert_id
        self.detail = detail
        self.error = error
        self.incident = incident
        self.kind = kind


def render_incident(detail: IncidentDetail, theme: str) -> Text:
    """The incident first (what happened, to whom, what to do), then its alerts, then the lead alert's detail."""
    inc = detail.incident
    sev = str(inc.get("severity") or "low")
    t = Text(end="")
    t.append(f" {sev.upper()} ", style=severity_style(theme, sev) or "bold")
    t.append(" ")
    t.append(clean(inc.get("story") or inc.get("entity"), 1000), style="bold")
    t.append(f"   incident #{inc.get('incident_id')}\n", style="dim")
    t.append("response ", style="dim")
    t.append(clean(inc.get("response") or "none proposed yet (p: ask the chat)", 300),
             style="bold" if inc.get("response") else "italic")
    t.append("\nATT&CK ", style="dim")
    t.append(clean(" ".join(inc.get("techniques") or []) or "-", 300))
    t.append("  status ", style="dim")
    t.append(clean(inc.get("status")))
    t.append("  seen ", style="dim")
    t.append(f"{fmt_time(inc.get('first_seen'), True)} → {fmt_time(inc.get('last_seen'), True)} UTC")
    if inc.get("hosts"):
        t.append("  hosts ", style="dim")
        t.append(clean(", ".join(inc.get("hosts") or []), 200))
    t.append(f"\nalerts ({len(detail.alerts)})\n", style="bold")
    for a in detail.alerts:
        asev = str(a.get("severity") or "low")
        t.append(f" #{a['alert_id']:<6}", style="dim")
        t.append(f"{asev[:4].upper():<5}", style=severity_style(theme, asev))
        t.append(f"{fmt_time(a.get('first_seen'), True)} ")
        step = render_phrase(a["phrase"], int(a.get("amount") or 0)) if a.get("phrase") else a.get("title")
        t.append(clean(step, 120))
        t.append(f"  ({clean(a.get('rule_id') or '-', 60)}, {a.get('count') or 0:,} events, {clean(a.get('status'))})",
                 style="dim")
        t.append("\n")
    if detail.lead is not None:
        t.append(f"\nlead alert #{detail.lead.alert.get('alert_id')} (chat and playbooks act through it)\n",
                 style="bold")
        t.append_text(render_detail(detail.lead, theme))
    return t


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

    BINDINGS = [Binding("t", "triage", "Triage", id="detail.triage",
                        tooltip="a short assessment of this alert's incident, every claim citing events")]

    DEFAULT_CSS = """
    DetailPane { height: 50%; border-top: solid $primary; background: $surface; padding: 0 1; }
    """

    def __init__(self, store: Any = None, *, context: int = 3, id: str | None = None) -> None:
        super().__init__(id=id)
        self.store = store
        self.context = context
        self.alert_id: int | None = None  # the alert or incident id shown (see `kind`)
        self.kind = "alert"
        self.detail: AlertDetail | None = None
        self.incident: IncidentDetail | None = None
        self.loads = 0
        self.similar: list[Any] = []
        self.triage_report: Any = None

    @property
    def incident_id(self) -> int | None:
        return self.alert_id if self.kind == "incident" else None

    def compose(self) -> ComposeResult:
        yield Static(Text("select an alert and press enter", style="dim"), id="detail-body")
        yield from SimilarAndTriage.compose()

    def show(self, alert_id: int | None, kind: str = "alert") -> None:
        self.alert_id = alert_id
        self.kind = kind
        if alert_id is None or self.store is None:
            self.query_one("#detail-body", Static).update(Text(f"no {kind} selected", style="dim"))
            return
        self.load(alert_id, kind)
        SimilarAndTriage.show(self, alert_id)

    @work(thread=True, exclusive=True, exit_on_error=False, group="detail")
    def load(self, row_id: int, kind: str = "alert") -> None:
        worker = get_current_worker()
        detail = incident = None
        try:
            with reading(self.store) as cur:
                if kind == "incident":
                    incident = incident_detail(cur, row_id, context=self.context)
                    detail = incident.lead if incident is not None else None
                    found = incident is not None
                else:
                    detail = alert_detail(cur, row_id, context=self.context)
                    found = detail is not None
            error = None if found else f"{kind} {row_id} is no longer in the store"
        except Exception as exc:  # shown in the pane, never fatal
            detail, error = None, f"{type(exc).__name__}: {exc}"
        if not worker.is_cancelled:
            self.post_message(DetailLoaded(row_id, detail, error, incident, kind))

    def on_detail_loaded(self, message: DetailLoaded) -> None:
        message.stop()
        if message.alert_id != self.alert_id or message.kind != self.kind:
            return
        self.loads += 1
        self.detail = message.detail
        self.incident = message.incident
        body = self.query_one("#detail-body", Static)
        if message.kind == "incident" and message.incident is not None:
            body.update(render_incident(message.incident, self.app.theme))
            return
        if message.detail is None:
            body.update(Text(clean(message.error or "not found"), style="bold red"))
            return
        body.update(render_detail(message.detail, self.app.theme))

    # -- similar past alerts and triage (self-contained: SimilarAndTriage below) ----------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="similar")
    def load_similar(self, alert_id: int) -> None:
        self.post_message(SimilarLoaded(alert_id, *SimilarAndTriage.similar(self.store, alert_id)))

    def on_similar_loaded(self, message: SimilarLoaded) -> None:
        message.stop()
        if message.alert_id == self.alert_id:
            self.similar = message.rows
            self.query_one("#detail-similar", Static).update(render_similar(message.rows, message.error))

    def action_triage(self) -> None:
        if self.alert_id is None or self.store is None:
            self.notify("no alert selected", severity="warning", markup=False)
            return
        self.query_one("#detail-triage", Static).update(Text("\ntriage: reading the incident …", style="dim"))
        self.run_triage(self.alert_id)

    @work(thread=True, exclusive=True, exit_on_error=False, group="triage")
    def run_triage(self, alert_id: int) -> None:
        self.post_message(TriageDone(alert_id, *SimilarAndTriage.triage(self.app, self.store, alert_id)))

    def on_triage_done(self, message: TriageDone) -> None:
        message.stop()
        if message.alert_id == self.alert_id:
            self.triage_report = message.report
            self.query_one("#detail-triage", Static).update(render_triage(message.report, message.error))


class SimilarLoaded(Message):
    def __init__(self, alert_id: int, rows: list[Any], error: str | None) -> None:
        super().__init__()
        self.alert_id, self.rows, self.error = alert_id, rows, error


class TriageDone(Message):
    def __init__(self, alert_id: int, report: Any, error: str | None) -> None:
        super().__init__()
        self.alert_id, self.report, self.error = alert_id, report, error


class SimilarAndTriage:
    """The detail pane's two extra sections: the top three similar past alerts (how they ended), and the
    triage report on `t`. Both are read in workers; neither can fail the pane."""

    # Placeholders as tall as a short answer, so the pane does not jump when the workers answer.
    @staticmethod
    def compose() -> ComposeResult:
        yield Static(render_similar(None), id="detail-similar")
        yield Static(Text("\nt: triage this alert's incident", style="dim"), id="detail-triage")

    @staticmethod
    def show(pane: DetailPane, alert_id: int) -> None:
        pane.query_one("#detail-similar", Static).update(render_similar(None))
        pane.query_one("#detail-triage", Static).update(Text("\nt: triage this alert's incident", style="dim"))
        pane.load_similar(alert_id)

    @staticmethod
    def similar(store: Any, alert_id: int) -> tuple[list[Any], str | None]:
        from detectors.similar_alerts import similar_to

        try:
            with reading(store) as cur:
                return list(similar_to(cur, alert_id, k=3, min_score=0.3) or []), None
        except Exception as exc:
            return [], f"{type(exc).__name__}: {exc}"

    @staticmethod
    def triage(app: Any, store: Any, alert_id: int) -> tuple[Any, str | None]:
        from playbooks.config import config_from_sections
        from playbooks.triage import triage_alert

        try:
            cfg = app.config
            llm = config_from_sections(cfg.llm, cfg.playbooks, sources=cfg.sources)
            with reading(store) as cur:
                return triage_alert(cur, alert_id, llm, sigma_dirs=cfg.detectors.sigma_dirs), None
        except Exception as exc:
            return None, f"{type(exc).__name__}: {exc}"


def render_similar(rows: list[Any] | None, error: str | None = None) -> Text:
    """`rows` None: still looking."""
    t = Text(end="")
    if rows is None:
        t.append("\nsimilar past alerts", style="bold")
        t.append("  looking …\n", style="dim")
        return t
    if error:
        t.append("\nsimilar past alerts", style="bold")
        t.append(f"  unavailable: {clean(error, 200)}\n", style="dim")
        return t
    t.append("\nsimilar past alerts", style="bold")
    if not rows:
        t.append("  none yet\n", style="dim")
        return t
    t.append("\n")
    for s in rows:
        t.append(f" {s.score:4.2f} ", style="dim")
        t.append(f"#{s.alert_id} ")
        t.append(clean(s.title or s.rule_id or "alert", 80))
        t.append(f"  {clean(s.entity or '-', 80)}  ", style="dim")
        t.append(clean(s.outcome(), 200), style="bold" if s.status in ("false_positive", "resolved") else "")
        t.append("\n")
    return t


def render_triage(report: Any, error: str | None = None) -> Text:
    from playbooks.triage import SECTION_TITLES, SECTIONS

    t = Text(end="")
    if report is None:
        t.append(f"\ntriage failed: {clean(error or 'unknown error', 300)}\n", style="bold red")
        return t
    t.append("\ntriage", style="bold")
    t.append(f"  {clean(report.source, 60)}" + (f" — {clean(report.note, 160)}" if report.note else "") + "\n",
             style="dim")
    for section in SECTIONS:
        claims = [c for c in report.claims if c.section == section]
        if not claims:
            continue
        t.append(f" {SECTION_TITLES[section]}\n", style="bold")
        for c in claims:
            t.append("  • " + clean(c.text, 400))
            t.append(f"  [events {', '.join(str(i) for i in c.event_ids[:8])}]\n", style="dim")
    if report.dropped:
        t.append(f" {len(report.dropped)} claim(s) dropped: no valid citation\n", style="dim")
    return t
