"""The OT parts of the console and the demo: the assets screen (`A`) on a real engine whose inventory learned from
real Zeek lines, and the demo's plant scene raising its OT alerts (a new host writes to the critical PLC and
stops it) through the real engine."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from textual.widgets import DataTable, Static

from app.config import Config
from app.demo import DemoScenario, demo_site_config
from app.engine import Engine
from app.ui.assets_screen import AssetsScreen
from store.sources.base import LineBatch
from tests.test_ui_support import make_app, make_engine, settle

S7 = [
    "#separator \\x09", "#path\ts7comm",
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tis_orig\tsource_h\tsource_p\tdestination_h"
    "\tdestination_p\trosctr_code\trosctr_name\tpdu_reference\tfunction_code\tfunction_name\tsubfunction_code"
    "\tsubfunction_name\terror_class\terror_code",
    "#types\ttime\tstring\taddr\tport\taddr\tport\tbool\taddr\tport\taddr\tport\tcount\tstring\tcount\tstring"
    "\tstring\tstring\tstring\tstring\tstring",
    # ICSNPP s7comm snap7 baseline (BSD-3-Clause, (c) 2023 Battelle Energy Alliance), lines 24 and 63.
    "XXXXXXXXXX.XXXXXX\tCHhAvVGS1DHFjwGM9\t134.217.61.131\t51212\t134.217.61.211\t102\tT\t134.217.61.131\t51212"
    "\t134.217.61.211\t102\t1\tJob-Request\t8\t0x1d\tStart Upload\t-\t-\t-\t-",
    "XXXXXXXXXX.XXXXXX\tCHhAvVGS1DHFjwGM9\t134.217.61.131\t51212\t134.217.61.211\t102\tT\t134.217.61.131\t51212"
    "\t134.217.61.211\t102\t1\tJob-Request\t28\t0x29\tPLC Stop\t-\t-\t-\t-",
]


def _wait(pred, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.2)
    return False


async def test_assets_screen_shows_roles_and_details(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    cfg = Config()
    cfg.assets.criticality = {"134.217.61.211": "critical"}
    eng = make_engine(tmp_path, cfg)
    try:
        eng.submit(LineBatch("file:/var/log/zeek/s7comm.log", [line.encode() for line in S7], datetime.now(UTC)))
        assert eng.wait_idle(60)
        app = make_app(eng, tmp_path, cfg, frozen_status=None)
        async with app.run_test(size=(120, 30)) as pilot:
            await settle(app, pilot)
            await pilot.press("A")
            await settle(app, pilot)
            screen = app.screen
            assert isinstance(screen, AssetsScreen)
            assert _wait(lambda: bool(screen.assets), 30)
            await settle(app, pilot)
            table = screen.query_one(DataTable)
            assert table.row_count == 2
            roles = {a["address"]: (a["role"], a["criticality"]) for a in screen.assets}
            assert roles == {"134.217.61.211": ("PLC", "critical"), "134.217.61.131": ("engineering station", None)}
            detail = str(screen.query_one("#assets-detail", Static).render())
            assert "134.217.61." in detail and "functions:" in detail
            await pilot.press("escape")
            assert app.screen is app.main_screen
    finally:
        eng.stop()


def test_demo_plant_scene_raises_the_ot_alerts(tmp_path: Path):
    cfg = Config()
    demo_site_config(cfg, attack_s=8.0)
    scenario = DemoScenario(rate=20, ot_attack_s=8.0)
    engine = Engine(cfg, db_path=tmp_path / "demo.duckdb", extra_sources=[scenario], respond=False).start()
    want = {"ot.controller_stop", "ot.unexpected_commander", "ot.new_talker", "ot.process_write",
            "ot.command_to_critical_asset"}

    def rules() -> dict[str, str]:
        cur = engine.store.cursor()
        try:
            return dict(cur.execute("SELECT rule_id, max(severity) FROM alerts WHERE rule_id LIKE 'ot.%' "
                                    "GROUP BY 1").fetchall())
        finally:
            cur.close()

    try:
        assert _wait(lambda: want <= set(rules()), 150), rules()
        got = rules()
        cur = engine.store.cursor()
        entities = {e for (e,) in cur.execute("SELECT DISTINCT entity FROM alerts WHERE rule_id LIKE 'ot.%'"
                                              ).fetchall()}
        polls = cur.execute("SELECT count(*) FROM alerts WHERE entity LIKE '%10.10.1.20%'").fetchone()[0]
        cur.close()
    finally:
        engine.stop()
    assert got["ot.command_to_critical_asset"] == "critical"
    assert all("10.10.1.99" in e for e in entities)  # the intruder, not the HMI or the engineering station
    assert polls == 0
