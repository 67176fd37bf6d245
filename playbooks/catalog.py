"""The playbook catalogue: vetted YAML files validated with pydantic into `Playbook` objects.

Shipped files live in `playbooks/catalog/`; a user directory may add playbooks or override one by id.
A bad file is reported (file and reason) and skipped; loading never raises for file content.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from playbooks.actions import ACTIONS
from playbooks.params import TARGET_TYPES, ParamType

SHIPPED_DIR = Path(__file__).resolve().parent / "catalog"
_TEMPLATE = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")
Severity = Literal["low", "medium", "high", "critical"]


class ParamSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: ParamType
    description: str = ""
    required: bool = True
    default: Any = None
    choices: list[str] | None = None
    min: int | None = None
    max: int | None = None
    # Evidence binding: "auto" = bound for target types (ip, user, host, …) against any evidence field;
    # a list names the evidence fields the value must equal; "none" = the playbook says it is free.
    evidence: Literal["auto", "none"] | list[str] = "auto"
    deny: bool = True  # apply the deny-lists for this parameter's type

    @model_validator(mode="after")
    def _check(self) -> ParamSpec:
        if self.type == "enum" and not self.choices:
            raise ValueError("enum parameters need `choices`")
        return self

    def bound(self) -> bool:
        if self.evidence == "none":
            return False
        if isinstance(self.evidence, list):
            return True
        return self.type in TARGET_TYPES


class StepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    action: str
    args: dict[str, str | int] = Field(default_factory=dict)
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    on_failure: Literal["abort", "continue", "rollback"] = "abort"


class CheckSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    check: str
    args: dict[str, str | int] = Field(default_factory=dict)


class RiskSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    impact: Literal["low", "medium", "high"] = "medium"
    reversible: bool = False
    ot_safe: bool = False
    notes: str = ""


class ApprovalSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ttl_s: int = Field(default=900, gt=0, le=86400)
    typed_confirmation: bool | None = None  # None = required when impact is high


class SuggestSpec(BaseModel):
    """How the offline proposer picks this playbook and fills its parameters from evidence."""

    model_config = ConfigDict(extra="forbid")

    categories: list[str] = Field(default_factory=list)
    rule_ids: list[str] = Field(default_factory=list)  # prefixes
    detectors: list[str] = Field(default_factory=list)  # prefixes
    min_severity: Severity = "low"
    params: dict[str, str] = Field(default_factory=dict)  # param -> evidence field, or "=literal"
    priority: int = 50  # lower first


class ExpirySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    after: str | int  # seconds, or "{{duration}}"


class Playbook(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{2,63}$")
    version: int = Field(ge=1)
    title: str = Field(min_length=3, max_length=120)
    description: str = ""
    kind: Literal["observe", "notify", "evidence", "containment", "recovery"] = "containment"
    tier: Severity = "low"  # lowest alert severity it may be proposed for
    categories: list[str] = Field(default_factory=list)  # alert categories it applies to; empty = any
    risk: RiskSpec = Field(default_factory=RiskSpec)
    approval: ApprovalSpec = Field(default_factory=ApprovalSpec)
    auto_allowed: bool = False  # Medium-tier auto-run candidate (also needs risk.reversible + config switch)
    parameters: dict[str, ParamSpec] = Field(default_factory=dict)
    preconditions: list[CheckSpec] = Field(default_factory=list)
    steps: list[StepSpec] = Field(min_length=1)
    verify: list[StepSpec] = Field(default_factory=list)
    rollback: list[StepSpec] = Field(default_factory=list)
    expiry: ExpirySpec | None = None
    suggest: SuggestSpec | None = None

    # Filled by the loader, not from YAML.
    source_file: str = ""
    file_sha256: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> Playbook:
        from playbooks.guards import PRECONDITIONS

        names = set(self.parameters)
        for group, steps in (("steps", self.steps), ("verify", self.verify), ("rollback", self.rollback)):
            for step in steps:
                spec = ACTIONS.get(step.action)
                if spec is None:
                    raise ValueError(f"{group}.{step.id}: unknown action {step.action!r}")
                keys = set(step.args)
                if missing := spec.required - keys:
                    raise ValueError(f"{group}.{step.id}: action {step.action} needs {sorted(missing)}")
                if extra := keys - spec.required - spec.optional:
                    raise ValueError(f"{group}.{step.id}: action {step.action} does not take {sorted(extra)}")
                for val in step.args.values():
                    for ref in _TEMPLATE.findall(str(val)):
                        if ref not in names:
                            raise ValueError(f"{group}.{step.id}: template names unknown parameter {ref!r}")
                if group == "verify" and spec.mutating:
                    raise ValueError(f"verify.{step.id}: {step.action} changes state; verify steps must not")
        for check in self.preconditions:
            if check.check not in PRECONDITIONS:
                raise ValueError(f"unknown precondition {check.check!r}")
            param = check.args.get("param")
            if param is not None and param not in names:
                raise ValueError(f"precondition {check.check} names unknown parameter {param!r}")
        if self.risk.reversible and not self.rollback:
            raise ValueError("risk.reversible is true but there are no rollback steps")
        if self.expiry and not self.rollback:
            raise ValueError("expiry needs rollback steps (expiry runs them)")
        if self.expiry and isinstance(self.expiry.after, str):
            refs = _TEMPLATE.findall(self.expiry.after)
            if not refs or any(r not in names for r in refs):
                raise ValueError("expiry.after must be seconds or {{param}} naming a declared parameter")
        if self.auto_allowed and not (self.risk.reversible and self.expiry):
            raise ValueError("auto_allowed playbooks must be reversible and time-boxed (expiry)")
        if self.suggest:
            for pname in self.suggest.params:
                if pname not in names:
                    raise ValueError(f"suggest.params names unknown parameter {pname!r}")
        return self

    def needs_typed_confirmation(self) -> bool:
        if self.approval.typed_confirmation is None:
            return self.risk.impact == "high"
        return self.approval.typed_confirmation

    def is_mutating(self) -> bool:
        return any(ACTIONS[s.action].mutating for s in self.steps)


@dataclass(frozen=True)
class CatalogError:
    file: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.reason}"


@dataclass
class Catalog:
    playbooks: dict[str, Playbook] = field(default_factory=dict)
    errors: list[CatalogError] = field(default_factory=list)

    def get(self, playbook_id: str) -> Playbook | None:
        return self.playbooks.get(playbook_id)

    def ids(self) -> list[str]:
        return sorted(self.playbooks)


def _reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(x) for x in err["loc"])
        parts.append(f"{loc}: {err['msg']}" if loc else err["msg"])
    return "; ".join(parts)


def load_file(path: Path) -> Playbook:
    """One playbook from one YAML file; raises ValueError with a readable reason."""
    data = path.read_bytes()
    try:
        doc = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise ValueError(f"invalid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(doc, dict):
        raise ValueError("top level must be a mapping")
    doc = {k: v for k, v in doc.items() if k not in ("source_file", "file_sha256")}
    try:
        pb = Playbook.model_validate(doc)
    except ValidationError as exc:
        raise ValueError(_reason(exc)) from None
    return pb.model_copy(update={"source_file": str(path), "file_sha256": hashlib.sha256(data).hexdigest()})


def load_catalog(user_dir: Path | None = None, shipped_dir: Path = SHIPPED_DIR) -> Catalog:
    """Shipped playbooks, then the user directory (same id replaces the shipped one)."""
    cat = Catalog()
    for directory in (shipped_dir, user_dir):
        if directory is None:
            continue
        if not directory.is_dir():
            if directory is user_dir:
                cat.errors.append(CatalogError(str(directory), "user catalogue directory does not exist"))
            continue
        seen_here: set[str] = set()
        for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
            try:
                pb = load_file(path)
            except (OSError, ValueError) as exc:
                cat.errors.append(CatalogError(str(path), str(exc)))
                continue
            if pb.id in seen_here:
                cat.errors.append(CatalogError(str(path), f"duplicate id {pb.id!r} in the same directory"))
                continue
            seen_here.add(pb.id)
            cat.playbooks[pb.id] = pb
    return cat


def render_template(value: str | int, params: dict[str, Any]) -> str | int:
    """Substitute validated parameters only. A whole-value template keeps the parameter's type."""
    if isinstance(value, int):
        return value
    whole = _TEMPLATE.fullmatch(value.strip())
    if whole:
        return params[whole.group(1)]
    return _TEMPLATE.sub(lambda m: str(params[m.group(1)]), value)
