"""FileTailer on real files: append, partial lines, rotation by rename, copytruncate, truncation, deletion,
gzip, inode reuse, short files, new files, restarts from committed checkpoints — no line lost, none twice."""

from __future__ import annotations

import dataclasses
import gzip
import os
import shutil
import time
from pathlib import Path

import pytest

from store.sources.base import MAX_LINE_BYTES, FileCheckpoint, LineBatch
from store.sources.files import FileTailer
from store.sources.fingerprint import fingerprint


class CommitLog:
    """The engine's commit reduced to its contract: each accepted batch's lines and checkpoint are
    "committed" together (a list and a dict), so a FileTailer built from `checkpoints()` is a restart."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, bytes]] = []
        self.batches: list[LineBatch] = []
        self.cps: dict[str, FileCheckpoint] = {}
        self.refuse_after: int | None = None  # accept this many more batches, then answer "stopping"

    def __call__(self, batch: LineBatch) -> bool:
        if self.refuse_after is not None:
            if self.refuse_after <= 0:
                return False
            self.refuse_after -= 1
        self.batches.append(batch)
        self.lines.extend((batch.source, line) for line in batch.lines)
        cp = batch.checkpoint
        if cp is not None:
            if cp.replaces and cp.replaces != cp.fingerprint:
                self.cps.pop(cp.replaces, None)
            self.cps[cp.fingerprint] = dataclasses.replace(cp, replaces=None)
        return True

    def checkpoints(self) -> list[FileCheckpoint]:
        return [dataclasses.replace(cp) for cp in self.cps.values()]

    def texts(self) -> list[bytes]:
        return [line for _, line in self.lines]


def lines(prefix: str, start: int, n: int) -> list[bytes]:
    return [f"{prefix}-{i:06d} some log text".encode() for i in range(start, start + n)]


def append(path: Path, items: list[bytes], tail: bytes = b"") -> None:
    with open(path, "ab") as f:
        f.write(b"".join(x + b"\n" for x in items) + tail)


def tailer(patterns: list[Path | str], log: CommitLog | None = None, **kw: object) -> FileTailer:
    kw.setdefault("rotate_wait", 0.0)
    kw.setdefault("use_watchfiles", False)
    return FileTailer([str(p) for p in patterns], log.checkpoints() if log else [], **kw)  # type: ignore[arg-type]


def passes(t: FileTailer, log: CommitLog, n: int = 3) -> None:
    for _ in range(n):
        t.run_pass(log)


def assert_exactly(log: CommitLog, expected: list[bytes]) -> None:
    got = log.texts()
    assert len(got) == len(set(got)), "a line was delivered twice"
    assert sorted(got) == sorted(expected)


def test_append_delivers_every_line_once_across_restarts(tmp_path: Path) -> None:
    f = tmp_path / "app.log"
    log = CommitLog()
    written = lines("a", 0, 100)
    append(f, written)
    passes(tailer([f], log), log)
    for round_ in range(3):
        more = lines("a", 100 + round_ * 50, 50)
        append(f, more)
        written += more
        passes(tailer([f], log), log)  # a fresh tailer each time: restart from committed checkpoints
    assert log.texts() == written
    assert {s for s, _ in log.lines} == {f"file:{f}"}
    (cp,) = log.checkpoints()
    assert cp.offset == f.stat().st_size and cp.fp_len == 1024


def test_partial_line_waits_for_its_terminator(tmp_path: Path) -> None:
    f = tmp_path / "app.log"
    log = CommitLog()
    t = tailer([f], log)
    append(f, lines("p", 0, 2), tail=b"p-000002 half")
    passes(t, log)
    assert log.texts() == lines("p", 0, 2)
    assert log.checkpoints()[0].offset == len(b"".join(x + b"\n" for x in lines("p", 0, 2)))
    passes(tailer([f], log), log)  # a restart re-reads the partial line and still holds it back
    append(f, [b" done"])
    passes(t, log)
    assert log.texts() == lines("p", 0, 2) + [b"p-000002 half done"]


def test_batches_are_bounded_and_checkpoint_after_their_last_line(tmp_path: Path) -> None:
    f = tmp_path / "app.log"
    log = CommitLog()
    written = lines("b", 0, 12_345)
    append(f, written)
    passes(tailer([f], max_lines=5000), log, 1)
    assert [len(b.lines) for b in log.batches] == [5000, 5000, 2345]
    total = 0
    for b in log.batches:
        total += sum(len(x) + 1 for x in b.lines)
        assert b.checkpoint is not None and b.checkpoint.offset == total
    assert log.texts() == written


def test_crash_between_batches_resumes_exactly_after_the_committed_one(tmp_path: Path) -> None:
    f = tmp_path / "app.log"
    log = CommitLog()
    written = lines("c", 0, 1000)
    append(f, written)
    for accepted in (2, 0, 3, 1):
        log.refuse_after = accepted  # "kill" the engine after `accepted` more commits
        passes(tailer([f], log, max_lines=64), log, 1)
    log.refuse_after = None
    passes(tailer([f], log, max_lines=64), log)
    assert log.texts() == written


def test_rename_rotation_reads_old_file_to_its_end_then_the_new_one(tmp_path: Path) -> None:
    f, f1 = tmp_path / "app.log", tmp_path / "app.log.1"
    log = CommitLog()
    t = tailer([tmp_path / "app.log*"], log)
    append(f, lines("r", 0, 10))
    passes(t, log)
    append(f, lines("r", 10, 5), tail=b"r-unterminated")  # written, not yet read, when rotation happens
    os.rename(f, f1)
    append(f, lines("n", 0, 7))
    passes(t, log)
    expected = lines("r", 0, 15) + [b"r-unterminated"] + lines("n", 0, 7)
    assert log.texts() == expected  # old file first (incl. its unterminated last line), then the new one
    assert all(src == f"file:{f}" for src, _ in log.lines)  # both opened as app.log
    passes(tailer([tmp_path / "app.log*"], log), log)  # restart: app.log.1 recognised by fingerprint
    assert log.texts() == expected


def test_rename_rotation_while_stopped_is_recognised_by_fingerprint(tmp_path: Path) -> None:
    f, f1 = tmp_path / "app.log", tmp_path / "app.log.1"
    log = CommitLog()
    append(f, lines("s", 0, 20))
    passes(tailer([tmp_path / "app.log*"]), log)
    append(f, lines("s", 20, 3))
    os.rename(f, f1)  # rotated while the tailer was down: the 3 new lines are only in app.log.1
    append(f, lines("t", 0, 4))
    passes(tailer([tmp_path / "app.log*"], log), log)
    assert_exactly(log, lines("s", 0, 23) + lines("t", 0, 4))
    assert [line for src, line in log.lines if src == f"file:{f1}"] == lines("s", 20, 3)


def test_copytruncate_recovers_the_window_from_the_copy(tmp_path: Path) -> None:
    f, f1 = tmp_path / "app.log", tmp_path / "app.log.1"
    log = CommitLog()
    t = tailer([tmp_path / "app.log*"], log)
    append(f, lines("k", 0, 50))
    passes(t, log)
    append(f, lines("k", 50, 10), tail=b"k-000060 par")  # not read before the copy
    shutil.copyfile(f, f1)
    with open(f, "r+b") as fh:
        fh.truncate(0)
    append(f, lines("m", 0, 5))
    passes(t, log, 4)
    assert_exactly(log, lines("k", 0, 60) + lines("m", 0, 5))
    assert t.status()["lost_bytes"] == 0
    # The copy's unterminated tail is held back until the copy is finished (here: deleted).
    f1.unlink()
    passes(t, log)
    assert_exactly(log, lines("k", 0, 60) + [b"k-000060 par"] + lines("m", 0, 5))


def test_copytruncate_without_the_copy_counts_the_lost_window(tmp_path: Path) -> None:
    f = tmp_path / "app.log"
    elsewhere = tmp_path / "archive"
    elsewhere.mkdir()
    log = CommitLog()
    t = tailer([f], log)
    append(f, lines("w", 0, 30), tail=b"w-000030 seen but unterminated")
    passes(t, log)
    shutil.copyfile(f, elsewhere / "app.log.1")  # the copy is outside the patterns: not recoverable
    with open(f, "r+b") as fh:
        fh.truncate(0)
    append(f, lines("x", 0, 3))
    passes(t, log)
    assert_exactly(log, lines("w", 0, 30) + lines("x", 0, 3))
    assert t.status()["lost_bytes"] == len(b"w-000030 seen but unterminated")


def test_truncate_in_place_counts_the_unread_bytes_as_lost(tmp_path: Path) -> None:
    f = tmp_path / "app.log"
    log = CommitLog()
    t = tailer([f], log)
    append(f, lines("q", 0, 20), tail=b"q-partial")
    passes(t, log)
    assert log.texts() == lines("q", 0, 20)
    with open(f, "r+b") as fh:
        fh.truncate(0)
    append(f, lines("z", 0, 3))
    passes(t, log)
    assert log.texts() == lines("q", 0, 20) + lines("z", 0, 3)
    st = t.status()
    assert st["lost_bytes"] == len(b"q-partial")  # the partial line was seen and is gone: counted
    old = log.cps[fingerprint(b"".join(x + b"\n" for x in lines("q", 0, 20)) + b"q-partial")]
    assert old.lost_bytes == len(b"q-partial")  # and persisted with the old identity's checkpoint


def test_delete_while_reading_drains_the_open_descriptor(tmp_path: Path) -> None:
    f = tmp_path / "app.log"
    log = CommitLog()
    t = tailer([f], log)
    append(f, lines("d", 0, 10))
    passes(t, log)
    append(f, lines("d", 10, 10), tail=b"d-last")
    f.unlink()
    passes(t, log)
    assert log.texts() == lines("d", 0, 20) + [b"d-last"]
    files = t.status()["files"]
    assert isinstance(files, list) and files[0]["state"] == "deleted, closed"


def test_gzip_of_a_rotated_file_is_not_read_twice(tmp_path: Path) -> None:
    f, f1, gz = tmp_path / "app.log", tmp_path / "app.log.1", tmp_path / "app.log.1.gz"
    log = CommitLog()
    pats = [tmp_path / "app.log*"]
    t = tailer(pats, log)
    append(f, lines("g", 0, 40))
    passes(t, log)
    os.rename(f, f1)
    passes(t, log)
    with open(f1, "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    f1.unlink()
    passes(t, log)
    passes(tailer(pats, log), log)  # and not after a restart either
    assert log.texts() == lines("g", 0, 40)


@pytest.mark.parametrize("committed", [10, 1000])  # offset inside / beyond the fingerprinted head
def test_gzip_resumes_at_the_checkpoint_in_the_decompressed_stream(tmp_path: Path, committed: int) -> None:
    f, gz = tmp_path / "app.log", tmp_path / "app.log.1.gz"
    log = CommitLog()
    pats = [tmp_path / "app.log*"]
    append(f, lines("h", 0, 3000))
    log.refuse_after = 1  # one batch committed, then the engine dies
    passes(tailer(pats, max_lines=committed), log, 1)
    assert len(log.lines) == committed
    # While it is down, logrotate renames and compresses: the rest is only inside the .gz now.
    with open(f, "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    f.unlink()
    log.refuse_after = None
    t = tailer(pats, log)
    passes(t, log)
    assert log.texts() == lines("h", 0, 3000)
    (cp,) = log.checkpoints()
    assert cp.compressed and cp.offset == cp.size == len(b"".join(x + b"\n" for x in lines("h", 0, 3000)))
    passes(tailer(pats, log), log)
    assert log.texts() == lines("h", 0, 3000)


def test_inode_reuse_with_other_content_is_a_new_file(tmp_path: Path) -> None:
    f = tmp_path / "app.log"
    append(f, lines("new", 0, 5))
    st = f.stat()
    # A committed checkpoint of an older file that had the same (dev, inode) and was read 300 bytes in.
    old = FileCheckpoint(fingerprint=fingerprint(b"old content" * 100)[:64], fp_len=1024, path=str(f),
                         dev=st.st_dev, inode=st.st_ino, offset=300, size=5000)
    log = CommitLog()
    log.cps[old.fingerprint] = old
    passes(tailer([f], log), log)
    assert log.texts() == lines("new", 0, 5)  # fingerprint mismatch wins over the inode


def test_short_file_fingerprint_grows_and_replaces_its_old_key(tmp_path: Path) -> None:
    f = tmp_path / "app.log"
    log = CommitLog()
    append(f, [b"one"])
    passes(tailer([f]), log)
    (short,) = log.checkpoints()
    assert short.fp_len == 4 and short.fingerprint == fingerprint(b"one\n")
    append(f, lines("grow", 0, 100))
    passes(tailer([f], log), log)  # after a restart the short key still finds the file
    assert log.texts() == [b"one"] + lines("grow", 0, 100)
    assert any(b.checkpoint and b.checkpoint.replaces == short.fingerprint for b in log.batches)
    (cp,) = log.checkpoints()
    assert cp.fp_len == 1024 and cp.offset == f.stat().st_size


def test_new_files_in_a_watched_directory_are_picked_up(tmp_path: Path) -> None:
    log = CommitLog()
    t = tailer([tmp_path], log)
    passes(t, log)
    append(tmp_path / "a.log", lines("a", 0, 3))
    append(tmp_path / "b.json", [b'{"k": 1}'])
    passes(t, log)
    assert sorted(log.texts()) == sorted(lines("a", 0, 3) + [b'{"k": 1}'])
    hints = {b.source: b.format_hint for b in log.batches}
    assert hints == {f"file:{tmp_path / 'a.log'}": None, f"file:{tmp_path / 'b.json'}": "jsonl"}


def test_a_file_that_disappears_and_comes_back(tmp_path: Path) -> None:
    f = tmp_path / "app.log"
    log = CommitLog()
    t = tailer([f], log)
    append(f, lines("v", 0, 5))
    passes(t, log)
    saved = f.read_bytes()
    f.unlink()
    passes(t, log)
    f.write_bytes(saved)  # the same file restored: nothing re-read
    passes(t, log)
    append(f, lines("v", 5, 2))
    passes(t, log)
    f.unlink()
    passes(t, log)
    append(f, lines("u", 0, 2))  # a different file at the same path: read from its start
    passes(t, log)
    assert log.texts() == lines("v", 0, 7) + lines("u", 0, 2)


def test_a_line_longer_than_the_cap_is_cut_into_flagged_pieces(tmp_path: Path) -> None:
    f = tmp_path / "app.log"
    log = CommitLog()
    t = tailer([f], log)
    big = b"x" * (MAX_LINE_BYTES * 2 + 10)
    with open(f, "wb") as fh:
        fh.write(b"before\n" + big[:100_000])
    passes(t, log)
    with open(f, "ab") as fh:
        fh.write(big[100_000:] + b"\nafter\n")
    passes(t, log)
    got = log.texts()
    assert got[0] == b"before" and got[-1] == b"after"
    assert b"".join(got[1:-1]) == big and all(len(x) <= MAX_LINE_BYTES for x in got)
    notes = [n for b in log.batches for n in (b.notes or {}).values()]
    assert len(notes) == 3 and notes[-1].endswith("(last piece)")
    assert log.checkpoints()[0].offset == f.stat().st_size


def test_threaded_tailer_is_woken_by_watchfiles_and_stops(tmp_path: Path) -> None:
    """The periodic pass is an hour away, so only the watcher can have woken the tailer. Lines are appended
    until the first arrives (the watcher may not be armed yet when the first ones are written)."""
    f = tmp_path / "app.log"
    f.touch()
    log = CommitLog()
    t = FileTailer([str(f)], [], poll_interval=3600.0, use_watchfiles=True)
    t.start(log)
    written: list[bytes] = []
    try:
        deadline = time.monotonic() + 60
        while not log.lines:
            assert time.monotonic() < deadline, f"watchfiles never woke the tailer ({t.watch_error})"
            more = lines("live", len(written), 1)
            append(f, more)
            written += more
            time.sleep(0.2)
        while len(log.lines) < len(written) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert log.texts()[: len(written)] == written
    finally:
        t.stop()
    for th in t._threads:
        th.join(60)
        assert not th.is_alive(), f"{th.name} still running after stop()"


def test_rotated_file_stays_open_for_rotate_wait_while_the_writer_still_uses_it(tmp_path: Path) -> None:
    f, f1 = tmp_path / "app.log", tmp_path / "app.log.1"
    log = CommitLog()
    t = tailer([f], log, rotate_wait=0.5)
    with open(f, "ab", buffering=0) as app:  # the application keeps its descriptor across the rename
        app.write(b"".join(x + b"\n" for x in lines("o", 0, 5)))
        passes(t, log)
        os.rename(f, f1)  # app.log.1 is not in the patterns: only the open descriptor can still read it
        append(f, lines("n", 0, 2))
        passes(t, log)
        app.write(b"".join(x + b"\n" for x in lines("o", 5, 3)))  # written late, before the app reopens
        passes(t, log)
        files = t.status()["files"]
        assert isinstance(files, list) and {x["state"] for x in files} == {"rotated", "reading"}
    deadline = time.monotonic() + 5
    while any(x["state"] == "rotated" for x in t.status()["files"]):  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "a rotated file must be closed after rotate_wait"
        time.sleep(0.05)
        t.run_pass(log)
    assert sorted(log.texts()) == sorted(lines("o", 0, 8) + lines("n", 0, 2))


def test_idle_file_is_closed_and_resumed_without_rereading(tmp_path: Path) -> None:
    f = tmp_path / "app.log"
    log = CommitLog()
    t = tailer([f], log, close_inactive=0.0)
    append(f, lines("i", 0, 5))
    passes(t, log)
    files = t.status()["files"]
    assert isinstance(files, list) and files[0]["state"] == "closed"
    append(f, lines("i", 5, 5))
    passes(t, log)
    assert log.texts() == lines("i", 0, 10)
    assert t.status()["lines"] == 10


def test_gzip_still_being_written_is_retried_not_duplicated(tmp_path: Path) -> None:
    gz = tmp_path / "app.log.1.gz"
    log = CommitLog()
    t = tailer([tmp_path / "*.gz"], log, max_lines=100)
    written = [x + b" " + os.urandom(24).hex().encode() for x in lines("z", 0, 20_000)]
    payload = gzip.compress(b"".join(x + b"\n" for x in written), compresslevel=1)
    gz.write_bytes(payload[: len(payload) // 2])  # the compressor has written half of it so far
    passes(t, log, 2)
    assert 0 < len(log.lines) < 20_000  # what decompressed cleanly is handed over, with its checkpoint
    files = t.status()["files"]
    assert isinstance(files, list) and "EOFError" in str(files[0]["last_error"])
    gz.write_bytes(payload)
    passes(t, log)
    assert log.texts() == written  # the retry skips what was handed over, in the decompressed stream


def test_missing_paths_are_not_errors_and_are_picked_up_when_they_appear(tmp_path: Path) -> None:
    d = tmp_path / "later"
    log = CommitLog()
    t = tailer([d, d / "*.log", tmp_path / "none.log"], log)
    passes(t, log)
    assert t.status()["files"] == [] and t.status()["last_error"] is None
    d.mkdir()
    append(d / "x.log", [b"hello"])
    passes(t, log)
    assert log.lines == [(f"file:{d / 'x.log'}", b"hello")]


def test_crlf_terminators_and_hostile_bytes_are_kept_raw(tmp_path: Path) -> None:
    f = tmp_path / "app.log"
    log = CommitLog()
    f.write_bytes(b"one\r\n\x00\xff\xfe bad utf8\n\n" + b"\x1b[31mred\n")
    passes(tailer([f]), log)
    assert log.texts() == [b"one", b"\x00\xff\xfe bad utf8", b"", b"\x1b[31mred"]


def test_real_inode_reuse_is_caught_by_the_fingerprint(tmp_path: Path) -> None:
    f = tmp_path / "app.log"
    log = CommitLog()
    t = tailer([f], log)
    append(f, lines("first", 0, 40))
    passes(t, log)
    old_inode = f.stat().st_ino
    f.unlink()
    passes(t, log)  # drained and closed: the inode is free for reuse
    for attempt in range(50):
        append(f, lines(f"second{attempt}", 0, 3))
        if f.stat().st_ino == old_inode:
            break
        f.unlink()
    else:
        pytest.skip("the filesystem did not reuse the inode")
    passes(tailer([f], log), log)  # after a restart, too: only the old checkpoint knows that inode
    assert log.texts() == lines("first", 0, 40) + lines(f"second{attempt}", 0, 3)


def test_one_big_file_does_not_starve_the_others(tmp_path: Path) -> None:
    big, small = tmp_path / "a-big.log", tmp_path / "b-small.log"
    append(big, lines("big", 0, 40_000))
    append(small, [b"urgent"])
    log = CommitLog()
    t = tailer([tmp_path], read_size=64 * 1024, pass_bytes=64 * 1024)
    t.run_pass(log)
    assert (f"file:{small}", b"urgent") in log.lines
    assert len(log.lines) < 10_000  # the big file got its share, not the whole pass
    for _ in range(100):
        t.run_pass(log)
    assert sorted(log.texts()) == sorted(lines("big", 0, 40_000) + [b"urgent"])


@pytest.mark.timeout(20)
def test_fifos_and_other_non_files_in_a_watched_directory_are_ignored(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "trap.log")  # opening a FIFO for reading would block until a writer shows up
    (tmp_path / "subdir.log").mkdir()
    append(tmp_path / "real.log", [b"ok"])
    log = CommitLog()
    passes(tailer([tmp_path, tmp_path / "*.log"]), log)
    assert log.texts() == [b"ok"]


def test_status_reports_each_file(tmp_path: Path) -> None:
    f = tmp_path / "app.log"
    append(f, lines("s", 0, 4), tail=b"pending")
    log = CommitLog()
    t = tailer([f], log)
    passes(t, log)
    st = t.status()
    files = st["files"]
    assert isinstance(files, list) and len(files) == 1
    entry = files[0]
    assert {"path", "state", "offset", "size", "lines", "bytes", "lost_bytes", "last_error"} <= set(entry)
    assert entry["path"] == str(f) and entry["state"] == "reading" and entry["lines"] == 4
    assert entry["offset"] == entry["bytes"] == f.stat().st_size - len(b"pending")
    assert entry["size"] == f.stat().st_size and entry["lost_bytes"] == 0 and entry["last_error"] is None
    assert st["lines"] == 4 and st["lost_bytes"] == 0


@pytest.mark.parametrize("content", [b"old-partial", b"old-line-1\n"])
def test_same_size_rewrite_within_one_clock_tick_then_rotation_loses_nothing(tmp_path: Path, content: bytes) -> None:
    """Found by the model test: a file rewritten in place to the same size within one mtime tick (file times
    come from a coarse clock), then rotated. The rotated file must be read for what it holds now, not for the
    stale bytes read before the rewrite."""
    f, f1 = tmp_path / "app.log", tmp_path / "app.log.1"
    log = CommitLog()
    t = tailer([tmp_path / "app.log*"], log)
    f.write_bytes(content)
    passes(t, log)
    before = f.stat()
    new = content.replace(b"old", b"new")
    with open(f, "r+b") as fh:
        fh.truncate(0)
        fh.write(new)
    os.utime(f, ns=(before.st_atime_ns, before.st_mtime_ns))  # the same tick of the file-time clock
    os.rename(f, f1)
    f.touch()
    passes(t, log)
    delivered = log.texts()
    assert new.rstrip(b"\n") in delivered, f"the rewritten content was lost: {delivered}"
    assert content.rstrip(b"\n") not in delivered or content.endswith(b"\n"), "stale bytes were delivered"
