"""Parsers turn one raw line into event fields. `ParserChain` is the only entry point the pipeline uses.

One chain per source: the parser that matched last is tried first (lines from one source share a format).
A line no parser understands is still returned, raw, with `parse_error` set; nothing here ever raises.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from store.parsers.devices import device_event
from store.parsers.normalise import normalise_event
from store.parsers.registry import ALIASES, DEFAULT_ORDER, FACTORIES, PARSERS, Parser, resolve
from store.sources.base import MAX_LINE_BYTES

__all__ = ["ALIASES", "DEFAULT_ORDER", "FACTORIES", "PARSERS", "Parser", "ParserChain", "resolve"]

log = logging.getLogger(__name__)
_CUT = f"line cut at {MAX_LINE_BYTES} bytes"
_BAD_UTF8 = "invalid UTF-8 (original bytes kept in raw_bytes)"


class ParserChain:
    """Per-source format detection with move-to-front, and the never-raise, never-drop guarantee.

    `hint` (a parser name or alias such as "rfc5424", "apache", "wazuh") is tried first. A fallback parser
    (plain) is never moved ahead of the specific ones, or it would shadow them for the rest of the source.
    """

    def __init__(self, hint: str | None = None, order: list[str] | None = None, source: str | None = None) -> None:
        names = [n for n in (resolve(x) for x in (order or DEFAULT_ORDER)) if n]
        # An unknown hint must not stop ingestion (chains are built on the ingest thread): it is ignored,
        # logged once, and kept in `unknown_hint`. Config validation should call `resolve()` up front.
        self.unknown_hint: str | None = None
        if hint:
            h = resolve(hint)
            if h is None:
                self.unknown_hint = hint
                log.warning("unknown parser hint %r ignored; known: %s", hint, ", ".join(sorted(PARSERS)))
            else:
                if h in names:
                    names.remove(h)
                names.insert(0, h)
        self._parsers: list[Parser] = [FACTORIES[n]() for n in dict.fromkeys(names)]
        if source:
            # Parsers that read a header (Zeek, flow CSV) learn their source: its file name, a sidecar schema.
            for p in self._parsers:
                bind = getattr(p, "bind_source", None)
                if bind is not None:
                    try:
                        bind(source)
                    except Exception:  # a source we cannot inspect still parses, header by header
                        log.exception("parser %s could not inspect source %s", p.name, source)
        self._fallback = [bool(getattr(p, "fallback", False)) for p in self._parsers]

    @property
    def order(self) -> list[str]:
        """Parser names in the order the next line will try them."""
        return [p.name for p in self._parsers]

    def parse(self, line: bytes, received_at: datetime) -> dict[str, Any]:
        """Return event fields for `line` (keys from store.schema, minus ids, source and received_at)."""
        problems: list[str] | None = None
        raw_bytes: bytes | None = None
        if len(line) > MAX_LINE_BYTES:
            line = line[:MAX_LINE_BYTES]
            problems = [_CUT]
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            text = line.decode("utf-8", "replace")
            raw_bytes = line
            problems = (problems or []) + [_BAD_UTF8]
        if text and text[-1] == "\r":
            text = text[:-1]
        event: dict[str, Any] | None = None
        parsers = self._parsers
        for i, parser in enumerate(parsers):
            try:
                event = parser.parse(text, received_at)
            except Exception as exc:  # a parser bug must never lose a line
                failed = f"{parser.name} parser failed: {type(exc).__name__}: {exc}"[:300]
                problems = (problems or []) + [failed]
                event = None
            if event is not None:
                if i and not self._fallback[i]:
                    parsers.insert(0, parsers.pop(i))
                    self._fallback.insert(0, self._fallback.pop(i))
                if "format" not in event:
                    event["format"] = parser.name
                break
        if event is None:
            event = {"message": text, "format": None}
            problems = (problems or []) + ["unrecognised format; stored raw"]
        if event.get("action") is None:
            device_event(event)
        normalise_event(event)
        event["raw"] = text
        if raw_bytes is not None:
            event["raw_bytes"] = raw_bytes
        if problems:
            prior = event.get("parse_error")
            event["parse_error"] = "; ".join(([prior] if prior else []) + problems)
        return event
