"""Loading Sigma files into one rule set: detection rules compiled to array expressions, correlation rules
(Sigma v2: event_count, value_count, temporal, temporal_ordered) resolved across files, overrides by id,
disabled ids, and a reason for every rule that could not be loaded.

Vigil's built-in detections are Sigma files shipped in `detectors/sigma_rules/`; a site's `[detectors]
sigma_dirs` load after them, so a site rule with the same id replaces the built-in one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from detectors.rules.fields import FieldRef, resolve
from detectors.rules.matchers import Matcher, UnsupportedSigma, compile_condition
from detectors.rules.routes import Route, route_for
from store.schema import SEVERITIES

log = logging.getLogger(__name__)

SHIPPED_RULES = Path(__file__).resolve().parent.parent / "sigma_rules"
# Sigma level → our severity ("informational" is below our scale; such rules feed correlations, or alert low).
LEVELS = {"informational": "low", "low": "low", "medium": "medium", "high": "high", "critical": "critical"}
ENTITY_FIELDS = ("src_ip", "user", "host")  # what an alert is about when the rule does not say


def default_rule_dirs() -> list[Path]:
    return [SHIPPED_RULES]


@dataclass
class DetectionRule:
    """A compiled Sigma detection rule. `id` is the rule's `name` when it has one, else its UUID."""

    id: str
    uuid: str | None
    title: str
    level: str
    severity: str
    path: str
    description: str
    tags: list[str]
    logsource: dict[str, str]
    matcher: Matcher
    route: Route
    needles: set[str] | None
    entity: tuple[str, ...]  # fields tried in order for the alert's entity
    falsepositives: list[str] = field(default_factory=list)
    alerts: bool = True  # False when only correlations use it (Sigma `generate: false`)

    kind = "detection"


@dataclass
class CorrelationRule:
    """A Sigma v2 correlation, ready for the streaming evaluator in detectors.rules.correlations."""

    id: str
    uuid: str | None
    title: str
    level: str
    severity: str
    path: str
    description: str
    tags: list[str]
    type: str  # event_count | value_count | temporal | temporal_ordered
    rules: list[str]  # ids of the referenced rules (detections or correlations), in the rule's order
    group_by: list[str]  # canonical field names
    group_refs: dict[str, dict[str, FieldRef]]  # rule id → group field → where to read it (aliases applied)
    timespan_us: int
    threshold: int  # events / distinct values / rules needed (gte)
    value_field: FieldRef | None  # value_count: the field whose distinct values are counted
    escalation: list[tuple[int, str]]  # (count, severity) steps above the base level, lowest first
    entity: str  # the group-by field that names what the alert is about
    alerts: bool = True

    kind = "correlation"

    def severity_at(self, count: int) -> str:
        sev = self.severity
        for need, level in self.escalation:
            if count >= need:
                sev = level
        return sev

    @property
    def max_count(self) -> int:
        return max([self.threshold, *(n for n, _ in self.escalation)])


@dataclass
class RuleSet:
    detections: list[DetectionRule] = field(default_factory=list)
    correlations: list[CorrelationRule] = field(default_factory=list)  # referenced ones first
    problems: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    disabled: list[str] = field(default_factory=list)

    def by_id(self, rule_id: str) -> DetectionRule | CorrelationRule | None:
        rules: list[DetectionRule | CorrelationRule] = [*self.detections, *self.correlations]
        for r in rules:
            if r.id == rule_id or (r.uuid and r.uuid == rule_id):
                return r
        return None

    def __len__(self) -> int:
        return len(self.detections) + len(self.correlations)


