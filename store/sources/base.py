"""What every source hands to the ingest pipeline: a batch of raw lines, and for files the checkpoint
that becomes true once those lines are committed (written in the same transaction as their events).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

# A line longer than this is cut, stored, and flagged with a parse error (never dropped, never a crash).
MAX_LINE_BYTES = 64 * 1024


@dataclass(slots=True)
class FileCheckpoint:
    """Where a file source stands. Identity is the fingerprint of the first `fp_len` bytes (≤ 1 KiB);
    path/dev/inode are hints. `offset` is the byte offset just after the last line handed over
    (in decompressed bytes for gzip files)."""

    fingerprint: str
    fp_len: int
    path: str
    dev: int
    inode: int
    offset: int
    size: int
    compressed: bool = False
    # When a short file grows, its fingerprint is recomputed over more bytes; the old key is replaced.
    replaces: str | None = None
    # Bytes that vanished unread (truncate in place, copytruncate window); counted, never hidden.
    lost_bytes: int = 0


@dataclass(slots=True)
class LineBatch:
    """Raw lines from one source, without their terminators, in arrival order."""

    source: str  # "file:/var/log/auth.log", "udp://127.0.0.1:5514", …
    lines: list[bytes]
    received_at: datetime  # timezone-aware UTC
    checkpoint: FileCheckpoint | None = None
    peers: list[str] | None = None  # per-line network peer ("10.0.0.5:51234"), for listeners
    notes: dict[int, str] | None = None  # per-line problems seen by the source ("cut at 65536 bytes")
    format_hint: str | None = None  # a parser name to try first (e.g. "jsonl" for *.json files)
    site: str | None = None
    extra: dict[str, object] = field(default_factory=dict)


# The pipeline's entry point as sources see it. Blocks while the pipeline is full (back-pressure) and
# returns False only when the engine is stopping, in which case the source must not advance its state.
Submit = Callable[[LineBatch], bool]


class Source(Protocol):
    """A running source: started with a submit function, stopped with a stop() call that returns promptly."""

    name: str

    def start(self, submit: Submit) -> None: ...

    def stop(self) -> None: ...

    def status(self) -> dict[str, object]: ...
