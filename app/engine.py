"""The engine, and the one place that builds it: every part is created here and handed the parts it needs.

One line of log, top to bottom (the order `Engine.__init__` builds things in):

  source (file tailer · syslog listener · demo)      reads bytes, cuts lines, batches them    → pipeline.submit
  pipeline (store.pipeline)                          parses; builds an Arrow batch; event ids from `ids`
    └ enrichers: template miner (template_id),       fill columns, add writes committed with the batch
                 OT asset inventory (marks events,
                 asset rows), forwarder (NATS outbox rows)
  writer (store.writer)                              commits events + file checkpoints in ONE transaction
    └ on_commit: ids.settle · scorer hand-off · forwarder wake
  detection consumer (detectors.consumer)            events in id order, from the hand-off or read back;
    └ scorer: Sigma rules + correlations,            alerts + correlation windows + checkpoint committed in
              template novelty, anomaly models       ONE transaction (urgent lane of the writer)
    └ on_alerts: outbox (typed rows for the console) · response desk (severity routing, playbooks)
                 · alert embedder (similar past alerts, its own thread) · local API stream (app.api);
                 the last two join through `subscribe_alerts`

It runs the same way under the Textual console and headless (`vigil run --headless`, `vigil demo`, `vigil ingest`).
Everything that crosses to a UI goes through `Outbox` (thread-safe, drained in batches by the UI bridge).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from app.config import Config
from app.problems import Problem, engine_problems, write_health
from app.storage import open_store
from detectors.alerts import AlertSummary, AlertUpdate
from detectors.incidents import IncidentBook, IncidentSummary
from store.db import Store
from store.event_ids import EventIdAllocator
from store.pipeline import Enricher, IngestPipeline
from store.schema import EVENT_SCHEMA
from store.sources.base import LineBatch, Source
from store.writer import StoreWriter

log = logging.getLogger(__name__)

STOP_WAIT_S = 120.0  # longest wait for one engine thread to end at stop()


class Outbox:
    """Thread-safe hand-over from engine threads to whoever displays them; bounded, drops the oldest (counted)."""

    def __init__(self, maxlen: int = 20000) -> None:
        self._alerts: collections.OrderedDict[int, AlertSummary] = collections.OrderedDict()
        self._incidents: collections.OrderedDict[int, IncidentSummary] = collections.OrderedDict()
        self._maxlen = maxlen
        self._notices: collections.deque[str] = collections.deque(maxlen=200)
        self._lock = threading.Lock()
        self.dropped = 0

    def put_alerts(self, alerts: Sequence[AlertSummary]) -> None:
        with self._lock:
            for a in alerts:
                self._alerts.pop(a.alert_id, None)  # the latest state of an alert replaces an undrained one
                self._alerts[a.alert_id] = a
            while len(self._alerts) > self._maxlen:
                self._alerts.popitem(last=False)
                self.dropped += 1

    def put_incidents(self, incidents: Sequence[IncidentSummary]) -> None:
        with self._lock:
            for inc in incidents:
                self._incidents.pop(inc.incident_id, None)
                self._incidents[inc.incident_id] = inc
            while len(self._incidents) > self._maxlen:
                self._incidents.popitem(last=False)
                self.dropped += 1

    def drain_incidents(self) -> list[IncidentSummary]:
        with self._lock:
            out = list(self._incidents.values())
            self._incidents.clear()
        return out

    def notice(self, text: str) -> None:
        with self._lock:
            self._notices.append(text)

    def drain(self) -> tuple[list[AlertSummary], list[str]]:
        with self._lock:
            alerts, notices = list(self._alerts.values()), list(self._notices)
            self._alerts.clear()
            self._notices.clear()
        return alerts, notices


@dataclass
class EngineStatus:
    """A snapshot for status lines and the console's status bar."""

    events_total: int = 0
    events_per_s: float = 0.0
    lines_total: int = 0
    parse_errors: int = 0
    sources: list[dict[str, Any]] = field(default_factory=list)
    writer_backlog: int = 0
    pipeline_backlog: int = 0
    detect_lag_events: int = 0
    detect_lag_s: float = 0.0
    scorer: dict[str, Any] = field(default_factory=dict)
    store_path: str = ""
    store_bytes: int = 0
    alerts_total: int = 0
    last_error: str | None = None
    read_only: bool = False
    outbox_dropped: int = 0
    abandoned: dict[str, int] = field(default_factory=dict)  # source -> events received and never stored
    problems: list[Problem] = field(default_factory=list)  # everything not done, severe first (app.problems)


