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
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detectors.alerts import Hit
from detectors.rules.correlations import Correlator, Firing, Occurrence
from detectors.rules.fields import BatchFields, event_times_us, resolve
from detectors.rules.routes import Route
from detectors.rules.ruleset import CorrelationRule, DetectionRule, RuleSet

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
        self.watermark_us: int | None = None

    # -- detections -------------------------------------------------------------------------------------------------
    def match(self, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
        """Row positions matched by each detection rule (only rules with at least one match)."""
        out: dict[str, np.ndarray] = {}
        if batch.num_rows == 0 or not self._routes:
            return out
        bf = BatchFields(batch)
        text: pa.Array | None = None
        for rr in self._routes.values():
            rmask = rr.route.mask(bf)
            if not pc.any(rmask).as_py():
                continue
            everyone = pc.all(rmask).as_py()
            rows = None if everyone else pc.indices_nonzero(rmask)
            sub = batch if rows is None else batch.take(rows)
            sub_bf = bf if rows is None else BatchFields(sub)
            base = np.arange(batch.num_rows) if rows is None else rows.to_numpy()
            for rule in rr.without:
                self._apply(rule, sub_bf, base, out)
            if rr.pattern is None or not rr.with_needles:
                continue
            if text is None:
                text = _text(batch)
            sub_text = text if rows is None else text.take(rows)
            cand_mask = pc.fill_null(pc.match_substring_regex(sub_text, rr.pattern, ignore_case=True), False)
            if not pc.any(cand_mask).as_py():
                continue
            cand = pc.indices_nonzero(cand_mask)
            cand_batch = sub.take(cand)
            cand_text = sub_text.take(cand)
            cand_base = base[cand.to_numpy()]
            many = len(cand) > CANDIDATE_SPLIT
            cand_bf = BatchFields(cand_batch)
            for rule in rr.with_needles:
                if many:
                    own = pc.fill_null(pc.match_substring_regex(cand_text, self._per_rule_pattern[rule.id],
                                                                ignore_case=True), False)
                    if not pc.any(own).as_py():
                        continue
                    if not pc.all(own).as_py():
                        idx = pc.indices_nonzero(own)
                        self._apply(rule, BatchFields(cand_batch.take(idx)), cand_base[idx.to_numpy()], out)
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
        matches = self.match(batch)
        times = event_times_us(batch)
        eids = np.asarray(batch.column(batch.schema.get_field_index("event_id")).to_numpy(zero_copy_only=False),
                          dtype=np.int64)
        batch_wm = int(times.max())
        self.watermark_us = batch_wm if self.watermark_us is None else max(self.watermark_us, batch_wm)
        view = _BatchView(batch, times, eids)
        hits: list[Hit] = []
        by_id = {r.id: r for r in self.ruleset.detections}
        for rule_id, rows in matches.items():
            rule = by_id[rule_id]
            if rule.alerts:
                hits.extend(self._detection_hits(rule, rows, view))
        firings: dict[str, list[Firing]] = {}
        for corr in self.ruleset.correlations:
            occ = self._occurrences(corr, matches, firings, view)
            if not occ:
                continue
            state = self.correlator.state(corr)
            fired = state.run(occ)
            firings[corr.id] = fired
            if fired and corr.alerts:
                hits.extend(self._correlation_hits(corr, fired, view))
        for corr in self.ruleset.correlations:
            self.correlator.state(corr).evict(self.watermark_us - corr.timespan_us)
        return hits

    def _occurrences(self, corr: CorrelationRule, matches: dict[str, np.ndarray],
                     firings: dict[str, list[Firing]], view: _BatchView) -> list[Occurrence]:
        occ: list[Occurrence] = []
        for ref in corr.rules:
            refs = corr.group_refs[ref]
            if ref in matches:
                rows = matches[ref]
                groups = [view.values(refs[g], rows) for g in corr.group_by]
                values = view.values(corr.value_field, rows) if corr.value_field is not None else None
                t, e = view.times[rows], view.eids[rows]
                for i, row in enumerate(rows.tolist()):
                    key = tuple(str(col[i]) if col[i] is not None else "" for col in groups)
                    if groups and any(col[i] is None or col[i] == "" for col in groups):
                        continue  # an event that does not name the group cannot be attributed
                    occ.append(Occurrence(row, int(t[i]), (int(e[i]),), key, ref,
                                          None if values is None else values[i]))
            elif ref in firings:
                for f in firings[ref]:
                    occ.append(Occurrence(f.row, f.t, f.eids, f.group, ref))
        occ.sort(key=lambda o: (o.row, corr.rules.index(o.rule)))
        return occ

    # -- hits ---------------------------------------------------------------------------------------------------------
    def _detection_hits(self, rule: DetectionRule, rows: np.ndarray, view: _BatchView) -> list[Hit]:
        entity_cols = [(f, view.values(resolve(f), rows)) for f in rule.entity]
        items: list[tuple[str, int, int, tuple[int, ...], str, int]] = []
        for i, row in enumerate(rows.tolist()):
            entity = next((f"{resolve(f).name}={vals[i]}" for f, vals in entity_cols if vals[i]), "host=unknown")
            t = int(view.times[row])
            items.append((entity, t, t, (int(view.eids[row]),), rule.severity, row))
        return self._runs(items, lambda ent, last_row, count: Hit(
            detector="sigma", rule_id=rule.id, entity=ent, severity=rule.severity, title=rule.title,
            why=f"Sigma rule {rule.title!r} ({rule.level}) matched: {view.message(last_row)[:160]}",
            event_ids=(), ts=_EPOCH, category=view.text("category", last_row), host=view.text("host", last_row)),
            view.eids)

    def _correlation_hits(self, corr: CorrelationRule, fired: list[Firing], view: _BatchView) -> list[Hit]:
        ent_idx = corr.group_by.index(corr.entity) if corr.entity in corr.group_by else None
        items = []
        for f in fired:
            if ent_idx is not None:
                entity = f"{resolve(corr.entity).name}={f.group[ent_idx]}"
            else:
                entity = f"host={view.text('host', f.row) or 'unknown'}"
            items.append((entity, f.t, f.first_t, f.eids, f.severity, f.row))
        counts = {f.row: f for f in fired}

        def make(ent: str, last_row: int, n: int) -> Hit:
            f = counts[last_row]
            return Hit(detector="sigma", rule_id=corr.id, entity=ent, severity=f.severity, title=corr.title,
                       why=_correlation_why(corr, f), event_ids=(), ts=_EPOCH,
                       category=view.text("category", last_row), host=view.text("host", last_row))
        return self._runs(items, make, view.eids)

    def _runs(self, items: Sequence[tuple[str, int, int, tuple[int, ...], str, int]], make: Any,
              seq: np.ndarray) -> list[Hit]:
        """Merge items of one rule into one Hit per (entity, run of items no further apart than the grouping
        window): exactly what the alert grouper would do with them one by one."""
        by_entity: dict[str, list[tuple[str, int, int, tuple[int, ...], str, int]]] = defaultdict(list)
        for it in items:
            by_entity[it[0]].append(it)
        out: list[Hit] = []
        from store.schema import severity_rank

        for entity, its in by_entity.items():
            run: list[tuple[str, int, int, tuple[int, ...], str, int]] = []
            for it in its:
                if run and it[1] - run[-1][1] > self.window_us:
                    out.append(self._merge(entity, run, make, severity_rank, seq))
                    run = []
                run.append(it)
            if run:
                out.append(self._merge(entity, run, make, severity_rank, seq))
        return out

    @staticmethod
    def _merge(entity: str, run: list[tuple[str, int, int, tuple[int, ...], str, int]], make: Any,
               severity_rank: Any, seq: np.ndarray) -> Hit:
        proto: Hit = make(entity, run[-1][5], len(run))
        sev = max((it[4] for it in run), key=severity_rank)
        ids = tuple(e for it in run for e in it[3])
        return Hit(
            detector=proto.detector, rule_id=proto.rule_id, entity=entity, severity=sev, title=proto.title,
            why=proto.why, event_ids=ids, ts=to_datetime(run[-1][1]),
            first_ts=to_datetime(min(it[2] for it in run)), join_ts=to_datetime(run[0][1]),
            host=proto.host, category=proto.category, seq=int(seq[run[0][5]]),
        )

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


def _correlation_why(corr: CorrelationRule, f: Firing) -> str:
    span = _span_text(corr.timespan_us)
    keys = ", ".join(f"{g}={v}" for g, v in zip(corr.group_by, f.group, strict=False))
    if corr.type == "event_count":
        what = f"{f.count} matching events"
    elif corr.type == "value_count":
        what = f"{f.count} distinct {corr.value_field.name if corr.value_field else 'values'}"
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
    """Row values for building hits (Python-level access to the few rows that matched)."""

    def __init__(self, batch: pa.RecordBatch, times: np.ndarray, eids: np.ndarray) -> None:
        self.batch = batch
        self.times = times
        self.eids = eids
        self._bf = BatchFields(batch)
        self._cols: dict[str, list[Any]] = {}

    def values(self, ref: Any, rows: np.ndarray) -> list[Any]:
        arr = self._bf.value(ref)
        return arr.take(pa.array(rows, pa.int64())).to_pylist()

    def text(self, column: str, row: int) -> Any:
        idx = self.batch.schema.get_field_index(column)
        return None if idx < 0 else self.batch.column(idx)[row].as_py()

    def message(self, row: int) -> str:
        return str(self.text("message", row) or self.text("raw", row) or "")
