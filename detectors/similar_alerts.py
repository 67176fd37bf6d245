"""Similar past alerts: every alert's vector (detectors.alert_embedding) is kept in DuckDB, and the earlier
alerts nearest to one are found by cosine similarity inside DuckDB (`array_cosine_similarity`, built in: no
extension to download), with how each was closed (status, by whom) and which playbooks ran for it.

Vectors are written off the scorer's path: `AlertEmbedder` is a background thread fed alert ids by the engine
(and backfilling alerts that have none), and one-shot commands embed what is missing before they ask.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from detectors.alert_embedding import DIMS, EVIDENCE_ROWS, MODEL, alert_tokens, embed
from detectors.alerts import AlertUpdate

log = logging.getLogger(__name__)

SIMILAR_MIGRATIONS: list[tuple[int, str]] = [
    (1, "CREATE TABLE IF NOT EXISTS alert_embeddings ("
        " alert_id BIGINT PRIMARY KEY, model VARCHAR NOT NULL,"
        f" vec FLOAT[{DIMS}] NOT NULL, embedded_at TIMESTAMPTZ)"),
]
STATUS_WORDS = {"new": "still new", "acknowledged": "acknowledged", "resolved": "resolved",
                "false_positive": "marked false positive"}


@dataclass
class SimilarAlert:
    """An earlier alert like the one asked about, and what became of it."""

    alert_id: int
    score: float
    status: str
    status_by: str | None
    status_at: datetime | None
    rule_id: str | None
    title: str | None
    entity: str | None
    severity: str | None
    first_seen: datetime | None
    count: int
    playbooks: list[dict[str, Any]] = field(default_factory=list)  # playbook_id, kind, status, actor, finished_at

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("status_at", "first_seen"):
            d[key] = d[key].isoformat() if d[key] is not None else None
        for run in d["playbooks"]:
            if isinstance(run.get("finished_at"), datetime):
                run["finished_at"] = run["finished_at"].isoformat()
        return d

    def outcome(self) -> str:
        """"marked false positive by alice on 2025-11-21; playbook block_ip_nft ran (succeeded)"."""
        text = STATUS_WORDS.get(self.status, self.status)
        if self.status_by and self.status != "new":
            text += f" by {self.status_by}"
        if self.status_at is not None and self.status != "new":
            text += f" on {self.status_at.astimezone(UTC):%Y-%m-%d}"
        for run in self.playbooks:
            verb = "rolled back" if run.get("kind") == "rollback" else "ran"
            text += f"; playbook {run.get('playbook_id')} {verb} ({run.get('status')})"
        return text


# -- vectors ------------------------------------------------------------------------------------------------------
def _has_table(cur: Any, name: str) -> bool:
    # fetchall, not fetchone: a result left unfinished blocks the caller's next relation query on this cursor
    rows = cur.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]).fetchall()
    return bool(rows and rows[0][0])


def alert_vectors(cur: Any, alert_ids: Sequence[int]) -> tuple[list[int], np.ndarray]:
    """(ids found, vectors) computed from the store for these alerts (read-only)."""
    if not alert_ids:
        return [], np.zeros((0, DIMS), dtype=np.float32)
    alerts = cur.execute(
        "SELECT alert_id, rule_id, entity, detector, category, event_ids[1:?] FROM alerts "
        "WHERE alert_id IN (SELECT unnest(?::BIGINT[])) ORDER BY alert_id", [EVIDENCE_ROWS, list(alert_ids)]
    ).fetchall()
    wanted = sorted({int(e) for a in alerts for e in (a[5] or [])})
    template = "t.template" if _has_table(cur, "templates") else "NULL"
    join = "LEFT JOIN templates t ON t.template_id = e.template_id" if template != "NULL" else ""
    rows = cur.execute(
        f'SELECT e.event_id, {template}, e.message, e.service, e."action", e.outcome, e.app, e."user", e.host '
        f"FROM events e {join} WHERE e.event_id IN (SELECT unnest(?::BIGINT[]))", [wanted]
    ).fetchall() if wanted else []
    cols = ("event_id", "template", "message", "service", "action", "outcome", "app", "user", "host")
    by_id = {int(r[0]): dict(zip(cols, r, strict=True)) for r in rows}
    ids, tokens = [], []
    for aid, rule_id, entity, detector, category, eids in alerts:
        alert = {"rule_id": rule_id, "entity": entity, "detector": detector, "category": category}
        evidence = [by_id[int(e)] for e in (eids or []) if int(e) in by_id]
        ids.append(int(aid))
        tokens.append(alert_tokens(alert, evidence))
    return ids, embed(tokens)


def store_vectors(con: Any, ids: Sequence[int], vectors: np.ndarray) -> None:
    """Upsert (inside the caller's transaction, on the writer's connection)."""
    if not len(ids):
        return
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1), pa.float32())
    table = pa.table({"alert_id": pa.array(ids, pa.int64()),
                      "vec": pa.FixedSizeListArray.from_arrays(flat, DIMS)})
    con.register("_vigil_vectors", table)
    try:
        con.execute(f"INSERT OR REPLACE INTO alert_embeddings SELECT alert_id, ?, vec::FLOAT[{DIMS}], ? "
                    "FROM _vigil_vectors", [MODEL, datetime.now(UTC)])
    finally:
        con.unregister("_vigil_vectors")


def missing_ids(cur: Any, limit: int) -> list[int]:
    rows = cur.execute("SELECT a.alert_id FROM alerts a ANTI JOIN alert_embeddings e "
                       "ON e.alert_id = a.alert_id AND e.model = ? ORDER BY a.alert_id LIMIT ?",
                       [MODEL, limit]).fetchall()
    return [int(r[0]) for r in rows]


def embed_missing(con: Any, batch: int = 2000) -> int:
    """Embed every alert that has no vector yet (one-shot commands that own the store). Returns how many."""
    done = 0
    while ids := missing_ids(con, batch):
        found, vectors = alert_vectors(con, ids)
        con.execute("BEGIN")
        try:
            store_vectors(con, found, vectors)
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        done += len(found)
        if len(found) < len(ids):  # alerts vanished meanwhile (retention): do not spin on them
            break
    return done


# -- asking -------------------------------------------------------------------------------------------------------
_TOP = f"""
WITH top AS (
  SELECT alert_id, array_cosine_similarity(vec, ?::FLOAT[{DIMS}]) AS score
  FROM alert_embeddings WHERE model = ? AND alert_id < ?
  ORDER BY score DESC, alert_id DESC LIMIT ?)
