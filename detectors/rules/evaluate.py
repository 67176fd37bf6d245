"""One batch through the rule set: detection rules as array expressions, then correlations over their matches.

Per batch: each distinct log source is computed once; inside it, one RE2 pass over the raw lines with every
rule's literal needles picks the candidate rows, and each rule's expression runs only on those (rules without
needles run on the log source's rows). Correlations then fold the matched rows, in event order, into their
carried per-group windows. What alerts comes out as `Hit`s, merged per (rule, entity) into runs the alert grouper
would have merged anyway, so a flood of matches costs a handful of Python objects per batch, not one per event.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detectors.alerts import Hit
from detectors.rules.correlations import Correlator, Firing, Run, Stream
from detectors.rules.fields import BatchFields, event_times_us, resolve
from detectors.rules.routes import Route
from detectors.rules.ruleset import CorrelationRule, DetectionRule, RuleSet
from store.schema import SEVERITIES

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CANDIDATE_SPLIT = 512  # above this many candidate rows, each rule first checks its own needles


def to_datetime(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=int(us))


@dataclass
class _RouteRules:
    route: Route
    with_needles: list[DetectionRule] = field(default_factory=list)
    without: list[DetectionRule] = field(default_factory=list)
    pattern: str | None = None  # every needle of `with_needles`, one RE2 alternation


@dataclass
class RuleErrors:
    """Rules that raised while evaluating (a bug or a pathological value): counted and shown, never silent."""

    count: int = 0
    last: str | None = None
    by_rule: dict[str, int] = field(default_factory=dict)


class RuleEngine:
    """Evaluates a RuleSet over event batches, carrying correlation state between them."""

    def __init__(self, ruleset: RuleSet, group_window: timedelta = timedelta(minutes=10)) -> None:
        self.ruleset = ruleset
        self.window_us = int(group_window.total_seconds() * 1_000_000)
        self.correlator = Correlator()
        self.errors = RuleErrors()
        used = {r for c in ruleset.correlations for r in c.rules}
        self._routes: dict[str, _RouteRules] = {}
        for rule in ruleset.detections:
            if not rule.alerts and rule.id not in used:
                continue
            if rule.route.never:
                continue
            rr = self._routes.setdefault(rule.route.key, _RouteRules(rule.route))
            (rr.with_needles if rule.needles else rr.without).append(rule)
        for rr in self._routes.values():
            lits = sorted({n for r in rr.with_needles for n in (r.needles or ())})
            rr.pattern = "|".join(re.escape(n) for n in lits) if lits else None
        self._per_rule_pattern = {
            r.id: "|".join(re.escape(n) for n in sorted(r.needles or ())) for r in ruleset.detections if r.needles}
        self._max_span = max((c.timespan_us for c in ruleset.correlations), default=0)
        self._parents = {r for c in ruleset.correlations for r in c.rules}  # correlations other correlations use
        self.watermark_us: int | None = None

    # -- detections -------------------------------------------------------------------------------------------------
    def match(self, batch: pa.RecordBatch, bf: BatchFields | None = None) -> dict[str, np.ndarray]:
        """Row positions matched by each detection rule (only rules with at least one match)."""
        out: dict[str, np.ndarray] = {}
        if batch.num_rows == 0 or not self._routes:
            return out
        bf = bf or BatchFields(batch)
        text: pa.Array | None = None
        for rr in self._routes.values():
            rmask = rr.route.mask(bf)
            if not pc.any(rmask).as_py():
                continue
            everyone = pc.all(rmask).as_py()
            rows = None if everyone else pc.indices_nonzero(rmask)
            base = np.arange(batch.num_rows) if rows is None else rows.to_numpy()
            if rr.without:
                # Rules the raw line cannot prefilter read only the columns they need, on the route's rows.
                route_bf = bf if rows is None else BatchFields(batch, rows)
                for rule in rr.without:
                    self._apply(rule, route_bf, base, out)
            if rr.pattern is None or not rr.with_needles:
                continue
            if text is None:
                text = _text(batch)
            route_text = text if rows is None else text.take(rows)
            cand_mask = pc.fill_null(pc.match_substring_regex(route_text, rr.pattern, ignore_case=True), False)
            if not pc.any(cand_mask).as_py():
                continue
            cand = pc.indices_nonzero(cand_mask)
            cand_rows = cand if rows is None else rows.take(cand)
            cand_base = base[cand.to_numpy()]
            cand_text = route_text.take(cand)
            many = len(cand) > CANDIDATE_SPLIT
            cand_bf = BatchFields(batch, cand_rows)
            for rule in rr.with_needles:
                if many:
                    own = pc.fill_null(pc.match_substring_regex(cand_text, self._per_rule_pattern[rule.id],
                                                                ignore_case=True), False)
                    if not pc.any(own).as_py():
                        continue
                    if not pc.all(own).as_py():
                        idx = pc.indices_nonzero(own)
                        self._apply(rule, BatchFields(batch, cand_rows.take(idx)), cand_base[idx.to_numpy()], out)
                        continue
                self._apply(rule, cand_bf, cand_base, out)
        return out

    def _apply(self, rule: DetectionRule, bf: BatchFields, base: np.ndarray, out: dict[str, np.ndarray]) -> None:
        try:
            mask = rule.matcher.mask(bf)
        except Exception as exc:  # a pathological value or an evaluator bug: count it, keep the other rules going
            self.errors.count += 1
            self.errors.by_rule[rule.id] = self.errors.by_rule.get(rule.id, 0) + 1
            self.errors.last = f"rule {rule.id} ({rule.title}): {type(exc).__name__}: {exc}"
            log.warning("Sigma rule failed on a batch: %s", self.errors.last)
            return
        if not pc.any(mask).as_py():
            return
        hit_rows = base[pc.indices_nonzero(mask).to_numpy()]
        prior = out.get(rule.id)
        out[rule.id] = hit_rows if prior is None else np.union1d(prior, hit_rows)

    # -- the whole batch --------------------------------------------------------------------------------------------
    def evaluate(self, batch: pa.RecordBatch) -> list[Hit]:
        if batch.num_rows == 0:
            return []
        bf = BatchFields(batch)
        matches = self.match(batch, bf)
        times = event_times_us(batch)
        eids = np.asarray(batch.column(batch.schema.get_field_index("event_id")).to_numpy(zero_copy_only=False),
                          dtype=np.int64)
        batch_wm = int(times.max())
        self.watermark_us = batch_wm if self.watermark_us is None else max(self.watermark_us, batch_wm)
        view = _BatchView(batch, bf, times, eids)
        hits: list[Hit] = []
        by_id = {r.id: r for r in self.ruleset.detections}
        for rule_id, rows in matches.items():
            rule = by_id[rule_id]
            if rule.alerts:
                hits.extend(self._detection_hits(rule, rows, view))
        firings: dict[str, list[Firing]] = {}
        for corr in self.ruleset.correlations:
            stream = self._stream(corr, matches, firings, view)
            if not len(stream):
                continue
            fired = self.correlator.state(corr).run(stream, self.window_us, keep_firings=corr.id in self._parents)
            firings[corr.id] = fired.firings
            if fired.runs and corr.alerts:
                hits.extend(self._correlation_hits(corr, fired.runs, view))
        for corr in self.ruleset.correlations:
            self.correlator.state(corr).evict(self.watermark_us - corr.timespan_us)
        return hits

    def _stream(self, corr: CorrelationRule, matches: dict[str, np.ndarray], firings: dict[str, list[Firing]],
                view: _BatchView) -> Stream:
        """The correlation's occurrences in this batch, column-wise, in batch order."""
        rows: list[int] = []
        ts: list[int] = []
        keys: list[tuple[str, ...]] = []
        rule_idx: list[int] = []
        eids: list[Any] = []
        values: list[str | None] | None = [] if corr.value_field is not None else None
        sources = 0
        for k, ref in enumerate(corr.rules):
            if ref in matches:
                sel = matches[ref]
                refs = corr.group_refs[ref]
                cols = [view.keys(refs[g], sel) for g in corr.group_by]
                if cols:
                    ok = np.ones(len(sel), dtype=bool)
                    for c in cols:
                        ok &= c != ""  # an event that does not name the group cannot be attributed
                    if not ok.all():
                        sel = sel[ok]
                        cols = [c[ok] for c in cols]
                    group = list(zip(*(c.tolist() for c in cols), strict=True))
                else:
                    group = [()] * len(sel)
                rows.extend(sel.tolist())
                ts.extend(view.times[sel].tolist())
                keys.extend(group)
                rule_idx.extend([k] * len(sel))
                eids.extend(view.eids[sel].tolist())
                if values is not None:
                    assert corr.value_field is not None
                    values.extend(view.keys(corr.value_field, sel).tolist())
                sources += 1
            elif firings.get(ref):
                for f in firings[ref]:
                    rows.append(f.row)
                    ts.append(f.t)
                    keys.append(f.group)
                    rule_idx.append(k)
                    eids.append(f.eids)
                    if values is not None:
                        values.append(None)
                sources += 1
        stream = Stream(rows, ts, keys, rule_idx, eids, values)
        if sources > 1:  # several rules: interleave in batch order (ties: the rules' order)
            order = sorted(range(len(rows)), key=lambda i: (rows[i], rule_idx[i]))
            stream = Stream([rows[i] for i in order], [ts[i] for i in order], [keys[i] for i in order],
                            [rule_idx[i] for i in order], [eids[i] for i in order],
                            None if values is None else [values[i] for i in order])
        return stream

    # -- hits ---------------------------------------------------------------------------------------------------------
    def _detection_hits(self, rule: DetectionRule, rows: np.ndarray, view: _BatchView) -> list[Hit]:
        """One hit per (entity, run of matches no further apart than the grouping window)."""
        entity = np.full(len(rows), "", dtype=object)
        for f in reversed(rule.entity):  # the first field that has a value names the entity
            vals = view.keys(resolve(f), rows)
            has = vals != ""
            entity[has] = [f"{resolve(f).name}={v}" for v in vals[has].tolist()]
        entity[entity == ""] = "host=unknown"
        t = view.times[rows]
        out: list[Hit] = []
        order = np.lexsort((rows, entity.astype(str)))
        ent_sorted = entity[order]
        bounds = np.flatnonzero(np.r_[True, ent_sorted[1:] != ent_sorted[:-1], True])
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            seg = order[a:b]
            start = 0
            gaps = np.flatnonzero(np.diff(t[seg]) > self.window_us) + 1
            for end in [*gaps.tolist(), len(seg)]:
                part = seg[start:end]
                first_row, last_row = int(rows[part[0]]), int(rows[part[-1]])
                out.append(Hit(
                    detector="sigma", rule_id=rule.id, entity=str(ent_sorted[a]), severity=rule.severity,
                    title=rule.title,
                    why=f"Sigma rule {rule.title!r} ({rule.level}) matched: {view.message(last_row)[:160]}",
                    event_ids=tuple(view.eids[rows[part]].tolist()), ts=to_datetime(int(t[part[-1]])),
                    first_ts=to_datetime(int(t[part[0]])), join_ts=to_datetime(int(t[part[0]])),
                    host=view.text("host", last_row), category=view.text("category", last_row),
                    seq=int(view.eids[first_row]),
                ))
                start = end
        return out

    def _correlation_hits(self, corr: CorrelationRule, runs: list[Run], view: _BatchView) -> list[Hit]:
        ent_idx = corr.group_by.index(corr.entity) if corr.entity in corr.group_by else None
        name = resolve(corr.entity).name
        out = []
        for r in runs:
            if ent_idx is not None:
                entity = f"{name}={r.group[ent_idx]}"
            else:
                entity = f"host={view.text('host', r.last_row) or 'unknown'}"
            out.append(Hit(
                detector="sigma", rule_id=corr.id, entity=entity, severity=SEVERITIES[r.rank], title=corr.title,
                why=_correlation_why(corr, r.group, r.count), event_ids=tuple(r.eids),
                ts=to_datetime(r.last_t), first_ts=to_datetime(r.first_t), join_ts=to_datetime(r.join_t),
                host=view.text("host", r.last_row), category=view.text("category", r.last_row),
                seq=int(view.eids[r.first_row]),
            ))
        return out

    # -- state ----------------------------------------------------------------------------------------------------
    def take_state_changes(self) -> tuple[list[tuple[str, str, dict[str, Any]]], list[tuple[str, str]]]:
        """(rule id, group key JSON, state) changed and (rule id, group key JSON) removed since the last call."""
        import orjson

        changed: list[tuple[str, str, dict[str, Any]]] = []
        removed: list[tuple[str, str]] = []
        for rid, st in self.correlator.states.items():
            ch, rm = st.take_changes()
            changed.extend((rid, orjson.dumps(list(k)).decode(), v) for k, v in ch.items())
            removed.extend((rid, orjson.dumps(list(k)).decode()) for k in rm)
        return changed, removed

    def restore_state(self, rows: Sequence[tuple[str, str, dict[str, Any]]]) -> int:
        """Load persisted windows; rows of rules that no longer exist are ignored. Returns how many loaded."""
        import orjson

        by_id = {c.id: c for c in self.ruleset.correlations}
        n = 0
        for rid, key, data in rows:
            corr = by_id.get(rid)
            if corr is None:
                continue
            self.correlator.state(corr).restore(tuple(orjson.loads(key)), data)
            n += 1
        return n


