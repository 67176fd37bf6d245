"""Listener throughput and loss figures for `make bench`: TCP ingest from concurrent senders (rate, loss, peak
RSS) and UDP at a fixed offered rate (loss as Vigil counts it vs the kernel's own counters). Not a test.

    python -m bench.bench_listeners tcp --messages 1000000 --senders 4 [--engine]
    python -m bench.bench_listeners udp --rate 20000 --seconds 30 [--engine]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from store.sources.base import LineBatch
from store.sources.listeners import open_listener

_TCP_SENDER = r"""
import socket, sys
port, first, count, framing = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
s = socket.create_connection(("127.0.0.1", port))
pad = b"x" * 60
step = 5000
for start in range(first, first + count, step):
    end = min(start + step, first + count)
    if framing == "octet":
        msgs = [b"<13>1 2026-11-21T05:48:02Z bench app 1 - - seq %d %s" % (i, pad) for i in range(start, end)]
        chunk = b"".join(b"%d %s" % (len(m), m) for m in msgs)
    else:
        chunk = b"".join(b"<13>1 2026-11-21T05:48:02Z bench app 1 - - seq %d %s\n" % (i, pad)
                         for i in range(start, end))
    s.sendall(chunk)
s.close()
"""

_UDP_SENDER = r"""
import socket, sys, time
port, rate, seconds = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
addr = ("127.0.0.1", port)
pad = b"x" * 60
sent = 0
t0 = time.monotonic()
total = int(rate * seconds)
while sent < total:
    due = min(total, int((time.monotonic() - t0) * rate) + 1)
    while sent < due:
        s.sendto(b"<13>1 2026-11-21T05:48:02Z bench app 1 - - seq %d %s" % (sent, pad), addr)
        sent += 1
    time.sleep(0.001)
