"""Syslog over UDP (RFC 5426): one message per datagram. A receive thread drains the socket into batches and
never waits for the pipeline; a second thread submits them, so every loss is a counted drop (app or kernel).
"""

from __future__ import annotations

import logging
import os
import queue
import selectors
import socket
import threading
import time

from .base import LineBatch, Submit
from .framing import strip_trailer
from .net import LineBatcher, ListenerBindError, ListenerConfig, peer_name, read_socket_drops, read_udp_snmp

log = logging.getLogger(__name__)

_RECV_SIZE = 65536  # larger than any IPv4/IPv6 UDP payload, so nothing is silently truncated by recv
_DRAIN_MAX = 2000  # datagrams per wake-up before the loop checks its timers again
_PEER_CACHE_MAX = 4096


class SyslogUdpListener:
    """`udp://HOST:PORT`: a Source. Bind happens in `start()`; `port` is the bound port afterwards."""

    def __init__(self, config: ListenerConfig) -> None:
        if config.scheme != "udp":
            raise ValueError(f"SyslogUdpListener needs a udp:// config, got {config.scheme}://")
        self.config = config
        self.name = config.url_for()
        self.port = config.port
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._queue: queue.Queue[LineBatch] = queue.Queue(maxsize=config.queue_batches)
        self._threads: list[threading.Thread] = []
        self._submit: Submit | None = None
        self._peers: dict[object, str] = {}
        self._inode = 0
        self._snmp_start: dict[str, int] = {}
        self.rcvbuf_granted = 0
        self.messages = 0
        self.bytes = 0
        self.cut_frames = 0
        self.empty = 0
        self.app_drops = 0  # lines lost because the pipeline queue was full
        self.shutdown_drops = 0  # lines the pipeline refused because the engine was stopping
        self.error: str | None = None
        self._sock_drops: int | None = None  # last reading, kept so status() stays true after stop()

    # Source protocol -----------------------------------------------------------------------------------

    def start(self, submit: Submit) -> None:
        cfg = self.config
        sock = socket.socket(cfg.family, socket.SOCK_DGRAM)
        try:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, cfg.rcvbuf)
            except OSError as exc:
                log.warning("%s: SO_RCVBUF %d refused: %s", self.name, cfg.rcvbuf, exc)
            sock.bind((cfg.host, cfg.port))
        except OSError as exc:
            sock.close()
            raise ListenerBindError(exc.errno, f"cannot listen on {self.name}: {exc.strerror}") from None
        sock.setblocking(False)
        self.rcvbuf_granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        self.port = sock.getsockname()[1]
        self.name = cfg.url_for(self.port)
        self._inode = os.fstat(sock.fileno()).st_ino
        self._snmp_start = read_udp_snmp()
        self._sock = sock
        self._submit = submit
        if cfg.exposed:
            log.warning("%s listens on a non-loopback address: reachable from the network", self.name)
        self._threads = [
            threading.Thread(target=self._receive_loop, name=f"udp-recv {self.name}", daemon=True),
            threading.Thread(target=self._submit_loop, name=f"udp-submit {self.name}", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5.0)
        if self._sock is not None:
            self.kernel_socket_drops()
            self._sock.close()
            self._sock = None

    def status(self) -> dict[str, object]:
        cfg = self.config
        snmp = read_udp_snmp()
        sock_drops = self.kernel_socket_drops()
        return {
            "url": self.name, "kind": "udp", "bind": cfg.host, "port": self.port, "exposed": cfg.exposed,
            "running": any(t.is_alive() for t in self._threads), "error": self.error,
            "messages": self.messages, "bytes": self.bytes, "cut_frames": self.cut_frames,
            "empty": self.empty, "frame_errors": 0,
            "app_drops": self.app_drops, "shutdown_drops": self.shutdown_drops,
            # The per-socket count is ours alone; the snmp deltas include every UDP socket on the host.
            "kernel_drops": sock_drops,
            "kernel_rcvbuf_errors": _delta(snmp, self._snmp_start, "RcvbufErrors"),
            "kernel_in_errors": _delta(snmp, self._snmp_start, "InErrors"),
            "drops": self.app_drops + self.shutdown_drops + (sock_drops or 0),
            "rcvbuf_requested": cfg.rcvbuf, "rcvbuf_granted": self.rcvbuf_granted,
            "queued_batches": self._queue.qsize(),
        }

    def kernel_socket_drops(self) -> int | None:
        """Datagrams the kernel dropped for this socket since it was bound (buffer full)."""
        if self._sock is not None and self._inode:
            value = read_socket_drops(self._inode, self.config.family == socket.AF_INET6)
            if value is not None:
                self._sock_drops = value
        return self._sock_drops

    # Threads -------------------------------------------------------------------------------------------

    def _receive_loop(self) -> None:
        sock = self._sock
        assert sock is not None
        cfg = self.config
        batcher = LineBatcher(self.name, cfg.flush_lines, cfg.flush_interval)
        sel = selectors.DefaultSelector()
        sel.register(sock, selectors.EVENT_READ)
        try:
            while not self._stop.is_set():
                wait = batcher.seconds_left(time.monotonic())
                sel.select(0.05 if wait is None else min(0.05, wait))
                try:
                    self._drain(sock, batcher)
                except Exception as exc:  # a receive loop must survive anything a datagram can do
                    log.exception("%s: receive error", self.name)
                    self.error = f"receive error: {exc}"
                if batcher.due(time.monotonic()):
                    self._enqueue(batcher.take())
            self._drain(sock, batcher)
            self._enqueue(batcher.take())
        finally:
            sel.close()

    def _drain(self, sock: socket.socket, batcher: LineBatcher) -> None:
        cap = self.config.max_frame
        lines, peers, notes = batcher.lines, batcher.peers, batcher.notes
        peer_cache = self._peers
        for _ in range(_DRAIN_MAX):
            try:
                data, addr = sock.recvfrom(_RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ICMP-induced errors on some stacks; never fatal
                self.error = f"recvfrom: {exc}"
                return
            self.messages += 1
            self.bytes += len(data)
            frame = strip_trailer(data)
            if not frame:
                self.empty += 1
                continue
            peer = peer_cache.get(addr)
            if peer is None:
                if len(peer_cache) >= _PEER_CACHE_MAX:
                    peer_cache.clear()
                peer = peer_cache[addr] = peer_name(addr)
            if not lines:
                batcher.mark()
                lines, peers, notes = batcher.lines, batcher.peers, batcher.notes
            if len(frame) > cap:
                notes[len(lines)] = f"cut at {cap} bytes (datagram was {len(frame)} bytes)"
                frame = frame[:cap]
                self.cut_frames += 1
            lines.append(frame)
            peers.append(peer)
            if len(lines) >= batcher.flush_lines:
                self._enqueue(batcher.take())
                lines, peers, notes = batcher.lines, batcher.peers, batcher.notes

    def _enqueue(self, batch: LineBatch | None) -> None:
        if batch is None:
            return
        try:
            self._queue.put_nowait(batch)
        except queue.Full:
            self.app_drops += len(batch.lines)

    def _submit_loop(self) -> None:
        submit = self._submit
        assert submit is not None
        while True:
            try:
                batch = self._queue.get(timeout=0.05)
            except queue.Empty:
                if self._stop.is_set() and not any(
                    t.is_alive() for t in self._threads if t is not threading.current_thread()
                ):
                    return
                continue
            try:
                ok = submit(batch)
            except Exception as exc:
                log.exception("%s: submit failed", self.name)
                self.error = f"submit failed: {exc}"
                ok = False
            if not ok:
                self.shutdown_drops += len(batch.lines)


def _delta(now: dict[str, int], start: dict[str, int], key: str) -> int | None:
    if key not in now or key not in start:
        return None
    return now[key] - start[key]