def _correlation_why(corr: CorrelationRule, group: tuple[str, ...], count: int) -> str:
    span = _span_text(corr.timespan_us)
    keys = ", ".join(f"{g}={v}" for g, v in zip(corr.group_by, group, strict=False))
    most = "+" if count >= corr.max_count and corr.type in ("event_count", "value_count") else ""
    if corr.type == "event_count":
        what = f"{count}{most} matching events"
    elif corr.type == "value_count":
        what = f"{count}{most} distinct {corr.value_field.name if corr.value_field else 'values'}"
    else:
        what = "all of " + ", ".join(corr.rules) + (" in order" if corr.type == "temporal_ordered" else "")
    steps = f" (≥{corr.threshold} {corr.level}" + "".join(f", ≥{n} {s}" for n, s in corr.escalation) + ")"
    return f"{corr.title}: {what} for {keys or 'the host'} within {span}{steps}"


def _span_text(us: int) -> str:
    s = us // 1_000_000
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size and s % size == 0:
            return f"{s // size} {unit}"
    return f"{s} s"


def _text(batch: pa.RecordBatch) -> pa.Array:
    names = batch.schema.names
    cols = [batch.column(names.index(n)) for n in ("raw", "message") if n in names]
    if not cols:
        return pa.nulls(batch.num_rows, pa.string())
    return cols[0] if len(cols) == 1 else pc.coalesce(*cols)


class _BatchView:
    """Row values for building hits and group keys (Python-level access only to the rows that matched)."""

    def __init__(self, batch: pa.RecordBatch, bf: BatchFields, times: np.ndarray, eids: np.ndarray) -> None:
        self.batch = batch
        self.times = times
        self.eids = eids
        self._bf = bf
        self._strings: dict[Any, np.ndarray] = {}
        self._cols: dict[str, list[Any]] = {}

    def keys(self, ref: Any, rows: np.ndarray) -> np.ndarray:
        """The field as strings ("" for missing) at `rows`: group-by keys, entities, counted values."""
        col = self._strings.get(ref)
        if col is None:
            arr = pc.fill_null(self._bf.text(ref), "")
            col = self._strings[ref] = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=object)
        return col[rows]

    def text(self, column: str, row: int) -> Any:
        col = self._cols.get(column)
        if col is None:
            idx = self.batch.schema.get_field_index(column)
            col = self._cols[column] = ([None] * self.batch.num_rows if idx < 0
                                        else self.batch.column(idx).to_pylist())
        return col[row]

    def message(self, row: int) -> str:
        return str(self.text("message", row) or self.text("raw", row) or "")
