"""DuckDB tables owned by playbooks/ (migrations for `Store.open`): the hash-chained audit log, proposals,
executions and pending expiries.

`PLAYBOOK_MIGRATIONS` is handed to the store's versioned migration runner; `ensure_schema` applies the same
statements directly (idempotent) for headless commands and tests that own their connection.
"""

from __future__ import annotations

from typing import Any

PLAYBOOK_MIGRATIONS: list[tuple[int, str]] = [
    (1, """
CREATE TABLE IF NOT EXISTS audit_log (
  seq BIGINT PRIMARY KEY,
  ts_utc TIMESTAMPTZ NOT NULL,
  kind VARCHAR NOT NULL,
  actor_type VARCHAR NOT NULL,
  actor_id VARCHAR,
  alert_id BIGINT,
  proposal_id VARCHAR,
  playbook_id VARCHAR,
  plan_hash VARCHAR,
  record JSON NOT NULL,
  prev_hash VARCHAR NOT NULL,
  hash VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS playbook_proposals (
  proposal_id VARCHAR PRIMARY KEY,
  created_at TIMESTAMPTZ NOT NULL,
  alert_id BIGINT,
  source VARCHAR NOT NULL,
  playbook_id VARCHAR,
  playbook_version INTEGER,
  params JSON,
  accepted BOOLEAN NOT NULL,
  reasons JSON,
  plan_hash VARCHAR,
  status VARCHAR NOT NULL,
  status_at TIMESTAMPTZ,
  rationale VARCHAR
);
CREATE TABLE IF NOT EXISTS playbook_executions (
  execution_id VARCHAR PRIMARY KEY,
  proposal_id VARCHAR,
  plan_hash VARCHAR,
  kind VARCHAR NOT NULL,
  status VARCHAR NOT NULL,
  started_at TIMESTAMPTZ NOT NULL,
  finished_at TIMESTAMPTZ,
  actor_type VARCHAR,
  actor_id VARCHAR,
  steps JSON
);
CREATE TABLE IF NOT EXISTS playbook_expiries (
  expiry_id VARCHAR PRIMARY KEY,
  execution_id VARCHAR,
  proposal_id VARCHAR,
  playbook_id VARCHAR NOT NULL,
  target_key VARCHAR NOT NULL,
  due_at TIMESTAMPTZ NOT NULL,
  rollback JSON NOT NULL,
  status VARCHAR NOT NULL,
  done_at TIMESTAMPTZ
);
"""),
    # An expiry names the approved plan it belongs to; the scheduler refuses rows that do not match one.
    (2, "ALTER TABLE playbook_expiries ADD COLUMN IF NOT EXISTS plan_hash VARCHAR"),
]


def ensure_schema(con: Any) -> None:
    """Apply every migration's statements (all are … IF NOT EXISTS) on a connection we own."""
    for _version, sql in PLAYBOOK_MIGRATIONS:
        con.execute(sql)
