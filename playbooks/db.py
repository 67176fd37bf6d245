"""How playbooks/ reaches DuckDB: writes run as `fn(con)` in one transaction (through the engine's single
writer, or a connection a headless command owns); reads use short-lived cursors."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class PlaybookDb:
    def __init__(self, write: Callable[[Callable[[Any], Any]], Any], read: Callable[[], Any]) -> None:
        self._write = write
        self._read = read

    def write(self, fn: Callable[[Any], T]) -> T:
        """Run `fn(con)` in a write transaction and return its result."""
        return self._write(fn)

    def cursor(self) -> Any:
        """A short-lived read cursor; close it when done."""
        return self._read()

    @classmethod
    def direct(cls, con: Any) -> PlaybookDb:
        """Headless: we own `con`. A lock serialises writers from several threads."""
        lock = threading.Lock()

        def write(fn: Callable[[Any], Any]) -> Any:
            with lock:
                cur = con.cursor()
                try:
                    cur.execute("BEGIN TRANSACTION")
                    try:
                        result = fn(cur)
                    except BaseException:
                        cur.execute("ROLLBACK")
                        raise
                    cur.execute("COMMIT")
                    return result
                finally:
                    cur.close()

        return cls(write, con.cursor)

    @classmethod
    def via_writer(cls, writer: Any, read_con: Any, timeout_s: float = 30.0) -> PlaybookDb:
        """Engine: `writer.call(fn) -> Future` runs fn in a transaction on the single writer thread."""
        return cls(lambda fn: writer.call(fn).result(timeout=timeout_s), read_con.cursor)
