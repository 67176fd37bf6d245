"""Helpers for the console tests: a real engine on a temp DuckDB store, real events and alerts written
through the engine's writer, and alert ids announced through the real outbox (no test functions here)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from app.config import Config
from app.engine import Engine, EngineStatus
from app.ui.app import VigilApp
from app.ui.queries import fetch_alert_rows
from app.ui.state import StateFile

T0 = datetime(2026, 11, 20, 9, 0, 0, tzinfo=UTC)


def make_engine(tmp_path: Path, config: Config | None = None, *, detectors: bool = False) -> Engine:
    """A started engine on a fresh store; detectors off unless asked (they cost seconds to load and these
    tests write their own alerts)."""
    cfg = config or Config()
    cfg.detectors.enabled = detectors
    return Engine(cfg, db_path=tmp_path / "vigil.duckdb").start()


def add_events(engine: Engine, rows: list[dict[str, Any]]) -> None:
    cols = ["event_id", "ts", "received_at", "source", "host", "app", "message", "raw", "template_id", "src_ip",
            "user", "fields"]

    def write(con: Any) -> None:
        con.executemany(
            f"INSERT INTO events ({', '.join(repr(c).replace(chr(39), chr(34)) for c in cols)}) "
            f"VALUES ({', '.join('?' for _ in cols)})",
            [[r.get(c) for c in cols] for r in rows],
        )

    engine.writer.call(write).result(timeout=30)


def auth_events(start_id: int = 1, n: int = 10, source: str = "file:/var/log/auth.log") -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        eid = start_id + i
        ts = T0 + timedelta(seconds=10 * i)
        raw = f"Nov 20 09:00:{i:02d} jump1 sshd[4{i:03d}]: Failed password for root from 203.0.113.7 port 22"
        out.append({"event_id": eid, "ts": ts, "received_at": ts, "source": source, "host": "jump1",
                    "app": "sshd", "message": raw.split(": ", 1)[1], "raw": raw, "template_id": 7,
                    "src_ip": "203.0.113.7", "user": "root", "fields": json.dumps({"port": 22})})
    return out


def add_template(engine: Engine, tid: int, text: str) -> None:
    engine.writer.call(lambda con: con.execute(
        "INSERT OR REPLACE INTO templates (template_id, template) VALUES (?, ?)", [tid, text])).result(timeout=30)


def add_alert(engine: Engine, alert_id: int, *, severity: str = "high", title: str = "SSH brute force",
              entity: str = "src_ip=203.0.113.7", event_ids: list[int] | None = None, count: int | None = None,
              minutes: int = 0, detector: str = "rule", rule_id: str = "ssh_bruteforce",
              announce: bool = True) -> None:
    ids = event_ids if event_ids is not None else [1, 2, 3]
    ts = T0 + timedelta(minutes=minutes)

    def write(con: Any) -> None:
        con.execute(
            "INSERT OR REPLACE INTO alerts (alert_id, created_at, first_seen, last_seen, detector, rule_id, entity,"
            " score, severity, title, summary, event_ids, count, why, host) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [alert_id, ts, ts, ts + timedelta(seconds=30), detector, rule_id, entity, 0.75, severity, title,
             f"{title}: {count or len(ids)} events", ids, count or len(ids),
             "10 failed logins from one address within 60 s", "jump1"],
        )

    engine.writer.call(write).result(timeout=30)
    if announce:  # as the scorer does: the typed row goes to the console through the outbox
        engine.outbox.put_alerts(fetch_alert_rows(engine.store.cursor(), [alert_id]))


def frozen_status() -> EngineStatus:
    return EngineStatus(
        events_total=123456, events_per_s=1234.0, lines_total=123456, parse_errors=3,
        sources=[{"name": "demo scenario", "kind": "demo", "state": "running", "lines": 123456}],
        store_bytes=12 * 1024 * 1024, alerts_total=3, scorer={"scored": 1, "checkpoint": 123456},
    )


def make_app(engine: Engine, tmp_path: Path, config: Config | None = None, *, table: str = "alerts",
             **kw: Any) -> VigilApp:
    """The console on `engine`. It opens on the alert list unless `table="incidents"` (the real default): most
    tests here write alerts directly, without the detection consumer that folds them into incidents."""
    kw.setdefault("frozen_status", frozen_status())
    kw.setdefault("state_file", StateFile(tmp_path / "state" / "console.json"))
    cfg = config or Config()
    cfg.ui.table = table
    return VigilApp(cfg, engine=engine, live=False, **kw)


async def settle(app: VigilApp, pilot: Any, rounds: int = 3) -> None:
    """Let workers finish and their messages be handled (no sleeps: waits on the workers themselves)."""
    from textual.worker import WorkerCancelled

    for _ in range(rounds):
        for worker in list(app.workers):
            try:
                await worker.wait()
            except WorkerCancelled:  # an exclusive worker superseded by a newer one (a detail re-load): normal
                pass
        await pilot.pause()


async def drain(app: VigilApp, pilot: Any) -> None:
    """One bridge tick, driven by the test instead of the 4 Hz timer."""
    assert app.bridge is not None
    worker = app.bridge.drain()
    if worker is not None:
        await worker.wait()
    await settle(app, pilot)


def fold_incidents(engine: Engine, alert_ids: list[int]) -> None:
    """Hand alerts written by `add_alert` to the engine's incident book, as the detection consumer does with what
    it commits (the book reads their evidence from the store and writes incidents through the writer)."""
    from detectors.alerts import AlertUpdate

    cols = [c for c in AlertUpdate.UPSERT_COLUMNS]
    rows = engine.store.cursor().execute(
        f"SELECT {', '.join(cols)}, status FROM alerts WHERE alert_id IN (SELECT unnest(?)) ORDER BY alert_id",
        [alert_ids]).fetchall()
    updates = []
    for r in rows:
        d = dict(zip([*cols, "status"], r, strict=True))
        d["event_ids"] = list(d["event_ids"] or [])
        updates.append(AlertUpdate(**d, new_event_ids=list(d["event_ids"]), new_count=d["count"]))
    engine.incidents.on_alerts(updates)
    assert engine.incidents.wait_idle(30)
    engine.writer.flush(30)
