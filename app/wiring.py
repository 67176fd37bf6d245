"""Builds the engine's parts from configuration: sources (files, listeners, NATS) and detectors."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

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
            FileTailer(list(cfg.watch), engine.store.load_checkpoints(), poll_interval=cfg.poll_interval)
        )
    if cfg.listen:
        from store.sources.listeners import open_listener

        lc = engine.config.listener
        defaults = {
            "rcvbuf": lc.udp_rcvbuf, "max_frame": lc.max_frame, "idle_timeout": lc.idle_timeout,
            "max_connections": lc.max_connections, "tls_cert": lc.tls.cert, "tls_key": lc.tls.key,
            "tls_ca": lc.tls.ca, "handshake_timeout": lc.tls.handshake_timeout,
        }
        sources.extend(open_listener(url, defaults) for url in cfg.listen)
    return sources


def build_detectors(engine: Engine) -> tuple[list[Any], Any]:
    """(enrichers, scorer). INTEGRATION: filled in as the detectors land."""
    return [], None
