"""`vigil ingest FILE…|-`: a one-shot import through the same pipeline the engine uses, with progress."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from app.config import Config
from store.sources.base import LineBatch

CHUNK = 1 << 20
LINES_PER_BATCH = 5000


def _split_lines(stream: BinaryIO, on_bytes: Callable[[int], None]) -> Iterator[list[bytes]]:
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


def ingest_files(cfg: Config, db: str | None, files: Sequence[str], *, detect: bool = True) -> int:
    from app.engine import Engine

    paths = [f for f in files if f != "-"]
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        print(f"vigil ingest: no such file: {', '.join(missing)}", file=sys.stderr)
        return 1
    total = sum(Path(p).stat().st_size for p in paths)
    if not detect:
        cfg.detectors.enabled = False
    engine = Engine(cfg, db_path=db, respond=False).start()
    progress = Progress(total if "-" not in files else 0, sys.stderr.isatty())
    t0 = time.monotonic()
    lines = 0
    try:
        for name in files:
            source = "stdin" if name == "-" else f"file:{Path(name).resolve()}"
            hint = "jsonl" if name.endswith((".json", ".ndjson")) else None
            stream: BinaryIO = sys.stdin.buffer if name == "-" else open(name, "rb")  # noqa: SIM115
            try:
                for chunk in _split_lines(stream, progress.add):
                    lines += len(chunk)
                    engine.submit(LineBatch(source, chunk, datetime.now(UTC), format_hint=hint))
            finally:
                if stream is not sys.stdin.buffer:
                    stream.close()
        engine.wait_idle(timeout=3600)
        if engine.detection is not None:
            engine.detection.finish()
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
    return 0 if st.events == lines else 1
