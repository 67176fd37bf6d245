"""The deterministic proposer used when no model is reachable (or the model's answer fails validation):
catalogue `suggest` rules map an alert's category/rule/detector and severity to playbooks, and parameters
are filled from the alert's entity and evidence. Its proposals go through the same validation."""

from __future__ import annotations

from typing import Any

from playbooks.catalog import Catalog, Playbook
from playbooks.evidence import AlertContext
from playbooks.proposals import ModelProposal, PlaybookChoice
from store.schema import severity_rank


def _matches(pb: Playbook, alert: AlertContext) -> bool:
    s = pb.suggest
    if s is None or severity_rank(alert.severity) < severity_rank(s.min_severity):
        return False
    rule_id = str(alert.alert.get("rule_id") or "")
    detector = str(alert.alert.get("detector") or "")
    if s.categories and (alert.category or "") not in s.categories:
        return False
    if s.rule_ids and not any(rule_id.startswith(p) for p in s.rule_ids):
        return False
    return not s.detectors or any(detector.startswith(p) for p in s.detectors)


def suggest(catalog: Catalog, alert: AlertContext, limit: int = 3) -> list[ModelProposal]:
    """Proposals in priority order; a playbook whose parameters cannot be filled from evidence is skipped.

    `limit` counts each kind of response on its own: notifications (which critical alerts add, and which rank
    first) never take the places of containment, so the most serious alert still gets a block offline."""
    out: list[ModelProposal] = []
    per_kind: dict[str, int] = {}
    # Acting on the attacker is proposed before telling someone about it (notifiers rank first among themselves).
    ranked = sorted(catalog.playbooks.values(),
                    key=lambda p: (p.kind == "notify", p.suggest.priority if p.suggest else 999, p.id))
    for pb in ranked:
        if not _matches(pb, alert):
            continue
        kind = "notify" if pb.kind == "notify" else "act"
        if per_kind.get(kind, 0) >= limit:
            continue
        assert pb.suggest is not None
        params: dict[str, Any] = {}
        for pname, source in pb.suggest.params.items():
            value = source[1:] if source.startswith("=") else alert.most_common(source)
            if value is not None:
                params[pname] = value
        if any(p.required and p.default is None and n not in params for n, p in pb.parameters.items()):
            continue
        rationale = (f"Offline rule: {alert.severity} {alert.category or 'uncategorised'} alert "
                     f"({alert.alert.get('rule_id') or alert.alert.get('detector')}) matches {pb.id}.")
        # The latest rows: a sequence alert's deciding event (the login that succeeded) comes last.
        out.append(ModelProposal(decision="propose_playbook", playbook=PlaybookChoice(playbook_id=pb.id,
                                 params=params), rationale=rationale, evidence_ids=alert.event_ids[-20:]))
        per_kind[kind] = per_kind.get(kind, 0) + 1
    return out


def explain(alert: AlertContext, similar: list[dict[str, Any]] | None = None) -> str:
    """A template explanation from the alert's own fields and its look-alikes' outcomes (no model)."""
    a = alert.alert
    lines = [f"Alert {a.get('alert_id')}: {a.get('title') or a.get('rule_id') or a.get('detector')}",
             f"Severity {a.get('severity')}, score {a.get('score')}, {a.get('count') or len(alert.evidence)} "
             f"event(s) for {a.get('entity') or 'no entity'} between {a.get('first_seen')} and {a.get('last_seen')}."]
    if a.get("why"):
        lines.append(f"Why: {a.get('why')}")
    for s in (similar or [])[:3]:
        lines.append(f"Last time: alert {s.get('alert_id')} ({s.get('title')}, {s.get('entity')}, similarity "
                     f"{float(s.get('score') or 0):.2f}) was {s.get('outcome')}.")
    return "\n".join(lines)
