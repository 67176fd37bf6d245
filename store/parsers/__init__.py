"""Parsers turn one raw line into event fields. `ParserChain` is the only entry point the pipeline uses.

One chain per source: the parser that matched last is tried first (lines from one source share a format).
A line no parser understands is still returned, raw, with `parse_error` set; nothing here ever raises.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from store.parsers.registry import DEFAULT_ORDER, PARSERS, Parser
from store.sources.base import MAX_LINE_BYTES

__all__ = ["ParserChain", "PARSERS", "Parser"]


class ParserChain:
    """Per-source format detection with move-to-front, and the never-raise, never-drop guarantee."""

    def __init__(self, hint: str | None = None, order: list[str] | None = None) -> None:
        names = list(order or DEFAULT_ORDER)
        if hint and hint in PARSERS:
            names.remove(hint) if hint in names else None
            names.insert(0, hint)
        self._parsers: list[Parser] = [PARSERS[n] for n in names]

    def parse(self, line: bytes, received_at: datetime) -> dict[str, Any]:
        """Return event fields for `line` (keys from store.schema, minus ids, source and received_at)."""
        problems: list[str] = []
        raw_bytes: bytes | None = None
        if len(line) > MAX_LINE_BYTES:
            line = line[:MAX_LINE_BYTES]
            problems.append(f"line cut at {MAX_LINE_BYTES} bytes")
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            text = line.decode("utf-8", "replace")
            raw_bytes = line
            problems.append("invalid UTF-8 (original bytes kept in raw_bytes)")
        if text.endswith("\r"):
            text = text[:-1]
        event: dict[str, Any] | None = None
        parsers = self._parsers
        for i, parser in enumerate(parsers):
            try:
                event = parser.parse(text, received_at)
            except Exception as exc:  # a parser bug must never lose a line
                problems.append(f"{parser.name} parser failed: {type(exc).__name__}: {exc}")
                event = None
            if event is not None:
                if i:
                    parsers.insert(0, parsers.pop(i))
                event.setdefault("format", parser.name)
                break
        if event is None:
            event = {"message": text, "format": None}
            problems.append("unrecognised format; stored raw")
        event["raw"] = text
        if raw_bytes is not None:
            event["raw_bytes"] = raw_bytes
        if problems:
            prior = event.get("parse_error")
            event["parse_error"] = "; ".join(([prior] if prior else []) + problems)
        return event
