"""What the syslog listeners share: `--listen` URL parsing into a `ListenerConfig`, the line batcher that
turns received frames into `LineBatch`es, and the kernel's UDP drop counters read from /proc.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from .base import MAX_LINE_BYTES, LineBatch
from .framing import MAX_OCTET_COUNT

DEFAULT_PORTS = {"udp": 5514, "tcp": 5514, "tls": 6514}
DEFAULT_RCVBUF = 8 * 1024 * 1024


class ListenerError(Exception):
    """Base of the listener errors a CLI should print as one line (no traceback)."""


class ListenerConfigError(ListenerError, ValueError):
    """A `--listen` URL or listener option that cannot work; the message says what to change."""


class ListenerBindError(ListenerError, OSError):
    """The address could not be bound (in use, not local, needs privileges); names the listener URL."""


@dataclass(frozen=True, slots=True)
class ListenerConfig:
    scheme: str  # udp | tcp | tls
    host: str  # literal address to bind ("127.0.0.1", "::1", "0.0.0.0")
    port: int  # 0 = any free port (tests); the bound port is reported by the listener
    max_frame: int = MAX_LINE_BYTES
    max_octet_count: int = MAX_OCTET_COUNT
    rcvbuf: int = DEFAULT_RCVBUF  # UDP SO_RCVBUF request; the kernel may grant less (see status)
    idle_timeout: float = 60.0
    handshake_timeout: float = 10.0
    # A started frame must complete within this many seconds: a byte every few seconds keeps the idle timer
    # happy, so the idle timeout alone lets one client hold a slot for ever.
    frame_timeout: float = 30.0
    max_connections: int = 512
    # So one address cannot take every slot (0 = only the global cap). Senders behind one NAT share it.
    max_connections_per_ip: int = 32
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None  # when set, clients must present a certificate signed by it
    flush_lines: int = 5000
    flush_interval: float = 0.075
    queue_batches: int = 64  # UDP: batches waiting for the pipeline before the app starts dropping
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def family(self) -> socket.AddressFamily:
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    @property
    def exposed(self) -> bool:
        """True when the bind address is reachable from other machines (an explicit operator choice)."""
        return not is_loopback(self.host)

    def url_for(self, port: int | None = None) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port if port is None else port}"


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_INT_OPTIONS = {
    "max_frame", "max_octet_count", "rcvbuf", "max_connections", "max_connections_per_ip", "flush_lines",
    "queue_batches",
}
_FLOAT_OPTIONS = {"idle_timeout", "handshake_timeout", "frame_timeout", "flush_interval"}
_PATH_OPTIONS = {"cert": "tls_cert", "key": "tls_key", "ca": "tls_ca"}


def parse_listen_url(url: str, defaults: Mapping[str, object] | None = None,
                     **overrides: object) -> ListenerConfig:
    """`udp://127.0.0.1:5514`, `tcp://[::1]:5514`, `tls://0.0.0.0:6514?cert=c.pem&key=k.pem&ca=ca.pem`.

    Precedence: built-in defaults < `defaults` (the config file's [listener] section; TLS keys there apply
    to tls:// URLs only) < URL query parameters (`max_frame`, `idle_timeout`, `max_connections`, `rcvbuf`,
    `cert`, `key`, `ca`, …) < keyword `overrides`. A host name is resolved once, here, so the bind address
    and its exposure are known before anything listens.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ListenerConfigError(f"invalid listen URL {url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ListenerConfigError(
            f"invalid listen URL {url!r}: scheme must be udp://, tcp:// or tls:// (e.g. tcp://127.0.0.1:5514)"
        )
    host = parts.hostname or "127.0.0.1"
    host = _resolve(host, url)
    opts: dict[str, object] = {}
    for key, value in (defaults or {}).items():
        if key in ("tls_cert", "tls_key", "tls_ca") and scheme != "tls":
            continue
        opts[key] = value
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        opts[_PATH_OPTIONS.get(key, key)] = value
    opts.update(overrides)
    cfg_kwargs: dict[str, object] = {}
    for key, value in opts.items():
        if value is None or value == "":
            continue
        if key not in _INT_OPTIONS and key not in _FLOAT_OPTIONS and key not in _PATH_OPTIONS.values():
            raise ListenerConfigError(f"unknown listener option {key!r} in {url!r}")
        try:
            if key in _INT_OPTIONS:
                cfg_kwargs[key] = int(str(value))
            elif key in _FLOAT_OPTIONS:
                cfg_kwargs[key] = float(str(value))
            else:
                cfg_kwargs[key] = str(value)
        except ValueError:
            raise ListenerConfigError(f"listener option {key}={value!r} in {url!r} is not a number") from None
    cfg = ListenerConfig(scheme=scheme, host=host, port=DEFAULT_PORTS[scheme] if port is None else port)
    cfg = replace(cfg, **cfg_kwargs)  # type: ignore[arg-type]
    validate(cfg)
    return cfg


