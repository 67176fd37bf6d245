"""The inventory as a pipeline enricher: every batch's industrial events update the assets before the batch is
written, the changed assets are written in the same transaction as the events (so the inventory resumes exactly
after `kill -9`), and each event gets the marks the OT Sigma rules match:

  new_talker, new_function, new_protocol, new_write_target, new_asset   (after learning, first occurrence only)
  unexpected_commander   a command from a host not in [assets] engineering_stations/hmis (when either is set);
                         engineering commands (program, stop, restart, config…) are expected from engineering
                         stations only
  asset_criticality      the target asset's criticality from [assets] criticality (when configured)
  session_reinit, invoke_regression, silence_gap_s   from the association's history (store.inventory.sessions)
  inventory_learning     true while the inventory is learning (nothing is "new" then)

`public_peer` (set by the parsers) is removed when the address is inside [assets] site_networks. Marks are only
ever added under these keys, computed from the event's own columns and the inventory's state: the wire's text
never names a key.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from store.inventory.config import InventoryConfig
from store.inventory.model import ROLE_ENGINEERING, ROLE_HMI, AssetBook
from store.inventory.sessions import SessionTracker
from store.inventory.storage import asset_row, load_assets, load_state, save_assets, save_state
from store.ot.protocols import COMMAND_ACTIONS, ENGINEERING_ACTIONS, ICS_SERVICES
from store.parsers.common import ip_or_none

log = logging.getLogger(__name__)

_NOT_TRAFFIC = frozenset({"ids_alert", "ot_anomaly", "log_header", "analyzer_state"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NOT_ASSET: dict[str, bool] = {}


def _not_an_asset(addr: str) -> bool:
    """Broadcast, multicast and unspecified addresses are destinations, not devices."""
    got = _NOT_ASSET.get(addr)
    if got is None:
        try:
            ip = ipaddress.ip_address(addr.split("%", 1)[0])
            got = ip.is_multicast or ip.is_unspecified or (ip.version == 4 and addr.endswith(".255"))
        except ValueError:
            got = True
        if len(_NOT_ASSET) > 65536:
            _NOT_ASSET.clear()
        _NOT_ASSET[addr] = got
    return got


def _identified_conn(f: dict[str, Any]) -> bool:
    """A connection record counts as ICS traffic for the inventory only when the sensor identified the protocol
    (a port alone says nothing: scanners connect to 502 too)."""
    svc = f.get("service") or f.get("app_proto")
    if isinstance(svc, list):
        svc = ",".join(str(s) for s in svc)
    return isinstance(svc, str) and any(s.strip().lower() in ICS_SERVICES for s in svc.split(","))


class AssetInventory:
    def __init__(self, config: InventoryConfig, book: AssetBook | None = None,
                 state: dict[str, str] | None = None) -> None:
        self.config = config
        self.book = book or AssetBook(config.max_assets)
        self.sessions = SessionTracker()
        self._lock = threading.Lock()
        state = state or {}
        self.started = _parse(state.get("learning_started"))
        self.ended = _parse(state.get("learning_ended"))
        self.force_learning = False  # `vigil ingest --learn`: everything ingested is baseline
        self._state_dirty: dict[str, str | None] = {}

    @classmethod
    def open(cls, config: InventoryConfig, cursor: Any) -> AssetInventory:
        book = AssetBook(config.max_assets)
        try:
            for a in load_assets(cursor):
                book.assets[a.address] = a
            state = load_state(cursor)
        finally:
            cursor.close()
        return cls(config, book, state)

    # -- learning -----------------------------------------------------------------------------------------------
    def learning_at(self, when: datetime) -> bool:
        """Whether an event received at `when` is baseline: learning lasts `learning_hours` of arrival time from
        the first industrial event, or until ended (`vigil assets learn --end`, `vigil ingest --learn`)."""
        if self.force_learning:
            return True
        if self.ended is not None:
            return False
        if self.started is None:
            self.started = when
            self._state_dirty["learning_started"] = when.isoformat()
        hours = self.config.learning_hours
        return hours <= 0 or when < self.started + timedelta(hours=hours)

    def end_learning(self, when: datetime | None = None) -> dict[str, str | None]:
        """End learning now; returns the state to save (the caller writes it through the store's writer)."""
        with self._lock:
            self.force_learning = False
            self.ended = when or datetime.now(UTC)
            return {"learning_ended": self.ended.isoformat()}

    def restart_learning(self) -> dict[str, str | None]:
        with self._lock:
            self.ended = None
            self.started = None
            return {"learning_ended": None, "learning_started": None}

    def status(self) -> dict[str, Any]:
        mode = "learning" if self.force_learning or (self.ended is None and (
            self.started is None or self.config.learning_hours <= 0
            or datetime.now(UTC) < self.started + timedelta(hours=self.config.learning_hours))) else "watching"
        return {"mode": mode, "learning_started": self.started, "learning_ended": self.ended,
                "learning_hours": self.config.learning_hours, "assets": len(self.book.assets),
                "dropped": self.book.dropped}

    # -- the enricher -------------------------------------------------------------------------------------------
    def enrich(self, batch: pa.RecordBatch) -> tuple[pa.RecordBatch, Sequence[Any]]:
        names = batch.schema.names
        if batch.num_rows == 0 or "category" not in names:
            return batch, []
        ics = pc.fill_null(pc.equal(batch.column("category"), "ics"), False)
        if not pc.any(ics).as_py():
            return batch, []
        rows = pc.indices_nonzero(ics).to_pylist()
        take = pa.array(rows, pa.int64())

        def col(name: str) -> list[Any]:
            return batch.column(name).take(take).to_pylist() if name in names else [None] * len(rows)

        src, dst, sport, action = col("src_ip"), col("dst_ip"), col("src_port"), col("action")
        received = batch.column("received_at").take(take)
        times = pc.coalesce(batch.column("ts").take(take), received) if "ts" in names else received
        whens = times.to_pylist()
        # Learning runs on the clock of arrival: a replayed capture's old timestamps must not end it early.
        arrivals = received.to_pylist()
        fields_all: list[Any] = batch.column("fields").to_pylist()
        changed = False
        with self._lock:
            for j, i in enumerate(rows):
                raw = fields_all[i]
                try:
                    f = orjson.loads(raw) if raw else {}
                except orjson.JSONDecodeError:
                    continue
                if not isinstance(f, dict):
                    continue
                when = whens[j] or _EPOCH
                if when.tzinfo is None:
                    when = when.replace(tzinfo=UTC)
                marks = self._marks(f, src[j], dst[j], sport[j], action[j] or "", when, arrivals[j] or when)
                if marks is None:
                    continue
                changed = True
                f.update(marks)
                if marks.get("public_peer") is None:
                    f.pop("public_peer", None)
                fields_all[i] = orjson.dumps(f, default=str).decode()
            dirty = self.book.take_dirty()
            asset_rows = [asset_row(a, self.config.criticality_of(a.address), self._role(a)) for a in dirty]
            state, self._state_dirty = self._state_dirty, {}
        if changed:
            idx = names.index("fields")
            batch = batch.set_column(idx, batch.schema.field("fields"), pa.array(fields_all, pa.string()))
        writes: list[Any] = []
        if asset_rows or state:
            writes.append(partial(_write, rows=asset_rows, state=state))
        return batch, writes

    def _role(self, a: Any) -> str:
        if self.config.is_engineering_station(a.address):
            return ROLE_ENGINEERING
        if self.config.is_hmi(a.address) and not a.served:
            return ROLE_HMI
        return str(a.role())

    def _marks(self, f: dict[str, Any], src: str | None, dst: str | None, sport: int | None, action: str,
               when: datetime, arrival: datetime) -> dict[str, Any] | None:
        proto = f.get("ot_protocol")
        if not isinstance(proto, str):
            return None
        cfg = self.config
        direction = str(f.get("ot_direction") or "transaction")
        function = f.get("ot_function") if isinstance(f.get("ot_function"), str) else None
        marks: dict[str, Any] = {}
        client, server = src, dst
        if action == "ot_identity" and f.get("ot_role") == "client":
            server = None
        elif action == "ot_identity" and direction == "unsolicited":
            # A device announcing itself (BACnet I-Am): the packet's sender, as the sensor logged it.
            sender = f.get("source_h")
            client, server = None, sender if isinstance(sender, str) and ip_or_none(sender) else src
        if client and _not_an_asset(client):
            client = None
        if server and _not_an_asset(server):
            server = None
        learning = self.learning_at(arrival if arrival.tzinfo else arrival.replace(tzinfo=UTC))
        traffic = action not in _NOT_TRAFFIC and (action != "connection" or _identified_conn(f))
        if traffic and (client or server):
            identity = f.get("ot_identity") if isinstance(f.get("ot_identity"), dict) else None
            target = f.get("ot_register", f.get("ot_object"))
            marks.update(self.book.observe(
                client=client, server=server, proto=proto, function=function, action=action, direction=direction,
                target=None if target is None else str(target), when=when, learning=learning, identity=identity,
                server_only=client is None))
            if proto != "cotp" and action != "connection":
                key = (src, sport, dst, f.get("dst_port"), proto)
                invoke = f.get("ot_invoke_id")
                marks.update(self.sessions.observe(key, when, function, direction,
                                                   invoke if isinstance(invoke, int) else None))
        if learning:
            marks["inventory_learning"] = True
        if server:
            level = cfg.criticality_of(server)
            if level:
                marks["asset_criticality"] = level
        if (cfg.commanders_configured and client and action in COMMAND_ACTIONS
                and direction in ("request", "transaction")):
            expected = cfg.is_engineering_station(client) or (action not in ENGINEERING_ACTIONS and cfg.is_hmi(client))
            if not expected:
                marks["unexpected_commander"] = client
        peer = f.get("public_peer")
        if isinstance(peer, str):
            marks["public_peer"] = None if cfg.inside_site(peer) else peer
        return marks or None


def _write(con: Any, *, rows: list[tuple[Any, ...]], state: dict[str, str | None]) -> None:
    save_assets(con, rows)
    if state:
        save_state(con, state)


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        v = datetime.fromisoformat(text)
    except ValueError:
        return None
    return v if v.tzinfo else v.replace(tzinfo=UTC)
