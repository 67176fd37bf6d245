"""The approval modal: the analyst sees the proposal, the evidence rows it cites (read from the store, not
from model text), the exact dry-run argv, risks and deny-list checks, then approves, edits or denies.

Push it with `app.push_screen(ApprovalScreen(session, outcome), callback)`; the callback receives an
`ApprovalResult` (decision approved | denied | expired, the possibly re-validated outcome, and the Approval).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from app.ui.text import clean, plain
from playbooks.approval import Approval, ApprovalError, ApprovalExpired, ApprovalRequest
from playbooks.chat import PlaybookSession
from playbooks.param_text import format_params
from playbooks.proposals import ProposalOutcome

_EVIDENCE_FIELDS = ("event_id", "ts", "host", "app", "src_ip", "user", "message")


def multiline(value: str | list[str], style: str = "", limit: int = 20000) -> Text:
    """Several display lines, each made safe like `plain()` (controls visible, never markup)."""
    lines = value if isinstance(value, list) else str(value).split("\n")
    return Text("\n".join(clean(line, 2000) for line in lines)[:limit], style=style, end="")


@dataclass
class ApprovalResult:
    decision: str  # approved | denied | expired
    outcome: ProposalOutcome
    approval: Approval | None = None


class ApprovalScreen(ModalScreen[ApprovalResult]):
    DEFAULT_CSS = """
    ApprovalScreen { align: center middle; }
    ApprovalScreen #approval-dialog {
        width: 92%; height: 90%; border: thick $warning; background: $surface; padding: 0 1;
    }
    ApprovalScreen #approval-body { height: 1fr; }
    ApprovalScreen #approval-footer { height: auto; }
    ApprovalScreen .section { margin-top: 1; text-style: bold; }
    ApprovalScreen #approval-error { color: $error; }
    ApprovalScreen .param-row { height: 3; }
    ApprovalScreen .param-row Label { width: 14; padding-top: 1; }
    ApprovalScreen .param-row Input { width: 1fr; }
    ApprovalScreen #approval-buttons { height: 3; margin-top: 1; }
    ApprovalScreen #approval-buttons Button { margin-right: 2; }
    """
    BINDINGS = [Binding("escape", "deny", "Deny", id="approval.deny")]

    def __init__(self, session: PlaybookSession, outcome: ProposalOutcome) -> None:
        super().__init__()
        self.session = session
        self.outcome = outcome
        self.request: ApprovalRequest = session.request_approval(outcome)

    def compose(self) -> ComposeResult:
        o = self.outcome
        with Vertical(id="approval-dialog"):
            with VerticalScroll(id="approval-body"):
                yield Static(id="approval-title")
                # What would run comes first: on a small terminal it is on screen before the Approve button.
                yield Label("Dry run — the exact commands", classes="section")
                yield Static(id="approval-argv")
                yield Static(id="approval-source")
                yield Label("Risks and checks", classes="section")
                yield Static(id="approval-checks")
                yield Label("Evidence (from the store)", classes="section")
                yield Static(id="approval-evidence")
                yield Label("Parameters (editing re-validates and needs a new approval)", classes="section")
                for name, value in o.params.items():
                    with Horizontal(classes="param-row"):
                        yield Label(clean(name, 40))
                        yield Input(value=clean(value, 200), id=f"param-{name}")
                yield Button("Apply edits", id="apply-edits", variant="default")
            # The decision controls stay visible whatever the length of the evidence above.
            with Vertical(id="approval-footer"):
                yield Static(id="approval-confirm-hint")
                yield Input(placeholder="type the target to confirm", id="approval-confirm")
                yield Static("", id="approval-error")
                yield Static(id="approval-expiry")
                with Horizontal(id="approval-buttons"):
                    yield Button("Approve", id="approve", variant="warning")
                    yield Button("Deny", id="deny", variant="error")

    def on_mount(self) -> None:
        self._render_plan()
        self.set_interval(1.0, self._tick)

    def _render_plan(self) -> None:
        o = self.outcome
        plan = o.plan
        assert plan is not None
        self.query_one("#approval-title", Static).update(
            plain(f"{plan.title}: {o.playbook_id} {format_params(o.params)}  (v{plan.playbook_version}, plan "
                  f"{plan.hash[:16]})", "bold"))
        label = "LLM-generated; may be wrong" if o.source == "llm" else f"proposed by {o.source}"
        self.query_one("#approval-source", Static).update(multiline(f"[{label}] {o.rationale}", limit=1200))
        rows = self.session.evidence_rows(plan.evidence_ids)
        lines = [" | ".join(clean(r.get(k), 160) for k in _EVIDENCE_FIELDS) for r in rows[:50]]
        more = f"\n… {len(rows) - 50} more rows" if len(rows) > 50 else ""
        self.query_one("#approval-evidence", Static).update(
            multiline(lines + ([more.strip()] if more else []) if lines else "(no evidence rows found in the store)"))
        self.query_one("#approval-argv", Static).update(multiline(plan.dry_run_lines()))
        pb = self.session.catalog.get(o.playbook_id or "")
        risk = (f"impact {plan.impact}; {'reversible' if plan.reversible else 'NOT reversible'}"
                + (f"; lifts itself after {plan.expiry_s} s" if plan.expiry_s else "")
                + (f"; {pb.risk.notes}" if pb and pb.risk.notes else "")
                + ("; TARGET IS A PROTECTED OT ASSET" if plan.ot_target else ""))
        checks = [c.line() for c in o.checks] or ["(no checks)"]
        self.query_one("#approval-checks", Static).update(multiline([risk, *checks]))
        confirm = self.query_one("#approval-confirm", Input)
        hint = self.query_one("#approval-confirm-hint", Static)
        confirm.display = hint.display = plan.confirmation_text is not None
        if plan.confirmation_text is not None:
            hint.update(plain(f"High impact: type {plan.confirmation_text} to approve", "bold"))
        self._tick()

    def _tick(self) -> None:
        if self.request.expired():
            self.session.expire(self.request)
            self.dismiss(ApprovalResult("expired", self.outcome))
            return
        left = int((self.request.expires_at - datetime.now(UTC)).total_seconds())
        self.query_one("#approval-expiry", Static).update(plain(f"approval window closes in {left} s"))

    def _error(self, text: str) -> None:
        self.query_one("#approval-error", Static).update(plain(text))

    @on(Button.Pressed, "#approve")
    def approve(self) -> None:
        confirmation = self.query_one("#approval-confirm", Input).value
        try:
            approval = self.session.approve(self.request, confirmation)
        except ApprovalExpired:
            self.dismiss(ApprovalResult("expired", self.outcome))
            return
        except ApprovalError as exc:
            self._error(str(exc))
            return
        self.dismiss(ApprovalResult("approved", self.outcome, approval))

    @on(Button.Pressed, "#deny")
    def action_deny(self) -> None:
        self.session.deny(self.request, "denied in the approval dialog")
        self.dismiss(ApprovalResult("denied", self.outcome))

    @on(Button.Pressed, "#apply-edits")
    def apply_edits(self) -> None:
        params: dict[str, Any] = {}
        for name in self.outcome.params:
            params[name] = self.query_one(f"#param-{name}", Input).value
        new = self.session.revalidate(self.outcome, params)
        if not new.accepted:
            self._error("edit rejected: " + "; ".join(new.reasons))
            return
        # The old request lapses (recorded), the new plan needs its own approval.
        self.session.supersede(self.request, new.proposal_id)
        self.outcome = new
        self.request = self.session.request_approval(new)
        self._error("")
        self._render_plan()
