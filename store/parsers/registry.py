"""The set of known line formats, their lookup names, and the order a new source tries them in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from store.parsers.access import AccessLogParser
from store.parsers.applog import AppLogParser, LogfmtParser
from store.parsers.auditd import AuditdParser
from store.parsers.cefleef import CefLeefParser
from store.parsers.dblog import DatabaseLogParser
from store.parsers.eve import EveParser
from store.parsers.flow_csv import FlowCsvParser
from store.parsers.fortigate import FortiGateParser
from store.parsers.ftplog import FtpLogParser
from store.parsers.iis import IisParser
from store.parsers.jsonl import JsonLinesParser
from store.parsers.k8saudit import KubernetesAuditParser
from store.parsers.maillog import MailLogParser
from store.parsers.monolog import MonologParser
from store.parsers.netlog import NetServiceLogParser
from store.parsers.panos import PanOsParser
from store.parsers.plain import PlainParser
from store.parsers.syslog import SyslogParser
from store.parsers.voiplog import VoipLogParser
from store.parsers.weberror import WebErrorParser
from store.parsers.webjson import WebJsonParser
from store.parsers.webproxy import WebProxyParser
from store.parsers.winevent import WindowsEventXmlParser
from store.parsers.zeek import ZeekParser


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
    "weberror": WebErrorParser,
    "webproxy": WebProxyParser,
    "iis": IisParser,
    "webjson": WebJsonParser,
    "monolog": MonologParser,
    "json": lambda: JsonLinesParser("json"),
    "wazuh": lambda: JsonLinesParser("wazuh", profile="wazuh"),
    "zabbix": lambda: JsonLinesParser("zabbix", profile="zabbix"),
    "journal": lambda: JsonLinesParser("journal", profile="journal"),
    "cefleef": CefLeefParser,
    "logfmt": LogfmtParser,
    "plain": PlainParser,
    "dblog": DatabaseLogParser,
    "ftplog": FtpLogParser,
    "voiplog": VoipLogParser,
    "maillog": MailLogParser,
    "netlog": NetServiceLogParser,
    "fortigate": FortiGateParser,
    "panos": PanOsParser,
    "winevent": WindowsEventXmlParser,
    "k8saudit": KubernetesAuditParser,
    "auditd": AuditdParser,
}
# Industrial network sensors: Zeek logs (TSV/JSON), Suricata EVE, flow-probe CSV exports.
FACTORIES.update({"zeek": ZeekParser, "suricata": EveParser, "flowcsv": FlowCsvParser})
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
    "named": "netlog", "bind": "netlog", "bind9": "netlog", "openvpn": "netlog", "endlessh": "netlog",
    "fortinet": "fortigate", "fortios": "fortigate", "palo-alto": "panos", "paloalto": "panos",
    "palo-alto-threat": "panos", "wineventlog": "winevent", "windows": "winevent", "evtx-xml": "winevent",
    "k8s-audit": "k8saudit", "kubernetes": "k8saudit", "audit": "auditd", "linux-audit": "auditd",
    "journald": "journal", "journalctl": "journal", "systemd-journal": "journal",
    "nginx-error": "weberror", "apache-error": "weberror", "litespeed": "weberror", "modsecurity": "weberror",
    "caddy": "webjson", "traefik": "webjson", "aws-alb": "webproxy", "cloudfront": "webproxy",
    "nginx-proxy-manager": "webproxy", "npmplus": "webproxy", "zoraxy": "webproxy", "magento": "monolog", "w3c": "iis",
}
ALIASES.update({"eve": "suricata", "suricata-eve": "suricata", "bro": "zeek", "ipfix": "flowcsv", "mms": "flowcsv"})
# Generic JSON auto-detects the Wazuh, Zabbix and journal profiles, so those are only used when hinted.
# Database logs and applications' own log lines come before syslog: each claims only its own anchored shapes, which
# the lenient syslog header would misread (SQL Server's ERRORLOG, PostgreSQL's `%t:%r:` prefix, .NET's
# `… -05:00 [WRN]`) as syslog lines with nonsense program names. Service log files (FTP, VoIP, mail) come before
# generic JSON and plain text; the generic key=value parser comes late, so a specific key=value parser wins.
# Web formats sit right after the access log: each answers None at its first character or key test for other
# lines, and webjson must see Caddy/Traefik objects before the generic JSON mapping does.
# Network services' own files (Endlessh, BIND, OpenVPN) go before syslog, whose lenient header would read
# `… ACCEPT host=…` as a program name; they claim a line only when the service's reader knows the message.
# FortiGate's `date=… time=…` records and PAN-OS CSV records (bare or after a syslog header, whose CSV the syslog
# reader would split at the time's colon) come before syslog and logfmt for the same reason. Windows event XML and
# Kubernetes audit records answer None at their first characters for any other line, as do bare Linux audit
# records (`type=…`/`node=…`), which logfmt would otherwise read as anonymous key=value pairs.
DEFAULT_ORDER: list[str] = ["dblog", "netlog", "fortigate", "panos", "winevent", "k8saudit", "auditd", "applog",
                            "syslog", "access", "maillog", "weberror", "webproxy", "iis", "webjson", "monolog",
                            "ftplog", "voiplog", "json", "cefleef", "logfmt", "plain"]
# Sensor formats go before generic JSON (their records are JSON too) and claim nothing that is not theirs.
DEFAULT_ORDER[DEFAULT_ORDER.index("json"):DEFAULT_ORDER.index("json")] = ["zeek", "suricata", "flowcsv"]


def resolve(name: str) -> str | None:
    """Canonical parser name for a hint, or None if unknown."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    return key if key in PARSERS else None
