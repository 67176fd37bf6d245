"""Application log files that are neither syslog nor web access logs.

- AppLogParser: the self-hosted applications' own line formats (store/parsers/webapps), tried first because
  several of these shapes would otherwise be misread as syslog (a .NET `2023-04-23 22:07:05.311 -05:00 [WRN] …`
  line reads as the tag "-05"); it claims only those anchored shapes and returns None quickly for everything
  else (the first character picks the few shapes worth trying).
- LogfmtParser: any `key=value …` line with a message (logrus, slog, Grafana, Authelia, …), tried late so that a
  specific parser for a key=value format (a firewall's, say) wins.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from store.parsers.webapps.lines import parse_app_line, strip_runner_prefix
from store.parsers.webapps.logfmt import parse_logfmt

# Lines that start like this belong to other parsers (JSON, syslog PRI, CEF/LEEF).
_NOT_OURS = frozenset("{<")


class AppLogParser:
    """Self-hosted application logs; see the module doc."""

    name = "applog"

    def parse(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        if not text or text[0] in _NOT_OURS:
            return None
        ev = parse_app_line(text, received_at)
        if ev is None and "=" in text and "| " in text:
            inner = strip_runner_prefix(text)  # `docker compose logs` of a logfmt application
            if inner is not None:
                ev = parse_logfmt(inner[0], received_at)
        if ev is not None:
            ev.setdefault("format", self.name)
        return ev


class LogfmtParser:
    """`key=value` lines with a message and a level or time; see store/parsers/webapps/logfmt.py."""

    name = "logfmt"

    def parse(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        if not text or text[0] in _NOT_OURS or "=" not in text:
            return None
        return parse_logfmt(text, received_at)
