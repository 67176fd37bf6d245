"""Vigil store: DuckDB event store, sources, parsers, checkpoints and export. Never imports Textual."""
