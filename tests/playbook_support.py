"""Shared helpers for the playbook tests: a real DuckDB store file with events and alerts, and a config whose
outputs (hosts.deny, tickets, bundles) live in the test's temp directory."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from playbooks.config import PlaybookConfig
from playbooks.db import PlaybookDb
from playbooks.storage import ensure_schema
from store.schema import alerts_ddl, events_ddl

T0 = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)
ATTACKER = "203.0.113.7"


def make_config(tmp_path: Path, **kw: Any) -> PlaybookConfig:
    base: dict[str, Any] = {
        "hosts_deny_path": tmp_path / "etc" / "hosts.deny",
        "tickets_path": tmp_path / "tickets.jsonl",
        "bundles_dir": tmp_path / "bundles",
        "ollama_host": "http://127.0.0.1:9",  # nothing listens on the discard port
        "management_nets": ["10.20.0.0/16"],
        "protected_assets": ["192.168.50.0/24", "plc-01"],
        "gateways": ["198.51.100.1"],
        "llm_read_timeout_s": 10.0,
        # Safety net: a privileged step (nft, iptables, usermod, systemctl …) must never touch the test
        # machine. This prefix turns it into a process that exits 3; netns tests pass their own prefix.
        "exec_prefix": [sys.executable, "-c", "import sys; sys.exit(3)"],
    }
    base.update(kw)
    (tmp_path / "etc").mkdir(exist_ok=True)
    return PlaybookConfig(**base)


def open_db(path: Path) -> tuple[duckdb.DuckDBPyConnection, PlaybookDb]:
    con = duckdb.connect(str(path))
    con.execute(events_ddl())
    con.execute(alerts_ddl())
    ensure_schema(con)
    return con, PlaybookDb.direct(con)


def add_event(con: duckdb.DuckDBPyConnection, event_id: int, *, message: str, src_ip: str | None = None,
              user: str | None = None, host: str = "web-01", app: str = "sshd", category: str = "authentication",
              outcome: str | None = "failure", source: str = "file:/var/log/auth.log", raw: str | None = None,
              fields: dict[str, Any] | None = None) -> None:
    con.execute(
        'INSERT INTO events (event_id, ts, received_at, source, host, app, message, src_ip, "user", category, '
        "outcome, raw, fields) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [event_id, T0 + timedelta(seconds=event_id), T0 + timedelta(seconds=event_id), source, host, app, message,
         src_ip, user, category, outcome, raw if raw is not None else message, json.dumps(fields or {})])


def add_alert(con: duckdb.DuckDBPyConnection, alert_id: int, event_ids: list[int], *, severity: str = "medium",
              entity: str | None = f"src_ip={ATTACKER}", category: str = "authentication",
              rule_id: str = "auth.ssh_bruteforce", title: str = "SSH brute force", summary: str = "") -> None:
    con.execute(
        "INSERT INTO alerts (alert_id, created_at, first_seen, last_seen, detector, rule_id, entity, score, "
        "severity, title, summary, event_ids, count, status, category) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [alert_id, T0, T0, T0 + timedelta(minutes=5), "rule", rule_id, entity, 0.97, severity, title, summary,
         event_ids, len(event_ids), "new", category])


def bruteforce_alert(con: duckdb.DuckDBPyConnection, alert_id: int = 1, severity: str = "medium",
                     first_event: int = 100, ip: str = ATTACKER, user: str = "admin") -> list[int]:
    """Five real-looking sshd failures from one address (shapes as in loghub's OpenSSH sample)."""
    ids = list(range(first_event, first_event + 5))
    for i in ids:
        add_event(con, i, src_ip=ip, user=user,
                  message=f"Failed password for invalid user {user} from {ip} port {40000 + i} ssh2")
    add_alert(con, alert_id, ids, severity=severity, entity=f"src_ip={ip}")
    return ids


def unprivileged_catalog():
    """The shipped catalogue minus playbooks whose steps need root on the real machine (nft, iptables, …)."""
    from playbooks.actions import ACTIONS
    from playbooks.catalog import load_catalog

    cat = load_catalog()
    cat.playbooks = {k: pb for k, pb in cat.playbooks.items()
                     if not any(ACTIONS[s.action].privileged for s in pb.steps)}
    return cat
