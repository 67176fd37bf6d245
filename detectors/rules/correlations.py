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
from dataclasses import dataclass, field
from typing import Any

from detectors.rules.count_kernel import count_groups
from detectors.rules.ruleset import CorrelationRule
from store.schema import SEVERITIES

SEVERITY_RANK = {name: i for i, name in enumerate(SEVERITIES)}

MAX_UNCITED = 10_000  # evidence awaiting a firing, per group (a flood below the threshold cannot be)
MAX_CITE_PER_RULE_IN_TEMPORAL = 50
MAX_OCCURRENCES = 8  # per rule and group: enough to find an ordered chain
VECTOR_MIN = 64  # from this many occurrences in a batch, event_count runs as array operations (count_kernel)


@dataclass
class Stream:
    """What one correlation sees of a batch, column-wise and in batch order: each occurrence is a detection rule's
    event or a child correlation's firing."""

    rows: list[int]  # position in the batch (orders occurrences of different rules)
    t: list[int]  # event time, µs
    keys: list[tuple[str, ...]]  # group-by values
    rule: list[int]  # index into the correlation's `rules`
    eids: list[Any]  # an event id (int), or the tuple of ids a child firing cited
    values: list[str | None] | None = None  # value_count: the counted field's value

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(slots=True)
class Firing:
    row: int
    t: int
    first_t: int
    eids: tuple[int, ...]
    group: tuple[str, ...]
    count: int
    severity: str


@dataclass(slots=True)
class Run:
    """Consecutive firings of one group no further apart than the alert grouping window: one alert update."""

    group: tuple[str, ...]
    first_row: int  # the firing that started the run (alerts are created in this order)
    last_row: int
    join_t: int  # time of the first firing: decides whether the run extends an open alert
    last_t: int
    first_t: int  # earliest cited event
    eids: list[int]
    rank: int  # highest severity rank among its firings
    count: int  # the count at the last firing


