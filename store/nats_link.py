"""What a site and the central Vigil agree on over NATS JetStream: stream, subjects, headers, payload codec,
and how to connect (credentials and TLS from config). Kept apart so both ends speak exactly one dialect.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from store.schema import EVENT_SCHEMA
from store.sources.net import ListenerConfigError

STREAM = "VIGIL"
SUBJECT_ROOT = "vigil"
ALL_SUBJECTS = f"{SUBJECT_ROOT}.>"
WIRE_VERSION = "1"  # bump when the payload layout changes; the consumer refuses versions it does not know

H_MSG_ID = "Nats-Msg-Id"  # JetStream de-duplication within the stream's duplicate window
H_SITE = "Vigil-Site"
H_ORIGIN = "Vigil-Origin"  # the sending store's uuid: two stores with one hostname stay apart
H_KIND = "Vigil-Kind"  # events | alerts
H_WIRE = "Vigil-Wire"

KINDS = ("events", "alerts")
MAX_SITE_LEN = 128
_ORIGIN_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z-]{7,63}$")
_TOKEN_BAD = re.compile(r"[^A-Za-z0-9_-]")


class NatsLinkError(ListenerConfigError):
    """A NATS link problem a person can act on (bad URL, unreadable TLS file). A ListenerConfigError so the
    CLI prints it as one line, like a bad `--listen` URL."""


def default_site_id() -> str:
    """The short hostname: what a site is called unless `sources.site` / `--site` says otherwise."""
    return (socket.gethostname().split(".", 1)[0] or "site")[:MAX_SITE_LEN]


def subject_token(site: str) -> str:
    """A site id as one NATS subject token: dots, wildcards and spaces would change the subject's meaning."""
    token = _TOKEN_BAD.sub("_", site)[:MAX_SITE_LEN]
    return token or "_"


def subject_for(site: str, kind: str) -> str:
    return f"{SUBJECT_ROOT}.{subject_token(site)}.{kind}"


def valid_origin(value: str | None) -> bool:
    return bool(value) and _ORIGIN_RE.match(value or "") is not None


def clean_site(value: str | None) -> str | None:
    """Header text is attacker-controlled: keep printable characters only, bounded length."""
    if not value:
        return None
    text = "".join(ch for ch in value if ch.isprintable())[:MAX_SITE_LEN].strip()
    return text or None


@dataclass(frozen=True)
class NatsLinkConfig:
    """Where and how to connect. Credentials and TLS come from the `[forward]` config section."""

    url: str
    user: str = ""
    password: str = ""
    token: str = ""
    tls_ca: str = ""
    tls_cert: str = ""
    tls_key: str = ""

    @classmethod
    def from_config(cls, url: str, cfg: Any) -> NatsLinkConfig:
        """Build from any object with the ForwardConfig attributes (store/ must not import app/)."""
        return cls(url=url, **{k: str(getattr(cfg, k, "") or "") for k in
                               ("user", "password", "token", "tls_ca", "tls_cert", "tls_key")})

    def display(self) -> str:
        """The URL without any user:password part, for status lines and logs."""
        return re.sub(r"//[^@/]*@", "//", self.url)

    def connect_options(self) -> dict[str, Any]:
        if not re.match(r"^(nats|tls)://[^\s/]+$", self.url):
            raise NatsLinkError(f"NATS URL {self.display()!r}: expected nats://HOST:PORT or tls://HOST:PORT")
        opts: dict[str, Any] = {"servers": [self.url]}
        if self.user:
            opts["user"], opts["password"] = self.user, self.password
        if self.token:
            opts["token"] = self.token
        if self.url.startswith("tls://") or self.tls_ca or self.tls_cert:
            try:
                ctx = ssl.create_default_context(cafile=self.tls_ca or None)
                if self.tls_cert:
                    ctx.load_cert_chain(self.tls_cert, self.tls_key or None)
            except (OSError, ssl.SSLError) as exc:
                raise NatsLinkError(f"NATS TLS files (forward.tls_*): {exc}") from exc
            opts["tls"] = ctx
        return opts


