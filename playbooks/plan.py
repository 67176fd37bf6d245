"""A rendered plan: the exact argv of every step, rollback and verify command for a playbook with validated
parameters. Its sha256 is what an analyst approves; any change means a new hash and a new approval."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from playbooks.actions import ACTIONS, ActionContext, Command
from playbooks.catalog import Playbook, StepSpec, render_template
from playbooks.config import PlaybookConfig


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


@dataclass(frozen=True)
class RenderedStep:
    id: str
    action: str
    argv: tuple[str, ...]
    stdin: bytes | None
    timeout_s: float
    on_failure: str
    mutating: bool
    notes: tuple[str, ...] = ()  # shown with the step and approved with it (see actions.Command)

    def describe(self) -> dict[str, Any]:
        out = {"id": self.id, "action": self.action, "argv": list(self.argv), "timeout_s": self.timeout_s,
               "on_failure": self.on_failure,
               "stdin_sha256": hashlib.sha256(self.stdin).hexdigest() if self.stdin else None}
        if self.notes:  # only when present, so the hash of a plan without notes is what it always was
            out["notes"] = list(self.notes)
        return out

    def to_json(self) -> dict[str, Any]:
        """Full form (with stdin) for persisting an expiry's rollback."""
        return {**self.describe(), "mutating": self.mutating,
                "stdin_b64": base64.b64encode(self.stdin).decode() if self.stdin else None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RenderedStep:
        stdin = base64.b64decode(data["stdin_b64"]) if data.get("stdin_b64") else None
        return cls(data["id"], data["action"], tuple(data["argv"]), stdin, float(data["timeout_s"]),
                   data["on_failure"], bool(data.get("mutating", True)), tuple(data.get("notes") or ()))

    def render(self) -> str:
        return Command(self.argv, self.stdin).render()


@dataclass(frozen=True)
class Plan:
    playbook_id: str
    playbook_version: int
    playbook_sha256: str
    title: str
    params: dict[str, Any]
    targets: list[str]
    alert_id: int | None
    evidence_ids: list[int]
    steps: list[RenderedStep]
    verify: list[RenderedStep] = field(default_factory=list)
    rollback: list[RenderedStep] = field(default_factory=list)
    expiry_s: int | None = None
    impact: str = "medium"
    reversible: bool = False
    ot_target: bool = False
    confirmation_text: str | None = None  # what the analyst must type, when typed confirmation is required

    def canonical(self) -> dict[str, Any]:
        return {
            "playbook": {"id": self.playbook_id, "version": self.playbook_version, "sha256": self.playbook_sha256},
            "params": self.params, "targets": self.targets, "alert_id": self.alert_id,
            "evidence_ids": self.evidence_ids, "expiry_s": self.expiry_s,
            "steps": [s.describe() for s in self.steps], "verify": [s.describe() for s in self.verify],
            "rollback": [s.describe() for s in self.rollback],
        }

    @cached_property
    def hash(self) -> str:
        return hashlib.sha256(canonical_json(self.canonical()).encode()).hexdigest()

    def dry_run_lines(self) -> list[str]:
        lines = [f"# {self.playbook_id} v{self.playbook_version}  plan {self.hash[:16]}"]
        for kind, steps in (("step", self.steps), ("verify", self.verify), ("rollback", self.rollback)):
            for s in steps:
                lines.append(f"{kind} {s.id}: {s.render()}")
                lines += [f"  note: {n}" for n in s.notes]
        if self.expiry_s:
            lines.append(f"expiry: rollback runs automatically after {self.expiry_s} s")
        return lines

    def target_key(self) -> str:
        return f"{self.playbook_id}:{','.join(self.targets)}"


def _render_steps(specs: list[StepSpec], params: dict[str, Any], ctx: ActionContext) -> list[RenderedStep]:
    out: list[RenderedStep] = []
    for spec in specs:
        action = ACTIONS[spec.action]
        args = {k: render_template(v, params) for k, v in spec.args.items()}
        cmd = action.build(args, ctx)
        argv = (*ctx.config.exec_prefix, *cmd.argv) if action.privileged else cmd.argv
        out.append(RenderedStep(spec.id, spec.action, tuple(argv), cmd.stdin, spec.timeout_s, spec.on_failure,
                                action.mutating, cmd.notes))
    return out


def render_plan(pb: Playbook, params: dict[str, Any], config: PlaybookConfig, ctx: ActionContext,
                evidence_ids: list[int], targets: list[str], ot_target: bool = False) -> Plan:
    """Raises ActionConfigError when an action cannot be rendered with this configuration."""
    expiry_s: int | None = None
    if pb.expiry is not None:
        after = render_template(pb.expiry.after, params)
        expiry_s = int(after)
    confirmation = None
    if pb.needs_typed_confirmation():
        confirmation = targets[0] if targets else pb.id
    alert_id = int(ctx.alert["alert_id"]) if ctx.alert and ctx.alert.get("alert_id") is not None else None
    return Plan(
        playbook_id=pb.id, playbook_version=pb.version, playbook_sha256=pb.file_sha256, title=pb.title,
        params=dict(params), targets=list(targets), alert_id=alert_id, evidence_ids=list(evidence_ids),
        steps=_render_steps(pb.steps, params, ctx), verify=_render_steps(pb.verify, params, ctx),
        rollback=_render_steps(pb.rollback, params, ctx), expiry_s=expiry_s, impact=pb.risk.impact,
        reversible=pb.risk.reversible, ot_target=ot_target, confirmation_text=confirmation,
    )