@dataclass
class Fired:
    runs: list[Run] = field(default_factory=list)
    firings: list[Firing] = field(default_factory=list)  # kept only when another correlation uses this one


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

    def run(self, stream: Stream, window_us: int, keep_firings: bool = False) -> Fired:
        """Fold one batch's occurrences into the groups' windows. Groups are independent, so each group's
        occurrences are folded together (one state lookup per group, not per event)."""
        out = Fired()
        if not len(stream):
            return out
        by_group: dict[tuple[str, ...], list[int]] = {}
        for i, key in enumerate(stream.keys):
            by_group.setdefault(key, []).append(i)
        kind = self.rule.type
        if kind == "event_count" and len(stream) >= VECTOR_MIN and all(type(e) is int for e in stream.eids):
            count_groups(self, stream, by_group, window_us, keep_firings, out)
            return out
        for key, idxs in by_group.items():
            g = self.group(key)
            if kind == "event_count":
                self._count(g, key, idxs, stream, out, window_us, keep_firings)
            elif kind == "value_count":
                self._distinct(g, key, idxs, stream, out, window_us, keep_firings)
            else:
                self._temporal(g, key, idxs, stream, out, window_us, keep_firings,
                               ordered=kind == "temporal_ordered")
        return out

    # -- event_count ---------------------------------------------------------------------------------------------
    def _count(self, g: _Group, key: tuple[str, ...], idxs: list[int], s: Stream, out: Fired, window_us: int,
               keep: bool) -> None:
        span, need = self.rule.timespan_us, self.rule.threshold
        times, unc, wm = g.times, g.uncited, g.wm
        rows, ts, eids = s.rows, s.t, s.eids
        acc = _RunBuilder(self.rule, key, out, window_us, keep)
        for i in idxs:
            t = ts[i]
            if t < wm:
                t = wm  # time within a group never runs backwards
            wm = t
            lo = t - span
            count = len(times) - bisect.bisect_right(times, lo) + 1  # times is non-decreasing
            times.append(t)
            while unc and unc[0][0] <= lo:
                unc.popleft()
            e = eids[i]
            if count >= need:
                cited = [x for _, x in unc]
                first = unc[0][0] if unc else t
                unc.clear()
                if type(e) is int:
                    cited.append(e)
                else:
                    cited.extend(e)
                acc.fire(rows[i], t, first, cited, count)
            elif type(e) is int:
                unc.append((t, e))
            else:
                unc.extend((t, x) for x in e)
        while len(unc) > MAX_UNCITED:
            unc.popleft()
        g.wm = wm
        acc.close()

    # -- value_count ---------------------------------------------------------------------------------------------
    def _distinct(self, g: _Group, key: tuple[str, ...], idxs: list[int], s: Stream, out: Fired, window_us: int,
                  keep: bool) -> None:
        span, need = self.rule.timespan_us, self.rule.threshold
        cap = max(1, self.rule.max_count)
        vals, unc, wm = g.values, g.uncited, g.wm
        rows, ts, eids = s.rows, s.t, s.eids
        values = s.values or []
        acc = _RunBuilder(self.rule, key, out, window_us, keep)
        for i in idxs:
            v = values[i]
            if v is None or v == "":
                continue
            t = ts[i]
            if t < wm:
                t = wm
            wm = t
            lo = t - span
            while vals and next(iter(vals.values())) <= lo:
                vals.popitem(last=False)
            new_value = v not in vals
            vals[v] = t
            vals.move_to_end(v)
            while len(vals) > cap:
                vals.popitem(last=False)
            while unc and unc[0][0] <= lo:
                unc.popleft()
            e = eids[i]
            if len(vals) >= need:
                cited = [x for _, x in unc]
                first = unc[0][0] if unc else t
                unc.clear()
                if type(e) is int:
                    cited.append(e)
                else:
                    cited.extend(e)
                acc.fire(rows[i], t, first, cited, len(vals))
            elif new_value:  # evidence is one event per distinct value: repeats add nothing to "how many"
                if type(e) is int:
                    unc.append((t, e))
                else:
                    unc.extend((t, x) for x in e)
        while len(unc) > MAX_UNCITED:
            unc.popleft()
        g.wm = wm
        acc.close()

    # -- temporal ------------------------------------------------------------------------------------------------
    def _temporal(self, g: _Group, key: tuple[str, ...], idxs: list[int], s: Stream, out: Fired, window_us: int,
                  keep: bool, ordered: bool) -> None:
        span = self.rule.timespan_us
        order = self.rule.rules
        last_rule = len(order) - 1
        acc = _RunBuilder(self.rule, key, out, window_us, keep)
        for i in idxs:
            t = s.t[i]
            if t < g.wm:
                t = g.wm
            g.wm = t
            lo = t - span
            name = order[s.rule[i]]
            occ = g.occ.get(name)
            if occ is None:
                occ = g.occ[name] = deque(maxlen=MAX_OCCURRENCES)
                g.evidence[name] = deque(maxlen=MAX_CITE_PER_RULE_IN_TEMPORAL)
            occ.append(t)
            e = s.eids[i]
            g.evidence[name].extend([(t, e)] if type(e) is int else [(t, x) for x in e])
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
            if ordered and (s.rule[i] != last_rule or not _ordered_chain(g.occ, order)):
                continue
            first = min(g.occ[r][0] for r in order)
            cited: list[int] = []
            for r in order:  # every occurrence of each rule inside the window is evidence (the latest 50)
                cited.extend(x for _, x in g.evidence[r])
            acc.fire(s.rows[i], t, first, list(dict.fromkeys(cited)), len(order))
            g.occ.clear()  # the sequence is consumed: one firing per completed chain
            g.evidence.clear()
        acc.close()

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


class _RunBuilder:
    """Collects one group's firings of a batch into runs (and, for parents, individual firings)."""

    __slots__ = ("rule", "key", "out", "window", "keep", "run")

    def __init__(self, rule: CorrelationRule, key: tuple[str, ...], out: Fired, window_us: int, keep: bool) -> None:
        self.rule, self.key, self.out, self.window, self.keep = rule, key, out, window_us, keep
        self.run: Run | None = None

    def fire(self, row: int, t: int, first: int, cited: list[int], count: int) -> None:
        rank = SEVERITY_RANK[self.rule.severity_at(count)]
        run = self.run
        if run is not None and t - run.last_t <= self.window:
            run.last_row, run.last_t, run.count = row, t, count
            run.first_t = min(run.first_t, first)
            run.eids.extend(cited)
            run.rank = max(run.rank, rank)
        else:
            if run is not None:
                self.out.runs.append(run)
            self.run = Run(self.key, row, row, t, t, first, list(cited), rank, count)
        if self.keep:
            self.out.firings.append(Firing(row, t, first, tuple(cited), self.key, count,
                                           self.rule.severity_at(count)))

    def close(self) -> None:
        if self.run is not None:
            self.out.runs.append(self.run)
            self.run = None


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
