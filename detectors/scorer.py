"""Detection as a consumer of the store: one batch of committed events in, alert changes and the new checkpoint out.

`score(batch)` runs the rule set (Sigma detections and correlations), template novelty and the anomaly models over
a batch of events in event-id order, and folds the hits into grouped alerts. `commit(con, scored)` writes, in the
caller's transaction, the alerts, the correlation windows that changed and the checkpoint (the last event id fully
scored) — together, so after `kill -9` the scorer resumes exactly after its checkpoint: no event unscored, none
counted twice, no alert duplicated. `resume(con)` reloads all of it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detectors.alerts import (
    CLOSED_STATUSES,
    AlertGroup,
    AlertGrouper,
    AlertStatusError,
    AlertUpdate,
    AnomalyModel,
    Hit,
    ModelHit,
    check_transition,
)
from detectors.rules.evaluate import RuleEngine, to_datetime
from detectors.rules.fields import event_times_us
from detectors.rules.ruleset import RuleSet, default_rule_dirs, load_rules
from detectors.storage import ScorerCheckpoint, load_checkpoint, load_windows, save_checkpoint, save_windows
from store.schema import severity_rank

log = logging.getLogger(__name__)

_UPSERT_COLS = AlertUpdate.UPSERT_COLUMNS
_UPDATABLE = [c for c in _UPSERT_COLS if c not in ("alert_id", "created_at")]
_QUOTED = ", ".join(f'"{c}"' for c in _UPSERT_COLS)
# Rows go in as one Arrow table per batch: DuckDB's executemany costs ~1 ms per row.
_ALERT_ARROW = pa.schema([
    ("alert_id", pa.int64()), ("created_at", pa.timestamp("us", tz="UTC")),
    ("first_seen", pa.timestamp("us", tz="UTC")), ("last_seen", pa.timestamp("us", tz="UTC")),
    ("detector", pa.string()), ("rule_id", pa.string()), ("entity", pa.string()), ("score", pa.float64()),
    ("severity", pa.string()), ("title", pa.string()), ("summary", pa.string()), ("event_ids", pa.list_(pa.int64())),
    ("count", pa.int64()), ("model_version", pa.string()), ("why", pa.string()), ("host", pa.string()),
    ("category", pa.string()),
])
assert tuple(_ALERT_ARROW.names) == tuple(_UPSERT_COLS)
UPSERT_SQL = (
    f"INSERT INTO alerts ({_QUOTED}) SELECT * FROM _vigil_alert_rows "
    "ON CONFLICT (alert_id) DO UPDATE SET "
    + ", ".join(f'"{c}" = excluded."{c}"' for c in _UPDATABLE)
    # A race with set_status must not extend a closed alert; status columns are never in the SET list.
    + " WHERE alerts.status NOT IN ('resolved', 'false_positive')"
    + " RETURNING alert_id, status, status_by, status_at"
)
NOVELTY_RULE = "sys.new_template"


@dataclass
class ScorerConfig:
    window: timedelta = timedelta(minutes=10)  # grouping window per (detector, rule, entity)
    evidence_cap: int = 200  # event ids kept per alert: the first half and the latest half
    rule_dirs: Sequence[Path] = field(default_factory=default_rule_dirs)
    disabled_rules: frozenset[str] = frozenset()
    novelty_warmup_events: int = 10_000  # "new template" stays quiet until this many events were scored
    max_open_groups: int = 50_000
    local_site: str | None = None  # events landed from other sites were scored there: skipped here
    sessions: Any = None  # detectors.sessions.SessionConfig: sessions keyed by an id in the message (off: None)


@dataclass
class ScoredBatch:
    """What scoring one batch (or several, merged) produced, to be committed in one transaction."""

    last_event_id: int
    events: int
    updates: list[AlertUpdate]
    windows_changed: list[tuple[str, str, dict[str, Any]]]
    windows_removed: list[tuple[str, str]]
    checkpoint: ScorerCheckpoint

    def merge(self, later: ScoredBatch) -> ScoredBatch:
        """This batch's results followed by `later`'s, as if scored in one: each alert and window once, in its
        latest state; what each alert gained is added up."""
        by_id = {u.alert_id: u for u in self.updates}
        for u in later.updates:
            prior = by_id.get(u.alert_id)
            if prior is not None:
                u.new_event_ids = prior.new_event_ids + u.new_event_ids
                u.new_count += prior.new_count
                firsts = [t for t in (prior.new_first_seen, u.new_first_seen) if t is not None]
                u.new_first_seen = min(firsts) if firsts else None
                u.previous_severity = prior.previous_severity
            by_id[u.alert_id] = u
        windows = {(r, k): v for r, k, v in self.windows_changed}
        removed = set(self.windows_removed)
        for r, k in later.windows_removed:
            windows.pop((r, k), None)
            removed.add((r, k))
        for r, k, v in later.windows_changed:
            windows[(r, k)] = v
            removed.discard((r, k))
        return ScoredBatch(later.last_event_id, self.events + later.events, sorted(by_id.values(),
                           key=lambda u: u.alert_id), [(r, k, v) for (r, k), v in windows.items()], sorted(removed),
                           later.checkpoint)


class Scorer:
    """Runs every detector over a batch and keeps the open alert groups. `score` runs on the scorer's thread;
    `commit` and `set_status` run on the writer's (they take the lock)."""

    def __init__(self, config: ScorerConfig | None = None, models: AnomalyModel | None = None,
                 ruleset: RuleSet | None = None) -> None:
        self.config = config or ScorerConfig()
        self.models = models
        self.ruleset = ruleset if ruleset is not None else load_rules(self.config.rule_dirs,
                                                                      self.config.disabled_rules)
        self.rules = RuleEngine(self.ruleset, group_window=self.config.window)
        self.sessions: Any = None
        if self.config.sessions is not None:
            from detectors.sessions import SessionDetector

            self.sessions = SessionDetector(self.config.sessions)
        self.grouper = AlertGrouper(window=self.config.window, evidence_cap=self.config.evidence_cap,
                                    max_open=self.config.max_open_groups)
        self._lock = threading.Lock()
        self.checkpoint = ScorerCheckpoint()
        self.model_errors = 0
        self.last_model_error: str | None = None

    @property
    def problems(self) -> list[tuple[str, str]]:
        """(file, reason) for every rule that could not be loaded."""
        return list(self.ruleset.problems)

    # -- start-up ----------------------------------------------------------------------------------
    def resume(self, con: Any) -> ScorerCheckpoint:
        """Reload the checkpoint, the correlation windows and the alerts still open at the checkpoint."""
        cp = load_checkpoint(con) or ScorerCheckpoint()  # the migration writes the first one
        with self._lock:
            self.checkpoint = cp
            self.rules.watermark_us = cp.watermark_us
            self.rules.restore_state(load_windows(con))
            row = con.execute("SELECT max(alert_id) FROM alerts").fetchone()
            self.grouper.next_id = max(self.grouper.next_id, int((row or (None,))[0] or 0) + 1)
            if cp.watermark_us is not None:
                self._restore_groups(con, to_datetime(cp.watermark_us) - self.config.window)
        return cp

    def _restore_groups(self, con: Any, since: datetime) -> None:
        rows = con.execute(
            "SELECT alert_id, epoch_us(created_at), epoch_us(first_seen), epoch_us(last_seen), detector, rule_id, "
            "entity, severity, score, title, why, host, category, model_version, count, event_ids FROM alerts "
            "WHERE status NOT IN ('resolved', 'false_positive') AND last_seen >= ? ORDER BY alert_id", [since],
        ).fetchall()
        half = self.grouper.half_cap
        for r in rows:
            ids = list(r[15] or [])
            g = AlertGroup(
                alert_id=int(r[0]), created_at=to_datetime(r[1]), first_seen=to_datetime(r[2] or r[3]),
                last_seen=to_datetime(r[3]), detector=r[4], rule_id=r[5] or "", entity=r[6] or "",
                severity=r[7], score=float(r[8] or 0.0), title=r[9] or "", why=r[10] or "", host=r[11],
                category=r[12], model_version=r[13], count=int(r[14] or len(ids)),
            )
            g.first_ids = ids[:half]
            g.latest_ids.extend(ids[half:])
            g.reported_severity = g.severity
            self.grouper.restore(g)

    # -- per batch ---------------------------------------------------------------------------------
    def score(self, batch: pa.RecordBatch) -> ScoredBatch:
        """Detect on one batch of events (in event-id order, after the checkpoint)."""
        with self._lock:
            ids = batch.column(batch.schema.get_field_index("event_id"))
            last_id = int(pc.max(ids).as_py()) if batch.num_rows else self.checkpoint.last_event_id
            local = self._local_rows(batch)
            prior_wm = self.rules.watermark_us
            if prior_wm is not None:
                self.grouper.evict_idle(to_datetime(prior_wm))
            hits: list[Hit] = []
            if local.num_rows:
                hits.extend(self.rules.evaluate(local))
                hits.extend(self._novelty_hits(local))
                if self.sessions is not None:
                    hits.extend(self.sessions.add(local))
                if self.models is not None:
                    hits.extend(self._model_hits(local, hits))
            hits.sort(key=lambda h: (h.seq or min(h.event_ids, default=0), h.detector, h.rule_id, h.entity))
            now = datetime.now(UTC)
            for h in hits:
                self.grouper.add(h, now)
            updates = self.grouper.take_updates()
            changed, removed = self.rules.take_state_changes()
            cp = ScorerCheckpoint(
                last_event_id=max(last_id, self.checkpoint.last_event_id), watermark_us=self.rules.watermark_us,
                template_max=self.checkpoint.template_max, events_scored=self.checkpoint.events_scored + batch.num_rows,
            )
            top = _max_template(local)
            if top is not None and (cp.template_max is None or top > cp.template_max):
                cp.template_max = top
            self.checkpoint = cp
            return ScoredBatch(cp.last_event_id, batch.num_rows, updates, changed, removed, cp)

    def finish(self) -> ScoredBatch:
        """The end of a one-shot input (`vigil ingest`, a replay): close what only closes by waiting — open
        sessions — and score them. A live engine never calls this."""
        with self._lock:
            hits = self.sessions.flush() if self.sessions is not None else []
            hits.sort(key=lambda h: (h.seq, h.rule_id, h.entity))
            now = datetime.now(UTC)
            for h in hits:
                self.grouper.add(h, now)
            updates = self.grouper.take_updates()
            return ScoredBatch(self.checkpoint.last_event_id, 0, updates, [], [], self.checkpoint)

    def process(self, batch: pa.RecordBatch) -> list[AlertUpdate]:
        """Score a batch and return its alert changes (no store: replays, evaluations, tests)."""
        return self.score(batch).updates

    def _local_rows(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        idx = batch.schema.get_field_index("site")
        if idx < 0 or batch.num_rows == 0:
            return batch
        site = batch.column(idx)
        if site.null_count == len(site):
            return batch
        keep = pc.is_null(site)
        if self.config.local_site:
            keep = pc.or_(keep, pc.equal(site, self.config.local_site))
        keep = pc.fill_null(keep, False)
        return batch if pc.all(keep).as_py() else batch.filter(keep)

    def _novelty_hits(self, batch: pa.RecordBatch) -> list[Hit]:
        """A template id above everything scored before is a message shape never seen (after the warm-up)."""
        if self.checkpoint.events_scored < self.config.novelty_warmup_events:
            return []
        idx = batch.schema.get_field_index("template_id")
        mark = self.checkpoint.template_max
        if idx < 0 or mark is None:
            return []
        tids = batch.column(idx)
        new = pc.fill_null(pc.greater(tids, mark), False)
        if not pc.any(new).as_py():
            return []
        rows = pc.indices_nonzero(new).to_numpy()
        times = event_times_us(batch)
        eids = batch.column(batch.schema.get_field_index("event_id")).to_numpy(zero_copy_only=False)
        hosts = batch.column(batch.schema.get_field_index("host")).to_pylist()
        msgs = batch.column(batch.schema.get_field_index("message")).to_pylist()
        tid_list = tids.to_pylist()
        seen: set[int] = set()
        out = []
        for r in rows.tolist():
            tid = tid_list[r]
            if tid in seen:
                continue
            seen.add(tid)
            t = to_datetime(int(times[r]))
            out.append(Hit(
                detector="template", rule_id=NOVELTY_RULE, entity=f"host={hosts[r] or 'unknown'}", severity="low",
                title="Never-seen log message shape",
                why=f"first ever message of this shape (template {tid}) from {hosts[r]}: {(msgs[r] or '')[:120]!r}",
                event_ids=(int(eids[r]),), ts=t, first_ts=t, host=hosts[r], seq=int(eids[r]),
            ))
        return out

    def _model_hits(self, batch: pa.RecordBatch, rule_hits: Sequence[Hit]) -> list[Hit]:
        assert self.models is not None
        # What the rules flagged — addresses and users with rule alerts, open or from this batch, and every event
        # they cite — never becomes part of a model's baseline.
        open_rule = [g for g in self.grouper.open_groups() if not g.detector.startswith("model:")]
        flagged = {h.entity for h in rule_hits if h.detector == "sigma"} | {g.entity for g in open_rule}
        flagged = {e for e in flagged if e.startswith(("src_ip=", "user="))}
        cited = {e for h in rule_hits for e in h.event_ids}
        try:
            scorer = getattr(self.models, "score_with_flags", None)
            if scorer is not None:
                exclude = _flagged_rows(batch, flagged, cited)
                found: list[ModelHit] = scorer(batch, exclude, flagged)
            else:
                found = self.models.score(batch)
        except Exception as exc:  # a model bug must not stop rules from alerting
            self.model_errors += 1
            self.last_model_error = f"{type(exc).__name__}: {exc}"
            log.warning("anomaly model failed on a batch: %s", self.last_model_error)
            return []
        if not found:
            return []
        times = dict(zip(batch.column(batch.schema.get_field_index("event_id")).to_pylist(),
                         event_times_us(batch).tolist(), strict=True))
        corroborated = {h.entity for h in rule_hits if h.severity != "low"}
        corroborated |= {g.entity for g in self.grouper.open_groups() if not g.detector.startswith("model:")
                         and g.severity != "low"}
        out = []
        for m in found:
            ts_us = [times[e] for e in m.event_ids if e in times]
            last = to_datetime(max(ts_us)) if ts_us else (m.ts or datetime.now(UTC))
            first = to_datetime(min(ts_us)) if ts_us else last
            severity = m.severity
            why = m.why
            if m.entity not in corroborated and severity_rank(severity) > severity_rank("low"):
                # Unusual is not malicious: a model alone says "low" until a rule agrees about the same entity.
                # (Persistence is not enough: measured on a jump host's busy but benign users, models trained on
                # a short baseline flagged their ordinary logouts for half an hour on end.)
                why = f"{why} [model only: capped at low until a rule flags {m.entity} too; model said {severity}]"
                severity = "low"
            out.append(Hit(
                detector=m.detector, rule_id=m.detector, entity=m.entity, severity=severity,
                title=m.title or f"Anomalous activity ({m.detector})", why=why, event_ids=tuple(m.event_ids),
                ts=last, first_ts=first, score=m.score, host=m.host, category=m.category,
                model_version=m.model_version, seq=min(m.event_ids, default=0),
            ))
        return out

    # -- storage -----------------------------------------------------------------------------------
    def commit(self, con: Any, scored: ScoredBatch) -> list[AlertUpdate]:
        """Alerts, correlation windows and the checkpoint, inside the caller's transaction."""
        written = self.apply(con, scored.updates)
        save_windows(con, scored.windows_changed, scored.windows_removed)
        save_checkpoint(con, scored.checkpoint)
        return written

    def apply(self, con: Any, updates: Sequence[AlertUpdate]) -> list[AlertUpdate]:
        """Upsert `updates` into `alerts` (inside the caller's transaction if any).

        An alert the analyst closed meanwhile is left as it is; what this batch added to it starts a new
        alert instead. Returns what was actually written.
        """
        if not updates:
            return []
        ids = [u.alert_id for u in updates]
        closed = {
            int(r[0]) for r in con.execute(
                "SELECT alert_id FROM alerts WHERE alert_id IN (SELECT unnest(?)) "
                "AND status IN ('resolved', 'false_positive')", [ids]).fetchall()
        }
        written = list(updates)
        if closed:
            with self._lock:
                written = [u for u in updates if u.alert_id not in closed]
                for u in updates:
                    if u.alert_id in closed:
                        self.grouper.close(u.alert_id)
                        if u.new_count:
                            self.grouper.add(Hit(
                                detector=u.detector, rule_id=u.rule_id, entity=u.entity, severity=u.severity,
                                title=u.title, why=u.why, event_ids=tuple(u.new_event_ids), ts=u.last_seen,
                                first_ts=u.new_first_seen or u.last_seen, score=u.score, host=u.host,
                                category=u.category, model_version=u.model_version,
                            ))
                written += self.grouper.take_updates()
        if written:
            # One row per alert id (ON CONFLICT cannot touch a row twice in one statement); the last wins.
            rows = list({u.alert_id: u.row() for u in written}.values())
            table = pa.Table.from_arrays(
                [pa.array([r[i] for r in rows], type=f.type) for i, f in enumerate(_ALERT_ARROW)],
                schema=_ALERT_ARROW,
            )
            con.register("_vigil_alert_rows", table)
            try:
                statuses = {int(r[0]): r[1:] for r in con.execute(UPSERT_SQL).fetchall()}
            finally:
                con.unregister("_vigil_alert_rows")
            for u in written:
                st = statuses.get(u.alert_id)
                if st is not None:
                    u.status, u.status_by, u.status_at = st[0] or "new", st[1], st[2]
        return written

    def set_status(self, con: Any, alert_id: int, status: str, by: str) -> None:
        """Move an alert along new → acknowledged → resolved | false_positive; raises AlertStatusError."""
        row = con.execute("SELECT status FROM alerts WHERE alert_id = ?", [alert_id]).fetchone()
        if row is None:
            raise AlertStatusError(f"no alert with id {alert_id}")
        check_transition(row[0], status)
        con.execute(
            "UPDATE alerts SET status = ?, status_by = ?, status_at = ? WHERE alert_id = ?",
            [status, by, datetime.now(UTC), alert_id],
        )
        if status in CLOSED_STATUSES:
            with self._lock:
                self.grouper.close(alert_id)


def _flagged_rows(batch: pa.RecordBatch, entities: set[str], cited: set[int]) -> np.ndarray:
    """Rows cited by a rule hit, failures of any kind, or rows whose address or user has a rule alert."""
    names = batch.schema.names
    out = np.zeros(batch.num_rows, dtype=bool)
    if "outcome" in names:
        out |= np.asarray(pc.fill_null(pc.equal(batch.column(names.index("outcome")), "failure"), False)
                          .to_numpy(zero_copy_only=False))
    if cited:
        ids = batch.column(names.index("event_id"))
        out |= np.asarray(pc.is_in(ids, value_set=pa.array(sorted(cited), pa.int64())).to_numpy(zero_copy_only=False))
    for col in ("src_ip", "user"):
        values = [e.split("=", 1)[1] for e in entities if e.startswith(col + "=")]
        if values and col in names:
            hit = pc.fill_null(pc.is_in(batch.column(names.index(col)), value_set=pa.array(values)), False)
            out |= np.asarray(hit.to_numpy(zero_copy_only=False))
    return out


def _max_template(batch: pa.RecordBatch) -> int | None:
    idx = batch.schema.get_field_index("template_id")
    if idx < 0 or batch.num_rows == 0:
        return None
    top = pc.max(batch.column(idx)).as_py()
    return None if top is None else int(top)
