"""Builds the engine's parts from configuration: sources (files, listeners, NATS) and detectors."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from store.schema import EVENT_SCHEMA
from store.sources.base import Source

if TYPE_CHECKING:
    from app.engine import Engine

log = logging.getLogger(__name__)


def build_sources(engine: Engine) -> list[Source]:
    cfg = engine.config.sources
    sources: list[Source] = []
    if cfg.watch:
        from store.sources.files import FileTailer

        sources.append(
            FileTailer(list(cfg.watch), engine.store.load_checkpoints(), poll_interval=cfg.poll_interval,
                       rotate_wait=cfg.rotate_wait, close_inactive=cfg.close_inactive)
        )
    if cfg.listen:
        from store.sources.listeners import open_listener

        lc = engine.config.listener
        defaults = {
            "rcvbuf": lc.udp_rcvbuf, "max_frame": lc.max_frame, "idle_timeout": lc.idle_timeout,
            "max_connections": lc.max_connections, "max_connections_per_ip": lc.max_connections_per_ip,
            "frame_timeout": lc.frame_timeout, "tls_cert": lc.tls.cert, "tls_key": lc.tls.key,
            "tls_ca": lc.tls.ca, "handshake_timeout": lc.tls.handshake_timeout,
        }
        sources.extend(open_listener(url, defaults) for url in cfg.listen)
    fwd = engine.config.forward
    if fwd.consume:  # central: land other sites' events from NATS JetStream
        from store.sources.nats_consumer import consumer_for_engine

        sources.append(consumer_for_engine(engine))
    if fwd.nats:  # site: publish the outbox to NATS JetStream (a pseudo-source, so start/stop/status apply)
        from store.forward import forwarder_for_engine

        sources.append(forwarder_for_engine(engine))
    return sources


def models_dir(engine: Engine) -> Path:
    cfg = engine.config.detectors
    return Path(cfg.models_dir) if cfg.models_dir else engine.store.path.parent / "models"


def build_detectors(engine: Engine) -> tuple[list[Any], Any]:
    """(enrichers, scorer): template mining fills `template_id` before each batch is written (new templates
    commit with the events that first used them), then the scorer runs rules, Sigma and the ONNX models."""
    cfg = engine.config.detectors
    if not cfg.enabled:
        return [], None
    import pyarrow as pa

    from detectors.models import BankConfig, ModelBank, SeverityLevels
    from detectors.scorer import Scorer, ScorerConfig
    from detectors.storage import load_templates, save_templates
    from detectors.templates import TemplateMiner

    miner = TemplateMiner()
    miner.load(load_templates(engine.store.cursor()))
    tid_index = EVENT_SCHEMA.get_field_index("template_id")
    tid_field = EVENT_SCHEMA.field("template_id")

    def mine_templates(batch: pa.RecordBatch) -> tuple[pa.RecordBatch, list[Any]]:
        tids = miner.assign_column(batch.column("message"))
        batch = batch.set_column(tid_index, tid_field, tids)
        new = miner.take_new()
        return batch, ([lambda con, rows=new: save_templates(con, rows)] if new else [])

    levels = SeverityLevels(*cfg.percentiles)
    bank = ModelBank(
        models_dir(engine),
        BankConfig(baseline_events=max(100, cfg.learning_events), levels=levels),
        template_text=miner.text,
    )
    engine.models = bank
    engine.templates = miner
    sigma_dirs = [Path(d) for d in cfg.sigma_dirs]
    scorer_cfg = ScorerConfig(window=timedelta(seconds=cfg.group_window_s))
    if sigma_dirs:
        scorer_cfg.sigma_dirs = [*scorer_cfg.sigma_dirs, *sigma_dirs]
    scorer = Scorer(scorer_cfg, models=bank)
    scorer.resume(engine.store.cursor())
    for path, reason in scorer.sigma_problems:
        engine.outbox.notice(f"Sigma rule not loaded: {path}: {reason}")
        log.warning("Sigma rule not loaded: %s: %s", path, reason)
    return [mine_templates], scorer
