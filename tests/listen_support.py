"""Helpers for the listener tests: a collecting Submit, deadline polling, and a throw-away TLS certificate."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from store.sources.base import LineBatch
from tests.deadlines import generous


class CollectingSink:
    """The pipeline's `submit` contract as a plain collector; `gate` (when cleared) makes submit block, the
    way a full pipeline does."""

    def __init__(self) -> None:
        self.batches: list[LineBatch] = []
        self.gate = threading.Event()
        self.gate.set()
        self.blocked = threading.Event()
        self._lock = threading.Lock()

    def submit(self, batch: LineBatch) -> bool:
        if not self.gate.is_set():
            self.blocked.set()
            self.gate.wait(30)
        with self._lock:
            self.batches.append(batch)
        return True

    @property
    def lines(self) -> list[bytes]:
        with self._lock:
            return [line for b in self.batches for line in b.lines]

    def pairs(self) -> list[tuple[bytes, str]]:
        """(line, peer) for every line received so far."""
        with self._lock:
            return [
                (line, peer) for b in self.batches for line, peer in zip(b.lines, b.peers or [], strict=True)
            ]

    def notes(self) -> list[tuple[bytes, str]]:
        with self._lock:
            return [(b.lines[i], note) for b in self.batches for i, note in (b.notes or {}).items()]

    def count(self) -> int:
        with self._lock:
            return sum(len(b.lines) for b in self.batches)


def wait_until(pred: Callable[[], object], timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + generous(timeout)
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def make_self_signed(directory: Path, cn: str = "127.0.0.1") -> tuple[Path, Path]:
    """(cert, key) made by `openssl req -x509`, valid for `cn` as CN and IP SAN."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={cn}",
         "-addext", f"subjectAltName=IP:{cn}", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key
