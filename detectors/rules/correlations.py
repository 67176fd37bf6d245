"""Sigma v2 correlations evaluated on a stream: per-group windows carried from batch to batch.

The semantics are a pure function of the ordered event stream, so scoring the same events in one batch, in many
small ones, or across a restart (the state is persisted with the scorer's checkpoint) gives the same result:

- Time within a group never runs backwards: an event's time is the latest time the group has seen so far.
- event_count: an event *fires* when the group has at least N matching events within the timespan ending at it
  (N = the `gte` count; escalation steps count further). A firing cites itself and every earlier event of the
  group inside its window that no firing cited yet, so each event is cited at most once per rule.
- value_count: the same with "N distinct values of the field".
- temporal / temporal_ordered: all referenced rules (in their order, for _ordered) occurred within the timespan;
  a firing consumes what it cites.

State per group is bounded by the largest count a rule needs (the last N-1 times, the uncited events within
the window), so a flood costs time, never memory beyond that.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from detectors.rules.ruleset import CorrelationRule

MAX_UNCITED = 10_000  # evidence awaiting a firing, per group (a flood below the threshold cannot be)
MAX_CITE_PER_RULE_IN_TEMPORAL = 50
MAX_OCCURRENCES = 8  # per rule and group: enough to find an ordered chain


@dataclass(slots=True)
class Occurrence:
    """A match fed to a correlation: a detection rule's event, or a child correlation's firing."""

    row: int  # position in the batch (orders occurrences of different rules)
    t: int  # event time, µs
    eids: tuple[int, ...]  # the event itself, or everything a child firing cited
    group: tuple[str, ...]
    rule: str
    value: str | None = None  # value_count: the counted field's value


@dataclass(slots=True)
class Firing:
    row: int
    t: int
    first_t: int
    eids: tuple[int, ...]
    group: tuple[str, ...]
    count: int
    severity: str


class _Group:
    __slots__ = ("wm", "times", "uncited", "values", "occ", "evidence")

    def __init__(self) -> None:
        self.wm = -(2**62)  # group watermark (µs)
        self.times: deque[int] = deque()  # event_count: the latest N-1 times
        self.uncited: deque[tuple[int, int]] = deque()  # (t, eid) waiting for a firing
        self.values: OrderedDict[str, int] = OrderedDict()  # value_count: value → last time, oldest first
        self.occ: dict[str, deque[int]] = {}  # temporal: rule → times of its latest occurrences
        self.evidence: dict[str, deque[tuple[int, int]]] = {}  # temporal: rule → (t, eid) to cite, the latest 50

    def to_json(self) -> dict[str, Any]:
        # Flat lists of numbers: this runs for every group a batch touched, and orjson writes them fastest.
        out: dict[str, Any] = {"w": self.wm}
        if self.times:
            out["t"] = list(self.times)
        if self.uncited:
            out["ut"] = [t for t, _ in self.uncited]
            out["ue"] = [e for _, e in self.uncited]
        if self.values:
            out["vk"] = list(self.values)
            out["vt"] = list(self.values.values())
        if self.occ:
            out["o"] = {r: list(ts) for r, ts in self.occ.items()}
            out["et"] = {r: [t for t, _ in ev] for r, ev in self.evidence.items()}
            out["ee"] = {r: [e for _, e in ev] for r, ev in self.evidence.items()}
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any], keep: int) -> _Group:
        g = cls()
        g.wm = int(d.get("w", g.wm))
        g.times = deque((int(x) for x in d.get("t", ())), maxlen=max(1, keep))
        g.uncited = deque(zip(map(int, d.get("ut", ())), map(int, d.get("ue", ())), strict=False))
        g.values = OrderedDict(zip(map(str, d.get("vk", ())), map(int, d.get("vt", ())), strict=False))
        g.occ = {str(r): deque(map(int, ts), maxlen=MAX_OCCURRENCES) for r, ts in d.get("o", {}).items()}
        et, ee = d.get("et", {}), d.get("ee", {})
        g.evidence = {str(r): deque(zip(map(int, et[r]), map(int, ee.get(r, ())), strict=False),
                                    maxlen=MAX_CITE_PER_RULE_IN_TEMPORAL) for r in et}
        return g

    def empty(self, horizon: int) -> bool:
        """Nothing here can matter to an event at or after `horizon` (µs) any more."""
        return self.wm < horizon


class CorrelationState:
    """The carried state of one correlation rule: groups by key, and which changed since the last take."""

    def __init__(self, rule: CorrelationRule) -> None:
        self.rule = rule
        self.groups: dict[tuple[str, ...], _Group] = {}
        self.dirty: set[tuple[str, ...]] = set()
        self.removed: set[tuple[str, ...]] = set()

    def group(self, key: tuple[str, ...]) -> _Group:
        g = self.groups.get(key)
        if g is None:
            g = self.groups[key] = _Group()
            g.times = deque(maxlen=max(1, self.rule.max_count - 1))
            self.removed.discard(key)
        self.dirty.add(key)
        return g

    def run(self, occurrences: Iterable[Occurrence]) -> list[Firing]:
        kind = self.rule.type
        if kind == "event_count":
            return self._count(occurrences)
        if kind == "value_count":
            return self._distinct(occurrences)
        return self._temporal(occurrences, ordered=kind == "temporal_ordered")

    # -- event_count ---------------------------------------------------------------------------------------------
    def _count(self, occurrences: Iterable[Occurrence]) -> list[Firing]:
        rule, span, need = self.rule, self.rule.timespan_us, self.rule.threshold
        out: list[Firing] = []
        for o in occurrences:
            g = self.group(o.group)
            t = g.wm = max(o.t, g.wm)
            lo = t - span
            times = g.times
            # times is non-decreasing: entries after the bisection point are inside the window
            inside = len(times) - bisect.bisect_right(times, lo)
            count = inside + 1
            times.append(t)
            self._fire_or_wait(g, o, t, lo, count, need, out, rule)
        return out

    # -- value_count ---------------------------------------------------------------------------------------------
    def _distinct(self, occurrences: Iterable[Occurrence]) -> list[Firing]:
        rule, span, need = self.rule, self.rule.timespan_us, self.rule.threshold
        cap = max(1, rule.max_count)
        out: list[Firing] = []
        for o in occurrences:
            if o.value is None or o.value == "":
                continue
            g = self.group(o.group)
            t = g.wm = max(o.t, g.wm)
            lo = t - span
            vals = g.values
            while vals and next(iter(vals.values())) <= lo:
                vals.popitem(last=False)
            new_value = o.value not in vals
            vals[o.value] = t
            vals.move_to_end(o.value)
            while len(vals) > cap:
                vals.popitem(last=False)
            # Evidence is one event per distinct value: repeats of a value add nothing to "how many values".
            self._fire_or_wait(g, o, t, lo, len(vals), need, out, rule, keep=new_value)
        return out

    def _fire_or_wait(self, g: _Group, o: Occurrence, t: int, lo: int, count: int, need: int, out: list[Firing],
                      rule: CorrelationRule, keep: bool = True) -> None:
        uncited = g.uncited
        while uncited and uncited[0][0] <= lo:
            uncited.popleft()
        if count >= need:
            cited = tuple(e for _, e in uncited) + o.eids
            first = uncited[0][0] if uncited else t
            uncited.clear()
            out.append(Firing(o.row, t, first, cited, o.group, count, rule.severity_at(count)))
        elif keep:
            for e in o.eids:
                uncited.append((t, e))
            while len(uncited) > MAX_UNCITED:
                uncited.popleft()

    # -- temporal ------------------------------------------------------------------------------------------------
    def _temporal(self, occurrences: Iterable[Occurrence], ordered: bool) -> list[Firing]:
        rule, span = self.rule, self.rule.timespan_us
        order = rule.rules
        out: list[Firing] = []
        for o in occurrences:
            g = self.group(o.group)
            t = g.wm = max(o.t, g.wm)
            lo = t - span
            occ = g.occ.get(o.rule)
            if occ is None:
                occ = g.occ[o.rule] = deque(maxlen=MAX_OCCURRENCES)
                g.evidence[o.rule] = deque(maxlen=MAX_CITE_PER_RULE_IN_TEMPORAL)
            occ.append(t)
            g.evidence[o.rule].extend((t, e) for e in o.eids)
            for r in list(g.occ):
                times, ev = g.occ[r], g.evidence[r]
                while times and times[0] <= lo:
                    times.popleft()
                while ev and ev[0][0] <= lo:
                    ev.popleft()
                if not times:
                    del g.occ[r], g.evidence[r]
            if any(r not in g.occ for r in order):
                continue
            if ordered and (o.rule != order[-1] or not _ordered_chain(g.occ, order)):
                continue
            first = min(g.occ[r][0] for r in order)
            cited: list[int] = []
            for r in order:  # every occurrence of each rule inside the window is evidence (the latest 50)
                cited.extend(e for _, e in g.evidence[r])
            out.append(Firing(o.row, t, first, tuple(dict.fromkeys(cited)), o.group, len(order),
                              rule.severity_at(len(order))))
            g.occ.clear()  # the sequence is consumed: one firing per completed chain
            g.evidence.clear()
        return out

    # -- persistence ----------------------------------------------------------------------------------------------
    def evict(self, horizon: int) -> None:
        """Forget groups whose newest event is older than `horizon`: nothing later can involve them."""
        stale = [k for k, g in self.groups.items() if g.empty(horizon)]
        for k in stale:
            del self.groups[k]
            self.dirty.discard(k)
            self.removed.add(k)

    def take_changes(self) -> tuple[dict[tuple[str, ...], dict[str, Any]], set[tuple[str, ...]]]:
        changed = {k: self.groups[k].to_json() for k in self.dirty if k in self.groups}
        removed = set(self.removed)
        self.dirty.clear()
        self.removed.clear()
        return changed, removed

    def restore(self, key: tuple[str, ...], data: dict[str, Any]) -> None:
        self.groups[key] = _Group.from_json(data, self.rule.max_count - 1)


def _ordered_chain(occ: dict[str, deque[int]], order: list[str]) -> bool:
    """Occurrences r1 ≤ r2 ≤ … ≤ rn in time exist (walking back from the latest rn, latest possible each)."""
    limit: int | None = None
    for r in reversed(order):
        options = [t for t in occ.get(r, ()) if limit is None or t <= limit]
        if not options:
            return False
        limit = options[-1]
    return True


@dataclass
class Correlator:
    """Every correlation rule's state, keyed by rule id."""

    states: dict[str, CorrelationState] = field(default_factory=dict)

    def state(self, rule: CorrelationRule) -> CorrelationState:
        st = self.states.get(rule.id)
        if st is None or st.rule is not rule:
            st = self.states[rule.id] = CorrelationState(rule)
        return st
