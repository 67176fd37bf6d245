"""Imports every service family module so their extractors register (one line per family)."""
from store.parsers.services import web  # noqa: F401
