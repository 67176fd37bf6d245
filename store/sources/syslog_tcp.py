"""Syslog over TCP and TLS (RFC 6587 / RFC 5425): one selector loop thread per listener serves every
connection, with per-connection framing detection, a frame cap, idle/handshake/frame-completion timeouts, and
connection caps overall and per source address.

Back-pressure: the loop thread calls `submit` itself, so while the pipeline is full no socket is read, the
kernel's receive windows close and senders block — nothing TCP already accepted is dropped.
"""

from __future__ import annotations

import logging
import selectors
import socket
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from .base import Submit
from .framing import FrameDecoder
from .net import LineBatcher, ListenerBindError, ListenerConfig, ListenerConfigError, peer_name

log = logging.getLogger(__name__)

_READ_SIZE = 256 * 1024
_TLS_READS_PER_WAKE = 16  # bounded so one fast TLS peer cannot starve the others
_ACCEPTS_PER_WAKE = 64
_SWEEP_EVERY = 0.25  # seconds between idle/handshake timeout checks


@dataclass(slots=True, eq=False)
class _Conn:
    sock: socket.socket
    peer: str
    ip: str
    decoder: FrameDecoder
    last_active: float
    frame_started: float = 0.0  # monotonic time the unfinished frame began; 0.0 = between frames
    handshaking: bool = False
    tls_pending: bool = False  # TLS bytes already decrypted inside the ssl object: read without select
    framing_seen: bool = False
    frames: list[bytes] = field(default_factory=list)