async def connect(link: NatsLinkConfig, stop: threading.Event, name: str,
                  on_state: Any = None) -> Any | None:
    """Connect, retrying until connected or `stop` is set (then None). Once connected the client reconnects by
    itself for ever: a site must outlive any outage of the central server."""
    from nats.aio.client import Client

    opts = link.connect_options()

    async def disconnected() -> None:
        if on_state:
            on_state(False)

    async def reconnected() -> None:
        if on_state:
            on_state(True)

    async def error_cb(exc: Exception) -> None:  # refused/timeout while retrying: the status says "not connected"
        pass

    while not stop.is_set():
        nc = Client()
        # With unlimited reconnects the client's first connect also retries for ever, so it runs as a task
        # that a stop request can cancel.
        task = asyncio.ensure_future(nc.connect(
            **opts, name=name, allow_reconnect=True, max_reconnect_attempts=-1, reconnect_time_wait=1,
            connect_timeout=2, disconnected_cb=disconnected, reconnected_cb=reconnected, error_cb=error_cb,
            ping_interval=5, max_outstanding_pings=2,
        ))
        while not task.done() and not stop.is_set():
            await asyncio.sleep(0.05)
        if not task.done():
            task.cancel()
        try:
            await task
        except BaseException:  # cancelled, or refused for good (bad credentials): close and retry
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(nc.close(), 2)
            await sleep_unless(stop, 1.0)
            continue
        if nc.is_connected:
            if on_state:
                on_state(True)
            return nc
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(nc.close(), 2)
        await sleep_unless(stop, 1.0)
    return None


async def sleep_unless(stop: threading.Event, seconds: float) -> None:
    """Sleep in short steps so a stop request ends the wait at once."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while not stop.is_set():
        left = end - loop.time()
        if left <= 0:
            return
        await asyncio.sleep(min(0.05, left))


STREAM_MAX_AGE_S = 14 * 86400  # the stream is a buffer for outages, not the archive: the central store is


async def ensure_stream(js: Any, duplicate_window_s: float = 120.0, max_age_s: float = STREAM_MAX_AGE_S) -> None:
    """Create the VIGIL stream (file storage, all `vigil.>` subjects, messages kept `max_age_s` so the server's
    disk does not grow for ever) if it does not exist yet. An existing stream is left as its operator set it."""
    import nats.js.errors
    from nats.js.api import StreamConfig

    try:
        await js.stream_info(STREAM)
        return
    except nats.js.errors.NotFoundError:
        pass
    with contextlib.suppress(nats.js.errors.BadRequestError):  # created meanwhile by another site
        await js.add_stream(StreamConfig(name=STREAM, subjects=[ALL_SUBJECTS],
                                         duplicate_window=duplicate_window_s, max_age=max_age_s))


# -- payload codec: Arrow IPC keeps every column with its exact type (timestamps, binary raw bytes) -------
_IPC_OPTIONS = pa.ipc.IpcWriteOptions(compression="zstd")


def encode_events(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=_IPC_OPTIONS) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


class PayloadError(ValueError):
    """A message that is not a valid Vigil events payload; it is refused, never half-stored."""


def decode_events(payload: bytes, max_rows: int = 200_000) -> pa.Table:
    """Bytes from the wire → a table with exactly EVENT_SCHEMA's columns (missing ones null, unknown ones
    dropped). `event_id` holds the sender's ids and must be present and non-null."""
    try:
        table = pa.ipc.open_stream(pa.py_buffer(payload)).read_all()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, ValueError) as exc:
        raise PayloadError(f"not an Arrow IPC stream: {exc}") from exc
    if table.num_rows > max_rows:
        raise PayloadError(f"{table.num_rows} rows in one message (limit {max_rows})")
    return conform(table)


def conform(table: pa.Table) -> pa.Table:
    """Select and cast the event columns by name; raises PayloadError when a column cannot be cast."""
    names = set(table.column_names)
    if "event_id" not in names:
        raise PayloadError("no event_id column")
    arrays = []
    for field in EVENT_SCHEMA:
        if field.name in names:
            col = table.column(field.name)
            if col.type != field.type:
                try:
                    col = col.cast(field.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
                    raise PayloadError(f"column {field.name}: {exc}") from exc
            arrays.append(col)
        else:
            arrays.append(pa.nulls(table.num_rows, field.type))
    out = pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)
    if out.column("event_id").null_count:
        raise PayloadError("event_id has nulls")
    if out.column("received_at").null_count or out.column("source").null_count:
        # NOT NULL in the table; fill rather than refuse a whole batch over one column
        now = pa.scalar(datetime.now(UTC), EVENT_SCHEMA.field("received_at").type)
        out = out.set_column(2, "received_at", pc.fill_null(out.column("received_at"), now))
        out = out.set_column(3, "source", pc.fill_null(out.column("source"), "unknown"))
    return out


def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    return value if isinstance(value, str) else None
