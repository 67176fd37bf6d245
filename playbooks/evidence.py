"""An alert and the event rows it cites, read from the store (never from model text), plus the read-only
look-ups the chat model may call as tools."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from playbooks.addresses import canonical_ip
from store.schema import ALERT_FIELD_NAMES, EVENT_FIELD_NAMES

# Derived evidence field: accounts the cited rows show compromised (see `compromised_accounts`).
COMPROMISED_USER = "compromised_user"
# Event columns whose values can bind a playbook parameter, and that the model may search by.
BINDABLE_FIELDS = ("src_ip", "dst_ip", "user", "host", "app", "source")
SEARCHABLE_FIELDS = ("src_ip", "dst_ip", "user", "host", "app", "category", "outcome", "template_id")
_EVIDENCE_COLS = [c for c in EVENT_FIELD_NAMES if c != "raw_bytes"]


def normalise(value: Any) -> str:
    """Canonical text for comparing a parameter with evidence (IPs canonical, names case-folded)."""
    text = str(value).strip()
    try:
        return str(canonical_ip(text))
    except ValueError:
        pass
    text = text.lower()
    return text.removesuffix(".service")


@dataclass(frozen=True)
class AlertContext:
    alert: dict[str, Any]
    evidence: list[dict[str, Any]] = field(default_factory=list)

    @property
    def alert_id(self) -> int:
        return int(self.alert["alert_id"])

    @property
    def severity(self) -> str:
        return str(self.alert.get("severity") or "low")

    @property
    def category(self) -> str | None:
        return self.alert.get("category")

    @property
    def event_ids(self) -> list[int]:
        return [int(x) for x in (self.alert.get("event_ids") or [])]

    def entity(self) -> tuple[str, str] | None:
        ent = str(self.alert.get("entity") or "")
        if "=" not in ent:
            return None
        key, _, val = ent.partition("=")
        return key.strip(), val.strip()

    def rows(self, event_ids: Iterable[int] | None = None) -> list[dict[str, Any]]:
        if event_ids is None:
            return self.evidence
        wanted = set(event_ids)
        return [r for r in self.evidence if r.get("event_id") in wanted]

    def values(self, fields: list[str] | None, event_ids: Iterable[int] | None = None) -> set[str]:
        """Normalised values of `fields` (None = every bindable field) across the cited rows and the entity."""
        names = list(fields) if fields else list(BINDABLE_FIELDS)
        out: set[str] = set()
        for row in self.rows(event_ids):
            for name in names:
                if row.get(name) not in (None, ""):
                    out.add(normalise(row[name]))
            extra = row.get("fields")
            if isinstance(extra, str):
                try:
                    extra = json.loads(extra)
                except ValueError:
                    extra = None
            if isinstance(extra, dict):
                for name in names:
                    val = extra.get(name)
                    if isinstance(val, str | int) and not isinstance(val, bool):
                        out.add(normalise(val))
        ent = self.entity()
        if ent and (fields is None or ent[0] in names):
            out.add(normalise(ent[1]))
        return out

    def most_common(self, field_name: str) -> str | None:
        if field_name == COMPROMISED_USER:
            found = compromised_accounts(self.evidence)
            return found[-1] if found else None
        ent = self.entity()
        if ent and ent[0] == field_name:
            return ent[1]
        counts: dict[str, int] = {}
        for row in self.evidence:
            val = row.get(field_name)
            if val not in (None, ""):
                counts[str(val)] = counts.get(str(val), 0) + 1
        return max(counts, key=lambda k: counts[k]) if counts else None


def compromised_accounts(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Accounts with a successful login that follows failed logins for the same account from the same
    address, in these rows (oldest compromise first). Failures alone make an account a target of the
    attack, not a compromised one: locking it would punish the victim."""
    failed: set[tuple[str, str]] = set()
    out: list[str] = []
    auth = [r for r in rows if r.get("user") and r.get("src_ip") and r.get("outcome") in ("failure", "success")]
    for row in sorted(auth, key=lambda r: int(r.get("event_id") or 0)):  # ids follow arrival order
        key = (str(row["user"]), normalise(row["src_ip"]))
        if row["outcome"] == "failure":
            failed.add(key)
        elif key in failed and key[0] not in out:
            out.append(key[0])
    return out


def fetch_dicts(cur: Any, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    """Rows as dicts through Arrow (timestamps come back tz-aware without needing pytz)."""
    return cur.sql(sql, params=params or None).to_arrow_table().to_pylist()


def load_alert(cur: Any, alert_id: int, max_rows: int = 500) -> AlertContext | None:
    """The alert and up to `max_rows` of its evidence events, or None when there is no such alert."""
    cols = ", ".join(f'"{c}"' for c in ALERT_FIELD_NAMES)
    found = fetch_dicts(cur, f"SELECT {cols} FROM alerts WHERE alert_id = ?", [int(alert_id)])
    if not found:
        return None
    alert = found[0]
    ids = [int(x) for x in (alert.get("event_ids") or [])][:max_rows]
    return AlertContext(alert, rows_by_id(cur, ids))


def rows_by_id(cur: Any, event_ids: list[int]) -> list[dict[str, Any]]:
    if not event_ids:
        return []
    ecols = ", ".join(f'"{c}"' for c in _EVIDENCE_COLS)
    return fetch_dicts(cur, f"SELECT {ecols} FROM events WHERE event_id IN (SELECT unnest(?::BIGINT[])) "
                            "ORDER BY event_id", [[int(x) for x in event_ids]])


def search_events(cur: Any, field_name: str, value: str, since: datetime | None = None,
                  until: datetime | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """Read-only tool: events whose `field_name` equals `value`, newest first. Field is allow-listed."""
    if field_name not in SEARCHABLE_FIELDS:
        raise ValueError(f"cannot search by {field_name!r}; allowed: {', '.join(SEARCHABLE_FIELDS)}")
    sql = (f'SELECT event_id, ts, host, app, src_ip, "user", category, outcome, message FROM events '
           f'WHERE CAST("{field_name}" AS VARCHAR) = ?')
    params: list[Any] = [str(value)]
    if since is not None:
        sql += " AND ts >= ?"
        params.append(since)
    if until is not None:
        sql += " AND ts <= ?"
        params.append(until)
    sql += " ORDER BY event_id DESC LIMIT ?"
    params.append(max(1, min(int(limit), 100)))
    return fetch_dicts(cur, sql, params)