def make_server_context(cfg: ListenerConfig) -> ssl.SSLContext:
    """TLS ≥ 1.2 server context; with a CA configured, clients must present a certificate it signed."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(cfg.tls_cert), str(cfg.tls_key))
        if cfg.tls_ca:
            ctx.load_verify_locations(cafile=cfg.tls_ca)
            ctx.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        raise ListenerConfigError(f"{cfg.url_for()}: cannot load TLS certificate/key/CA: {exc}") from None
    return ctx


class SyslogTcpListener:
    """`tcp://HOST:PORT` or `tls://HOST:PORT?cert=…&key=…[&ca=…]`: a Source."""

    def __init__(self, config: ListenerConfig) -> None:
        if config.scheme not in ("tcp", "tls"):
            raise ValueError(f"SyslogTcpListener needs a tcp:// or tls:// config, got {config.scheme}://")
        self.config = config
        self.name = config.url_for()
        self.port = config.port
        self._tls = make_server_context(config) if config.scheme == "tls" else None
        self._lsock: socket.socket | None = None
        self._sel: selectors.BaseSelector | None = None
        self._conns: dict[int, _Conn] = {}
        self._per_ip: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._submit: Submit | None = None
        self.messages = 0
        self.bytes = 0
        self.frame_errors = 0
        self.cut_frames = 0
        self.connections_total = 0
        self.refused = 0
        self.timeouts = 0
        self.handshake_failures = 0
        self.shutdown_drops = 0
        self.blocked_seconds = 0.0  # time spent waiting for the pipeline (back-pressure)
        self.closed: Counter[str] = Counter()
        self._accept_paused_until = 0.0
        self.framings: Counter[str] = Counter()  # connections by detected framing: octet | lf
        self.error: str | None = None

    # Source protocol -----------------------------------------------------------------------------------

    def start(self, submit: Submit) -> None:
        cfg = self.config
        lsock = socket.socket(cfg.family, socket.SOCK_STREAM)
        try:
            lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            lsock.bind((cfg.host, cfg.port))
            lsock.listen(min(cfg.max_connections, socket.SOMAXCONN))
        except OSError as exc:
            lsock.close()
            raise ListenerBindError(exc.errno, f"cannot listen on {self.name}: {exc.strerror}") from None
        lsock.setblocking(False)
        self.port = lsock.getsockname()[1]
        self.name = cfg.url_for(self.port)
        self._lsock = lsock
        self._submit = submit
        self._sel = selectors.DefaultSelector()
        self._sel.register(lsock, selectors.EVENT_READ, None)
        if cfg.exposed:
            log.warning("%s listens on a non-loopback address: reachable from the network", self.name)
        self._thread = threading.Thread(target=self._run, name=f"listen {self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            if self._thread.is_alive():
                log.warning("%s: listener thread still blocked in submit after 5 s", self.name)

    def status(self) -> dict[str, object]:
        cfg = self.config
        return {
            "url": self.name, "kind": cfg.scheme, "bind": cfg.host, "port": self.port, "exposed": cfg.exposed,
            "running": self._thread is not None and self._thread.is_alive(), "error": self.error,
            "messages": self.messages, "bytes": self.bytes, "frame_errors": self.frame_errors,
            "cut_frames": self.cut_frames, "drops": self.shutdown_drops,
            "connections": len(self._conns), "connections_total": self.connections_total,
            "refused": self.refused, "timeouts": self.timeouts, "handshake_failures": self.handshake_failures,
            "blocked_seconds": round(self.blocked_seconds, 3), "closed": dict(self.closed),
            "framing": dict(self.framings),
            "max_connections": cfg.max_connections, "max_connections_per_ip": cfg.max_connections_per_ip,
            "max_frame": cfg.max_frame,
            "idle_timeout": cfg.idle_timeout, "frame_timeout": cfg.frame_timeout,
            "tls_client_auth": bool(cfg.tls_ca),
        }

    # Loop ----------------------------------------------------------------------------------------------

    def _run(self) -> None:
        sel = self._sel
        assert sel is not None
        batcher = LineBatcher(self.name, self.config.flush_lines, self.config.flush_interval)
        next_sweep = time.monotonic() + _SWEEP_EVERY
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                wait = batcher.seconds_left(now)
                timeout = 0.05 if wait is None else min(0.05, wait)
                if any(c.tls_pending for c in self._conns.values()):
                    timeout = 0.0
                try:
                    events = sel.select(timeout)
                except InterruptedError:
                    events = []
                ready = [key.data for key, _ in events]
                if any(c.tls_pending for c in self._conns.values()):
                    ready.extend(c for c in self._conns.values() if c.tls_pending and c not in ready)
                for conn in ready:
                    if conn is None:
                        self._accept()
                        continue
                    try:
                        self._service(conn, batcher)
                    except Exception as exc:  # hostile input must never take the listener down
                        log.exception("%s: error serving %s", self.name, conn.peer)
                        self._close(conn, f"internal error: {type(exc).__name__}", batcher)
                    if len(batcher.lines) >= batcher.flush_lines:
                        self._flush(batcher)
                now = time.monotonic()
                if batcher.due(now):
                    self._flush(batcher)
                if now >= next_sweep:
                    self._sweep(now, batcher)
                    next_sweep = now + _SWEEP_EVERY
                if self._accept_paused_until and now >= self._accept_paused_until and self._lsock:
                    self._accept_paused_until = 0.0
                    sel.register(self._lsock, selectors.EVENT_READ, None)
        except Exception as exc:
            log.exception("%s: listener loop failed", self.name)
            self.error = f"listener loop failed: {exc}"
        finally:
            self._final_drain(batcher)
            for conn in list(self._conns.values()):
                self._close(conn, "listener stopped", batcher)
            self._flush(batcher)
            sel.close()
            if self._lsock is not None:
                self._lsock.close()

    def _final_drain(self, batcher: LineBatcher) -> None:
        """On stop, take what the kernel already accepted for us (queued connections, unread bytes) so a
        sender that finished before the stop loses nothing; bounded so stop() stays prompt."""
        sel = self._sel
        assert sel is not None
        deadline = time.monotonic() + 1.0
        try:
            while time.monotonic() < deadline:
                events = sel.select(0)
                if not events:
                    return
                for key, _ in events:
                    if key.data is None:
                        self._accept()
                    else:
                        self._service(key.data, batcher)
        except Exception:
            log.exception("%s: final drain failed", self.name)

    def _accept(self) -> None:
        assert self._lsock is not None and self._sel is not None
        cfg = self.config
        for _ in range(_ACCEPTS_PER_WAKE):
            try:
                sock, addr = self._lsock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE and friends: say so, keep serving existing peers
                self.error = f"accept: {exc}"
                self.closed[f"accept failed: {exc.strerror}"] += 1
                # The pending connection keeps the socket readable: pause accepting instead of spinning.
                self._sel.unregister(self._lsock)
                self._accept_paused_until = time.monotonic() + 0.5
                return
            ip = str(addr[0])
            if len(self._conns) >= cfg.max_connections:
                self._refuse(sock, "connection cap")
                continue
            if cfg.max_connections_per_ip and self._per_ip[ip] >= cfg.max_connections_per_ip:
                self._refuse(sock, "per-address cap")
                continue
            sock.setblocking(False)
            conn_sock: socket.socket = sock
            if self._tls is not None:
                try:
                    conn_sock = self._tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
                except (OSError, ssl.SSLError) as exc:
                    self.handshake_failures += 1
                    self.closed[f"tls: {type(exc).__name__}"] += 1
                    sock.close()
                    continue
            conn = _Conn(
                sock=conn_sock, peer=peer_name(addr), ip=ip,
                decoder=FrameDecoder(cfg.max_frame, cfg.max_octet_count),
                last_active=time.monotonic(), handshaking=self._tls is not None,
            )
            self._conns[conn_sock.fileno()] = conn
            self._per_ip[ip] += 1
            self._sel.register(conn_sock, selectors.EVENT_READ, conn)
            self.connections_total += 1

    def _refuse(self, sock: socket.socket, cap: str) -> None:
        self.refused += 1
        self.closed[f"refused: {cap}"] += 1
        sock.close()

    def _service(self, conn: _Conn, batcher: LineBatcher) -> None:
        if conn.handshaking:
            self._handshake(conn, batcher)
            if conn.handshaking or conn.sock.fileno() < 0:
                return
        if self._tls is None:
            try:
                data = conn.sock.recv(_READ_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._close(conn, f"recv: {exc.strerror or type(exc).__name__}", batcher)
                return
            if not data:
                self._close(conn, "closed by peer", batcher)
                return
            self._consume(conn, data, batcher)
            return
        self._read_tls(conn, batcher)

    def _read_tls(self, conn: _Conn, batcher: LineBatcher) -> None:
        sock = conn.sock
        assert isinstance(sock, ssl.SSLSocket)
        conn.tls_pending = False
        for _ in range(_TLS_READS_PER_WAKE):
            try:
                data = sock.recv(_READ_SIZE)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                return
            except ssl.SSLZeroReturnError:
                self._close(conn, "closed by peer", batcher)
                return
            except (ssl.SSLError, OSError) as exc:
                self._close(conn, f"tls: {getattr(exc, 'reason', None) or type(exc).__name__}", batcher)
                return
            if not data:
                self._close(conn, "closed by peer", batcher)
                return
            self._consume(conn, data, batcher)
            if conn.sock.fileno() < 0:
                return
        conn.tls_pending = sock.pending() > 0  # decrypted bytes select() cannot see: come back for them

    def _handshake(self, conn: _Conn, batcher: LineBatcher) -> None:
        sock = conn.sock
        assert isinstance(sock, ssl.SSLSocket) and self._sel is not None
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            self._sel.modify(sock, selectors.EVENT_READ, conn)
            return
        except ssl.SSLWantWriteError:
            self._sel.modify(sock, selectors.EVENT_WRITE, conn)
            return
        except (ssl.SSLError, OSError) as exc:
            self.handshake_failures += 1
            self._close(conn, f"tls handshake: {getattr(exc, 'reason', None) or type(exc).__name__}", batcher)
            return
        conn.handshaking = False
        conn.last_active = time.monotonic()
        self._sel.modify(sock, selectors.EVENT_READ, conn)
        conn.tls_pending = True  # application data may have arrived with the handshake's last flight

    def _consume(self, conn: _Conn, data: bytes, batcher: LineBatcher) -> None:
        now = conn.last_active = time.monotonic()
        self.bytes += len(data)
        dec = conn.decoder
        frames = conn.frames
        notes: dict[int, str] = {}
        cut_before = dec.cut_frames
        ok = dec.feed(data, frames, notes)
        self.cut_frames += dec.cut_frames - cut_before
        if not conn.framing_seen and dec.mode is not None:
            conn.framing_seen = True
            self.framings[dec.mode] += 1
        if not dec.pending:
            conn.frame_started = 0.0
        elif frames or not conn.frame_started:
            conn.frame_started = now  # the unfinished frame began in this read
        if frames:
            self._emit(conn, frames, notes, batcher)
        if not ok:
            self.frame_errors += 1
            self._close(conn, "bad octet count", batcher, detail=dec.error)

    def _emit(self, conn: _Conn, frames: list[bytes], notes: dict[int, str], batcher: LineBatcher) -> None:
        batcher.mark()
        base = len(batcher.lines)
        batcher.lines.extend(frames)
        batcher.add_peer(conn.peer, len(frames))
        for i, note in notes.items():
            batcher.notes[base + i] = note
        self.messages += len(frames)
        frames.clear()

    def _close(self, conn: _Conn, reason: str, batcher: LineBatcher, detail: str | None = None) -> None:
        fd = conn.sock.fileno()
        if fd >= 0 and self._conns.get(fd) is conn:
            del self._conns[fd]
            self._per_ip[conn.ip] -= 1
            if self._per_ip[conn.ip] <= 0:
                del self._per_ip[conn.ip]
            assert self._sel is not None
            try:
                self._sel.unregister(conn.sock)
            except (KeyError, ValueError):
                pass
        conn.tls_pending = False
        if not conn.handshaking and conn.decoder.error is None:
            notes: dict[int, str] = {}
            conn.decoder.finish(conn.frames, notes)
            if notes:
                self.frame_errors += len(notes)
            if conn.frames:
                self._emit(conn, conn.frames, notes, batcher)
        self.closed[reason] += 1
        if detail:
            log.info("%s: closed %s: %s (%s)", self.name, conn.peer, reason, detail)
        try:
            conn.sock.close()
        except OSError:
            pass

    def _sweep(self, now: float, batcher: LineBatcher) -> None:
        cfg = self.config
        for conn in list(self._conns.values()):
            limit = cfg.handshake_timeout if conn.handshaking else cfg.idle_timeout
            if now - conn.last_active > limit:
                self.timeouts += 1
                self._close(conn, "handshake timeout" if conn.handshaking else "idle timeout", batcher)
            elif conn.frame_started and now - conn.frame_started > cfg.frame_timeout:
                self.timeouts += 1
                self._close(conn, "frame timeout", batcher)

    def _flush(self, batcher: LineBatcher) -> None:
        batch = batcher.take()
        if batch is None:
            return
        assert self._submit is not None
        t0 = time.monotonic()
        try:
            ok = self._submit(batch)
        except Exception as exc:
            log.exception("%s: submit failed", self.name)
            self.error = f"submit failed: {exc}"
            ok = False
        waited = time.monotonic() - t0
        self.blocked_seconds += waited
        if waited > 0.5:
            # Connections were not read while we waited; that silence is ours, not theirs.
            for conn in self._conns.values():
                conn.last_active += waited
                if conn.frame_started:
                    conn.frame_started += waited
        if not ok:
            self.shutdown_drops += len(batch.lines)
