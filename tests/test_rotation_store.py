"""Rotation through the real stack: FileTailer (threads + watchfiles) → IngestPipeline → StoreWriter → DuckDB,
restarted from the store's own checkpoints. The `events` table must hold every line exactly once."""

from __future__ import annotations

import gzip
import os
import shutil
import time
from pathlib import Path

from store.db import Store
from store.pipeline import IngestPipeline
from store.sources.files import FileTailer
from store.writer import StoreWriter
from tests.deadlines import generous


class Stack:
    """The engine's ingest path for files, as the engine wires it."""

    def __init__(self, db: Path, patterns: list[str]) -> None:
        self.store = Store.open(db)
        self.writer = StoreWriter(self.store).start()
        self.pipeline = IngestPipeline(
            self.writer, first_event_id=self.store.max_id("events", "event_id") + 1).start()
        self.tailer = FileTailer(patterns, self.store.load_checkpoints(), poll_interval=0.2, rotate_wait=0.3)
        self.tailer.start(self.pipeline.submit)

    def raw(self, where: str = "true") -> list[str]:
        sql = f"SELECT raw FROM events WHERE {where} ORDER BY event_id"
        return [r[0] for r in self.store.cursor().execute(sql).fetchall()]

    def wait_for(self, n: int, timeout: float = 15.0) -> list[str]:
        deadline = time.monotonic() + generous(timeout)
        while True:
            got = self.raw()
            if len(got) >= n or time.monotonic() > deadline:
                return got
            time.sleep(0.05)

    def close(self) -> None:
        self.tailer.stop()
        self.pipeline.stop()
        self.writer.stop()
        self.store.close()


def numbered(tag: str, start: int, n: int) -> list[str]:
    return [f"{tag} seq={i:06d} sshd[42]: Failed password for root from 203.0.113.{i % 250}" for i in range(
        start, start + n)]


def append(path: Path, lines: list[str], tail: str = "") -> None:
    with open(path, "a") as f:
        f.write("".join(x + "\n" for x in lines) + tail)


def test_rename_and_gzip_rotation_with_restarts_store_each_line_once(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    app = logs / "app.log"
    db = tmp_path / "v.duckdb"
    written: list[str] = []
    stack = Stack(db, [str(logs / "app.log*")])
    try:
        for cycle in range(4):
            chunk = numbered(f"c{cycle}", 0, 300)
            append(app, chunk[:150])
            time.sleep(0.05)
            append(app, chunk[150:])
            written += chunk
            # logrotate with compress + delaycompress: .1 → .1.gz, app.log → .1, new app.log
            rot, gz = logs / "app.log.1", logs / "app.log.1.gz"
            if rot.exists():
                gz.unlink(missing_ok=True)
                with open(rot, "rb") as src, gzip.open(gz, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                rot.unlink()
            os.rename(app, rot)
            app.touch()
            if cycle == 1:  # a restart in the middle, from the store's checkpoints
                stack.wait_for(len(written) // 2)
                stack.close()
                stack = Stack(db, [str(logs / "app.log*")])
        got = stack.wait_for(len(written))
        time.sleep(0.5)  # nothing further may arrive
        got = stack.raw()
        assert len(got) == len(set(got)), "a line was stored twice"
        assert sorted(got) == sorted(written)
        for cycle in range(4):  # in order within each file
            mine = [x for x in got if x.startswith(f"c{cycle} ")]
            assert mine == [x for x in written if x.startswith(f"c{cycle} ")]
    finally:
        stack.close()


def test_copytruncate_through_the_store_recovers_the_window(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    app, rot = logs / "app.log", logs / "app.log.1"
    db = tmp_path / "v.duckdb"
    stack = Stack(db, [str(logs / "app.log*")])
    written: list[str] = []
    try:
        for cycle in range(3):
            chunk = numbered(f"k{cycle}", 0, 200)
            append(app, chunk[:100])
            stack.wait_for(len(written) + 100)
            append(app, chunk[100:])  # copied and truncated at once: likely unread by the tailer
            written += chunk
            rot.unlink(missing_ok=True)
            shutil.copyfile(app, rot)
            with open(app, "r+b") as f:
                f.truncate(0)
            stack.wait_for(len(written))
        got = stack.wait_for(len(written))
        assert len(got) == len(set(got)), "a line was stored twice"
        assert sorted(got) == sorted(written)
        lost = stack.store.cursor().execute("SELECT sum(lost_bytes) FROM file_checkpoints").fetchone()
        assert lost is not None and (lost[0] or 0) == 0
    finally:
        stack.close()


def test_truncate_in_place_persists_lost_bytes_in_the_store(tmp_path: Path) -> None:
    app = tmp_path / "app.log"
    db = tmp_path / "v.duckdb"
    stack = Stack(db, [str(app)])
    try:
        append(app, numbered("t", 0, 10), tail="half a line that will vanish")
        stack.wait_for(10)
        deadline = time.monotonic() + 5
        while stack.tailer.status()["files"][0]["size"] != app.stat().st_size:  # type: ignore[index]
            assert time.monotonic() < deadline
            time.sleep(0.02)
        with open(app, "r+b") as f:
            f.truncate(0)
        append(app, numbered("u", 0, 5))
        got = stack.wait_for(15)
        assert got == numbered("t", 0, 10) + numbered("u", 0, 5)
        deadline = time.monotonic() + 5
        while True:
            row = stack.store.cursor().execute("SELECT sum(lost_bytes) FROM file_checkpoints").fetchone()
            if (row and row[0]) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert row is not None and row[0] == len("half a line that will vanish")
    finally:
        stack.close()


def test_a_growing_short_file_keeps_one_checkpoint_row(tmp_path: Path) -> None:
    app = tmp_path / "app.log"
    db = tmp_path / "v.duckdb"
    append(app, ["short"])
    stack = Stack(db, [str(app)])
    try:
        stack.wait_for(1)
        for i in range(5):
            append(app, numbered(f"g{i}", 0, 10))
            stack.wait_for(1 + 10 * (i + 1))
        stack.close()
        stack = Stack(db, [str(app)])  # restart: the upgraded key still finds the file
        append(app, ["last"])
        got = stack.wait_for(52)
        assert got == ["short"] + [x for i in range(5) for x in numbered(f"g{i}", 0, 10)] + ["last"]
        rows = stack.store.cursor().execute('SELECT fp_len, "offset" FROM file_checkpoints').fetchall()
        assert rows == [(1024, app.stat().st_size)]
    finally:
        stack.close()
