"""Sessions keyed by an id in the message — HDFS blocks (`blk_-?\\d+`), request or job ids — scored when they close.

Lines are grouped by the first match of `id_pattern` in their message; a session closes when no line has named it
for `idle_s` of event time (or at the end of a replay). The first `learn_sessions` closed sessions are the
baseline: which templates sessions use, and an IsolationForest over their count vectors (scikit-learn → ONNX →
onnxruntime, as the other models). After that each closed session is flagged when it uses a template that is
rare or absent in the baseline (fewer than `rare_share` of baseline sessions), or when its count vector scores at
or above `level`. Nothing learns from labels. Off unless `[detectors.sessions] id_pattern` is set.

Open sessions live in memory: after a restart, a session that was open is scored from its remaining lines.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detectors.alerts import Hit
from detectors.features import WINDOW_KIND, EventColumns, FeatureVocabulary, window_features
from store.schema import SEVERITIES

log = logging.getLogger(__name__)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
RULE_ID = "session.anomalous"
EVIDENCE = 200


@dataclass
class SessionConfig:
    id_pattern: str = r"blk_-?\d+"
    learn_sessions: int = 2000
    idle_s: float = 3600.0
    rare_share: float = 0.02
    level: str = "high"
    severity: str = "medium"  # of the alert a flagged session raises
    max_open: int = 200_000


@dataclass
class Session:
    key: str
    first_us: int
    last_us: int
    templates: list[int] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    eids: list[int] = field(default_factory=list)
    host: str | None = None


@dataclass
class Verdict:
    session: Session
    flagged: bool
    rare: bool
    model_level: int  # severity index of the count-vector model, -1 below low
    why: str


class SessionModel:
    """The baseline learnt from closed sessions: template usage and the count-vector outlier model."""

    def __init__(self, sessions: list[Session], rare_share: float, level: str, model_dir: Path | None = None) -> None:
        from detectors.models.artifact import LoadedModel, model_path, write_model
        from detectors.models.families import train_family
        from detectors.models.severity import SeverityLevels

        self.rare_share = rare_share
        self.level = SEVERITIES.index(level)
        keys, cols = _columns(sessions)
        self.vocab = FeatureVocabulary.build(cols.template_ids, kind=WINDOW_KIND, top_k=64)
        W = window_features(keys, cols, self.vocab)
        counts = W.features[:, 6:]
        used = (counts > 0).mean(axis=0)
        self.rare_cols = used < rare_share
        self.rare_cols[-1] = True  # templates outside the top-64 columns are rare by construction
        rare_rows = (counts[:, self.rare_cols] > 0).any(axis=1)
        clean = W.features[~rare_rows]  # sessions with rare shapes stay out of the outlier model's normal
        out = model_dir or Path(tempfile.mkdtemp(prefix="vigil-sessions-"))
        path = write_model(train_family("iforest", clean), self.vocab, clean, model_path(out, "iforest", WINDOW_KIND))
        self.model = LoadedModel(path, SeverityLevels())
        self.baseline = len(sessions)

    def judge(self, sessions: list[Session]) -> list[Verdict]:
        if not sessions:
            return []
        keys, cols = _columns(sessions)
        W = window_features(keys, cols, self.vocab)
        by_key = {s.key: s for s in sessions}
        counts = W.features[:, 6:]
        rare = (counts[:, self.rare_cols] > 0).any(axis=1) | (W.features[:, 2] > 0)
        sev = self.model.score(W.features).severity
        out = []
        for i, key in enumerate(W.keys):
            reasons = []
            if W.unseen[i]:
                reasons.append(f"templates never seen in the {self.baseline} baseline sessions: "
                               f"{', '.join(map(str, W.unseen[i][:5]))}")
            elif rare[i]:
                reasons.append(f"a template used by fewer than {self.rare_share:.1%} of baseline sessions")
            if sev[i] >= self.level:
                reasons.append(f"count vector unusual ({SEVERITIES[int(sev[i])]} on the session model)")
            out.append(Verdict(by_key[key], bool(rare[i] or sev[i] >= self.level), bool(rare[i]), int(sev[i]),
                               "; ".join(reasons)))
        return out


def _columns(sessions: list[Session]) -> tuple[np.ndarray, EventColumns]:
    keys = np.concatenate([np.full(len(s.templates), s.key, dtype=object) for s in sessions])
    tids = np.concatenate([np.asarray(s.templates, np.int64) for s in sessions])
    lengths = np.concatenate([np.asarray(s.lengths, np.int64) for s in sessions])
    n = len(tids)
    return keys, EventColumns(tids, lengths, np.zeros(n, np.int64), np.zeros(n, np.float64))


class SessionDetector:
    """Folds batches into sessions; returns hits for flagged sessions as they close."""

    def __init__(self, config: SessionConfig, model_dir: Path | None = None) -> None:
        self.config = config
        self.model_dir = model_dir
        self.open: dict[str, Session] = {}
        self.learning: list[Session] = []
        self.model: SessionModel | None = None
        self.watermark_us = 0

    def add(self, batch: pa.RecordBatch) -> list[Hit]:
        names = batch.schema.names
        if batch.num_rows == 0 or "message" not in names:
            return []
        ids = pc.extract_regex(pc.fill_null(batch.column(names.index("message")), ""),
                               f"(?P<s>{self.config.id_pattern})")
        has = pc.is_valid(ids)
        if not pc.any(has).as_py():
            return self._close_idle()
        rows = pc.indices_nonzero(has)
        keys = pc.struct_field(ids.take(rows), [0]).to_pylist()
        from detectors.rules.fields import event_times_us

        times = event_times_us(batch)[rows.to_numpy()].tolist()
        tids = pc.fill_null(batch.column(names.index("template_id")), -1).take(rows).to_pylist() \
            if "template_id" in names else [-1] * len(keys)
        lengths = pc.fill_null(pc.utf8_length(batch.column(names.index("message"))), 0).take(rows).to_pylist()
        eids = batch.column(names.index("event_id")).take(rows).to_pylist()
        hosts = batch.column(names.index("host")).take(rows).to_pylist() if "host" in names else [None] * len(keys)
        for key, t, tid, ln, eid, host in zip(keys, times, tids, lengths, eids, hosts, strict=True):
            s = self.open.get(key)
            if s is None:
                s = self.open[key] = Session(key, t, t, host=host)
            s.last_us = max(s.last_us, t)
            s.templates.append(tid)
            s.lengths.append(ln)
            if len(s.eids) < EVIDENCE:
                s.eids.append(eid)
        self.watermark_us = max(self.watermark_us, max(times))
        return self._close_idle()

    def _close_idle(self) -> list[Hit]:
        horizon = self.watermark_us - int(self.config.idle_s * 1_000_000)
        done = [k for k, s in self.open.items() if s.last_us < horizon]
        if len(self.open) - len(done) > self.config.max_open:  # bounded: the oldest open sessions close early
            rest = sorted((s.last_us, k) for k, s in self.open.items() if s.last_us >= horizon)
            done += [k for _, k in rest[: len(self.open) - len(done) - self.config.max_open]]
        return self._close([self.open.pop(k) for k in done])

    def flush(self) -> list[Hit]:
        """Close every open session (the end of a replay)."""
        sessions = list(self.open.values())
        self.open.clear()
        return self._close(sessions)

    def _close(self, sessions: list[Session]) -> list[Hit]:
        if not sessions:
            return []
        sessions.sort(key=lambda s: s.first_us)
        if self.model is None:
            take = self.config.learn_sessions - len(self.learning)
            self.learning.extend(sessions[:take])
            sessions = sessions[take:]
            if len(self.learning) >= self.config.learn_sessions:
                self.model = SessionModel(self.learning, self.config.rare_share, self.config.level, self.model_dir)
                log.info("session model trained on %d sessions", len(self.learning))
                self.learning = []
        if self.model is None or not sessions:
            return []
        return [self._hit(v) for v in self.model.judge(sessions) if v.flagged]

    def _hit(self, v: Verdict) -> Hit:
        s = v.session
        return Hit(detector="session", rule_id=RULE_ID, entity=f"session={s.key}", severity=self.config.severity,
                   title="Unusual session", why=f"session {s.key} ({len(s.templates)} lines): {v.why}",
                   event_ids=tuple(s.eids), ts=_EPOCH + timedelta(microseconds=s.last_us),
                   first_ts=_EPOCH + timedelta(microseconds=s.first_us), host=s.host, seq=s.eids[0] if s.eids else 0)

    def state(self) -> dict[str, Any]:
        return {"open": len(self.open), "learning": len(self.learning) if self.model is None else None,
                "learn_sessions": self.config.learn_sessions, "trained": self.model is not None}
