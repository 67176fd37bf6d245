"""Imports every service family module so their extractors register (one line per family)."""