print(sent, flush=True)
"""


class _RssSampler:
    """Peak resident set size of this process while a bench runs (sampled from /proc/self/statm)."""

    def __init__(self) -> None:
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        try:
            pages = int(Path("/proc/self/statm").read_text().split()[1])
        except (OSError, ValueError, IndexError):
            return
        import resource

        self.peak_kib = max(self.peak_kib, pages * resource.getpagesize() // 1024)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self._sample()

    def __enter__(self) -> _RssSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


class _CountingSink:
    def __init__(self) -> None:
        self.lines = 0
        self.last = time.monotonic()

    def submit(self, batch: LineBatch) -> bool:
        self.lines += len(batch.lines)
        self.last = time.monotonic()
        return True


class _Target:
    """Where received lines go: a counting sink (listener cost alone) or the real engine into DuckDB."""

    def __init__(self, url: str, engine: bool) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.engine: Any = None
        self.sink = _CountingSink()
        if engine:
            from app.config import Config
            from app.engine import Engine

            self._tmp = tempfile.TemporaryDirectory(prefix="vigil-bench-")
            cfg = Config()
            cfg.sources.listen = [url]
            self.engine = Engine(cfg, db_path=Path(self._tmp.name) / "bench.duckdb").start()
            self.listener = self.engine.sources[0]
        else:
            self.listener = open_listener(url)
            self.listener.start(self.sink.submit)

    def received(self) -> int:
        if self.engine is not None:
            return int(self.engine.pipeline.stats.events)
        return self.sink.lines

    def close(self) -> None:
        if self.engine is not None:
            self.engine.stop()
        else:
            self.listener.stop()
        if self._tmp is not None:
            self._tmp.cleanup()


def bench_tcp(n_messages: int = 1_000_000, senders: int = 4, engine: bool = False,
              timeout: float = 600.0) -> dict[str, Any]:
    """`senders` subprocesses send `n_messages` in total over TCP (half octet-counted, half LF framing)."""
    target = _Target("tcp://127.0.0.1:0", engine)
    per = n_messages // senders
    counts = [per + (1 if i < n_messages % senders else 0) for i in range(senders)]
    try:
        with _RssSampler() as rss:
            t0 = time.monotonic()
            procs, first = [], 0
            for i, count in enumerate(counts):
                framing = "octet" if i % 2 == 0 else "lf"
                procs.append(subprocess.Popen([sys.executable, "-c", _TCP_SENDER, str(target.listener.port),
                                               str(first), str(count), framing]))
                first += count
            for p in procs:
                p.wait(timeout)
            sent_done = time.monotonic()
            deadline = sent_done + timeout
            while target.received() < n_messages and time.monotonic() < deadline:
                time.sleep(0.01)
            elapsed = time.monotonic() - t0
        received = target.received()
        status = target.listener.status()
    finally:
        target.close()
    return {
        "bench": "tcp", "through": "engine+duckdb" if engine else "listener", "senders": senders,
        "sent": n_messages, "received": received, "lost": n_messages - received,
        "seconds": round(elapsed, 3), "msgs_per_s": round(received / elapsed) if elapsed else 0,
        "peak_rss_mib": round(rss.peak_kib / 1024, 1), "frame_errors": status["frame_errors"],
        "blocked_seconds": status["blocked_seconds"], "sender_exit_codes": [p.returncode for p in procs],
    }


def bench_udp(rate: float = 20_000, seconds: float = 30.0, engine: bool = False,
              rcvbuf: int | None = None) -> dict[str, Any]:
    """One sender subprocess offers `rate` msg/s for `seconds`; loss as Vigil counts it (app + per-socket
    kernel drops) must agree with sent − received. A small `rcvbuf` provokes kernel drops on purpose."""
    target = _Target("udp://127.0.0.1:0" + (f"?rcvbuf={rcvbuf}" if rcvbuf else ""), engine)
    try:
        with _RssSampler() as rss:
            t0 = time.monotonic()
            proc = subprocess.run(
                [sys.executable, "-c", _UDP_SENDER, str(target.listener.port), str(rate), str(seconds)],
                capture_output=True, text=True, timeout=seconds * 3 + 30, check=True,
            )
            sent = int(proc.stdout.strip())
            send_seconds = time.monotonic() - t0

            def settled() -> bool:
                st = target.listener.status()
                return target.received() + st["app_drops"] + (st["kernel_drops"] or 0) >= sent

            deadline = time.monotonic() + 30
            while not settled() and time.monotonic() < deadline:
                time.sleep(0.05)
        received = target.received()
        st = target.listener.status()
    finally:
        target.close()
    kernel = st["kernel_drops"] or 0
    lost = sent - received
    return {
        "bench": "udp", "through": "engine+duckdb" if engine else "listener", "offered_rate": rate,
        "achieved_send_rate": round(sent / send_seconds), "sent": sent, "received": received,
        "lost": lost, "loss_pct": round(100 * lost / sent, 4) if sent else 0.0,
        "vigil_counted_drops": st["app_drops"] + kernel, "app_drops": st["app_drops"],
        "kernel_socket_drops": kernel, "kernel_rcvbuf_errors_delta": st["kernel_rcvbuf_errors"],
        "counts_agree": lost == st["app_drops"] + kernel,
        "rcvbuf_granted": st["rcvbuf_granted"], "peak_rss_mib": round(rss.peak_kib / 1024, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="which", required=True)
    t = sub.add_parser("tcp")
    t.add_argument("--messages", type=int, default=1_000_000)
    t.add_argument("--senders", type=int, default=4)
    t.add_argument("--engine", action="store_true", help="through the real pipeline into a temp DuckDB")
    u = sub.add_parser("udp")
    u.add_argument("--rate", type=float, default=20_000)
    u.add_argument("--seconds", type=float, default=30.0)
    u.add_argument("--engine", action="store_true", help="through the real pipeline into a temp DuckDB")
    u.add_argument("--rcvbuf", type=int, default=None, help="SO_RCVBUF request (default 8 MiB)")
    args = ap.parse_args(argv)
    if args.which == "tcp":
        result = bench_tcp(args.messages, args.senders, engine=args.engine)
    else:
        result = bench_udp(args.rate, args.seconds, engine=args.engine, rcvbuf=args.rcvbuf)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
