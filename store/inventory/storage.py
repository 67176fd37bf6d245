"""The inventory's tables: one row per asset (updated in the same transaction as the events that changed it) and
the learning state. Read by `vigil assets`, the console's assets screen and the response guard."""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from store.inventory.model import Asset

INVENTORY_MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        "CREATE TABLE IF NOT EXISTS ot_assets ("
        " address VARCHAR PRIMARY KEY, role VARCHAR, criticality VARCHAR, protocols VARCHAR[], served VARCHAR[],"
        " functions VARCHAR[], peers VARCHAR[], identity JSON, first_seen TIMESTAMPTZ, last_seen TIMESTAMPTZ,"
        " events BIGINT, commands BIGINT, state JSON, updated_at TIMESTAMPTZ);\n"
        "CREATE TABLE IF NOT EXISTS ot_inventory_state (key VARCHAR PRIMARY KEY, value VARCHAR)",
    ),
]
COLUMNS = ("address", "role", "criticality", "protocols", "served", "functions", "peers", "identity", "first_seen",
           "last_seen", "events", "commands")


def asset_row(a: Asset, criticality: str | None, role: str | None = None) -> tuple[Any, ...]:
    state = {
        "served": dict(a.served), "spoken": dict(a.spoken), "sent": dict(a.sent), "talkers": sorted(a.talkers),
        "write_targets": sorted(a.write_targets), "baseline": {k: sorted(v) for k, v in a.baseline.items()},
    }
    return (a.address, role or a.role(), criticality, a.protocols(), sorted(a.served), sorted(a.functions),
            sorted(a.peers), json.dumps(a.identity, default=str) if a.identity else None, a.first_seen,
            a.last_seen, a.events, a.commands, json.dumps(state), datetime.now(UTC))


def save_assets(con: Any, rows: Sequence[tuple[Any, ...]]) -> None:
    if rows:
        con.executemany("INSERT OR REPLACE INTO ot_assets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        list(rows))


def save_state(con: Any, values: dict[str, str | None]) -> None:
    for k, v in values.items():
        if v is None:
            con.execute("DELETE FROM ot_inventory_state WHERE key = ?", [k])
        else:
            con.execute("INSERT OR REPLACE INTO ot_inventory_state VALUES (?, ?)", [k, v])


def load_state(con: Any) -> dict[str, str]:
    try:
        return {str(k): str(v) for k, v in con.execute("SELECT key, value FROM ot_inventory_state").fetchall()}
    except Exception:  # a store without the table (read-only, older): nothing learned yet
        return {}


def _aware(v: Any) -> datetime:
    if isinstance(v, datetime):
        return v if v.tzinfo else v.replace(tzinfo=UTC)
    return datetime.now(UTC)


def load_assets(con: Any) -> list[Asset]:
    rows = con.execute("SELECT address, functions, peers, identity, first_seen, last_seen, events, commands, state "
                       "FROM ot_assets").fetchall()
    out = []
    for address, functions, peers, identity, first, last, events, commands, state in rows:
        st = json.loads(state) if state else {}
        a = Asset(str(address), _aware(first), _aware(last))
        a.served = Counter(st.get("served") or {})
        a.spoken = Counter(st.get("spoken") or {})
        a.sent = Counter(st.get("sent") or {})
        a.functions = set(functions or [])
        a.peers = set(peers or [])
        a.talkers = set(st.get("talkers") or [])
        a.write_targets = set(st.get("write_targets") or [])
        for k, v in (st.get("baseline") or {}).items():
            a.baseline[k] = set(v)
        a.identity = json.loads(identity) if identity else {}
        a.events, a.commands = int(events or 0), int(commands or 0)
        out.append(a)
    return out


def list_assets(con: Any, limit: int = 10_000) -> list[dict[str, Any]]:
    """Assets for display, most recently seen first."""
    cols = ", ".join(COLUMNS)
    rows = con.execute(f"SELECT {cols} FROM ot_assets ORDER BY last_seen DESC, address LIMIT ?", [limit]).fetchall()
    out = []
    for r in rows:
        d = dict(zip(COLUMNS, r, strict=True))
        d["identity"] = json.loads(d["identity"]) if d["identity"] else {}
        out.append(d)
    return out


def inventoried_within(con: Any, target: str) -> str | None:
    """The inventoried asset that `target` (an address or a CIDR network) is or contains, or None. Errors other
    than a store without the inventory table propagate: a guard must not take "could not check" for "no"."""
    import duckdb

    try:
        net = ipaddress.ip_network(target.strip(), strict=False)
    except ValueError:
        return None
    try:
        if net.num_addresses == 1:
            rows = con.execute("SELECT address FROM ot_assets WHERE address IN (?, ?)",
                               [target.strip(), str(net.network_address)]).fetchall()
        else:
            rows = con.execute("SELECT address FROM ot_assets").fetchall()
    except duckdb.CatalogException:
        return None
    for (addr,) in rows:
        try:
            ip = ipaddress.ip_address(str(addr))
        except ValueError:
            continue
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip.version == net.version and ip in net:
            return str(addr)
    return None