def models_dir(config: Config, store: Store) -> Path:
    cfg = config.detectors
    return Path(cfg.models_dir) if cfg.models_dir else store.path.parent / "models"


class Engine:
    """Owns every engine thread. start() → running; stop() → sources, pipeline, scorer, writer, store, in order."""

    def __init__(self, config: Config, *, db_path: str | Path | None = None, read_only: bool = False,
                 extra_sources: Sequence[Source] = (), respond: bool = True, playbook_config: Any = None,
                 catalog: Any = None, embed_alerts: bool = True) -> None:
        self.config = config
        self.read_only = read_only
        # Sealed: the console's SQL prompt (and any local API) reads through this process's one connection,
        # so DuckDB must refuse files and settings for the whole instance (those settings are not per cursor).
        self.store: Store = open_store(db_path or config.store.path or None, config, sealed=True)
        self.writer = StoreWriter(self.store)
        self.ids = EventIdAllocator(self._first_free_event_id())
        self.outbox = Outbox()
        self.sources: list[Source] = []
        self._extra_sources = list(extra_sources)
        self._rate_window: collections.deque[tuple[float, int]] = collections.deque(maxlen=20)
        self._started = False
        self._housekeeping_stop = threading.Event()
        self._housekeeping = threading.Thread(target=self._housekeep, name="vigil-housekeeping", daemon=True)
        self.alert_handoff_errors = 0
        self.last_alert_handoff_error: str | None = None
        self.rule_problems: list[tuple[str, str]] = []

        enrichers: list[Enricher] = []
        self.templates: Any = None
        self.models: Any = None
        self.scorer: Any = None
        self.detection: Any = None
        if config.detectors.enabled:
            self.templates = self._template_miner()
            enrichers.append(self._mine_templates)
        # The OT inventory marks events (new talker, criticality, …) before they are stored, scored or forwarded,
        # and commits its asset rows with them.
        self.assets = self._asset_inventory()
        enrichers.append(self.assets.enrich)
        self.forwarder: Any = None
        if config.forward.nats:  # site: publish events and alerts to NATS JetStream through a store outbox
            from store.forward import EventForwarder
            from store.nats_link import NatsLinkConfig

            link = NatsLinkConfig.from_config(config.forward.nats, config.forward)
            self.forwarder = EventForwarder(link, self.store, self.writer, config.sources.site or None)
            enrichers.append(self.forwarder.enricher)
            self.writer.on_commit.append(self.forwarder.wake)
        self.pipeline = IngestPipeline(self.writer, ids=self.ids, enrichers=enrichers)
        self.ruleset: Any = None
        # Incidents fold the committed alerts of one attacker into one row (detectors.incidents).
        self.incidents = IncidentBook(self.store, self.writer,
                                      window=timedelta(seconds=max(1, config.detectors.incident_window_s)),
                                      techniques_of=self._rule_tags, on_change=[self.outbox.put_incidents])
        self.incidents.load(self.store.cursor())
        if config.detectors.enabled:
            self._build_detection()
        self.responses: Any = None
        self.playbook_session: Any = None
        if self.detection is not None and respond:  # one-shot `vigil ingest` stores and detects, nothing more
            from app.responses import ResponseDesk
            from playbooks.chat import PlaybookSession
            from playbooks.config import config_from_sections
            from playbooks.db import PlaybookDb

            pb_cfg = playbook_config or config_from_sections(config.llm, config.playbooks, sources=config.sources,
                                                             read_only=read_only)
            self.playbook_session = PlaybookSession(pb_cfg, PlaybookDb.via_writer(self.writer, self.store),
                                                    catalog=catalog)
            self.responses = ResponseDesk(self.playbook_session, self.outbox)
            self.responses.decided.append(self._response_of_incident)
            self.responses.label_of = self._incident_label
            self.detection.on_alerts.append(self._counted_handoff(self.responses.on_alerts))
        self.embedder: Any = None
        # Similar past alerts: vectors written off the scorer's path. A one-shot import leaves them to whoever
        # asks next (the console's embedder backfills on start, `vigil similar` embeds what is missing).
        if self.detection is not None and embed_alerts:
            from detectors.similar_alerts import AlertEmbedder

            self.embedder = AlertEmbedder(self.store, self.writer)
            self.subscribe_alerts(self.embedder.on_alert_updates)
        self.api: Any = None
        if config.api.listen:  # the local integration API: read-only JSON and a live stream, on its own thread
            from app.api.server import ApiServer

            self.api = ApiServer(config.api, store=self.store, status=self.status)
            self.subscribe_alerts(self.api.stream.on_alert_updates)

    def _first_free_event_id(self) -> int:
        """After the last stored event and after the scorer's checkpoint: ids of abandoned events are settled, so
        detection may have stepped over them, and an event numbered at or below its checkpoint is never scored."""
        top = self.store.max_id("events", "event_id")
        cur = self.store.cursor()
        try:
            row = cur.execute("SELECT max(last_event_id) FROM scorer_checkpoint").fetchone()
        except duckdb.Error:  # no detector tables (a store opened without their migrations)
            row = None
        finally:
            cur.close()
        return max(top, int(row[0]) if row and row[0] is not None else 0) + 1

    # -- incidents ----------------------------------------------------------------------------------------------
    def _rule_tags(self, rule_id: str) -> list[str]:
        if self.ruleset is None:  # alerts folded without a scorer here (another site's, a test's): load the rules
            from detectors.rules.ruleset import default_rule_dirs, load_rules

            cfg = self.config.detectors
            self.ruleset = load_rules([*default_rule_dirs(), *(Path(d) for d in cfg.sigma_dirs)], cfg.disabled_rules)
        rule = self.ruleset.by_id(rule_id)
        return list(rule.tags) if rule is not None else []

    def _response_of_incident(self, decision: Any) -> None:
        """The router's first accepted proposal for an alert becomes its incident's one response."""
        from playbooks.param_text import format_params

        accepted = next((p for p in decision.proposals if getattr(p, "accepted", False) and p.playbook_id), None)
        if accepted is not None:
            self.incidents.on_decision(decision.alert_id, decision.severity,
                                       f"{accepted.playbook_id} {format_params(accepted.params)}".strip())

    def _incident_label(self, alert_id: int) -> str:
        iid = self.incidents.incident_of(alert_id)
        return f"incident #{iid} (alert #{alert_id})" if iid is not None else f"alert #{alert_id}"

    # -- detection ----------------------------------------------------------------------------------------------
    def _template_miner(self) -> Any:
        from detectors.storage import load_templates
        from detectors.templates import TemplateMiner

        miner = TemplateMiner()
        miner.load(load_templates(self.store.cursor()))
        return miner

    def _asset_inventory(self) -> Any:
        from app.config import inventory_config
        from store.inventory import AssetInventory

        return AssetInventory.open(inventory_config(self.config), self.store.cursor())

    def end_learning(self, timeout: float = 30.0) -> None:
        """End the inventory's learning period now (after `vigil ingest --learn`, or from the console)."""
        from store.inventory.storage import save_state

        self.writer.call(partial(save_state, values=self.assets.end_learning()), timeout=timeout).result(timeout)

    _TID = EVENT_SCHEMA.get_field_index("template_id")

    def _mine_templates(self, batch: pa.RecordBatch) -> tuple[pa.RecordBatch, list[Any]]:
        """Fill template_id; new templates commit with the events that first used them."""
        from detectors.storage import save_templates

        tids = self.templates.assign_column(batch.column("message"))
        batch = batch.set_column(self._TID, EVENT_SCHEMA.field("template_id"), tids)
        new = self.templates.take_new()
        return batch, ([partial(_save_templates, save=save_templates, rows=new)] if new else [])

    def _build_detection(self) -> None:
        from detectors.consumer import DetectionConsumer
        from detectors.models import BankConfig, ModelBank, SeverityLevels
        from detectors.rules.ruleset import default_rule_dirs, load_rules
        from detectors.scorer import Scorer, ScorerConfig

        cfg = self.config.detectors
        rule_dirs = [*default_rule_dirs(), *(Path(d) for d in cfg.sigma_dirs)]
        from app.rules_cli import disabled_ids

        ruleset = self.ruleset = load_rules(rule_dirs, disabled_ids(cfg.disabled_rules))
        self.rule_problems = [(str(p), str(r)) for p, r in ruleset.problems]
        for path, reason in ruleset.problems:
            self.outbox.notice(f"Sigma rule not loaded: {path}: {reason}")
            log.warning("Sigma rule not loaded: %s: %s", path, reason)
        self.models = ModelBank(
            models_dir(self.config, self.store),
            BankConfig(baseline_events=max(100, cfg.learning_events), levels=SeverityLevels(*cfg.percentiles)),
            template_text=self.templates.text,
        )
        sessions = None
        if cfg.sessions.id_pattern:
            from detectors.sessions import SessionConfig

            s = cfg.sessions
            sessions = SessionConfig(id_pattern=s.id_pattern, learn_sessions=s.learn_sessions, idle_s=s.idle_s,
                                     rare_share=s.rare_share, level=s.level, severity=s.severity)
        scorer_cfg = ScorerConfig(window=timedelta(seconds=cfg.group_window_s), rule_dirs=rule_dirs,
                                  local_site=self.config.sources.site or None, sessions=sessions)
        self.scorer = Scorer(scorer_cfg, models=self.models, ruleset=ruleset)
        self.scorer.resume(self.store.cursor())
        self.detection = DetectionConsumer(self.scorer, self.store, self.writer, self.ids,
                                           on_alerts=[self._counted_handoff(self._to_outbox),
                                                      self._counted_handoff(self.incidents.on_alerts)])

    def _to_outbox(self, written: list[AlertUpdate]) -> None:
        # Rows are built here, on the scorer's thread, so the console's drain (on its event loop) only copies.
        self.outbox.put_alerts([u.summary_row() for u in written])

    def _counted_handoff(self, fn: Any) -> Any:
        """An alert consumer whose failure is counted and shown (the detection thread only logs it)."""
        def handoff(written: list[AlertUpdate]) -> None:
            try:
                fn(written)
            except Exception as exc:
                self.alert_handoff_errors += 1
                self.last_alert_handoff_error = f"{type(exc).__name__}: {exc}"[:500]
                raise
        return handoff

    def subscribe_alerts(self, callback: Callable[[list[AlertUpdate]], None]) -> bool:
        """Hand every batch of written alerts (new and changed, typed) to `callback` as well. It runs on the
        scorer's thread right after the commit, so it must only queue work, never block. False: detection is off."""
        if self.detection is None:
            return False
        self.detection.on_alerts.append(self._counted_handoff(callback))
        return True

    # -- sources --------------------------------------------------------------------------------------------------
    def _build_sources(self) -> list[Source]:
        cfg = self.config.sources
        sources: list[Source] = []
        if cfg.watch:
            from store.sources.files import FileTailer

            sources.append(FileTailer(list(cfg.watch), self.store.load_checkpoints(), poll_interval=cfg.poll_interval,
                                      rotate_wait=cfg.rotate_wait, close_inactive=cfg.close_inactive))
        if cfg.listen:
            from store.sources.listeners import open_listener

            lc = self.config.listener
            defaults = {
                "rcvbuf": lc.udp_rcvbuf, "max_frame": lc.max_frame, "idle_timeout": lc.idle_timeout,
                "max_connections": lc.max_connections, "max_connections_per_ip": lc.max_connections_per_ip,
                "frame_timeout": lc.frame_timeout, "tls_cert": lc.tls.cert, "tls_key": lc.tls.key,
                "tls_ca": lc.tls.ca, "handshake_timeout": lc.tls.handshake_timeout,
            }
            sources.extend(open_listener(url, defaults) for url in cfg.listen)
        fwd = self.config.forward
        if fwd.consume:  # central: land other sites' events from NATS JetStream (ids from the same sequence)
            from store.nats_link import NatsLinkConfig
            from store.sources.nats_consumer import NatsConsumerSource

            sources.append(NatsConsumerSource(NatsLinkConfig.from_config(fwd.consume, fwd), self.store,
                                              self.writer, ids=self.ids))
        if self.forwarder is not None:  # a pseudo-source, so start/stop/status apply
            sources.append(self.forwarder)
        return sources + self._extra_sources

    # -- lifecycle ------------------------------------------------------------------------------------------------
    def start(self) -> Engine:
        self.writer.start()
        self.pipeline.start()
        self.incidents.start()
        if self.detection is not None:
            self.detection.start()
        if self.responses is not None:
            self.responses.start()
        if self.embedder is not None:
            self.embedder.start()
        self._started = True
        try:
            self.sources = self._build_sources()
            for src in self.sources:
                src.start(self.submit)
            if self.api is not None:
                self.api.start()
        except BaseException:
            self.stop()  # a bad --listen/--forward URL must not leave threads and the store open
            raise
        write_health(self.store.path, [], running=True)
        self._housekeeping.start()
        return self

    def submit(self, batch: LineBatch) -> bool:
        return self.pipeline.submit(batch)

    def stop(self) -> None:
        if not self._started:
            self.store.close()
            return
        self._housekeeping_stop.set()
        if self.api is not None:  # first: no request may read a store that is closing
            self.api.stop()
        self.writer.begin_stop()  # a write failing now (a full disk) is given up, not retried through the stop
        if self._housekeeping.is_alive():
            self._housekeeping.join(30)  # it may be inside a writer call (retention): never past store.close
        for src in self.sources:
            try:
                src.stop()
            except Exception:
                log.exception("stopping %s failed", getattr(src, "name", src))
        self.pipeline.stop()
        # Every loop polls its stop event, so these joins are quick; the long limits only matter on a starved
        # machine, where waiting beats closing the store under a thread still inside DuckDB or onnxruntime
        # (the process would abort at exit).
        if self.detection is not None:
            self.detection.stop(timeout=STOP_WAIT_S)
        self.incidents.stop(timeout=STOP_WAIT_S)  # folds what detection handed over, before the writer stops
        if self.responses is not None:
            self.responses.stop(timeout=STOP_WAIT_S)
        if self.embedder is not None:
            self.embedder.stop()
        if self.models is not None:
            self.models.close(timeout=STOP_WAIT_S)
        self.writer.stop(timeout=STOP_WAIT_S)
        write_health(self.store.path, self.problems(), running=False)
        self.store.close()
        self._started = False

    def _housekeep(self) -> None:
        from store.retention import apply_retention

        next_retention = time.monotonic() + 60
        said: tuple[Any, ...] = ()
        next_health = 0.0
        while not self._housekeeping_stop.wait(1.0):
            self._rate_window.append((time.monotonic(), self.pipeline.stats.events))
            try:
                problems = self.problems()
            except Exception:  # a status read racing a shutdown: try again next second
                log.exception("collecting problems failed")
                problems = []
            key = tuple((p.key, p.count, p.detail) for p in problems)
            if key != said or time.monotonic() >= next_health:
                write_health(self.store.path, problems, running=True)  # for `vigil doctor`, another process
                said, next_health = key, time.monotonic() + 30
            if time.monotonic() >= next_retention:
                next_retention = time.monotonic() + 3600
                days, size_mb = self.config.store.retention_days, self.config.store.max_size_mb
                if days or size_mb:
                    path = self.store.path
                    self.writer.call(partial(apply_retention, db_path=path, days=days, max_size_mb=size_mb))

    # -- observation ----------------------------------------------------------------------------------------------
    def status(self) -> EngineStatus:
        st = self.pipeline.stats
        rate = 0.0
        if len(self._rate_window) >= 2:
            (t0, n0), (t1, n1) = self._rate_window[max(0, len(self._rate_window) - 6)], self._rate_window[-1]
            rate = (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0
        sources = []
        for src in self.sources:
            try:
                info = dict(src.status())
            except Exception as exc:
                info = {"error": str(exc)}
            info.setdefault("name", getattr(src, "name", type(src).__name__))
            sources.append(info)
        scorer = self._detection_status()
        lag_events, lag_s, alerts = 0, 0.0, 0
        if scorer:
            lag_events, lag_s, alerts = scorer["lag_events"], scorer["lag_seconds"], scorer["alerts"]
            try:
                scorer["models"] = self.models.state()
            except Exception as exc:
                scorer["models"] = {"mode": "error", "error": str(exc)}
        # Events landed straight from other sites (NATS) do not pass through the local pipeline.
        landed = sum(int(str(s.get("events") or 0)) for s in sources if s.get("kind") == "nats")
        return EngineStatus(
            events_total=st.events + landed, events_per_s=rate, lines_total=st.lines, parse_errors=st.parse_errors,
            sources=sources, writer_backlog=self.writer.backlog, pipeline_backlog=self.pipeline.backlog,
            detect_lag_events=lag_events, detect_lag_s=lag_s, scorer=scorer, store_path=str(self.store.path),
            store_bytes=self.store.size_bytes(), alerts_total=alerts, last_error=self.writer.stats.last_error,
            read_only=self.read_only, outbox_dropped=self.outbox.dropped,
            abandoned=self.pipeline.abandoned_by_source(),
            problems=engine_problems(self, scorer, self.outbox.dropped),
        )

    def _detection_status(self) -> dict[str, Any]:
        if self.detection is None:
            return {}
        scorer = self.detection.status()
        scorer["stopped"] = self.detection.stopped_on is not None
        scorer["rule_errors"] = self.scorer.rules.errors.count
        scorer["rule_error"] = self.scorer.rules.errors.last
        scorer["model_errors"] = self.scorer.model_errors
        scorer["model_error"] = self.scorer.last_model_error
        return scorer

    def problems(self) -> list[Problem]:
        """Everything that was not done, with counts and the last error (see app.problems)."""
        return engine_problems(self, self._detection_status(), self.outbox.dropped)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until everything submitted so far is parsed, committed and scored (ingest, tests)."""
        deadline = time.monotonic() + timeout
        if not self.pipeline.sync(timeout):
            return False
        if not self.writer.flush(timeout=max(0.1, deadline - time.monotonic())):
            return False
        if self.detection is not None:
            if not self.detection.wait_caught_up(max(0.1, deadline - time.monotonic())):
                return False
            # The consumer hands committed alerts on (outbox, incidents, responses) before it goes idle; incidents
            # are then written through the writer after the alerts they fold.
            if not self.detection.idle.wait(max(0.1, deadline - time.monotonic())):
                return False
            if not self.incidents.wait_idle(max(0.1, deadline - time.monotonic())):
                return False
            return self.writer.flush(timeout=max(0.1, deadline - time.monotonic()))
        return True


def _save_templates(con: Any, *, save: Any, rows: Any) -> None:
    save(con, rows)
