"""Opening the store with every component's migrations (core, detectors, playbooks, forwarding)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from app.config import Config
from store.db import Migration, Store


def component_migrations() -> dict[str, Sequence[Migration]]:
    """Each component owns its tables; the store applies their migrations in order, recording versions."""
    from detectors.incidents import INCIDENT_MIGRATIONS
    from detectors.similar_alerts import SIMILAR_MIGRATIONS
    from detectors.storage import DETECTOR_MIGRATIONS
    from playbooks.storage import PLAYBOOK_MIGRATIONS
    from store.archive import ARCHIVE_MIGRATIONS
    from store.forward import FORWARD_MIGRATIONS
    from store.inventory import INVENTORY_MIGRATIONS

    return {
        "detectors": DETECTOR_MIGRATIONS,
        "incidents": INCIDENT_MIGRATIONS,
        "playbooks": PLAYBOOK_MIGRATIONS,
        "forward": FORWARD_MIGRATIONS,
        "archive": ARCHIVE_MIGRATIONS,
        "inventory": INVENTORY_MIGRATIONS,
        "similar": SIMILAR_MIGRATIONS,
    }


def open_store(path: str | Path | None, config: Config | None = None, *, read_only: bool = False,
               sealed: bool = False) -> Store:
    cfg = config.store if config else None
    return Store.open(
        path or (cfg.path if cfg and cfg.path else None),
        read_only=read_only,
        migrations=None if read_only else component_migrations(),
        memory_limit=cfg.memory_limit if cfg else None,
        threads=(cfg.threads or None) if cfg else None,
        sealed=sealed,
    )
