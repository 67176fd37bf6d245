"""Anchors the audit chain outside DuckDB: an append-only JSONL mirror beside the store (`<store>.audit.jsonl`,
mode 0600) holding every record with its running hash, and optionally one syslog line per record.

The chain alone cannot show that its newest records were deleted, or that the rows after an edit were re-chained;
`compare` finds both by checking the store's chain against the mirror, naming the first seq that differs. A
mirror written by this module is only ever appended to; the syslog copy (`[playbooks] audit_syslog`) can live on
another host, out of reach of whoever can write the store and the mirror.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playbooks.plan import canonical_json

log = logging.getLogger(__name__)

MIRROR_SUFFIX = ".audit.jsonl"
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def mirror_path(store_path: str | Path) -> Path:
    return Path(str(store_path) + MIRROR_SUFFIX)


def store_path_of(con: Any) -> Path | None:
    """The file behind a DuckDB connection (None for an in-memory database, which has nothing to anchor)."""
    row = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    if not row or not row[0] or str(row[0]) == ":memory:":
        return None
    return Path(str(row[0]))


@dataclass(frozen=True)
class MirrorLine:
    seq: int
    prev_hash: str
    hash: str
    record: dict[str, Any]


def line_of(seq: int, prev_hash: str, digest: str, record: dict[str, Any]) -> str:
    return canonical_json({"seq": seq, "prev_hash": prev_hash, "hash": digest, "record": record}) + "\n"


class AuditMirror:
    """The JSONL mirror of one store's audit log. Appends are serialised per file within the process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with _LOCKS_GUARD:
            self._lock = _LOCKS.setdefault(str(path), threading.Lock())

    def exists(self) -> bool:
        return self.path.exists()

    def append(self, lines: Iterable[str], backfill: Callable[[], list[str]] | None = None) -> None:
        """Append whole lines and fsync; the file is created 0600 and never rewritten. When the file does not
        exist yet, `backfill()` supplies lines to write first (decided under the lock, so only once)."""
        with self._lock:
            if backfill is not None and not self.path.exists():
                lines = [*backfill(), *lines]
            data = "".join(lines).encode()
            if not data:
                return
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.fchmod(fd, 0o600)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)

    def read(self) -> tuple[dict[int, MirrorLine], str | None]:
        """(lines by seq, the first problem found in the file itself or None)."""
        out: dict[int, MirrorLine] = {}
        with open(self.path, encoding="utf-8") as fh:
            for n, text in enumerate(fh, 1):
                if not text.endswith("\n"):
                    return out, f"mirror line {n} is incomplete"
                try:
                    obj = json.loads(text)
                    line = MirrorLine(int(obj["seq"]), str(obj["prev_hash"]), str(obj["hash"]), dict(obj["record"]))
                except (ValueError, KeyError, TypeError):
                    return out, f"mirror line {n} is not a mirror record"
                seen = out.get(line.seq)
                if seen is not None and seen.hash != line.hash:
                    return out, (f"mirror holds two different records for seq {line.seq} (a store recreated "
                                 "at the same path appends to the old mirror: move the old one away)")
                out[line.seq] = line
        return out, None


def parse_syslog_address(value: str) -> tuple[int, Any] | None:
    """"" → None (off); "local" → /dev/log; "/path" → that Unix datagram socket; "udp://HOST:PORT" → UDP.
    Raises ValueError with the accepted forms."""
    value = value.strip()
    if not value:
        return None
    if value == "local":
        return socket.AF_UNIX, "/dev/log"
    if value.startswith("/"):
        return socket.AF_UNIX, value
    if value.startswith("udp://"):
        host, sep, port = value[len("udp://"):].rpartition(":")
        host = host.strip("[]")
        if sep and host and port.isdigit() and 0 < int(port) < 65536:
            return (socket.AF_INET6 if ":" in host else socket.AF_INET), (host, int(port))
    raise ValueError(f'expected "" (off), "local", a socket path or udp://HOST:PORT, got {value!r}')


