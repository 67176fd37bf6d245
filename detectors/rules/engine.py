"""Evaluates declarative rules over batches: per-event matches, counts and distinct counts in a sliding
window, success-after-failures sequences and never-seen templates. State is per entity, bounded, and idle
entities are evicted, so hostile input cannot grow memory without limit.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from detectors.alerts import Hit, validate_severity
from detectors.rules.events import Ev, candidate_mask, views

Kind = Literal["each", "threshold", "distinct", "sequence", "novelty"]


@dataclass(frozen=True)
class Rule:
    """One detection, declared. `match` selects the events the rule is about; `entity` names the column
    that identifies who it is about; `thresholds` are (count, severity) steps, lowest first."""

    id: str
    title: str
    severity: str  # the base severity (first threshold for counted rules)
    entity: str  # src_ip | user | host
    kind: Kind
    match: Callable[[Ev], bool]
    cites: str  # which events end up as evidence, said for the analyst
    description: str = ""
    window: timedelta = timedelta(minutes=2)
    thresholds: tuple[tuple[int, str], ...] = ()
    distinct: str | None = None  # for kind=distinct: which Ev attribute is counted
    count_key: Callable[[Ev], str] | None = None  # several log lines per attempt: count the max per key
    severity_of: Callable[[Ev], str | None] | None = None  # per-event override (e.g. root → critical)
    after: Callable[[Ev], bool] | None = None  # for kind=sequence: the event that completes the sequence
    why: Callable[[Ev, int], str] | None = None

    def __post_init__(self) -> None:
        validate_severity(self.severity)
        for _, sev in self.thresholds:
            validate_severity(sev)

    def level(self, count: int) -> str | None:
        """Severity for `count` events in the window, or None below the first threshold."""
        found = None
        for need, sev in self.thresholds:
            if count >= need:
                found = sev
        return found


@dataclass
class _Window:
    events: deque[tuple[Any, int, str]] = field(default_factory=deque)  # (ts, event_id, key/value)
    fired: bool = False
    cited: set[int] = field(default_factory=set)


class _EntityState:
    """LRU of per-entity windows, capped; entries idle for longer than `idle` are dropped."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.items: OrderedDict[str, _Window] = OrderedDict()

    def get(self, key: str) -> _Window:
        w = self.items.get(key)
        if w is None:
            w = self.items[key] = _Window()
            if len(self.items) > self.cap:
                self.items.popitem(last=False)
        else:
            self.items.move_to_end(key)
        return w

    def evict_older(self, cutoff: Any) -> None:
        stale = [k for k, w in self.items.items() if not w.events or w.events[-1][0] < cutoff]
        for k in stale:
            del self.items[k]


def entity_of(rule: Rule, ev: Ev) -> str | None:
    """`column=value` for the rule's entity; the host stands in when the line does not name one."""
    value = getattr(ev, rule.entity, None)
    if value:
        return f"{rule.entity}={value}"
    return f"host={ev.host}" if ev.host else None


