"""The set of known line formats and the default order a new source tries them in."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Protocol


class Parser(Protocol):
    name: str

    def parse(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        """Event fields if this parser understands `text`, else None. May set `parse_error` for a line it
        recognises but cannot fully read (e.g. truncated JSON)."""
        ...


class PlainParser:
    """Fallback for any line that has a leading ISO-8601 timestamp; everything else is unrecognised."""

    name = "plain"
    _iso = re.compile(r"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)\s+(.*)$")

    def parse(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        m = self._iso.match(text)
        if not m:
            return None
        try:
            ts = datetime.fromisoformat(m.group(1).replace("Z", "+00:00"))
        except ValueError:
            return None
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=received_at.tzinfo)
        return {"ts": ts, "message": m.group(2)}


PARSERS: dict[str, Parser] = {"plain": PlainParser()}
DEFAULT_ORDER: list[str] = ["plain"]