def load_rules(dirs: Iterable[Path | str], disabled: Iterable[str] = ()) -> RuleSet:
    """Every `*.yml`/`*.yaml` under `dirs`, in order (later files override earlier ones with the same id)."""
    from sigma.collection import SigmaCollection
    from sigma.correlations import SigmaCorrelationRule
    from sigma.rule import SigmaRule

    out = RuleSet()
    parsed: dict[str, tuple[Any, str]] = {}  # rule key (its name, else its id) → (pySigma rule, file)
    key_of_uuid: dict[str, str] = {}
    for path in _files(dirs, out.problems):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            out.problems.append((str(path), f"cannot read: {exc}"))
            continue
        try:
            docs = list(yaml.load_all(text, Loader=_YAML_LOADER))
            coll = SigmaCollection.from_dicts(docs, collect_errors=True, resolve_references=False)
        except Exception as exc:  # malformed YAML: pySigma raises even with collect_errors
            out.problems.append((str(path), f"{type(exc).__name__}: {exc}"))
            continue
        for err in coll.errors:
            out.problems.append((str(path), str(err)))
        for rule in coll.rules:
            if not isinstance(rule, SigmaRule | SigmaCorrelationRule):
                out.problems.append((str(path), f"{type(rule).__name__} is not supported"))
                continue
            if rule.errors:
                out.problems.append((str(path), "; ".join(str(e) for e in rule.errors)))
                continue
            # Alerts, `vigil rules` and correlations use the rule's `name` when it has one (readable), else its id.
            rid = str(rule.name) if rule.name else (str(rule.id) if rule.id else rule.title)
            uuid = str(rule.id) if rule.id else None
            if uuid and uuid in key_of_uuid:
                parsed.pop(key_of_uuid[uuid], None)  # a later file with the same id overrides
            if uuid:
                key_of_uuid[uuid] = rid
            parsed[rid] = (rule, str(path))
    off = {d.strip() for d in disabled if d and d.strip()}
    kept = {rid: v for rid, v in parsed.items() if rid not in off and str(v[0].id or "") not in off}
    out.disabled = sorted(set(parsed) - set(kept))
    _compile_all(kept, out)
    return out


# pySigma parses with PyYAML's pure-Python loader; libyaml's builds the same documents in a fraction of start-up.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _files(dirs: Iterable[Path | str], problems: list[tuple[str, str]]) -> list[Path]:
    files: list[Path] = []
    for d in dirs:
        p = Path(d).expanduser()
        if p.is_file():
            files.append(p)
        elif p.is_dir():
            files.extend(sorted([*p.rglob("*.yml"), *p.rglob("*.yaml")]))
        else:
            problems.append((str(p), "no such file or directory"))
    return files


def _compile_all(parsed: dict[str, tuple[Any, str]], out: RuleSet) -> None:
    from sigma.correlations import SigmaCorrelationRule

    by_name: dict[str, str] = {}
    for rid, (rule, _) in parsed.items():
        by_name[rid] = rid
        if rule.id:
            by_name[str(rule.id)] = rid
    detections: dict[str, DetectionRule] = {}
    for rid, (rule, path) in parsed.items():
        if isinstance(rule, SigmaCorrelationRule):
            continue
        try:
            detections[rid] = _compile_detection(rid, rule, path)
        except UnsupportedSigma as exc:
            out.problems.append((path, f"rule {rule.title!r}: {exc}"))
        except Exception as exc:  # pySigma condition errors surface lazily on .parsed
            out.problems.append((path, f"rule {rule.title!r}: {type(exc).__name__}: {exc}"))
    correlations: dict[str, CorrelationRule] = {}
    pending = {rid: v for rid, v in parsed.items() if isinstance(v[0], SigmaCorrelationRule)}
    # Resolve in dependency order: a correlation may reference another correlation.
    while pending:
        progressed = False
        for rid, (rule, path) in list(pending.items()):
            refs = [_ref_name(r) for r in (rule.rules or [])]
            targets = [by_name.get(r) for r in refs]
            missing = [r for r, t in zip(refs, targets, strict=True) if t is None or t not in parsed]
            if missing:
                out.problems.append((path, f"correlation {rule.title!r}: references unknown rule(s) "
                                           f"{', '.join(missing)}"))
                del pending[rid]
                progressed = True
                continue
            if any(t in pending for t in targets):
                continue
            unloaded = [r for r, t in zip(refs, targets, strict=True) if t not in detections and t not in correlations]
            del pending[rid]
            progressed = True
            if unloaded:
                out.problems.append((path, f"correlation {rule.title!r}: referenced rule(s) not loaded: "
                                           f"{', '.join(unloaded)}"))
                continue
            try:
                correlations[rid] = _compile_correlation(rid, rule, path, [t for t in targets if t], by_name)
            except UnsupportedSigma as exc:
                out.problems.append((path, f"correlation {rule.title!r}: {exc}"))
        if not progressed:
            for rule, path in pending.values():
                out.problems.append((path, f"correlation {rule.title!r}: circular references"))
            break
    # Sigma: rules referenced by a correlation that does not `generate` stop alerting on their own.
    for corr in correlations.values():
        rule, _ = parsed[corr.id]
        if not getattr(rule, "generate", False):
            for ref in corr.rules:
                if ref in detections:
                    detections[ref].alerts = False
                elif ref in correlations:
                    correlations[ref].alerts = False
    out.detections = list(detections.values())
    out.correlations = list(correlations.values())


