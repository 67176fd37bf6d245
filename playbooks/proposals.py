"""Proposal validation: a model's (or the offline proposer's) choice of playbook and parameters becomes
either an accepted plan or a rejection with reasons. Nothing here runs anything but read-only probes."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from playbooks.actions import ActionConfigError, ActionContext
from playbooks.catalog import Catalog, Playbook
from playbooks.config import PlaybookConfig
from playbooks.evidence import AlertContext, normalise
from playbooks.guards import PRECONDITIONS, CheckContext, CheckResult, DenyLists
from playbooks.params import ParamError, coerce, json_schema_for
from playbooks.plan import Plan, render_plan
from playbooks.sanitize import clean_text
from store.schema import severity_rank

Source = Literal["llm", "offline_rules", "analyst", "rules"]
DECISIONS = ("propose_playbook", "no_action", "need_more_info", "escalate")


class PlaybookChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    playbook_id: str = Field(max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)


class ModelProposal(BaseModel):
    """The structured object the model must return (sent to Ollama as `format`)."""

    model_config = ConfigDict(extra="ignore")

    decision: Literal["propose_playbook", "no_action", "need_more_info", "escalate"]
    playbook: PlaybookChoice | None = None
    rationale: str = ""
    evidence_ids: list[int] = Field(default_factory=list, max_length=50)


@dataclass
class ProposalOutcome:
    """What the UI shows as a proposal card: accepted (with a plan) or rejected (with reasons)."""

    proposal_id: str
    source: str
    alert_id: int | None
    decision: str
    accepted: bool
    reasons: list[str]
    playbook_id: str | None = None
    playbook_version: int | None = None
    title: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    plan: Plan | None = None
    checks: list[CheckResult] = field(default_factory=list)
    rationale: str = ""
    evidence_ids: list[int] = field(default_factory=list)
    llm: dict[str, Any] | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def is_proposal(self) -> bool:
        return self.decision == "propose_playbook"

    def summary(self) -> str:
        head = f"{self.playbook_id or '-'} {self.params}" if self.playbook_id else self.decision
        verdict = "accepted" if self.accepted else "rejected: " + "; ".join(self.reasons)
        return f"[{self.source}] {head} — {verdict}"

    def audit_data(self) -> dict[str, Any]:
        return {"source": self.source, "decision": self.decision, "accepted": self.accepted,
                "reasons": self.reasons, "playbook_version": self.playbook_version, "params": self.params,
                "evidence_ids": self.evidence_ids, "rationale": self.rationale[:2000],
                "checks": [c.line() for c in self.checks],
                "dry_run": self.plan.dry_run_lines() if self.plan else None, "llm": self.llm}


class ProposalValidator:
    def __init__(self, catalog: Catalog, config: PlaybookConfig, deny: DenyLists) -> None:
        self.catalog = catalog
        self.config = config
        self.deny = deny

    # --- the model-facing contract, derived from the catalogue ---

    def format_schema(self, alert: AlertContext | None = None) -> dict[str, Any]:
        choices = []
        for pb in self.candidates(alert):
            props = {name: json_schema_for(p.type, p.choices, p.min, p.max) for name, p in pb.parameters.items()}
            required = [n for n, p in pb.parameters.items() if p.required and p.default is None]
            choices.append({"type": "object", "required": ["playbook_id", "params"], "properties": {
                "playbook_id": {"const": pb.id},
                "params": {"type": "object", "properties": props, "required": required,
                           "additionalProperties": False}}})
        return {"type": "object", "required": ["decision", "rationale", "evidence_ids"], "properties": {
            "decision": {"enum": list(DECISIONS)},
            "playbook": {"anyOf": [*choices, {"type": "null"}]},
            "rationale": {"type": "string", "maxLength": 1200},
            "evidence_ids": {"type": "array", "items": {"type": "integer"}, "maxItems": 20}}}

    def candidates(self, alert: AlertContext | None) -> list[Playbook]:
        out = []
        for pb in self.catalog.playbooks.values():
            if alert is not None and self._not_allowed(pb, alert):
                continue
            out.append(pb)
        return sorted(out, key=lambda p: p.id)

    def _not_allowed(self, pb: Playbook, alert: AlertContext) -> str | None:
        if severity_rank(alert.severity) < severity_rank(pb.tier):
            return f"{pb.id} is for {pb.tier} alerts and above; this alert is {alert.severity}"
        if pb.categories and alert.category and alert.category not in pb.categories:
            return f"{pb.id} does not apply to {alert.category} alerts (only {', '.join(pb.categories)})"
        return None

    # --- validation ---

    def validate(self, raw: ModelProposal | dict[str, Any] | str, alert: AlertContext | None, source: str,
                 *, proposal_id: str | None = None, llm: dict[str, Any] | None = None,
                 run_preconditions: bool = True, check_binding: bool = True) -> ProposalOutcome:
        pid = proposal_id or uuid.uuid4().hex[:16]
        alert_id = alert.alert_id if alert else None

        def reject(reason: str, **kw: Any) -> ProposalOutcome:
            return ProposalOutcome(pid, source, alert_id, kw.pop("decision", "propose_playbook"), False,
                                   [reason], llm=llm, **kw)

        try:
            if isinstance(raw, ModelProposal):
                prop = raw
            elif isinstance(raw, str):
                prop = ModelProposal.model_validate_json(raw)
            else:
                prop = ModelProposal.model_validate(raw)
        except (ValidationError, ValueError) as exc:
            msg = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            return reject(f"not a valid proposal object: {clean_text(msg, 200)}", decision="invalid")
        rationale = clean_text(prop.rationale, 2000, keep_newlines=True)
        if prop.decision != "propose_playbook" or prop.playbook is None:
            reason = ("model proposed no playbook" if prop.decision == "propose_playbook"
                      else f"model decision: {prop.decision}")
            return ProposalOutcome(pid, source, alert_id, prop.decision if prop.playbook is None else "invalid",
                                   False, [reason], rationale=rationale, llm=llm,
                                   evidence_ids=list(prop.evidence_ids))
        choice = prop.playbook
        common: dict[str, Any] = {"rationale": rationale, "playbook_id": clean_text(choice.playbook_id, 64),
                                  "evidence_ids": list(prop.evidence_ids)}
        pb = self.catalog.get(choice.playbook_id)
        if pb is None:
            return reject(f"unknown playbook {clean_text(choice.playbook_id, 64)!r}: not in the catalogue", **common)
        common.update(playbook_version=pb.version, title=pb.title)
        if alert is None:
            return reject("no alert selected: playbooks are only proposed for an alert and its evidence", **common)
        if why := self._not_allowed(pb, alert):
            return reject(why, **common)

        cited = list(dict.fromkeys(prop.evidence_ids)) or alert.event_ids
        foreign = [i for i in cited if i not in set(alert.event_ids)]
        if foreign:
            return reject(f"cites event(s) {foreign[:5]} that are not evidence of alert {alert.alert_id}", **common)
        cited_rows = alert.rows(cited)
        common["evidence_ids"] = cited

        params, errors = self._typed_params(pb, choice.params)
        common["params"] = {k: clean_text(v, 120) if isinstance(v, str) else v for k, v in choice.params.items()}
        if errors:
            return reject("; ".join(errors), **common)
        common["params"] = params

        targets: list[str] = []
        for name, spec in pb.parameters.items():
            value = params.get(name)
            if value is None:
                continue
            if spec.bound() and check_binding:
                fields = spec.evidence if isinstance(spec.evidence, list) else None
                allowed = alert.values(fields, [int(r["event_id"]) for r in cited_rows])
                if normalise(value) not in allowed and not self._cidr_bound(spec.type, value, allowed):
                    where = ", ".join(fields) if fields else "any field"
                    return reject(f"{name}={value} does not appear in the cited evidence ({where})", **common)
            if spec.bound():
                targets.append(str(value))
            if spec.deny and (why := self.deny.violation(spec.type, value)):
                return reject(f"deny-list: {why}", **common)

        ot_target = any(self.deny.is_protected_asset(t) for t in targets)
        ctx = ActionContext(self.config, alert.alert, cited_rows, pid)
        try:
            plan = render_plan(pb, params, self.config, ctx, cited, targets, ot_target)
        except (ActionConfigError, ValueError, KeyError) as exc:
            return reject(f"cannot render: {exc}", **common)
        checks = self.check_preconditions(pb, params, ctx, source) if run_preconditions else []
        failed = [c for c in checks if not c.ok]
        if failed:
            return ProposalOutcome(pid, source, alert_id, "propose_playbook", False,
                                   [f"precondition failed: {c.name}: {c.detail}" for c in failed],
                                   plan=plan, checks=checks, llm=llm, **common)
        return ProposalOutcome(pid, source, alert_id, "propose_playbook", True, [], plan=plan, checks=checks,
                               llm=llm, **common)

    def check_preconditions(self, pb: Playbook, params: dict[str, Any], ctx: ActionContext,
                            source: str = "") -> list[CheckResult]:
        """Deny-list summary plus every declared precondition, evaluated now (`source`: who chose it)."""
        cctx = CheckContext(self.config, self.deny, params, ctx, source)
        results = []
        for name, spec in pb.parameters.items():
            if spec.deny and name in params and spec.type in ("ip", "cidr", "host", "user", "service"):
                why = self.deny.violation(spec.type, params[name])
                results.append(CheckResult(f"deny_lists({params[name]})", why is None, why or "not on any deny-list"))
        for check in pb.preconditions:
            try:
                results.append(PRECONDITIONS[check.check](check.args, cctx))
            except Exception as exc:  # a probe must never take the chat or engine down
                results.append(CheckResult(check.check, False, f"check crashed: {exc}"))
        return results

    @staticmethod
    def _cidr_bound(ptype: str, value: Any, allowed: set[str]) -> bool:
        if ptype != "cidr":
            return False
        import ipaddress

        net = ipaddress.ip_network(str(value), strict=False)
        for v in allowed:
            try:
                if ipaddress.ip_address(v) in net:
                    return True
            except ValueError:
                continue
        return False

    def _typed_params(self, pb: Playbook, raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        errors: list[str] = []
        out: dict[str, Any] = {}
        unknown = sorted(set(raw) - set(pb.parameters))
        if unknown:
            errors.append(f"unknown parameter(s) {[clean_text(u, 40) for u in unknown][:5]} for {pb.id}")
        for name, spec in pb.parameters.items():
            value = raw.get(name)
            if value is None or value == "":
                if spec.default is not None:
                    value = spec.default
                elif spec.required:
                    errors.append(f"missing required parameter {name} ({spec.type})")
                    continue
                else:
                    continue
            try:
                out[name] = coerce(spec.type, value, choices=spec.choices, minimum=spec.min, maximum=spec.max)
            except ParamError as exc:
                errors.append(f"{name}: {exc}")
        return out, errors


def outcome_row(o: ProposalOutcome, status: str) -> list[Any]:
    return [o.proposal_id, o.created_at, o.alert_id, o.source, o.playbook_id, o.playbook_version,
            json.dumps(o.params, default=str), o.accepted, json.dumps(o.reasons), o.plan.hash if o.plan else None,
            status, o.created_at, o.rationale[:4000]]


def store_outcome(con: Any, o: ProposalOutcome, status: str) -> None:
    con.execute("INSERT OR REPLACE INTO playbook_proposals VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                outcome_row(o, status))


def set_status(con: Any, proposal_id: str, status: str) -> None:
    con.execute("UPDATE playbook_proposals SET status = ?, status_at = ? WHERE proposal_id = ?",
                [status, datetime.now(UTC), proposal_id])