class SyslogAnchor:
    """One RFC 3164 line per audit record (seq, kind, hashes: no log text) to a local or remote syslog.
    Best effort: a failed send is counted and logged, never raised (the record is already in store and mirror)."""

    FACILITY_AUTHPRIV, SEVERITY_NOTICE = 10, 5

    def __init__(self, address: str) -> None:
        parsed = parse_syslog_address(address)
        if parsed is None:
            raise ValueError("syslog anchor needs an address")
        self.family, self.target = parsed
        self.errors = 0
        self.last_error: str | None = None
        self._hostname = socket.gethostname()

    def message(self, seq: int, kind: str, prev_hash: str, digest: str) -> bytes:
        pri = self.FACILITY_AUTHPRIV * 8 + self.SEVERITY_NOTICE
        stamp = time.strftime("%b %d %H:%M:%S", time.localtime())
        return (f"<{pri}>{stamp} {self._hostname} vigil-audit[{os.getpid()}]: "
                f"seq={seq} kind={kind} prev={prev_hash} hash={digest}").encode()

    def send(self, seq: int, kind: str, prev_hash: str, digest: str) -> bool:
        try:
            with socket.socket(self.family, socket.SOCK_DGRAM) as sock:
                sock.sendto(self.message(seq, kind, prev_hash, digest), self.target)
            return True
        except OSError as exc:
            self.errors += 1
            self.last_error = str(exc)
            log.warning("audit syslog anchor: cannot send seq %d to %s: %s", seq, self.target, exc)
            return False


def compare(con: Any, mirror: AuditMirror) -> tuple[bool, int | None, str]:
    """(ok, first mismatching seq, reason) between the store's audit rows and the mirror. Assumes the store's
    own chain already verified (playbooks.audit.verify)."""
    from playbooks.audit import chain_hash

    db_rows = {int(s): (str(p), str(h)) for s, p, h in
               con.execute("SELECT seq, prev_hash, hash FROM audit_log ORDER BY seq").fetchall()}
    if not mirror.exists():
        if not db_rows:
            return True, None, "no records and no mirror yet"
        return False, min(db_rows), (f"no audit mirror at {mirror.path}: nothing outside the store anchors the "
                                     "chain (deleted?)")
    lines, problem = mirror.read()
    if problem is not None:
        return False, None, f"{mirror.path}: {problem}"
    for seq in sorted(lines):
        own = lines[seq]
        if own.record.get("seq") != seq or chain_hash(own.prev_hash, own.record) != own.hash:
            return False, seq, f"mirror record {seq} was edited (its hash does not match its content)"
        before = lines.get(seq - 1)
        if before is not None and before.hash != own.prev_hash:
            return False, seq, f"mirror record {seq} does not chain to record {seq - 1}"
    db_last = max(db_rows, default=0)
    mirror_last = max(lines, default=0)
    for seq in range(1, max(db_last, mirror_last) + 1):
        row, line = db_rows.get(seq), lines.get(seq)
        if row is not None and line is not None:
            if row[1] != line.hash:
                return False, seq, f"seq {seq} differs from the mirror: the store's chain was rewritten from here"
            continue
        if row is None and line is not None:
            if seq > db_last:
                return False, seq, (f"the store ends at seq {db_last} but the mirror at seq {mirror_last}: "
                                    f"the newest {mirror_last - db_last} record(s) were deleted")
            return False, seq, f"seq {seq} is in the mirror but not in the store"
        if row is not None and line is None:
            if seq > mirror_last:
                return False, seq, (f"seq {seq}..{db_last} are in the store but not in the mirror (added outside "
                                    "Vigil, or a crash between commit and mirror)")
            return False, seq, f"seq {seq} is in the store but missing from the mirror"
    return True, None, f"matches the mirror {mirror.path} ({mirror_last} records)"


def adopt_lines(con: Any, upto_seq: int) -> list[str]:
    """Mirror lines for the store's records before `upto_seq`: a store that had records before it had a mirror
    is anchored from the first time a mirror is made (trust on first use)."""
    out: list[str] = []
    res = con.execute("SELECT seq, record, prev_hash, hash FROM audit_log WHERE seq < ? ORDER BY seq", [upto_seq])
    while rows := res.fetchmany(1000):
        for seq, text, prev_hash, digest in rows:
            with contextlib.suppress(ValueError):
                out.append(line_of(int(seq), str(prev_hash), str(digest), json.loads(text)))
    return out
