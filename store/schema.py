"""The one definition of Vigil's event and alert shapes: Arrow schema, DuckDB DDL and column order.

Every producer (parsers, listeners, the scorer) and every consumer (writer, UI, export) imports it from here,
so a column is added in exactly one place. Extend, never rename: the names are a contract (DESIGN.md).
"""

from __future__ import annotations

from typing import Final

import pyarrow as pa

UTC_TS = pa.timestamp("us", tz="UTC")

# (name, arrow type, duckdb type). Order is the physical column order of the `events` table.
EVENT_COLUMNS: Final[list[tuple[str, pa.DataType, str]]] = [
    ("event_id", pa.int64(), "BIGINT NOT NULL"),
    ("ts", UTC_TS, "TIMESTAMPTZ"),
    ("received_at", UTC_TS, "TIMESTAMPTZ NOT NULL"),
    ("source", pa.string(), "VARCHAR NOT NULL"),
    ("host", pa.string(), "VARCHAR"),
    ("app", pa.string(), "VARCHAR"),
    ("pid", pa.int64(), "BIGINT"),
    ("facility", pa.int8(), "TINYINT"),
    ("severity", pa.int8(), "TINYINT"),
    ("message", pa.string(), "VARCHAR"),
    ("template_id", pa.int64(), "BIGINT"),
    ("src_ip", pa.string(), "VARCHAR"),
    ("src_port", pa.int32(), "INTEGER"),
    ("dst_ip", pa.string(), "VARCHAR"),
    ("user", pa.string(), "VARCHAR"),
    ("category", pa.string(), "VARCHAR"),
    ("outcome", pa.string(), "VARCHAR"),
    ("raw", pa.string(), "VARCHAR"),
    ("parse_error", pa.string(), "VARCHAR"),
    ("fields", pa.string(), "JSON"),
    # Extensions beyond the design's contract:
    ("format", pa.string(), "VARCHAR"),  # which parser understood the line (rfc5424, sshd, access, …)
    ("peer", pa.string(), "VARCHAR"),  # network peer address for listener sources
    ("site", pa.string(), "VARCHAR"),  # site id when events arrive from another Vigil
    ("raw_bytes", pa.binary(), "BLOB"),  # original bytes, only when they were not valid UTF-8
    # Normalised by the parsers so one detection can cover every service (Sigma field names `service`, `action`):
    ("service", pa.string(), "VARCHAR"),  # the software that wrote the line: sshd, postfix, dovecot, nginx, …
    ("action", pa.string(), "VARCHAR"),  # what happened: login_failed, login, invalid_user, http_request, …
]

EVENT_FIELD_NAMES: Final[list[str]] = [c[0] for c in EVENT_COLUMNS]
EVENT_SCHEMA: Final[pa.Schema] = pa.schema([pa.field(n, t) for n, t, _ in EVENT_COLUMNS])

ALERT_COLUMNS: Final[list[tuple[str, str]]] = [
    ("alert_id", "BIGINT PRIMARY KEY"),
    ("created_at", "TIMESTAMPTZ NOT NULL"),
    ("first_seen", "TIMESTAMPTZ"),
    ("last_seen", "TIMESTAMPTZ"),
    ("detector", "VARCHAR NOT NULL"),  # rule | sigma | model:<family>
    ("rule_id", "VARCHAR"),
    ("entity", "VARCHAR"),  # e.g. src_ip=203.0.113.7
    ("score", "DOUBLE"),
    ("severity", "VARCHAR NOT NULL"),  # low | medium | high | critical
    ("title", "VARCHAR"),
    ("summary", "VARCHAR"),
    ("event_ids", "BIGINT[]"),
    ("count", "BIGINT"),
    ("status", "VARCHAR NOT NULL DEFAULT 'new'"),  # new | acknowledged | resolved | false_positive
    ("model_version", "VARCHAR"),
    # Extensions:
    ("why", "VARCHAR"),  # human-readable explanation: the rule, or the features that drove the score
    ("host", "VARCHAR"),
    ("category", "VARCHAR"),
    ("status_by", "VARCHAR"),
    ("status_at", "TIMESTAMPTZ"),
    ("site", "VARCHAR"),
]
ALERT_FIELD_NAMES: Final[list[str]] = [c[0] for c in ALERT_COLUMNS]

SEVERITIES: Final[tuple[str, ...]] = ("low", "medium", "high", "critical")
ALERT_STATUSES: Final[tuple[str, ...]] = ("new", "acknowledged", "resolved", "false_positive")

# Syslog severity numbers (RFC 5424 §6.2.1), for display.
SYSLOG_SEVERITY_NAMES: Final[tuple[str, ...]] = (
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
)


def events_ddl(table: str = "events") -> str:
    cols = ",\n  ".join(f'"{n}" {d}' for n, _, d in EVENT_COLUMNS)
    return f"CREATE TABLE IF NOT EXISTS {table} (\n  {cols}\n)"


def alerts_ddl(table: str = "alerts") -> str:
    cols = ",\n  ".join(f'"{n}" {d}' for n, d in ALERT_COLUMNS)
    return f"CREATE TABLE IF NOT EXISTS {table} (\n  {cols}\n)"


def severity_rank(name: str | None) -> int:
    """low=0 … critical=3; unknown names sort below low."""
    try:
        return SEVERITIES.index(name or "")
    except ValueError:
        return -1
