"""Opening the store with every component's migrations (core, detectors, playbooks, forwarding)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from app.config import Config
from store.db import Migration, Store


def component_migrations() -> dict[str, Sequence[Migration]]:
    import importlib

    found: dict[str, Sequence[Migration]] = {}
    # INTEGRATION: replace with direct imports once every component ships its migrations.
    for component, module, name in (
        ("detectors", "detectors.storage", "TEMPLATE_MIGRATIONS"),
        ("playbooks", "playbooks.storage", "PLAYBOOK_MIGRATIONS"),
        ("forward", "store.forward", "FORWARD_MIGRATIONS"),
        ("archive", "store.archive", "ARCHIVE_MIGRATIONS"),
    ):
        try:
            found[component] = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            pass
    return found


def open_store(path: str | Path | None, config: Config | None = None, *, read_only: bool = False) -> Store:
    cfg = config.store if config else None
    return Store.open(
        path or (cfg.path if cfg and cfg.path else None),
        read_only=read_only,
        migrations=None if read_only else component_migrations(),
        memory_limit=cfg.memory_limit if cfg else None,
        threads=(cfg.threads or None) if cfg else None,
    )