SELECT top.alert_id, top.score, a.status, a.status_by, a.status_at, a.rule_id, a.title, a.entity, a.severity,
       a.first_seen, a."count"
FROM top JOIN alerts a ON a.alert_id = top.alert_id
WHERE top.score >= ?
ORDER BY top.score DESC, top.alert_id DESC
"""


def similar_to(cur: Any, alert_id: int, k: int = 5, min_score: float = 0.1) -> list[SimilarAlert] | None:
    """The `k` earlier alerts most like `alert_id`, best first; None when there is no such alert. Reads only:
    the asked alert's vector is computed on the spot when it has none stored yet."""
    earlier = cur.execute("SELECT count(*) FROM alert_embeddings WHERE alert_id < ? AND model = ?",
                          [alert_id, MODEL]).fetchall()
    if not earlier[0][0]:  # nothing to compare with: no need to embed (nor to import scikit-learn)
        exists = cur.execute("SELECT count(*) FROM alerts WHERE alert_id = ?", [alert_id]).fetchall()
        return [] if exists[0][0] else None
    stored = cur.execute("SELECT vec FROM alert_embeddings WHERE alert_id = ? AND model = ?",
                         [alert_id, MODEL]).fetchall()
    if stored:
        vector = [float(x) for x in stored[0][0]]
    else:
        ids, vectors = alert_vectors(cur, [alert_id])
        if not ids:
            return None
        vector = vectors[0].tolist()
    rows = cur.execute(_TOP, [vector, MODEL, alert_id, k, min_score]).fetchall()
    found = [SimilarAlert(alert_id=int(r[0]), score=round(float(r[1]), 4), status=r[2] or "new", status_by=r[3],
                          status_at=r[4], rule_id=r[5], title=r[6], entity=r[7], severity=r[8], first_seen=r[9],
                          count=int(r[10] or 0)) for r in rows]
    runs = playbook_runs(cur, [s.alert_id for s in found])
    for s in found:
        s.playbooks = runs.get(s.alert_id, [])
    return found


def playbook_runs(cur: Any, alert_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """Executions (and rollbacks) of playbooks proposed for these alerts, oldest first."""
    if not alert_ids or not (_has_table(cur, "playbook_executions") and _has_table(cur, "playbook_proposals")):
        return {}
    rows = cur.execute(
        "SELECT p.alert_id, p.playbook_id, x.kind, x.status, x.actor_id, x.finished_at "
        "FROM playbook_executions x JOIN playbook_proposals p ON p.proposal_id = x.proposal_id "
        "WHERE p.alert_id IN (SELECT unnest(?::BIGINT[])) ORDER BY x.started_at", [list(alert_ids)]
    ).fetchall()
    out: dict[int, list[dict[str, Any]]] = {}
    for aid, playbook, kind, status, actor, finished in rows:
        out.setdefault(int(aid), []).append({"playbook_id": playbook, "kind": kind, "status": status,
                                             "actor": actor, "finished_at": finished})
    return out


# -- the engine's background embedder --------------------------------------------------------------------------
class AlertEmbedder:
    """Embeds alerts the engine writes, on its own thread, through the single writer. The engine's hook
    (`on_alert_updates`, scorer thread) only records ids; vectors are computed here every `interval` seconds,
    and alerts without one (an older store, a stop before the last tick) are backfilled in bounded batches."""

    def __init__(self, store: Any, writer: Any, *, interval: float = 2.0, batch: int = 500) -> None:
        self._store = store
        self._writer = writer
        self._interval = interval
        self._batch = batch
        self._dirty: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vigil-embedder", daemon=True)
        self._backfilled = False
        self.embedded = 0
        self.last_error: str | None = None

    def on_alert_updates(self, updates: list[AlertUpdate]) -> None:
        # New alerts, and those whose first evidence lines (what the vector reads) were still arriving.
        ids = [u.alert_id for u in updates if u.previous_severity is None or u.count - u.new_count < EVIDENCE_ROWS]
        if ids:
            with self._lock:
                self._dirty.update(ids)

    def start(self) -> AlertEmbedder:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._tick()
            except Exception as exc:  # the store is closing or a query failed: say so, try again next tick
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("embedding alerts failed: %s", self.last_error)

    def _tick(self) -> None:
        with self._lock:
            pending = sorted(self._dirty)
            ids, self._dirty = pending[: self._batch], set(pending[self._batch:])
        cur = self._store.cursor()
        try:
            if not self._backfilled:
                backlog = missing_ids(cur, self._batch)
                self._backfilled = len(backlog) < self._batch
                ids = sorted(set(ids) | set(backlog))
            if not ids:
                return
            found, vectors = alert_vectors(cur, ids)
        finally:
            cur.close()
        self._writer.call(lambda con: store_vectors(con, found, vectors)).result(timeout=120)
        self.embedded += len(found)
