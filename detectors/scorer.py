"""Per-batch detection: rules, Sigma and (optional) anomaly models over one Arrow batch, folded into grouped
alerts, and the upsert that stores them without ever touching the analyst-owned status columns.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
from detectors.rules import RuleEngine
from detectors.sigma import SigmaEngine, default_sigma_dirs

log = logging.getLogger(__name__)

_UPSERT_COLS = AlertUpdate.UPSERT_COLUMNS
_UPDATABLE = [c for c in _UPSERT_COLS if c not in ("alert_id", "created_at")]
_QUOTED = ", ".join(f'"{c}"' for c in _UPSERT_COLS)
# Rows go in as one Arrow table per batch: DuckDB's executemany costs ~1 ms per row, which at hundreds of
# alert updates per batch would stall the writer (and so ingestion) for seconds.
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
)


@dataclass
class ScorerConfig:
    window: timedelta = timedelta(minutes=10)  # grouping window per (detector, rule, entity)
    evidence_cap: int = 200  # event ids kept per alert: the first half and the latest half
    rules: bool = True
    disabled_rules: frozenset[str] = frozenset()
    sigma: bool = True
    sigma_dirs: Sequence[Path] = field(default_factory=default_sigma_dirs)
    novelty_warmup_events: int = 10_000  # "new template" rule stays quiet until the store has seen this many
    max_open_groups: int = 50_000


class Scorer:
    """Runs every detector over a batch and keeps the open alert groups. Thread-safe: `process` may run on
    the scorer thread while `apply`/`set_status` run on the writer thread."""

    def __init__(self, config: ScorerConfig | None = None, models: AnomalyModel | None = None) -> None:
        self.config = config or ScorerConfig()
        self.models = models
        self.rules = RuleEngine(disabled=self.config.disabled_rules,
                                novelty_warmup_events=self.config.novelty_warmup_events)
        self.sigma = SigmaEngine.from_dirs(self.config.sigma_dirs) if self.config.sigma else None
        self.grouper = AlertGrouper(window=self.config.window, evidence_cap=self.config.evidence_cap,
                                    max_open=self.config.max_open_groups)
        self._lock = threading.Lock()
        self.model_errors = 0
        self.last_model_error: str | None = None

    @property
    def sigma_problems(self) -> list[tuple[str, str]]:
        """(file, reason) for every Sigma rule that could not be loaded."""
        return list(self.sigma.problems) if self.sigma else []

    # -- start-up ----------------------------------------------------------------------------------
    def resume(self, con: Any) -> None:
        """Continue alert ids after the stored maximum and re-open recent groups that are not closed."""
        # Timestamps travel as epoch microseconds: DuckDB needs pytz to hand out TIMESTAMPTZ values.
        row = con.execute("SELECT max(alert_id), epoch_us(max(last_seen)) FROM alerts").fetchone()
        max_id, latest_us = (row or (None, None))
        with self._lock:
            self.grouper.next_id = max(self.grouper.next_id, int(max_id or 0) + 1)
            if latest_us is not None:
                since = _from_us(latest_us) - self.config.window
                rows = con.execute(
                    "SELECT alert_id, epoch_us(created_at), epoch_us(first_seen), epoch_us(last_seen), "
                    "detector, rule_id, entity, severity, score, title, why, host, category, model_version, "
                    "count, event_ids FROM alerts WHERE status NOT IN ('resolved', 'false_positive') "
                    "AND last_seen >= ? ORDER BY alert_id",
                    [since],
                ).fetchall()
                half = self.grouper.half_cap
                for r in rows:
                    ids = list(r[15] or [])
                    g = AlertGroup(
                        alert_id=int(r[0]), created_at=_from_us(r[1]), first_seen=_from_us(r[2] or r[3]),
                        last_seen=_from_us(r[3]),
                        detector=r[4], rule_id=r[5] or "", entity=r[6] or "", severity=r[7],
                        score=float(r[8] or 0.0), title=r[9] or "", why=r[10] or "", host=r[11],
                        category=r[12], model_version=r[13], count=int(r[14] or len(ids)),
                    )
                    g.first_ids = ids[:half]
                    g.latest_ids.extend(ids[half:])
                    self.grouper.restore(g)
            self.rules.resume(con)

    # -- per batch ---------------------------------------------------------------------------------
    def process(self, batch: pa.RecordBatch) -> list[AlertUpdate]:
        """Detect on one batch (rows carry event_id and template_id); returns the alerts it changed."""
        if batch.num_rows == 0:
            return []
        hits: list[Hit] = []
        with self._lock:
            if self.config.rules:
                hits.extend(self.rules.evaluate(batch))
            if self.sigma is not None:
                hits.extend(self.sigma.evaluate(batch))
            if self.models is not None:
                hits.extend(self._model_hits(batch))
            now = datetime.now(UTC)
            for h in hits:
                self.grouper.add(h, now)
            latest = _latest_time(batch)
            if latest is not None:
                self.grouper.evict_idle(latest)
            return self.grouper.take_updates()

    def _model_hits(self, batch: pa.RecordBatch) -> list[Hit]:
        assert self.models is not None
        try:
            found: list[ModelHit] = self.models.score(batch)
        except Exception as exc:  # a model bug must not stop rules from alerting
            self.model_errors += 1
            self.last_model_error = f"{type(exc).__name__}: {exc}"
            log.warning("anomaly model failed on a batch: %s", self.last_model_error)
            return []
        if not found:
            return []
        times = _time_by_id(batch)
        out = []
        for m in found:
            ts = m.ts or max((times[e] for e in m.event_ids if e in times), default=None) or datetime.now(UTC)
            first = min((times[e] for e in m.event_ids if e in times), default=ts)
            out.append(Hit(
                detector=m.detector, rule_id=m.detector, entity=m.entity, severity=m.severity,
                title=m.title or f"Anomalous activity ({m.detector})", why=m.why,
                event_ids=tuple(m.event_ids),
                ts=ts, first_ts=first, score=m.score, host=m.host, category=m.category,
                model_version=m.model_version,
            ))
        return out

    # -- storage -----------------------------------------------------------------------------------
    def apply(self, con: Any, updates: Sequence[AlertUpdate]) -> list[AlertUpdate]:
        """Upsert `updates` into `alerts` (inside the caller's transaction if any).

        An alert the analyst closed meanwhile is left as it is; what this batch added to it starts a new
        alert instead. Returns what was actually written (for the UI outbox).
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
                con.execute(UPSERT_SQL)
            finally:
                con.unregister("_vigil_alert_rows")
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


def _from_us(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(us))


def _event_times(batch: pa.RecordBatch) -> pa.Array:
    names = batch.schema.names
    ts = batch.column(names.index("ts")) if "ts" in names else None
    rec = batch.column(names.index("received_at")) if "received_at" in names else None
    if ts is None and rec is None:
        return pa.nulls(batch.num_rows, pa.timestamp("us", tz="UTC"))
    if ts is None:
        return rec
    if rec is None:
        return ts
    return pc.coalesce(ts, rec)


def _latest_time(batch: pa.RecordBatch) -> datetime | None:
    value = pc.max(_event_times(batch)).as_py()
    return value if isinstance(value, datetime) else None


def _time_by_id(batch: pa.RecordBatch) -> dict[int, datetime]:
    ids = batch.column(batch.schema.names.index("event_id")).to_pylist()
    times = _event_times(batch).to_pylist()
    return {i: t for i, t in zip(ids, times, strict=True) if i is not None and t is not None}
