"""Application log files that are neither syslog nor web access logs: the self-hosted applications' own formats
(store/parsers/webapps) and logfmt lines, tried before the generic parsers because several of these shapes
would otherwise be misread as syslog (a .NET `2023-04-23 22:07:05.311 -05:00 [WRN] …` line reads as a tag
"-05"). Returns None quickly for everything else: the first character picks the few shapes worth trying.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from store.parsers.webapps.lines import parse_app_line, strip_runner_prefix
from store.parsers.webapps.logfmt import parse_logfmt

# Lines that start like this belong to other parsers (JSON, syslog PRI, CEF/LEEF).
_NOT_OURS = frozenset("{<")


class AppLogParser:
    """Self-hosted application logs and logfmt; see the module doc."""

    name = "applog"

    def parse(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        if not text or text[0] in _NOT_OURS:
            return None
        ev = parse_app_line(text, received_at)
        if ev is None and "=" in text:
            ev = parse_logfmt(text, received_at)
            if ev is None and "| " in text:
                inner = strip_runner_prefix(text)
                if inner is not None:
                    ev = parse_logfmt(inner[0], received_at)
        if ev is not None:
            ev.setdefault("format", self.name)
        return ev
