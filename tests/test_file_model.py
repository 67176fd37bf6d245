"""Model-based test of FileTailer (after Vector's file-source model test): random writes, partial writes,
rename+create, copytruncate, truncate, gzip, deletes, restarts and crashes on real files, compared with a
model of which lines must, may, and must never be delivered."""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from store.sources.files import FileTailer
from tests.test_file_tailer import CommitLog


class TailerModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="vigil-model-"))
        self.app = self.dir / "app.log"
        self.rot = self.dir / "app.log.1"
        self.gz = self.dir / "app.log.1.gz"
        self.log = CommitLog()
        self.tailer = self.new_tailer()
        self.gen = 1
        self.seq = 0
        self.partial: tuple[bytes, int] | None = None  # (the whole line, bytes of it written so far)
        self.active: list[bytes] = []  # lines (and the partial prefix) in the current app.log
        self.must: set[bytes] = set()  # delivered sooner or later
        self.may: set[bytes] = set()  # unterminated tails of files still alive: delivered when they finish
        self.never: set[bytes] = set()  # truncated away before being read
        self.allowed: set[bytes] = set()  # every complete line and every abandoned tail ever written
        self.lost_bytes = 0

    def new_tailer(self) -> FileTailer:
        return FileTailer([str(self.dir / "app.log*")], self.log.checkpoints(), rotate_wait=0.0,
                          use_watchfiles=False, max_lines=7)

    def teardown(self) -> None:
        self.tailer.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def next_line(self, filler: int) -> bytes:
        self.seq += 1
        return f"g{self.gen:04d}-{self.seq:06d}-".encode() + b"x" * filler

    def passes(self, n: int = 2) -> None:
        for _ in range(n):
            self.tailer.run_pass(self.log)

    def abandon_partial(self) -> bytes | None:
        """The half-written line stays behind as the unterminated tail of the file it is in."""
        if self.partial is None:
            return None
        line, k = self.partial
        self.partial = None
        self.allowed.add(line[:k])
        return line[:k]

    @initialize()
    def create(self) -> None:
        self.app.touch()

    @rule(n=st.integers(1, 25), filler=st.integers(0, 40))
    def write(self, n: int, filler: int) -> None:
        out = b""
        if self.partial is not None:
            line, k = self.partial
            out += line[k:] + b"\n"
            self.active[-1] = line
            self.must.add(line)
            self.allowed.add(line)
            self.partial = None
        for _ in range(n):
            line = self.next_line(filler)
            out += line + b"\n"
            self.active.append(line)
            self.must.add(line)
            self.allowed.add(line)
        with open(self.app, "ab") as f:
            f.write(out)

    @precondition(lambda self: self.partial is None)
    @rule(filler=st.integers(0, 40), data=st.data())
    def partial_write(self, filler: int, data: st.DataObject) -> None:
        line = self.next_line(filler)
        k = data.draw(st.integers(6, len(line) - 1))  # ≥ 6 bytes: the generation prefix identifies the file
        self.partial = (line, k)
        self.active.append(line[:k])
        with open(self.app, "ab") as f:
            f.write(line[:k])

    def clear_rotated(self) -> None:
        if self.rot.exists() or self.gz.exists():
            self.passes()  # like logrotate's rotate count: the oldest goes only after it was read
            self.rot.unlink(missing_ok=True)
            self.gz.unlink(missing_ok=True)
            self.finish_rotated()

    def tail_of(self, tail: bytes | None) -> None:
        if tail:
            self.may.add(tail)
            self.must.discard(tail)

    @rule()
    def rename_create(self) -> None:
        self.clear_rotated()
        os.rename(self.app, self.rot)
        self.tail_of(self.abandon_partial())
        self.app.touch()
        self.active, self.gen = [], self.gen + 1

    @rule()
    def copytruncate(self) -> None:
        self.clear_rotated()
        shutil.copyfile(self.app, self.rot)
        with open(self.app, "r+b") as f:
            f.truncate(0)
        self.tail_of(self.abandon_partial())
        self.active, self.gen = [], self.gen + 1

    @rule()
    def truncate(self) -> None:
        delivered = set(self.log.texts())
        tail = self.abandon_partial()
        for line in self.active:
            if line not in delivered and line != tail:
                self.must.discard(line)
                self.never.add(line)
        if tail:
            self.never.add(tail)
        self.lost_bytes += sum(len(x) + 1 for x in self.active if x in self.never) - (1 if tail else 0)
        with open(self.app, "r+b") as f:
            f.truncate(0)
        self.active, self.gen = [], self.gen + 1

    @precondition(lambda self: self.rot.exists() and not self.gz.exists())
    @rule()
    def gzip_rotated(self) -> None:
        with open(self.rot, "rb") as src, gzip.open(self.gz, "wb") as dst:
            shutil.copyfileobj(src, dst)
        self.rot.unlink()
        self.finish_rotated()

    @precondition(lambda self: self.rot.exists() or self.gz.exists())
    @rule()
    def delete_rotated(self) -> None:
        self.clear_rotated()
        self.finish_rotated()

    def finish_rotated(self) -> None:
        # The rotated file is finished (deleted or compressed): its unterminated tail is now due.
        self.passes()
        self.must |= self.may
        self.may = set()

    @rule(n=st.integers(0, 5))
    def delete_active(self, n: int) -> None:
        self.passes(1)  # the tailer has the file open: what follows is read through its descriptor
        if n:
            self.write(n, 3)
        os.unlink(self.app)
        tail = self.abandon_partial()
        if tail:
            self.must.add(tail)  # a deleted file is finished: its tail is delivered when drained
        self.passes()
        self.app.touch()
        self.active, self.gen = [], self.gen + 1

    @rule()
    def tick(self) -> None:
        self.tailer.run_pass(self.log)

    @rule()
    def restart(self) -> None:
        self.tailer.stop()
        self.tailer = self.new_tailer()

    @rule(accepted=st.integers(0, 3))
    def crash(self, accepted: int) -> None:
        self.log.refuse_after = accepted  # the engine dies after `accepted` more commits
        self.tailer.run_pass(self.log)
        self.log.refuse_after = None
        self.tailer.stop()
        self.tailer = self.new_tailer()

    @invariant()
    def nothing_twice_nothing_invented(self) -> None:
        got = self.log.texts()
        assert len(got) == len(set(got)), "a line was delivered twice"
        extra = [x for x in got if x not in self.allowed]
        assert not extra, f"delivered what was never a line (a partial line too early?): {extra[:3]}"
        assert not set(got) & self.never, "a line truncated away before it was read was delivered"

    def final_check(self) -> None:
        self.passes(3)
        got = set(self.log.texts())
        missing = self.must - got
        assert not missing, f"{len(missing)} lines never delivered, e.g. {sorted(missing)[:3]}"
        assert got <= self.allowed
        # Loss is counted where the tailer saw it, never invented: at most what truncation really destroyed.
        counted = sum(cp.lost_bytes for cp in self.log.cps.values())
        assert counted <= self.lost_bytes


class TailerModelWithFinalCheck(TailerModel):
    def teardown(self) -> None:
        try:
            self.final_check()
        finally:
            super().teardown()


TailerModelWithFinalCheck.TestCase.settings = settings(
    # Modest by default (fast); VIGIL_MODEL_EXAMPLES=500 for the F6 soak from the design notes.
    max_examples=int(os.environ.get("VIGIL_MODEL_EXAMPLES", "60")), stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_tailer_matches_the_model = TailerModelWithFinalCheck.TestCase
