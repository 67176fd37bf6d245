"""Append-only, hash-chained audit log of every proposal, decision, execution and rollback.

hash = sha256(prev_hash || canonical_json(record)); `verify` walks the chain and names the first bad row, and
`verify_anchored` also checks it against the mirror outside the store (playbooks.audit_anchor), which is what
catches a deleted tail or a re-chained middle. The module offers no update or delete: appending is the only write.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import os
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from playbooks import audit_anchor
from playbooks.db import PlaybookDb
from playbooks.plan import canonical_json
from playbooks.sanitize import redact_mapping

GENESIS = "0" * 64
ACTOR_TYPES = ("human", "llm", "system")
log = logging.getLogger(__name__)
_INDEXED = ("seq", "kind", "actor_type", "actor_id", "alert_id", "proposal_id", "playbook_id", "plan_hash")


def os_identity() -> dict[str, Any]:
    """Who is at the keyboard, as far as the OS can tell (a TUI has no login of its own)."""
    try:
        user = getpass.getuser()
    except Exception:
        user = None
    tty = None
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd):
                tty = os.ttyname(fd)
                break
        except OSError:
            continue
    return {"user": user, "uid": os.getuid(), "tty": tty, "ssh_connection": os.environ.get("SSH_CONNECTION"),
            "pid": os.getpid()}


def chain_hash(prev_hash: str, record: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical_json(record)).encode()).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    hash: str
    record: dict[str, Any]
    prev_hash: str = GENESIS


def append(con: Any, kind: str, *, actor_type: str, actor_id: str | None, data: dict[str, Any] | None = None,
           alert_id: int | None = None, proposal_id: str | None = None, playbook_id: str | None = None,
           plan_hash: str | None = None, identity: dict[str, Any] | None = None) -> AuditEntry:
    """Append one record inside the caller's write transaction (the single writer serialises appends)."""
    if actor_type not in ACTOR_TYPES:
        raise ValueError(f"actor_type must be one of {ACTOR_TYPES}")
    last = con.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (int(last[0]) + 1, str(last[1])) if last else (1, GENESIS)
    now = datetime.now(UTC)
    record = {
        "seq": seq, "event_id": str(uuid.uuid4()), "ts_utc": now.isoformat(), "kind": kind,
        "actor_type": actor_type, "actor_id": actor_id, "alert_id": alert_id, "proposal_id": proposal_id,
        "playbook_id": playbook_id, "plan_hash": plan_hash, "os": identity or os_identity(),
        "data": redact_mapping(json.loads(canonical_json(data or {}))),
    }
    digest = chain_hash(prev, record)
    con.execute("INSERT INTO audit_log VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [seq, now, kind, actor_type, actor_id, alert_id, proposal_id, playbook_id, plan_hash,
                 canonical_json(record), prev, digest])
    return AuditEntry(seq, digest, record, prev)