class RuleEngine:
    """Runs the built-in rules (or any given list) over Arrow batches and returns `Hit`s."""

    def __init__(self, rules: Iterable[Rule] | None = None, disabled: Iterable[str] = (),
                 novelty_warmup_events: int = 10_000, max_entities: int = 20_000) -> None:
        if rules is None:
            from detectors.rules.builtin import BUILTIN_RULES

            rules = BUILTIN_RULES
        off = set(disabled)
        self.rules: list[Rule] = [r for r in rules if r.id not in off]
        self._state: dict[str, _EntityState] = {r.id: _EntityState(max_entities) for r in self.rules}
        self._fails: dict[str, _EntityState] = {r.id: _EntityState(max_entities) for r in self.rules
                                                if r.kind == "sequence"}
        self.novelty_warmup_events = novelty_warmup_events
        self.events_seen = 0
        self.known_template_max: int | None = None
        self._novelty = any(r.kind == "novelty" for r in self.rules)

    def resume(self, con: Any) -> None:
        """Learn how much the store has seen, so template novelty is judged against all history."""
        try:
            row = con.execute("SELECT count(*), max(template_id) FROM events").fetchone()
        except Exception:  # no events table yet: a fresh store
            return
        if row:
            self.events_seen = max(self.events_seen, int(row[0] or 0))
            if row[1] is not None:
                self.known_template_max = max(self.known_template_max or 0, int(row[1]))

    def evaluate(self, batch: pa.RecordBatch) -> list[Hit]:
        names = batch.schema.names
        novel_mask = None
        armed = self._novelty and self.events_seen >= self.novelty_warmup_events
        if self._novelty and "template_id" in names:
            tids = batch.column(names.index("template_id"))
            mark = self.known_template_max or 0
            if armed:
                novel_mask = pc.fill_null(pc.greater(tids, mark), False)
            top = pc.max(tids).as_py()
            if top is not None and (self.known_template_max is None or top > self.known_template_max):
                next_mark = top
            else:
                next_mark = None
        else:
            next_mark = None
        mask = candidate_mask(batch, novel_mask)
        evs = views(batch, mask) if pc.any(mask).as_py() else []
        self.events_seen += batch.num_rows
        hits: list[Hit] = []
        for rule in self.rules:
            if rule.kind == "novelty":
                if novel_mask is not None:
                    hits.extend(self._novelty_hits(rule, evs))
                continue
            run = _RUNNERS[rule.kind]
            hits.extend(run(self, rule, evs))
        if next_mark is not None:
            self.known_template_max = next_mark
        if evs:
            latest = max(e.ts for e in evs)
            for rule in self.rules:
                cutoff = latest - max(rule.window, timedelta(minutes=1))
                self._state[rule.id].evict_older(cutoff)
                if rule.id in self._fails:
                    self._fails[rule.id].evict_older(cutoff)
        return hits

    # -- kinds ---------------------------------------------------------------------------------------
    def _hit(self, rule: Rule, ev: Ev, entity: str, ids: tuple[int, ...], severity: str, count: int,
             first_ts: Any = None) -> Hit:
        why = rule.why(ev, count) if rule.why else f"{rule.title}: {count} matching event(s)"
        return Hit(detector="rule", rule_id=rule.id, entity=entity, severity=severity, title=rule.title,
                   why=f"{why} [rule {rule.id}; cites {rule.cites}]", event_ids=ids, ts=ev.ts,
                   first_ts=first_ts or ev.ts, host=ev.host, category=ev.category)

    def _run_each(self, rule: Rule, evs: list[Ev]) -> list[Hit]:
        out = []
        for ev in evs:
            if not rule.match(ev):
                continue
            entity = entity_of(rule, ev)
            if entity is None:
                continue
            sev = (rule.severity_of(ev) if rule.severity_of else None) or rule.severity
            out.append(self._hit(rule, ev, entity, (ev.event_id,), sev, 1))
        return out

    def _run_threshold(self, rule: Rule, evs: list[Ev]) -> list[Hit]:
        state = self._state[rule.id]
        out = []
        for ev in evs:
            if not rule.match(ev):
                continue
            entity = entity_of(rule, ev)
            if entity is None:
                continue
            w = state.get(entity)
            key = rule.count_key(ev) if rule.count_key else ""
            if rule.distinct:
                value = getattr(ev, rule.distinct, None)
                key = str(value) if value else ""
                if not key:
                    continue
            for _ in range(ev.weight):
                w.events.append((ev.ts, ev.event_id, key))
            cutoff = ev.ts - rule.window
            while w.events and w.events[0][0] < cutoff:
                w.events.popleft()
            if len(w.events) > 10_000:  # a flood still keeps its latest evidence, not all of it
                w.events.popleft()
            count = _count(rule, w.events)
            sev = rule.level(count)
            if sev is None:
                continue
            if (rule.severity_of and rule.severity_of(ev)) and sev != "critical":
                sev = rule.severity_of(ev) or sev
            if not w.fired:
                ids = tuple(dict.fromkeys(e[1] for e in w.events if e[1] not in w.cited))
                first = w.events[0][0]
            else:
                ids = (ev.event_id,) if ev.event_id not in w.cited else ()
                first = ev.ts
            w.fired = True
            w.cited.update(ids)
            if len(w.cited) > 20_000:
                w.cited = set(list(w.cited)[-10_000:])
            if ids:
                out.append(self._hit(rule, ev, entity, ids, sev, count, first))
        # An entity that went quiet for a whole window must cross the threshold again to fire.
        for w in state.items.values():
            if w.fired and w.events and evs and evs[-1].ts - w.events[-1][0] > rule.window:
                w.fired, w.cited = False, set()
        return out

    def _run_sequence(self, rule: Rule, evs: list[Ev]) -> list[Hit]:
        """Failures (rule.match) then a success (rule.after) from the same entity within the window."""
        fails = self._fails[rule.id]
        out = []
        assert rule.after is not None
        for ev in evs:
            entity = entity_of(rule, ev)
            if entity is None:
                continue
            if rule.match(ev):
                w = fails.get(entity)
                for _ in range(ev.weight):
                    w.events.append((ev.ts, ev.event_id, rule.count_key(ev) if rule.count_key else ""))
                while len(w.events) > 1000:
                    w.events.popleft()
            elif rule.after(ev):
                w2 = fails.items.get(entity)
                if w2 is None:
                    continue
                cutoff = ev.ts - rule.window
                recent = [e for e in w2.events if e[0] >= cutoff]
                count = _count(rule, recent)
                sev = rule.level(count)
                if sev is None:
                    continue
                sev = (rule.severity_of(ev) if rule.severity_of else None) or sev
                ids = tuple(dict.fromkeys(e[1] for e in recent[-50:])) + (ev.event_id,)
                out.append(self._hit(rule, ev, entity, ids, sev, count, recent[0][0]))
                del fails.items[entity]  # the run is consumed: one alert per compromise
        return out

    def _novelty_hits(self, rule: Rule, evs: list[Ev]) -> list[Hit]:
        mark = self.known_template_max or 0
        seen: set[int] = set()
        out = []
        for ev in evs:
            tid = ev.template_id
            if tid is None or tid <= mark or tid in seen:
                continue
            seen.add(tid)
            entity = entity_of(rule, ev) or "host=unknown"
            out.append(self._hit(rule, ev, entity, (ev.event_id,), rule.severity, 1))
        return out


def _count(rule: Rule, events: Iterable[tuple[Any, int, str]]) -> int:
    if rule.distinct:
        return len({e[2] for e in events})
    if rule.count_key:
        per: dict[str, int] = {}
        for e in events:
            per[e[2]] = per.get(e[2], 0) + 1
        return max(per.values(), default=0)
    return sum(1 for _ in events)


_RUNNERS: dict[str, Callable[[RuleEngine, Rule, list[Ev]], list[Hit]]] = {
    "each": RuleEngine._run_each,
    "threshold": RuleEngine._run_threshold,
    "distinct": RuleEngine._run_threshold,
    "sequence": RuleEngine._run_sequence,
}
