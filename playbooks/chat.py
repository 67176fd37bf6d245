"""The headless playbook session the UI and CLI share: ask the model (or the offline proposer) about an
alert, validate proposals, request/approve/deny approvals, execute and roll back — every step audited."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from playbooks import offline, prompt
from playbooks.approval import Approval, ApprovalError, ApprovalExpired, ApprovalRequest
from playbooks.audit import AuditLog, os_identity
from playbooks.autorun import AUTO_RUN_ACTOR, AutoRunGovernor
from playbooks.catalog import Catalog, load_catalog
from playbooks.config import PlaybookConfig
from playbooks.db import PlaybookDb
from playbooks.evidence import AlertContext, load_alert, rows_by_id, search_events
from playbooks.executor import ExecutionRefused, ExecutionResult, Executor, OutputFn
from playbooks.guards import DenyLists
from playbooks.llm import LlmCancelled, LlmError, LlmStatus, OllamaChat, normalise_host, probe
from playbooks.plan import canonical_json
from playbooks.proposals import ProposalOutcome, ProposalValidator, set_status, store_outcome
from playbooks.routing import RoutingDecision, route_alert
from playbooks.sanitize import clean_text


@dataclass
class ChatEvent:
    """What the session reports while answering: status lines, answer tokens, tool use, proposals, errors."""

    kind: str  # status | token | tool | proposal | error | done
    text: str = ""
    outcome: ProposalOutcome | None = None


EmitFn = Callable[[ChatEvent], None]


@dataclass
class AskResult:
    answer: str = ""
    outcomes: list[ProposalOutcome] = field(default_factory=list)
    llm_used: bool = False
    errors: list[str] = field(default_factory=list)
    cancelled: bool = False


TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {
        "name": "lookup_alert", "description": "Read one alert and its evidence rows by alert id (read-only).",
        "parameters": {"type": "object", "required": ["alert_id"],
                       "properties": {"alert_id": {"type": "integer", "description": "alert id"}}}}},
    {"type": "function", "function": {
        "name": "search_events",
        "description": "Find recent events whose field equals a value (read-only). Fields: src_ip, dst_ip, user, "
                       "host, app, category, outcome, template_id. Optional ISO-8601 since/until.",
        "parameters": {"type": "object", "required": ["field", "value"],
                       "properties": {"field": {"type": "string", "description": "event field"},
                                      "value": {"type": "string", "description": "value to match"},
                                      "since": {"type": "string", "description": "ISO-8601 start"},
                                      "until": {"type": "string", "description": "ISO-8601 end"}}}}},
]


class PlaybookSession:
    def __init__(self, config: PlaybookConfig, db: PlaybookDb | None, catalog: Catalog | None = None,
                 deny: DenyLists | None = None) -> None:
        self.config = config
        self.db = db
        self.catalog = catalog if catalog is not None else load_catalog(config.user_catalog_dir)
        self.deny_lists = deny if deny is not None else DenyLists.from_config(config)
        self.validator = ProposalValidator(self.catalog, config, self.deny_lists)
        self.audit = AuditLog(db, syslog=config.audit_syslog) if db is not None else None
        self.executor = Executor(self.validator, db, self.audit) if db is not None and self.audit else None
        self.autorun = AutoRunGovernor(config, db) if db is not None else None
        self.llm_status: LlmStatus | None = None
        self._llm: OllamaChat | None = None
        self._probed_at = 0.0
        self.outcomes: dict[str, ProposalOutcome] = {}
        self.executions: dict[str, ExecutionResult] = {}
        try:
            self.host = normalise_host(config.ollama_host, config.ollama_allow_remote)
            self._host_error: str | None = None
        except ValueError as exc:
            self.host, self._host_error = config.ollama_host, str(exc)

    # --- store access ---

    def load_alert(self, alert_id: int | None) -> AlertContext | None:
        if alert_id is None or self.db is None:
            return None
        cur = self.db.cursor()
        try:
            return load_alert(cur, alert_id)
        finally:
            cur.close()

    def similar_alerts(self, alert_id: int | None, k: int = 3) -> list[dict[str, Any]]:
        """Earlier look-alike alerts with how they ended, for the prompt; [] when there are none (or no vectors)."""
        if alert_id is None or self.db is None:
            return []
        from detectors.similar_alerts import similar_to

        cur = self.db.cursor()
        try:
            found = similar_to(cur, alert_id, k=k, min_score=0.5) or []
        except Exception:  # an older store without the table, or no evidence: the answer goes on without it
            return []
        finally:
            cur.close()
        return [{**s.as_dict(), "outcome": s.outcome()} for s in found]

    def evidence_rows(self, event_ids: list[int]) -> list[dict[str, Any]]:
        """Evidence rows from the store, for the approval dialog (never from model text)."""
        if self.db is None:
            return []
        cur = self.db.cursor()
        try:
            return rows_by_id(cur, event_ids)
        finally:
            cur.close()

    def _audit(self, kind: str, **kw: Any) -> None:
        if self.audit is not None:
            self.audit.record(kind, **kw)

    def _record(self, outcome: ProposalOutcome, status: str | None = None) -> None:
        self.outcomes[outcome.proposal_id] = outcome
        if self.db is None:
            return
        status = status or ("pending_approval" if outcome.accepted else
                            "invalid" if outcome.is_proposal or outcome.decision == "invalid" else outcome.decision)
        self.db.write(lambda con: store_outcome(con, outcome, status))
        actor_type = "llm" if outcome.source == "llm" else "system"
        actor_id = (outcome.llm or {}).get("model") if outcome.source == "llm" else outcome.source
        self._audit("proposal", actor_type=actor_type, actor_id=actor_id, alert_id=outcome.alert_id,
                    proposal_id=outcome.proposal_id, playbook_id=outcome.playbook_id,
                    plan_hash=outcome.plan.hash if outcome.plan else None, data=outcome.audit_data())

    # --- LLM ---

    def probe_llm(self, max_age_s: float = 10.0) -> LlmStatus:
        if self._host_error:
            self.llm_status = LlmStatus("error", self.host, self.config.ollama_model, self._host_error)
            return self.llm_status
        if self.llm_status is None or time.monotonic() - self._probed_at > max_age_s:
            self.llm_status = probe(self.host, self.config.ollama_model, self.config.llm_probe_timeout_s)
            self._probed_at = time.monotonic()
        return self.llm_status

    def _chat(self) -> OllamaChat:
        if self._llm is None:
            self._llm = OllamaChat(self.host, self.config.ollama_model,
                                   connect_timeout_s=self.config.llm_connect_timeout_s,
                                   read_timeout_s=self.config.llm_read_timeout_s, options=self.llm_options(),
                                   max_output_bytes=self.config.llm_max_output_bytes,
                                   max_answer_s=self.config.llm_max_answer_s)
        return self._llm

    def llm_options(self) -> dict[str, Any]:
        c = self.config
        return {"temperature": 0, "seed": c.llm_seed, "num_ctx": c.llm_num_ctx, "num_predict": c.llm_num_predict}

    def _run_tool(self, name: str, args: dict[str, Any], boundary: str) -> str:
        try:
            if name == "lookup_alert":
                ctx = self.load_alert(int(args.get("alert_id", -1)))
                if ctx is None:
                    return "no such alert"
                return prompt.alert_block(ctx, boundary, self.config.prompt_field_chars, self.config.prompt_max_rows)
            if name == "search_events" and self.db is not None:
                since = datetime.fromisoformat(str(args["since"])) if args.get("since") else None
                until = datetime.fromisoformat(str(args["until"])) if args.get("until") else None
                cur = self.db.cursor()
                try:
                    rows = search_events(cur, str(args.get("field")), str(args.get("value")), since, until)
                finally:
                    cur.close()
                body = [{k: clean_text(v, self.config.prompt_field_chars).replace(boundary, "")
                         for k, v in r.items() if v is not None} for r in rows]
                return f"<<{boundary}>>\n{canonical_json(body)}\n<</{boundary}>>"
            return f"unknown tool {clean_text(name, 40)}"
        except (ValueError, KeyError, TypeError) as exc:
            return f"tool error: {clean_text(exc, 200)}"

    def ask(self, question: str, alert_id: int | None = None, emit: EmitFn | None = None,
            cancel: threading.Event | None = None) -> AskResult:
        """Stream an answer and propose playbooks. Never executes anything."""
        out = AskResult()

        def say(kind: str, text: str = "", outcome: ProposalOutcome | None = None) -> None:
            if emit is not None:
                emit(ChatEvent(kind, text, outcome))

        ctx = self.load_alert(alert_id)
        if alert_id is not None and ctx is None:
            say("error", f"alert {alert_id} not found in the store")
            out.errors.append(f"alert {alert_id} not found")
        similar = self.similar_alerts(alert_id) if ctx is not None else []
        status = self.probe_llm()
        say("status", status.message)
        if status.ready:
            try:
                self._ask_llm(question, ctx, out, say, cancel, similar)
            except LlmCancelled:
                out.cancelled = True
                say("status", "cancelled")
                say("done")
                return out
            except LlmError as exc:
                out.errors.append(str(exc))
                say("error", f"{exc} — falling back to offline proposals")
                self.llm_status = None  # probe again next time
        if ctx is None and not out.llm_used:
            say("token", "No model available: select an alert to get offline playbook proposals.\n")
        if ctx is not None and not any(o.accepted for o in out.outcomes):
            if not out.llm_used:
                text = offline.explain(ctx, similar)
                out.answer = text
                say("token", text + "\n")
            for prop in offline.suggest(self.catalog, ctx):
                outcome = self.validator.validate(prop, ctx, "offline_rules")
                self._record(outcome)
                out.outcomes.append(outcome)
                say("proposal", outcome.summary(), outcome)
        say("done")
        return out

    def _ask_llm(self, question: str, ctx: AlertContext | None, out: AskResult, say: Callable[..., None],
                 cancel: threading.Event | None, similar: list[dict[str, Any]] | None = None) -> None:
        llm = self._chat()
        boundary = prompt.new_boundary()
        candidates = self.validator.candidates(ctx)
        messages = prompt.question_messages(candidates, ctx, question, boundary, self.config.prompt_field_chars,
                                            self.config.prompt_max_rows, similar=similar)
        caps = self.llm_status.capabilities if self.llm_status else []
        tools = TOOLS if (not caps or "tools" in caps) else None
        for _round in range(self.config.llm_max_tool_rounds + 1):
            try:
                turn = llm.stream(messages, tools=tools, on_token=lambda t: say("token", t), cancel=cancel)
            except LlmError as exc:
                if tools and "does not support tools" in str(exc):
                    tools = None
                    continue
                raise
            out.llm_used = True
            if not turn.tool_calls:
                out.answer += turn.content
                messages.append({"role": "assistant", "content": turn.content})
                break
            messages.append({"role": "assistant", "content": turn.content,
                             "tool_calls": [{"function": c} for c in turn.tool_calls]})
            for call in turn.tool_calls:
                say("tool", f"model looked up {clean_text(call['name'], 40)}"
                            f"({clean_text(canonical_json(call['arguments']), 120)})")
                result = self._run_tool(call["name"], call["arguments"], boundary)
                messages.append({"role": "tool", "tool_name": call["name"], "content": result})
        if ctx is None:
            return
        schema = self.validator.format_schema(ctx)
        messages.append({"role": "user", "content": prompt.PROPOSAL_REQUEST})
        prompt_sha = hashlib.sha256(canonical_json(messages).encode()).hexdigest()
        for attempt in range(2):  # one repair retry
            turn = llm.stream(messages, format=schema, cancel=cancel)
            provenance = {**(self.llm_status.provenance() if self.llm_status else {}), "options": self.llm_options(),
                          "prompt_sha256": prompt_sha, "raw_response": turn.content[:4000], "attempt": attempt,
                          **turn.stats()}
            outcome = self.validator.validate(turn.content, ctx, "llm", llm=provenance)
            if outcome.llm is not None:
                outcome.llm["validation_errors"] = outcome.reasons
            self._record(outcome)
            out.outcomes.append(outcome)
            say("proposal", outcome.summary(), outcome)
            if outcome.accepted or outcome.decision in ("no_action", "need_more_info", "escalate"):
                return
            messages += [{"role": "assistant", "content": turn.content}, prompt.repair_message(outcome.reasons)]

    # --- approval ---

    def request_approval(self, outcome: ProposalOutcome) -> ApprovalRequest:
        if not outcome.accepted or outcome.plan is None:
            raise ApprovalError("only accepted proposals can be approved: " + "; ".join(outcome.reasons))
        pb = self.catalog.get(outcome.playbook_id or "")
        ttl = min(pb.approval.ttl_s if pb else self.config.approval_ttl_s, self.config.approval_ttl_s)
        req = ApprovalRequest(outcome.proposal_id, outcome.plan, ttl)
        self._audit("approval_requested", actor_type="system", actor_id="vigil", alert_id=outcome.alert_id,
                    proposal_id=outcome.proposal_id, playbook_id=outcome.playbook_id, plan_hash=outcome.plan.hash,
                    data={"ttl_s": ttl, "expires_at": req.expires_at.isoformat(),
                          "dry_run": outcome.plan.dry_run_lines()})
        return req

    def approve(self, request: ApprovalRequest, confirmation: str | None = None, note: str = "") -> Approval:
        ident = os_identity()
        outcome = self.outcomes.get(request.proposal_id)
        base = {"alert_id": outcome.alert_id if outcome else None, "proposal_id": request.proposal_id,
                "playbook_id": request.plan.playbook_id, "plan_hash": request.plan.hash}
        try:
            approval = request.approve(ident, confirmation, note)
        except ApprovalExpired:
            self.expire(request)
            raise
        self._audit("approved", actor_type="human", actor_id=ident.get("user"), identity=ident,
                    data={"approval_id": approval.approval_id, "note": clean_text(note, 500),
                          "expires_at": approval.expires_at.isoformat()}, **base)
        if self.db is not None:
            self.db.write(lambda con: set_status(con, request.proposal_id, "approved"))
        return approval

    def deny(self, request: ApprovalRequest, reason: str = "") -> None:
        ident = os_identity()
        self._audit("denied", actor_type="human", actor_id=ident.get("user"), identity=ident,
                    proposal_id=request.proposal_id, playbook_id=request.plan.playbook_id,
                    plan_hash=request.plan.hash, alert_id=request.plan.alert_id,
                    data={"reason": clean_text(reason, 500)})
        if self.db is not None:
            self.db.write(lambda con: set_status(con, request.proposal_id, "denied"))

    def supersede(self, request: ApprovalRequest, new_proposal_id: str) -> None:
        """The analyst edited the parameters: this request lapses in favour of a new proposal."""
        ident = os_identity()
        self._audit("superseded", actor_type="human", actor_id=ident.get("user"), identity=ident,
                    proposal_id=request.proposal_id, playbook_id=request.plan.playbook_id,
                    plan_hash=request.plan.hash, alert_id=request.plan.alert_id,
                    data={"replaced_by": new_proposal_id})
        if self.db is not None:
            self.db.write(lambda con: set_status(con, request.proposal_id, "superseded"))

    def expire(self, request: ApprovalRequest) -> None:
        """The approval window closed without a decision: a system event, never a human denial."""
        self._audit("expired", actor_type="system", actor_id="approval-timeout", proposal_id=request.proposal_id,
                    playbook_id=request.plan.playbook_id, plan_hash=request.plan.hash,
                    alert_id=request.plan.alert_id, data={"expires_at": request.expires_at.isoformat()})
        if self.db is not None:
            self.db.write(lambda con: set_status(con, request.proposal_id, "expired"))

    def revalidate(self, outcome: ProposalOutcome, params: dict[str, Any]) -> ProposalOutcome:
        """The analyst edited parameters: a new proposal (new plan hash) that needs its own approval."""
        ctx = self.load_alert(outcome.alert_id)
        raw = {"decision": "propose_playbook", "playbook": {"playbook_id": outcome.playbook_id, "params": params},
               "rationale": f"edited by analyst from proposal {outcome.proposal_id}",
               "evidence_ids": outcome.evidence_ids}
        new = self.validator.validate(raw, ctx, "analyst")
        self._record(new)
        return new

    # --- execution ---

    def execute(self, outcome: ProposalOutcome, approval: Approval, on_output: OutputFn | None = None,
                cancel: threading.Event | None = None) -> ExecutionResult:
        if self.executor is None:
            raise ExecutionRefused("no store: execution needs the audit log")
        result = self.executor.run(outcome, approval, self.load_alert(outcome.alert_id), on_output, cancel)
        self.executions[outcome.proposal_id] = result
        return result

    def rollback(self, outcome: ProposalOutcome, on_output: OutputFn | None = None) -> ExecutionResult:
        if self.executor is None:
            raise ExecutionRefused("no store: execution needs the audit log")
        return self.executor.rollback(outcome, os_identity(), on_output=on_output)

    def route(self, alert_id: int) -> RoutingDecision | None:
        """Severity routing for a new alert; runs the Medium-tier auto path when (and only when) allowed."""
        ctx = self.load_alert(alert_id)
        if ctx is None:
            return None
        decision = route_alert(ctx, self.catalog, self.validator, self.config)
        for o in decision.proposals:
            self._record(o, "pending_review" if decision.action == "review" and o.accepted else None)
        self._audit("routed", actor_type="system", actor_id="router", alert_id=alert_id,
                    data={"action": decision.action, "note": decision.note, "escalation": decision.escalation})
        if decision.action == "auto_run" and self.executor is not None:
            self._auto_run(decision)
        return decision

    def _auto_run(self, decision: RoutingDecision) -> None:
        """Run the routed auto-run proposal, unless a blast-radius limit holds it back for the analyst."""
        assert self.executor is not None and self.autorun is not None
        auto = next(o for o in decision.proposals if o.accepted and o.plan is not None)
        assert auto.plan is not None
        held = self.autorun.admit(auto.plan)
        if held is not None:
            decision.action, decision.held = "prepare", held
            decision.note += f"; {held.text}"
            self._audit("auto_run_held", actor_type="system", actor_id="auto-run", alert_id=decision.alert_id,
                        proposal_id=auto.proposal_id, playbook_id=auto.playbook_id, plan_hash=auto.plan.hash,
                        data={"reason": held.text, "limit": held.kind, "targets": auto.plan.targets})
            return
        try:
            req = ApprovalRequest(auto.proposal_id, auto.plan, self.config.approval_ttl_s)
            approval = req.approve({"id": "auto-run", "user": AUTO_RUN_ACTOR}, actor_type="system",
                                   note="medium-tier auto-run enabled in config")
            self._audit("approved", actor_type="system", actor_id="auto-run", alert_id=decision.alert_id,
                        proposal_id=auto.proposal_id, playbook_id=auto.playbook_id,
                        plan_hash=approval.plan_hash, data={"approval_id": approval.approval_id})
            try:
                self.execute(auto, approval)
            except ExecutionRefused as exc:
                decision.note += f"; auto-run refused: {exc}"
        finally:
            self.autorun.release(auto.plan)

    def close(self) -> None:
        if self._llm is not None:
            self._llm.close()
