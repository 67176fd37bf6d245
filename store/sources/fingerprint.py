"""File identity for the tailer: a sha256 of a file's first ≤ 1 KiB (decompressed for gzip), and an index of
known checkpoints that finds the one a file's head matches, so renamed, copied, gzipped files are not re-read.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from collections import Counter
from collections.abc import Iterable

from store.sources.base import FileCheckpoint

FP_BYTES = 1024
GZIP_MAGIC = b"\x1f\x8b"


def fingerprint(head: bytes) -> str:
    """The identity of a file whose first len(head) bytes are `head` (head must be ≤ FP_BYTES)."""
    return hashlib.sha256(head).hexdigest()


def pread_exact(fd: int, size: int, offset: int) -> bytes:
    """Up to `size` bytes at `offset`; short only at end of file (pread may return less than asked)."""
    parts: list[bytes] = []
    got = 0
    while got < size:
        chunk = os.pread(fd, size - got, offset + got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def is_gzip(fd: int) -> bool:
    return os.pread(fd, 2, 0) == GZIP_MAGIC


def read_gzip_head(stream: gzip.GzipFile, size: int = FP_BYTES) -> bytes:
    """The first `size` decompressed bytes (fewer only if the stream is shorter). May raise EOFError on a
    gzip file that is still being written, or gzip.BadGzipFile / zlib.error on a corrupt one."""
    parts: list[bytes] = []
    got = 0
    while got < size:
        chunk = stream.read(size - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


class CheckpointIndex:
    """Checkpoints keyed by fingerprint. A file matches a checkpoint when the sha256 of its first `fp_len`
    bytes equals the checkpoint's fingerprint; the longest matching prefix wins."""

    def __init__(self, checkpoints: Iterable[FileCheckpoint] = ()) -> None:
        self._by_fp: dict[str, FileCheckpoint] = {}
        self._lens: Counter[int] = Counter()
        for cp in checkpoints:
            if cp.fp_len > 0:
                self.put(cp)

    def __len__(self) -> int:
        return len(self._by_fp)

    def get(self, fp: str) -> FileCheckpoint | None:
        return self._by_fp.get(fp)

    def put(self, cp: FileCheckpoint) -> None:
        old = self._by_fp.get(cp.fingerprint)
        if old is not None:
            self._lens[old.fp_len] -= 1
        self._by_fp[cp.fingerprint] = cp
        self._lens[cp.fp_len] += 1

    def remove(self, fp: str) -> FileCheckpoint | None:
        cp = self._by_fp.pop(fp, None)
        if cp is not None:
            self._lens[cp.fp_len] -= 1
            if self._lens[cp.fp_len] <= 0:
                del self._lens[cp.fp_len]
        return cp

    def match(self, head: bytes) -> FileCheckpoint | None:
        """The checkpoint of the file whose first bytes are `head`, if any is known."""
        for n in sorted((n for n, c in self._lens.items() if c > 0 and 0 < n <= len(head)), reverse=True):
            cp = self._by_fp.get(fingerprint(head[:n]))
            if cp is not None and cp.fp_len == n:
                return cp
        return None

    def values(self) -> list[FileCheckpoint]:
        return list(self._by_fp.values())