def _custom(rule: Any, key: str) -> Any:
    attrs = getattr(rule, "custom_attributes", None) or {}
    return attrs.get(key)


def _severity(level: Any) -> tuple[str, str]:
    name = level.name.lower() if level is not None else "medium"
    return name, LEVELS.get(name, "medium")


def _compile_detection(rid: str, rule: Any, path: str) -> DetectionRule:
    trees = [c.parsed for c in rule.detection.parsed_condition]
    matchers = [compile_condition(t) for t in trees]
    from detectors.rules.matchers import AnyOf

    matcher = matchers[0] if len(matchers) == 1 else AnyOf(matchers)
    level, severity = _severity(rule.level)
    ls = rule.logsource
    logsource = {k: str(v).lower() for k, v in (("product", ls.product), ("category", ls.category),
                                                 ("service", ls.service)) if v}
    entity = _custom(rule, "entity")
    entity_fields = (str(entity),) if entity else ENTITY_FIELDS
    return DetectionRule(
        id=rid, uuid=str(rule.id) if rule.id else None, title=rule.title or rid, level=level,
        severity=severity, path=path, description=(rule.description or "").strip(),
        tags=[str(t) for t in (rule.tags or [])], logsource=logsource, matcher=matcher,
        route=route_for(logsource), needles=matcher.needles(), entity=entity_fields,
        falsepositives=[str(f) for f in (rule.falsepositives or [])],
    )


_TYPES = {"event_count", "value_count", "temporal", "temporal_ordered"}


def _compile_correlation(rid: str, rule: Any, path: str, targets: Sequence[str], by_name: dict[str, str]
                         ) -> CorrelationRule:
    kind = str(rule.type.name).lower() if hasattr(rule.type, "name") else str(rule.type)
    if kind not in _TYPES:
        raise UnsupportedSigma(f"correlation type {kind} is not supported (event_count, value_count, temporal, "
                               "temporal_ordered are)")
    cond = rule.condition
    op = getattr(getattr(cond, "op", None), "name", "GTE")
    count = int(getattr(cond, "count", len(targets)) or len(targets))
    if kind in ("temporal", "temporal_ordered"):
        threshold = len(targets)
        if op not in ("GTE", "GT", "EQ") or count < len(targets):
            threshold = len(targets)
    elif op == "GTE":
        threshold = count
    elif op == "GT":
        threshold = count + 1
    else:
        raise UnsupportedSigma(f"condition {op.lower()} needs the window to close first; streaming detection "
                               "supports gte and gt")
    group_by = [str(g) for g in (rule.group_by or [])]
    aliases = {a.alias: {by_name.get(_ref_name(r), _ref_name(r)): str(f) for r, f in a.mapping.items()}
               for a in rule.aliases}
    group_refs: dict[str, dict[str, FieldRef]] = {}
    for t in targets:
        group_refs[t] = {g: resolve(aliases.get(g, {}).get(t, g)) for g in group_by}
    value_field = None
    if kind == "value_count":
        fname = getattr(cond, "fieldref", None)
        if not fname:
            raise UnsupportedSigma("value_count needs condition.field")
        value_field = resolve(str(fname))
    seconds = int(rule.timespan.seconds)
    level, severity = _severity(rule.level)
    escalation = []
    for step in _custom(rule, "escalation") or []:
        try:
            need, sev = int(step["gte"]), str(step["level"]).lower()
        except (KeyError, TypeError, ValueError) as exc:
            raise UnsupportedSigma(f"escalation step {step!r} needs gte: N and level: L") from exc
        if sev not in SEVERITIES:
            raise UnsupportedSigma(f"escalation level {sev!r} is not one of {', '.join(SEVERITIES)}")
        escalation.append((need, sev))
    escalation.sort()
    entity = str(_custom(rule, "entity") or next((g for g in group_by if resolve(g).name in ENTITY_FIELDS),
                                                  group_by[0] if group_by else "host"))
    return CorrelationRule(
        id=rid, uuid=str(rule.id) if rule.id else None, title=rule.title or rid, level=level,
        severity=severity, path=path, description=(rule.description or "").strip(),
        tags=[str(t) for t in (rule.tags or [])], type=kind, rules=list(targets), group_by=group_by,
        group_refs=group_refs, timespan_us=seconds * 1_000_000, threshold=threshold, value_field=value_field,
        escalation=escalation, entity=entity,
    )


def _ref_name(ref: Any) -> str:
    return str(getattr(ref, "reference", ref))
