"""`vigil ingest FILE…|-`: a one-shot import through the same pipeline the engine uses, with progress.

Rotated files are read as their lines: gzip, bzip2 and xz are recognised by their magic bytes, not the name. A file
that is not text (a binary, an image, a database) is skipped with a warning rather than stored as garbage lines.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from app.config import Config
from store.sources.base import LineBatch

CHUNK = 1 << 22
LINES_PER_BATCH = 20000


def _split_lines(stream: Any, on_bytes: Callable[[int], None]) -> Iterator[list[bytes]]:
    carry = b""
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            break
        on_bytes(len(chunk))
        data = carry + chunk
        lines = data.split(b"\n")
        carry = lines.pop()
        for i in range(0, len(lines), LINES_PER_BATCH):
            yield lines[i : i + LINES_PER_BATCH]
    if carry:
        yield [carry]


class Progress:
    """A one-line progress bar on a terminal; silent otherwise."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.done, self.enabled = total, 0, enabled
        self.t0 = time.monotonic()
        self._last = 0.0

    def add(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and now - self._last > 0.2:
            self._last = now
            self.draw()

    def draw(self, lines: int = 0) -> None:
        frac = self.done / self.total if self.total else 0.0
        width = 30
        bar = "#" * int(frac * width)
        rate = self.done / max(1e-6, time.monotonic() - self.t0) / 1e6
        pct = f"{100 * frac:5.1f}%" if self.total else "  ?  "
        print(f"\r[{bar:<{width}}] {pct} {self.done / 1e6:,.1f} MB  {rate:,.1f} MB/s", end="", file=sys.stderr,
              flush=True)


class InputError(Exception):
    """A file given to ingest that cannot be read as log lines; the message names the file and why."""


_MAGIC: tuple[tuple[bytes, str], ...] = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"))
SNIFF_BYTES = 8192
NOT_TEXT_RATIO = 0.10  # above this share of control bytes or invalid UTF-8, a sample is not a log


def check_input(name: str) -> int:
    """Size in bytes of a file ingest can read; raises InputError with one sentence otherwise."""
    path = Path(name)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except PermissionError:
        raise InputError(f"{name}: permission denied (a directory on the way cannot be entered)") from None
    except OSError as exc:
        raise InputError(f"{name}: {exc.strerror or exc}") from None
    if path.is_dir():
        raise InputError(f"{name} is a directory: give the files in it (e.g. {name.rstrip('/')}/*.log)")
    if not os.access(path, os.R_OK):
        raise InputError(f"{name}: permission denied (the file cannot be read by this user)")
    return st.st_size


def open_lines(name: str) -> tuple[BinaryIO, BinaryIO, str]:
    """(decoded stream, underlying file, compression) for a path; compression is '' for plain text."""
    try:
        raw: BinaryIO = open(name, "rb")  # noqa: SIM115 - closed by the caller
    except PermissionError:
        raise InputError(f"{name}: permission denied (the file cannot be read by this user)") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot open: {exc.strerror or exc}") from None
    head = raw.read(6)
    raw.seek(0)
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            stream: Any
            if kind == "gzip":
                stream = gzip.GzipFile(fileobj=raw)
            elif kind == "bzip2":
                stream = bz2.BZ2File(raw)
            else:
                stream = lzma.LZMAFile(raw)  # noqa: SIM115 - closed by the caller
            return stream, raw, kind
    return raw, raw, ""


def looks_binary(sample: bytes) -> bool:
    """True when a sample is not text: NUL bytes, many control bytes, or mostly invalid UTF-8."""
    if not sample:
        return False
    if sample.count(b"\x00") > max(1, len(sample) // 100):
        return True
    text = sample.decode("utf-8", errors="replace")
    bad = sum(1 for ch in text if ch == "\ufffd" or (ord(ch) < 32 and ch not in "\t\n\r\x0b\x0c\x1b") or ch == "\x7f")
    return bad / max(1, len(text)) > NOT_TEXT_RATIO


def _sniff(stream: BinaryIO, name: str, kind: str) -> bytes:
    try:
        return stream.read(SNIFF_BYTES)
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise InputError(f"{name}: not readable as {kind or 'text'} data ({exc})") from None


def ingest_files(cfg: Config, db: str | None, files: Sequence[str], *, detect: bool = True,
                 learn: bool = False) -> int:
    from app.engine import Engine

    paths = [f for f in files if f != "-"]
    problems: list[str] = []
    total = 0
    for p in paths:
        try:
            total += check_input(p)
        except InputError as exc:
            problems.append(str(exc))
    if problems:
        for text in problems:
            print(f"vigil ingest: {text}", file=sys.stderr)
        return 1
    if not detect:
        cfg.detectors.enabled = False
    engine = Engine(cfg, db_path=db, respond=False, embed_alerts=False).start()
    if learn:  # the files are the site's normal: the OT inventory learns from all of them, then watches
        engine.assets.force_learning = True
    progress = Progress(total if "-" not in files else 0, sys.stderr.isatty())
    t0 = time.monotonic()
    lines = 0
    skipped: list[str] = []
    try:
        for name in files:
            try:
                lines += _ingest_one(engine, name, progress)
            except InputError as exc:
                skipped.append(name)
                print(("\n" if progress.enabled else "") + f"vigil ingest: skipped {exc}", file=sys.stderr)
        engine.wait_idle(timeout=3600)
        if engine.detection is not None:
            engine.detection.finish()
        if learn:
            engine.end_learning()
    finally:
        engine.stop()
    elapsed = time.monotonic() - t0
    if progress.enabled:
        progress.draw()
        print(file=sys.stderr)
    st = engine.pipeline.stats
    rate = lines / elapsed if elapsed else 0.0
    alerts = f", {engine.detection.alerts:,} alert updates" if engine.detection is not None else ""
    print(
        f"vigil ingest: {lines:,} lines, {st.events:,} events, {st.parse_errors:,} parse errors{alerts}, "
        f"{elapsed:.2f} s ({rate:,.0f} lines/s) → {engine.store.path}",
        file=sys.stderr,
    )
    if skipped:
        print(f"vigil ingest: {len(skipped)} of {len(files)} file(s) skipped: {', '.join(skipped)}", file=sys.stderr)
    return 0 if st.events == lines and not skipped else 1


def _ingest_one(engine: Any, name: str, progress: Progress) -> int:
    """Submit one file's lines (or stdin's); returns how many. Raises InputError for a file that is not text."""
    source = "stdin" if name == "-" else f"file:{Path(name).resolve()}"
    hint = "jsonl" if name.endswith((".json", ".ndjson", ".json.gz", ".ndjson.gz")) else None
    if name == "-":
        stream, raw, kind = sys.stdin.buffer, sys.stdin.buffer, ""
    else:
        stream, raw, kind = open_lines(name)
    lines = 0
    try:
        head = _sniff(stream, name, kind)
        if looks_binary(head):
            what = f"{kind}-compressed data that is" if kind else "a file that is"
            raise InputError(f"{name}: {what} not text (binary content); nothing stored from it")
        position = 0

        def advance(_n: int) -> None:  # progress follows the bytes on disk, compressed or not
            nonlocal position
            try:
                now = raw.tell()
            except (OSError, ValueError):
                now = position + _n
            progress.add(max(0, now - position))
            position = now

        try:
            for chunk in _split_lines(_Prefixed(head, stream), advance):
                lines += len(chunk)
                engine.submit(LineBatch(source, chunk, datetime.now(UTC), format_hint=hint))
        except (OSError, EOFError, lzma.LZMAError) as exc:
            raise InputError(f"{name}: damaged {kind or ''} data after {lines:,} lines ({exc}); "
                             "the lines before it were stored") from None
    finally:
        if raw is not sys.stdin.buffer:
            stream.close()
            raw.close()
    return lines


class _Prefixed:
    """A stream with the sniffed bytes put back in front (stdin and decompressors cannot seek back)."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head, self._rest = head, rest

    def read(self, n: int = -1) -> bytes:
        if self._head:
            out, self._head = self._head, b""
            return out
        return self._rest.read(n)