class AuditLog:
    """Appends through the store's writer; model provenance (name, digest) is attached when known. Each committed
    record is then anchored outside the store: the JSONL mirror beside the store file, and syslog if configured
    (`syslog`: see playbooks.audit_anchor.parse_syslog_address)."""

    def __init__(self, db: PlaybookDb, syslog: str = "") -> None:
        self.db = db
        self.syslog = audit_anchor.SyslogAnchor(syslog) if syslog.strip() else None
        self._mirror: audit_anchor.AuditMirror | None = None
        self._mirror_known = False
        self.mirror_errors = 0
        self.last_mirror_error: str | None = None

    def record(self, kind: str, **kw: Any) -> AuditEntry:
        entry = self.db.write(lambda con: append(con, kind, **kw))
        self._anchor(entry)
        return entry

    def mirror(self) -> audit_anchor.AuditMirror | None:
        """The mirror beside the store file (None for an in-memory store)."""
        if not self._mirror_known:
            cur = self.db.cursor()
            try:
                path = audit_anchor.store_path_of(cur)
            finally:
                cur.close()
            self._mirror = audit_anchor.AuditMirror(audit_anchor.mirror_path(path)) if path else None
            self._mirror_known = True
        return self._mirror

    def _backfill(self, upto_seq: int) -> list[str]:
        cur = self.db.cursor()
        try:
            return audit_anchor.adopt_lines(cur, upto_seq)
        finally:
            cur.close()

    def _anchor(self, entry: AuditEntry) -> None:
        # After the commit, so the mirror never holds a record the store rolled back. A failure here is counted
        # and logged, not raised: the record is committed, and `vigil audit verify` will name the missing seq.
        mirror = self.mirror()
        if mirror is not None:
            line = audit_anchor.line_of(entry.seq, entry.prev_hash, entry.hash, entry.record)
            try:
                mirror.append([line], backfill=lambda: self._backfill(entry.seq))
            except OSError as exc:
                self.mirror_errors += 1
                self.last_mirror_error = str(exc)
                log.warning("audit mirror %s: cannot append seq %d: %s", mirror.path, entry.seq, exc)
        if self.syslog is not None:
            self.syslog.send(entry.seq, str(entry.record.get("kind")), entry.prev_hash, entry.hash)


def verify(con: Any) -> tuple[bool, int | None, str]:
    """(ok, first_bad_seq, reason). Detects edited records, edited index columns, removed or reordered rows."""
    prev = GENESIS
    expected = 1
    res = con.execute(f"SELECT {', '.join(_INDEXED)}, record, prev_hash, hash FROM audit_log ORDER BY seq")
    count = 0
    while True:
        rows = res.fetchmany(1000)
        if not rows:
            break
        for row in rows:
            seq = int(row[0])
            record_text, prev_hash, digest = row[-3], row[-2], row[-1]
            if seq != expected:
                return False, expected, f"sequence gap: expected {expected}, found {seq} (rows removed?)"
            if prev_hash != prev:
                return False, seq, "prev_hash does not match the previous record's hash"
            try:
                record = json.loads(record_text)
            except ValueError:
                return False, seq, "record is not valid JSON"
            if chain_hash(prev, record) != digest:
                return False, seq, "hash mismatch: the record was modified"
            for name, value in zip(_INDEXED, row[: len(_INDEXED)], strict=True):
                if record.get(name) != value:
                    return False, seq, f"column {name} differs from the hashed record"
            prev = digest
            expected += 1
            count += 1
    return True, None, f"{count} records, chain intact"


def export(con: Any, path: Path | str) -> int:
    """Write the audit log as JSONL (mode 0600), one object per record with its hashes; returns the count."""
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    count = 0
    with os.fdopen(fd, "w") as fh:
        res = con.execute("SELECT record, prev_hash, hash FROM audit_log ORDER BY seq")
        while rows := res.fetchmany(1000):
            for record_text, prev_hash, digest in rows:
                obj = {"record": json.loads(record_text), "prev_hash": prev_hash, "hash": digest}
                fh.write(canonical_json(obj) + "\n")
                count += 1
        fh.flush()
        os.fsync(fh.fileno())
    return count


def verify_anchored(con: Any, mirror: audit_anchor.AuditMirror | None) -> tuple[bool, int | None, str]:
    """The chain in the store, then the store against the mirror outside it (a deleted tail or a re-chained
    middle verifies as a chain, but not against the mirror)."""
    ok, bad, reason = verify(con)
    if not ok or mirror is None:
        return ok, bad, reason
    same, first, why = audit_anchor.compare(con, mirror)
    return (True, None, f"{reason}; {why}") if same else (False, first, why)


def main_verify(con: Any, mirror: audit_anchor.AuditMirror | None = None) -> int:
    ok, bad, reason = verify_anchored(con, mirror)
    where = f" at seq {bad}" if bad is not None else ""
    print(("audit chain OK: " if ok else f"audit chain BROKEN{where}: ") + reason,
          file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1
