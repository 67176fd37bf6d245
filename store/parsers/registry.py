"""The set of known line formats, their lookup names, and the order a new source tries them in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from store.parsers.access import AccessLogParser
from store.parsers.applog import AppLogParser, LogfmtParser
from store.parsers.cefleef import CefLeefParser
from store.parsers.dblog import DatabaseLogParser
from store.parsers.ftplog import FtpLogParser
from store.parsers.jsonl import JsonLinesParser
from store.parsers.maillog import MailLogParser
from store.parsers.plain import PlainParser
from store.parsers.syslog import SyslogParser
from store.parsers.voiplog import VoipLogParser


class Parser(Protocol):
    name: str

    def parse(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        """Event fields if this parser understands `text`, else None. May set `parse_error` for a line it
        recognises but cannot fully read (e.g. truncated JSON). Must never raise on any `str`."""
        ...


# Each chain builds its own instances (parsers keep small per-source caches); PARSERS holds one shared
# instance of each for one-off use by tools and tests.
FACTORIES: dict[str, Callable[[], Parser]] = {
    "applog": AppLogParser,
    "syslog": SyslogParser,
    "access": AccessLogParser,
    "json": lambda: JsonLinesParser("json"),
    "wazuh": lambda: JsonLinesParser("wazuh", profile="wazuh"),
    "zabbix": lambda: JsonLinesParser("zabbix", profile="zabbix"),
    "cefleef": CefLeefParser,
    "logfmt": LogfmtParser,
    "plain": PlainParser,
    "dblog": DatabaseLogParser,
    "ftplog": FtpLogParser,
    "voiplog": VoipLogParser,
    "maillog": MailLogParser,
}
PARSERS: dict[str, Parser] = {name: make() for name, make in FACTORIES.items()}
# Other names a source config may use as its hint.
ALIASES: dict[str, str] = {
    "rfc5424": "syslog", "rfc3164": "syslog", "auth": "syslog", "sshd": "syslog",
    "apache": "access", "nginx": "access", "combined": "access", "common": "access",
    "jsonl": "json", "ndjson": "json", "cef": "cefleef", "leef": "cefleef",
    "webapp": "applog", "kv": "logfmt",
    "mysql": "dblog", "mariadb": "dblog", "postgres": "dblog", "postgresql": "dblog", "mssql": "dblog",
    "mongodb": "dblog", "couchdb": "dblog", "proftpd": "ftplog", "vsftpd": "ftplog", "sftpgo": "ftplog",
    "asterisk": "voiplog", "freeswitch": "voiplog", "exim": "maillog", "exchange": "maillog",
    "zimbra": "maillog",
}
# Generic JSON auto-detects the Wazuh and Zabbix profiles, so those two are only used when hinted.
# Database logs and applications' own log lines come before syslog: each claims only its own anchored shapes, which
# the lenient syslog header would misread (SQL Server's ERRORLOG, PostgreSQL's `%t:%r:` prefix, .NET's
# `… -05:00 [WRN]`) as syslog lines with nonsense program names. Service log files (FTP, VoIP, mail) come before
# generic JSON and plain text; the generic key=value parser comes late, so a specific key=value parser wins.
DEFAULT_ORDER: list[str] = ["dblog", "applog", "syslog", "access", "ftplog", "voiplog", "maillog", "json", "cefleef",
                            "logfmt", "plain"]


def resolve(name: str) -> str | None:
    """Canonical parser name for a hint, or None if unknown."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    return key if key in PARSERS else None
