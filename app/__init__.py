"""Vigil: engine wiring, CLI, configuration and the Textual UI."""
