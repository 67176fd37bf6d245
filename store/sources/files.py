"""FileTailer: follows files, globs and directories through rotation, handing complete lines to the pipeline
with the checkpoint they reach, so a restart from committed checkpoints stores every line exactly once.

Identity is a fingerprint of a file's first ≤ 1 KiB (fingerprint.py); (dev, inode) only finds an already
open file again. watchfiles only wakes the tailer; a stat pass every `poll_interval` guarantees correctness.

Limits, stated rather than hidden:
- Lines written to a file and then truncated away before they were read are lost; the tailer counts what it
  saw (size observed minus offset handed over) in `lost_bytes`, which is therefore a lower bound.
- Two files whose first bytes are identical (up to 1 KiB, or all of a shorter file) are the same identity.
- A file deleted while the tailer has no descriptor open on it (dormant after `close_inactive`, or never
  seen) takes its unread bytes with it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import gzip
import logging
import os
import re
import stat
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import BinaryIO

from store.sources.base import MAX_LINE_BYTES, FileCheckpoint, LineBatch, Submit
from store.sources.fingerprint import (
    FP_BYTES,
    CheckpointIndex,
    fingerprint,
    is_gzip,
    pread_exact,
    read_gzip_head,
)

log = logging.getLogger(__name__)

_JSONL_NAME = re.compile(r"\.(nd)?jsonl?(\.\d+)?(\.gz)?$", re.IGNORECASE)

ACTIVE = "reading"  # at the path it was opened at
ROTATED = "rotated"  # renamed away from that path: read to its end, then closed
DELETED = "deleted"  # unlinked: read to its end through the open descriptor, then closed


@dataclass(eq=False)
class _OpenFile:
    """One open file: where it was opened, what has been handed over (`offset`) and what was read (`pos`)."""

    path: str
    fh: BinaryIO
    dev: int
    inode: int
    compressed: bool
    gz: gzip.GzipFile | None = None
    fp: str | None = None
    fp_len: int = 0
    offset: int = 0  # just after the last line handed over (decompressed bytes for gzip)
    pos: int = 0  # bytes consumed from the file: offset + pending lines + partial
    partial: bytes = b""
    pending: list[bytes] = field(default_factory=list)
    pending_bytes: int = 0
    notes: dict[int, str] = field(default_factory=dict)
    cut: bool = False  # the current partial line continues a line already cut at MAX_LINE_BYTES
    size: int = 0  # last observed size (decompressed bytes read so far for gzip)
    seen_size: int = 0  # largest size observed since the identity began (bounds what a truncation lost)
    stat_key: tuple[int, int] = (-1, -1)  # (size, mtime_ns) at the last identity check
    state: str = ACTIVE
    seen_path: str | None = None
    replaces: str | None = None  # the persisted key this identity replaces once its next batch commits
    id_lost: int = 0  # lost bytes recorded against the current identity's checkpoint
    lines: int = 0
    bytes: int = 0
    lost_bytes: int = 0
    last_error: str | None = None
    idle_since: float = 0.0
    complete: bool = False  # gzip stream read to its end: `size` is its decompressed length
    format_hint: str | None = None

    @property
    def key(self) -> tuple[int, int]:
        return (self.dev, self.inode)

    @property
    def source(self) -> str:
        return "file:" + self.path


def watched_files(patterns: list[str], errors: dict[str, str] | None = None) -> list[str]:
    """The files `patterns` (files, globs, directories: the files directly in them) name right now, as the
    tailer reads them. Other parts use it to know which files are configured log sources."""
    out: dict[str, None] = {}
    for pat in (os.path.abspath(os.path.expanduser(p)) for p in patterns):
        if os.path.isdir(pat):
            try:
                names = sorted(e.path for e in os.scandir(pat) if e.is_file())
            except OSError as exc:
                if errors is not None:
                    errors[pat] = f"cannot list: {exc.strerror or exc}"
                continue
            out.update(dict.fromkeys(names))
        elif glob.has_magic(pat):
            out.update(dict.fromkeys(sorted(glob.glob(pat, recursive=True))))
        elif os.path.exists(pat):
            out[pat] = None
    return list(out)


class FileTailer:
    """A `Source` that tails `patterns` (files, globs or directories — a directory means the files in it).

    `checkpoints` are the committed ones (Store.load_checkpoints()); every LineBatch carries the checkpoint
    that becomes true when its lines are committed. `rotate_wait`: how long a renamed or deleted file stays
    open after its last growth (the writing process may not have reopened yet). `close_inactive`: a file idle
    that long is closed and reopened when its size or mtime changes.
    """

    def __init__(
        self,
        patterns: list[str],
        checkpoints: list[FileCheckpoint],
        *,
        poll_interval: float = 1.0,
        rotate_wait: float = 5.0,
        close_inactive: float = 300.0,
        read_size: int = 256 * 1024,
        pass_bytes: int = 16 * 1024 * 1024,
        max_lines: int = 5000,
        use_watchfiles: bool = True,
        name: str = "files",
    ) -> None:
        self.name = name
        self.patterns = [os.path.abspath(os.path.expanduser(p)) for p in patterns]
        self.poll_interval = poll_interval
        self.rotate_wait = rotate_wait
        self.close_inactive = close_inactive
        self.read_size = max(64 * 1024, min(read_size, 1024 * 1024))
        self.max_lines = max(1, max_lines)
        self.pass_bytes = max(self.read_size, pass_bytes)  # per file per pass, so one big file starves none
        self.use_watchfiles = use_watchfiles
        self._index = CheckpointIndex(dataclasses.replace(cp, replaces=None) for cp in checkpoints)
        self._open: dict[tuple[int, int], _OpenFile] = {}
        self._owner: dict[str, _OpenFile] = {}  # fingerprint -> the one open file reading that identity
        self._dormant: dict[tuple[int, int], tuple[int, int, int]] = {}  # closed, unchanged since
        self._closed: dict[str, dict[str, object]] = {}  # status of files no longer open, by path
        self._path_errors: dict[str, str] = {}
        self._deferred: set[str] = set()  # fingerprints seen this pass on a second file (a copy, a .gz)
        self._submit: Submit | None = None
        self._stopping = False
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.watch_error: str | None = None
        self.last_error: str | None = None
        self.passes = 0

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self, submit: Submit) -> None:
        self._submit = submit
        self._stop.clear()
        self._stopping = False
        t = threading.Thread(target=self._run, name="vigil-files", daemon=True)
        self._threads = [t]
        if self.use_watchfiles:
            self._threads.append(threading.Thread(target=self._watch, name="vigil-files-watch", daemon=True))
        for th in self._threads:
            th.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        for th in self._threads:
            if th is not threading.current_thread():
                th.join(timeout)
        if not any(th.is_alive() for th in self._threads):
            self._close_all()  # (a thread stuck in submit keeps its descriptors; it closes nothing under us)

    def wake(self) -> None:
        """Ask for a pass now (the watcher calls this; so may anyone who knows a file changed)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_pass()
            except Exception as exc:  # a bug or an OS surprise must not end tailing; it is shown in status()
                self.last_error = f"pass failed: {exc!r}"
                log.exception("file tailer pass failed")
            if self._stopping:
                return
            self._wake.wait(self.poll_interval)
            self._wake.clear()

    def _watch(self) -> None:
        try:
            import watchfiles
        except ImportError as exc:  # polling alone is correct, only slower to notice
            self.watch_error = f"watchfiles unavailable ({exc}); polling every {self.poll_interval}s"
            return
        while not self._stop.is_set():
            roots = self._watch_roots()
            if not roots:
                self._stop.wait(self.poll_interval)
                continue
            try:
                for changes in watchfiles.watch(
                    *roots, watch_filter=None, stop_event=self._stop, debounce=200, step=20,
                    rust_timeout=max(200, int(self.poll_interval * 1000)), yield_on_timeout=True,
                    recursive=False, raise_interrupt=False,
                ):
                    if changes:
                        self._wake.set()
                    if self._watch_roots() != roots:
                        break
                self.watch_error = None
            except Exception as exc:  # e.g. inotify limits: fall back to the stat pass
                self.watch_error = f"watchfiles failed ({exc}); polling every {self.poll_interval}s"
                self._stop.wait(self.poll_interval)

    def _watch_roots(self) -> list[str]:
        roots: set[str] = set()
        for pat in self.patterns:
            if os.path.isdir(pat):
                roots.add(pat)
                continue
            d = os.path.dirname(pat)
            while glob.has_magic(d):
                d = os.path.dirname(d)
            if os.path.isdir(d):
                roots.add(d)
        return sorted(roots)

    # -- one pass ----------------------------------------------------------------------------------------
    def run_pass(self, submit: Submit | None = None) -> None:
        """Stat every matching path, follow what changed, hand over every complete line. The thread calls this
        every poll_interval or when woken; tests may call it directly (with `submit`) instead of start()."""
        if submit is not None:
            self._submit = submit
        self.passes += 1
        now = time.monotonic()
        self._deferred = set()
        found = self._expand()
        located: dict[tuple[int, int], str] = {}
        stats: list[tuple[str, os.stat_result]] = []
        for path in found:
            try:
                st = os.stat(path)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            key = (st.st_dev, st.st_ino)
            if key in located:
                continue  # a hard link to a file already listed
            located[key] = path
            stats.append((path, st))
        self._dormant = {k: v for k, v in self._dormant.items() if k in located}

        for of in list(self._open.values()):
            of.seen_path = located.get(of.key)
            if of.state == ACTIVE and of.seen_path != of.path:
                of.state = ROTATED if of.seen_path is not None or self._linked(of) else DELETED
                of.idle_since = now
            elif of.state == ROTATED and of.seen_path is None and not self._linked(of):
                of.state = DELETED

        # Files rotated away are finished first, so their last lines precede the new file's under one name.
        for of in sorted((o for o in self._open.values() if o.state != ACTIVE), key=lambda o: o.path):
            if self._stopping:
                return
            self._guard(of, self._finish_pass, now)

        for path, st in stats:
            if self._stopping:
                return
            key = (st.st_dev, st.st_ino)
            if key in self._open:
                continue
            if self._dormant.get(key) == (st.st_size, st.st_mtime_ns, st.st_ctime_ns):
                continue
            self._dormant.pop(key, None)
            self._path_errors.pop(path, None)
            try:
                self._consider(path, now)
            except OSError as exc:
                self._path_errors[path] = f"cannot open: {exc.strerror or exc}"

        for of in sorted((o for o in self._open.values() if o.state == ACTIVE), key=lambda o: o.path):
            if self._stopping:
                return
            self._guard(of, self._active_pass, now)

    def _guard(self, of: _OpenFile, step: Callable[[_OpenFile, float], None], now: float) -> None:
        try:
            step(of, now)
        except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
            of.last_error = f"{type(exc).__name__}: {exc}"
            if of.compressed:
                # A gzip file still being written ends early: close and retry from the checkpoint later.
                self._close(of, dormant=isinstance(exc, (gzip.BadGzipFile, zlib.error)))

    def _expand(self) -> list[str]:
        return watched_files(self.patterns, self._path_errors)

    @staticmethod
    def _linked(of: _OpenFile) -> bool:
        try:
            return os.fstat(of.fh.fileno()).st_nlink > 0
        except OSError:
            return False

    # -- opening -----------------------------------------------------------------------------------------
    def _consider(self, path: str, now: float) -> None:
        # O_NONBLOCK: a FIFO swapped in after the stat must not hang the tailer in open() (log dirs are
        # sometimes writable by others); anything not a regular file is refused after fstat.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
        fh: BinaryIO = os.fdopen(fd, "rb", buffering=0)
        try:
            fst = os.fstat(fh.fileno())
            key = (fst.st_dev, fst.st_ino)
            if not stat.S_ISREG(fst.st_mode) or key in self._open:
                fh.close()
                return
            hint = "jsonl" if _JSONL_NAME.search(path) else None
            of = _OpenFile(path=path, fh=fh, dev=fst.st_dev, inode=fst.st_ino, compressed=False,
                           idle_since=now, format_hint=hint, seen_path=path, size=fst.st_size,
                           seen_size=fst.st_size)
            if fst.st_size > 0 and is_gzip(fh.fileno()):
                self._open_gzip(of, fst, now)
                return
            if fst.st_size == 0:
                # Whatever appears here is new content: its identity is taken, never looked up.
                self._register(of)
                return
            head = pread_exact(fh.fileno(), min(fst.st_size, FP_BYTES), 0)
            cp = self._index.match(head)
            if cp is not None and cp.fingerprint in self._owner:
                self._deferred.add(cp.fingerprint)  # another open file reads this identity (its copy?)
                fh.close()
                return
            if cp is not None and cp.offset > fst.st_size:
                of.last_error = (f"shorter ({fst.st_size} B) than its checkpoint ({cp.offset} B): "
                                 "rewritten, read from the start")
                self._index.remove(cp.fingerprint)
                cp = None
            self._adopt(of, head, cp)
            of.stat_key = (fst.st_size, fst.st_mtime_ns)
            self._register(of)
        except BaseException:
            with contextlib.suppress(OSError):
                fh.close()
            raise

    def _open_gzip(self, of: _OpenFile, fst: os.stat_result, now: float) -> None:
        of.compressed = True
        of.gz = gzip.GzipFile(fileobj=of.fh, mode="rb")
        try:
            head = read_gzip_head(of.gz)
        except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
            # Still being written (retry next pass) or corrupt (wait until it changes).
            self._path_errors[of.path] = f"gzip not readable yet: {exc}"
            if not isinstance(exc, EOFError):
                self._dormant[of.key] = (fst.st_size, fst.st_mtime_ns, fst.st_ctime_ns)
            of.fh.close()
            return
        if not head:
            self._dormant[of.key] = (fst.st_size, fst.st_mtime_ns, fst.st_ctime_ns)
            of.fh.close()
            return
        cp = self._index.match(head)
        if cp is not None and cp.fingerprint in self._owner:
            self._deferred.add(cp.fingerprint)
            of.fh.close()
            return
        if cp is not None and cp.compressed and cp.size > 0 and cp.offset >= cp.size:
            # Read to its end before (a gzip file never changes): nothing to decompress again.
            self._dormant[of.key] = (fst.st_size, fst.st_mtime_ns, fst.st_ctime_ns)
            of.fh.close()
            return
        self._adopt(of, head, cp)
        of.size = len(head)
        # The head is already decompressed: skip what was handed over, keep the rest as the first data.
        skip = of.offset
        rest = head[skip:] if skip < len(head) else b""
        consumed = len(head)
        while consumed < skip:
            chunk = of.gz.read(min(self.read_size, skip - consumed))
            if not chunk:
                of.last_error = f"decompressed stream ends at {consumed} B, before its checkpoint ({skip} B)"
                of.offset = consumed
                break
            consumed += len(chunk)
        of.pos = of.size = max(consumed, of.offset)  # the position in the decompressed stream
        self._register(of)
        if rest:
            self._feed(of, rest)

    def _adopt(self, of: _OpenFile, head: bytes, cp: FileCheckpoint | None) -> None:
        """Take the identity `cp` (resume at its offset) or a new one (from 0); extend a short fingerprint."""
        of.fp = fingerprint(head)
        of.fp_len = len(head)
        if cp is not None:
            of.offset = of.pos = cp.offset
            of.id_lost = cp.lost_bytes
            if cp.fingerprint != of.fp:
                self._index.remove(cp.fingerprint)
                of.replaces = cp.fingerprint
        self._index.put(self._checkpoint(of, of.offset))

    def _register(self, of: _OpenFile) -> None:
        with self._lock:
            self._open[of.key] = of
            if of.fp is not None:
                self._owner[of.fp] = of
            prior = self._closed.pop(of.path, None)
        if prior is not None:  # the same path reopened: keep its counters running
            of.lines += int(prior.get("lines", 0))  # type: ignore[call-overload]
            of.bytes += int(prior.get("bytes", 0))  # type: ignore[call-overload]
            of.lost_bytes += int(prior.get("lost_bytes", 0))  # type: ignore[call-overload]

    def _close(self, of: _OpenFile, *, dormant: bool) -> None:
        with self._lock:
            self._open.pop(of.key, None)
            if of.fp is not None and self._owner.get(of.fp) is of:
                del self._owner[of.fp]
            if dormant:
                with contextlib.suppress(OSError):
                    st = os.fstat(of.fh.fileno())
                    if st.st_nlink > 0:
                        self._dormant[of.key] = (st.st_size, st.st_mtime_ns, st.st_ctime_ns)
            snap = self._status_of(of)
            snap["state"] = "closed" if of.state == ACTIVE else f"{of.state}, closed"
            self._closed[of.path] = snap
            while len(self._closed) > 1000:
                self._closed.pop(next(iter(self._closed)))
        with contextlib.suppress(OSError):
            if of.gz is not None:
                of.gz.close()
            of.fh.close()

    def _close_all(self) -> None:
        for of in list(self._open.values()):
            self._close(of, dormant=False)

    # -- reading -----------------------------------------------------------------------------------------
    def _active_pass(self, of: _OpenFile, now: float) -> None:
        if of.compressed:
            self._read_gzip(of, now)
            return
        fd = of.fh.fileno()
        st = os.fstat(fd)
        if (st.st_size, st.st_mtime_ns) != of.stat_key:
            of.stat_key = (st.st_size, st.st_mtime_ns)
            if st.st_size < of.pos or not self._same_identity(of, st.st_size):
                self._truncated(of, st.st_size)
                of.stat_key = (-1, -1)  # re-check identity once the new content is there
                return
            self._refresh_identity(of, st.st_size)
        if self._read_plain(of, st.st_size):
            of.idle_since = now
        elif now - of.idle_since >= self.close_inactive:
            self._close(of, dormant=True)

    def _finish_pass(self, of: _OpenFile, now: float) -> None:
        if of.compressed:
            self._read_gzip(of, now)
            return
        st = os.fstat(of.fh.fileno())
        # Checked on every pass, not only when (size, mtime) moved: a same-size rewrite within one tick of the
        # file-time clock leaves both unchanged, and a rotated file gets no later growth to reveal it.
        if st.st_size < of.pos or not self._same_identity(of, st.st_size) or not self._partial_still_there(of):
            self._truncated(of, st.st_size)
            return
        self._refresh_identity(of, st.st_size)
        if self._read_plain(of, st.st_size):
            of.idle_since = now
        if self._stopping or now - of.idle_since < self.rotate_wait:
            return
        # The file is finished: its last line counts even without a terminator.
        if of.partial and not self._emit_tail(of):
            return
        self._close(of, dormant=True)

    def _same_identity(self, of: _OpenFile, size: int) -> bool:
        if of.fp is None or of.fp_len == 0 or size < of.fp_len:
            return True
        return fingerprint(pread_exact(of.fh.fileno(), of.fp_len, 0)) == of.fp

    @staticmethod
    def _partial_still_there(of: _OpenFile) -> bool:
        """The unterminated tail read earlier is still what the file holds (a finished file hands it over)."""
        if not of.partial or of.compressed:
            return True
        start = of.pos - len(of.partial)
        return start >= 0 and pread_exact(of.fh.fileno(), len(of.partial), start) == of.partial

    def _refresh_identity(self, of: _OpenFile, size: int) -> None:
        """Give an empty file its identity once it has bytes; extend a short fingerprint as the file grows."""
        if size <= of.fp_len or of.fp_len >= FP_BYTES:
            return
        head = pread_exact(of.fh.fileno(), min(size, FP_BYTES), 0)
        if len(head) <= of.fp_len:
            return
        new_fp = fingerprint(head)
        with self._lock:
            if of.fp is not None:
                if self._owner.get(of.fp) is of:
                    del self._owner[of.fp]
                old = self._index.remove(of.fp)
                # Only a key that may be persisted needs replacing; a never-handed-over identity had none.
                if old is not None and of.replaces is None:
                    of.replaces = of.fp
            of.fp, of.fp_len = new_fp, len(head)
            self._owner[new_fp] = of
        self._index.put(self._checkpoint(of, of.offset))

    def _truncated(self, of: _OpenFile, size: int) -> None:
        """Truncated or rewritten in place: restart at 0. What was never handed over is recovered from a copy
        (copytruncate, when the copy is in the patterns) or counted as lost."""
        lost = max(of.seen_size, of.pos) - of.offset
        copied = of.fp is not None and of.fp in self._deferred
        if of.fp is not None:
            with self._lock:
                if self._owner.get(of.fp) is of:
                    del self._owner[of.fp]
            if lost > 0 and not copied:
                of.id_lost += lost
                old = self._checkpoint(of, of.offset)
                self._index.put(old)
                if of.fp_len > 0 and not self._hand_over(of, LineBatch(
                        source=of.source, lines=[], received_at=datetime.now(UTC),
                        checkpoint=dataclasses.replace(old), format_hint=of.format_hint)):
                    return
        if copied:
            of.last_error = f"truncated (copytruncate): {max(lost, 0)} unread bytes are read from the copy"
        else:
            of.lost_bytes += max(lost, 0)
            of.last_error = f"truncated at {of.pos} B to {size} B: {max(lost, 0)} bytes lost"
        of.fp, of.fp_len, of.offset, of.pos, of.partial = None, 0, 0, 0, b""
        of.pending, of.pending_bytes, of.notes, of.cut = [], 0, {}, False
        of.replaces, of.id_lost, of.seen_size = None, 0, size
        self._wake.set()  # the copy, if any, can be claimed right away

    def _read_plain(self, of: _OpenFile, size: int) -> bool:
        """Read from `pos` to `size`; True if there were new bytes."""
        of.size = size
        of.seen_size = max(of.seen_size, size)
        if of.pos >= size:
            return False
        fd = of.fh.fileno()
        budget = self.pass_bytes
        while of.pos < size and not self._stopping and not self._stop.is_set():
            if budget <= 0:
                self._wake.set()  # more to read: other files get their turn first, then another pass
                break
            chunk = os.pread(fd, min(self.read_size, size - of.pos), of.pos)
            if not chunk:
                break
            of.pos += len(chunk)
            budget -= len(chunk)
            if not self._feed(of, chunk):
                return True
        if of.pending or of.pending_bytes:
            self._flush(of)
        return True

    def _read_gzip(self, of: _OpenFile, now: float) -> None:
        assert of.gz is not None
        budget = self.pass_bytes
        while not self._stopping and not self._stop.is_set():
            if budget <= 0:
                self._wake.set()
                return
            chunk = of.gz.read(self.read_size)
            if not chunk:
                break
            of.pos += len(chunk)
            budget -= len(chunk)
            of.size = of.pos
            if not self._feed(of, chunk):
                return
        else:
            return
        if (of.pending or of.pending_bytes) and not self._flush(of):
            return
        # A gzip file is complete when its stream ends: emit the unterminated tail, then it is done.
        of.size = of.pos
        of.complete = True
        if of.partial and not self._emit_tail(of):
            return
        # Record "read to the end" (compressed, offset == size) so a restart need not decompress it again.
        if not self._hand_over(of, LineBatch(source=of.source, lines=[], received_at=datetime.now(UTC),
                                             checkpoint=self._checkpoint(of, of.offset),
                                             format_hint=of.format_hint)):
            return
        self._close(of, dormant=True)

    def _feed(self, of: _OpenFile, chunk: bytes) -> bool:
        """Split into lines; hand over a batch whenever max_lines are pending. False if submit refused."""
        data = of.partial + chunk if of.partial else chunk
        parts = data.split(b"\n")
        of.partial = parts.pop()
        for line in parts:
            if of.cut or len(line) > MAX_LINE_BYTES:
                ok = self._add_pieces(of, line, last=True)
            else:
                of.pending_bytes += len(line) + 1
                of.pending.append(line[:-1] if line.endswith(b"\r") else line)
                ok = len(of.pending) < self.max_lines or self._flush(of)
            if not ok:
                return False
        if len(of.partial) > MAX_LINE_BYTES:
            keep = len(of.partial) % MAX_LINE_BYTES or MAX_LINE_BYTES
            head, of.partial = of.partial[:-keep], of.partial[-keep:]
            if not self._add_pieces(of, head, last=False):
                return False
        return True

    def _add_pieces(self, of: _OpenFile, data: bytes, *, last: bool) -> bool:
        """A line longer than MAX_LINE_BYTES is handed over in pieces, each flagged, none dropped. With
        `last`, `data` ends the line (its terminator counts toward the offset; an empty piece is no line)."""
        for i in range(0, len(data), MAX_LINE_BYTES):
            piece = data[i:i + MAX_LINE_BYTES]
            end = last and i + MAX_LINE_BYTES >= len(data)
            of.notes[len(of.pending)] = f"line cut at {MAX_LINE_BYTES} bytes{' (last piece)' if end else ''}"
            of.pending.append(piece)
            of.pending_bytes += len(piece) + (1 if end else 0)
            if len(of.pending) >= self.max_lines and not self._flush(of):
                return False
        if last and not data:
            of.pending_bytes += 1  # a terminator right after a cut piece: counted, not an empty line
        of.cut = not last
        return True

    def _emit_tail(self, of: _OpenFile) -> bool:
        """Hand over the unterminated last line of a finished file."""
        tail = of.partial
        n = len(of.pending)
        if of.cut:
            of.notes[n] = f"line cut at {MAX_LINE_BYTES} bytes (last piece); no terminator at end of file"
        else:
            of.notes[n] = "no line terminator at end of file"
        of.pending.append(tail)
        of.pending_bytes += len(tail)
        if not self._flush(of):
            return False
        of.partial, of.cut = b"", False
        return True

    def _flush(self, of: _OpenFile) -> bool:
        if of.fp is None:
            # An identity is needed before anything is handed over (file was empty when opened).
            self._refresh_identity(of, os.fstat(of.fh.fileno()).st_size)
            if of.fp is None:
                of.last_error = "no identity for a file with lines (emptied while reading?)"
                return False
        new_offset = of.offset + of.pending_bytes
        batch = LineBatch(source=of.source, lines=of.pending, received_at=datetime.now(UTC),
                          checkpoint=self._checkpoint(of, new_offset), notes=of.notes or None,
                          format_hint=of.format_hint)
        if not self._hand_over(of, batch):
            return False
        of.lines += len(of.pending)
        of.bytes += of.pending_bytes
        of.offset = new_offset
        of.pending, of.pending_bytes, of.notes = [], 0, {}
        self._index.put(self._checkpoint(of, of.offset))
        return True

    def _hand_over(self, of: _OpenFile, batch: LineBatch) -> bool:
        if self._submit is None or self._stopping:
            return False
        if not self._submit(batch):
            self._stopping = True  # the engine is stopping: nothing after this point counts as handed over
            return False
        of.replaces = None
        return True

    def _checkpoint(self, of: _OpenFile, offset: int) -> FileCheckpoint:
        return FileCheckpoint(
            fingerprint=of.fp or "", fp_len=of.fp_len, path=of.seen_path or of.path, dev=of.dev,
            inode=of.inode, offset=offset,
            # A gzip file's size is its decompressed length, known only once read to the end.
            size=(of.size if of.complete else 0) if of.compressed else max(of.size, offset),
            compressed=of.compressed,
            replaces=of.replaces, lost_bytes=of.id_lost,
        )

    # -- status ------------------------------------------------------------------------------------------
    def _status_of(self, of: _OpenFile) -> dict[str, object]:
        return {
            "path": of.seen_path or of.path, "opened_as": of.path, "state": of.state, "offset": of.offset,
            "size": of.size, "lines": of.lines, "bytes": of.bytes, "lost_bytes": of.lost_bytes,
            "last_error": of.last_error, "compressed": of.compressed, "fingerprint": of.fp,
        }

    def status(self) -> dict[str, object]:
        with self._lock:
            files = [self._status_of(of) for of in self._open.values()]
            files += [dict(s) for p, s in self._closed.items()]
            files += [{"path": p, "state": "error", "offset": 0, "size": 0, "lines": 0, "bytes": 0,
                       "lost_bytes": 0, "last_error": e} for p, e in list(self._path_errors.items())]
        return {
            "name": self.name, "kind": "files", "patterns": list(self.patterns), "files": files,
            "lines": sum(int(f["lines"]) for f in files),  # type: ignore[call-overload]
            "lost_bytes": sum(int(f["lost_bytes"]) for f in files),  # type: ignore[call-overload]
            "watch_error": self.watch_error, "last_error": self.last_error,
        }

    def checkpoints(self) -> list[FileCheckpoint]:
        """What this tailer believes has been handed over, per identity (for diagnostics and tests)."""
        return [dataclasses.replace(cp) for cp in self._index.values()]