def _resolve(host: str, url: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ListenerConfigError(f"cannot resolve listen host {host!r} in {url!r}: {exc}") from None
    return str(infos[0][4][0])


def validate(cfg: ListenerConfig) -> None:
    where = cfg.url_for()
    if cfg.max_frame < 480:  # RFC 5424 §6.1: receivers must accept 480 octets
        raise ListenerConfigError(f"{where}: max_frame must be at least 480 bytes")
    if cfg.max_connections_per_ip < 0:
        raise ListenerConfigError(f"{where}: max_connections_per_ip must be ≥ 0 (0 = no per-address cap)")
    if cfg.max_connections < 1 or cfg.flush_lines < 1 or cfg.queue_batches < 1:
        raise ListenerConfigError(f"{where}: max_connections, flush_lines and queue_batches must be ≥ 1")
    if min(cfg.idle_timeout, cfg.handshake_timeout, cfg.frame_timeout, cfg.flush_interval) <= 0:
        raise ListenerConfigError(f"{where}: timeouts and flush_interval must be positive")
    if cfg.scheme == "tls":
        if not cfg.tls_cert or not cfg.tls_key:
            raise ListenerConfigError(f"{where}: TLS needs a certificate and key (?cert=PATH&key=PATH)")
        for label, path in (("cert", cfg.tls_cert), ("key", cfg.tls_key), ("ca", cfg.tls_ca)):
            if path and not os.access(path, os.R_OK):
                raise ListenerConfigError(f"{where}: TLS {label} file {path!r} is missing or unreadable")
    elif cfg.tls_cert or cfg.tls_key or cfg.tls_ca:
        raise ListenerConfigError(f"{where}: cert/key/ca only apply to tls:// listeners")


def peer_name(addr: tuple[object, ...]) -> str:
    host = str(addr[0])
    return f"[{host}]:{addr[1]}" if ":" in host else f"{host}:{addr[1]}"


class LineBatcher:
    """Collects frames from any number of peers into one LineBatch, due at `flush_lines` lines or
    `flush_interval` seconds after its first line (whichever comes first)."""

    __slots__ = ("source", "flush_lines", "flush_interval", "lines", "peers", "notes", "started",
                 "received_at")

    def __init__(self, source: str, flush_lines: int, flush_interval: float) -> None:
        self.source = source
        self.flush_lines = flush_lines
        self.flush_interval = flush_interval
        self.lines: list[bytes] = []
        self.peers: list[str] = []
        self.notes: dict[int, str] = {}
        self.started = 0.0
        self.received_at: datetime | None = None

    def mark(self) -> None:
        """Call before appending frames: stamps the batch's receipt time when it is the first."""
        if not self.lines:
            self.started = time.monotonic()
            self.received_at = datetime.now(UTC)

    def add_peer(self, peer: str, count: int) -> None:
        self.peers.extend([peer] * count)

    def due(self, now: float) -> bool:
        return bool(self.lines) and (
            len(self.lines) >= self.flush_lines or now - self.started >= self.flush_interval
        )

    def seconds_left(self, now: float) -> float | None:
        if not self.lines:
            return None
        return max(0.0, self.flush_interval - (now - self.started))

    def take(self) -> LineBatch | None:
        if not self.lines:
            return None
        batch = LineBatch(
            source=self.source, lines=self.lines, received_at=self.received_at or datetime.now(UTC),
            peers=self.peers, notes=self.notes or None, format_hint="syslog",
        )
        self.lines, self.peers, self.notes = [], [], {}
        self.received_at = None
        return batch


# Kernel counters ---------------------------------------------------------------------------------------

def read_udp_snmp(path: str = "/proc/net/snmp") -> dict[str, int]:
    """System-wide UDP counters (`InErrors`, `RcvbufErrors`, …); empty when /proc is unavailable."""
    try:
        rows = [line.split() for line in Path(path).read_text().splitlines() if line.startswith("Udp:")]
    except OSError:
        return {}
    if len(rows) < 2:
        return {}
    try:
        return {k: int(v) for k, v in zip(rows[0][1:], rows[1][1:], strict=False)}
    except ValueError:
        return {}


def read_socket_drops(inode: int, ipv6: bool = False) -> int | None:
    """Datagrams the kernel dropped for one socket (the `drops` column of /proc/net/udp[6])."""
    path = "/proc/net/udp6" if ipv6 else "/proc/net/udp"
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    wanted = str(inode)
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 13 and cols[9] == wanted:
            try:
                return int(cols[12])
            except ValueError:
                return None
    return None
