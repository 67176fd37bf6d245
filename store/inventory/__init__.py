"""The passive OT asset inventory: who serves and who commands which industrial protocol, learned from the traffic
the sensors log (store.inventory.model), kept in DuckDB (store.inventory.storage), updated as a pipeline enricher
that also marks each event with what is new (store.inventory.enricher)."""

from store.inventory.config import InventoryConfig
from store.inventory.enricher import AssetInventory
from store.inventory.storage import INVENTORY_MIGRATIONS

__all__ = ["INVENTORY_MIGRATIONS", "AssetInventory", "InventoryConfig"]
