"""The set of known line formats, their lookup names, and the order a new source tries them in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from store.parsers.access import AccessLogParser
from store.parsers.cefleef import CefLeefParser
from store.parsers.iis import IisParser
from store.parsers.jsonl import JsonLinesParser
from store.parsers.monolog import MonologParser
from store.parsers.plain import PlainParser
from store.parsers.syslog import SyslogParser
from store.parsers.weberror import WebErrorParser
from store.parsers.webjson import WebJsonParser
from store.parsers.webproxy import WebProxyParser


class Parser(Protocol):
    name: str

    def parse(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        """Event fields if this parser understands `text`, else None. May set `parse_error` for a line it
        recognises but cannot fully read (e.g. truncated JSON). Must never raise on any `str`."""
        ...


# Each chain builds its own instances (parsers keep small per-source caches); PARSERS holds one shared
# instance of each for one-off use by tools and tests.
FACTORIES: dict[str, Callable[[], Parser]] = {
    "syslog": SyslogParser,
    "access": AccessLogParser,
    "weberror": WebErrorParser,
    "webproxy": WebProxyParser,
    "iis": IisParser,
    "webjson": WebJsonParser,
    "monolog": MonologParser,
    "json": lambda: JsonLinesParser("json"),
    "wazuh": lambda: JsonLinesParser("wazuh", profile="wazuh"),
    "zabbix": lambda: JsonLinesParser("zabbix", profile="zabbix"),
    "cefleef": CefLeefParser,
    "plain": PlainParser,
}
PARSERS: dict[str, Parser] = {name: make() for name, make in FACTORIES.items()}
# Other names a source config may use as its hint.
ALIASES: dict[str, str] = {
    "rfc5424": "syslog", "rfc3164": "syslog", "auth": "syslog", "sshd": "syslog",
    "apache": "access", "nginx": "access", "combined": "access", "common": "access",
    "jsonl": "json", "ndjson": "json", "cef": "cefleef", "leef": "cefleef",
    "nginx-error": "weberror", "apache-error": "weberror", "litespeed": "weberror", "modsecurity": "weberror",
    "caddy": "webjson", "traefik": "webjson", "aws-alb": "webproxy", "cloudfront": "webproxy",
    "nginx-proxy-manager": "webproxy", "npmplus": "webproxy", "zoraxy": "webproxy", "magento": "monolog", "w3c": "iis",
}
# Generic JSON auto-detects the Wazuh and Zabbix profiles, so those two are only used when hinted.
# Web formats sit between the access log and generic JSON: each answers None at its first character or key test
# for other lines, and webjson must see Caddy/Traefik objects before the generic JSON mapping does.
DEFAULT_ORDER: list[str] = ["syslog", "access", "weberror", "webproxy", "iis", "webjson", "monolog", "json",
                            "cefleef", "plain"]


def resolve(name: str) -> str | None:
    """Canonical parser name for a hint, or None if unknown."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    return key if key in PARSERS else None
