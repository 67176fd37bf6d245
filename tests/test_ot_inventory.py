"""The passive OT asset inventory: roles from who serves and who commands, identities, the learning period and the
marks it puts on events, [assets] config, sessions, persistence in a real DuckDB store, the `vigil assets` CLI,
and the response guard that never auto-targets an inventoried asset.

Lines are from ot-ics-logs (ICSNPP btest baselines, BSD-3-Clause, (c) 2023 Battelle Energy Alliance; the MMS rows
from matousp/datasets, BUT Open Source Licence) or built in their exact format.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from detectors.eval.ot_replay import OtReplay
from store.inventory import AssetInventory, InventoryConfig
from store.inventory.model import AssetBook

from .conftest import vigil_cmd

RA = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
S7_HEADER = [
    "#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-", "#path\ts7comm",
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tis_orig\tsource_h\tsource_p\tdestination_h"
    "\tdestination_p\trosctr_code\trosctr_name\tpdu_reference\tfunction_code\tfunction_name\tsubfunction_code"
    "\tsubfunction_name\terror_class\terror_code",
    "#types\ttime\tstring\taddr\tport\taddr\tport\tbool\taddr\tport\taddr\tport\tcount\tstring\tcount\tstring"
    "\tstring\tstring\tstring\tstring\tstring",
]


def s7(client: str, ref: int, code: str, name: str, server: str = "134.217.61.211") -> str:
    return (f"XXXXXXXXXX.XXXXXX\tCHhAvVGS1DHFjwGM9\t{client}\t51212\t{server}\t102\tT\t{client}\t51212\t{server}"
            f"\t102\t1\tJob-Request\t{ref}\t{code}\t{name}\t-\t-\t-\t-")


MODBUS_HEADER = ["#separator \\x09", "#path\tmodbus",
                 "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\ttid\tunit\tfunc\tpdu_type\texception",
                 "#types\ttime\tstring\taddr\tport\taddr\tport\tcount\tcount\tstring\tstring\tstring"]


def modbus(client: str, func: str, server: str = "10.0.0.3", pdu: str = "REQ", tid: int = 1) -> str:
    return f"XXXXXXXXXX.XXXXXX\tC{client.replace('.', '')}x\t{client}\t3082\t{server}\t502\t{tid}\t10\t{func}\t{pdu}\t-"


DNP3_HEADER = ["#separator \\x09", "#path\tdnp3",
               "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tfc_request\tfc_reply\tiin",
               "#types\ttime\tstring\taddr\tport\taddr\tport\tstring\tstring\tcount"]
BACNET_DISCOVERY = [
    "#separator \\x09", "#path\tbacnet_discovery",
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tis_orig\tsource_h\tsource_p\tdestination_h"
    "\tdestination_p\tpdu_service\tdevice_id_type\tdevice_id_number\tobject_type\tinstance_number\tvendor\trange"
    "\tobject_name",
    "#types\ttime\tstring\taddr\tport\taddr\tport\tbool\taddr\tport\taddr\tport\tstring\tstring\tcount\tstring"
    "\tcount\tstring\tstring\tstring",
    "XXXXXXXXXX.XXXXXX\tCwjjYJ2WqgTbAqiHl6\t172.20.32.108\t47808\t172.20.32.255\t47808\tT\t172.20.32.108\t47808"
    "\t172.20.32.255\t47808\ti-am\t-\t-\tdevice\t721\tCornell University\t-\t-",
]
S7_KNOWN = [
    "#separator \\x09", "#path\ts7comm_known_devices",
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tis_orig\tsource_h\tsource_p\tdestination_h"
    "\tdestination_p\tautomation_system_name\tmodule_name\tplant_name\tmodule_serial",
    "#types\ttime\tstring\taddr\tport\taddr\tport\tbool\taddr\tport\taddr\tport\tstring\tstring\tstring\tstring",
    "XXXXXXXXXX.XXXXXX\tCHhAvVGS1DHFjwGM9\t172.17.0.2\t33028\t172.17.0.3\t102\t-\t-\t-\t-\t-\tSNAP7-SERVER"
    "\tCPU 315-2 PN/DP\t(empty)\tS C-C2UR28922012",
]


def feed(replay: OtReplay, lines: list[str], when: datetime = RA) -> list:
    return replay.feed_lines(lines, "replay", received_at=when)


def roles(replay: OtReplay) -> dict[str, str]:
    return {a.address: replay.inventory._role(a) for a in replay.inventory.book.assets.values()}


def test_roles_from_who_serves_and_who_commands():
    r = OtReplay()
    feed(r, [*S7_HEADER, s7("134.217.61.131", 1, "0xf0", "Setup Communication"),
             s7("134.217.61.131", 8, "0x1d", "Start Upload"), s7("134.217.61.131", 28, "0x29", "PLC Stop"),
             s7("192.168.0.33", 1, "0x04", "Read Variable", server="192.168.0.1"),
             *MODBUS_HEADER, modbus("10.0.0.9", "READ_COILS"), modbus("10.0.0.9", "WRITE_SINGLE_COIL"),
             *DNP3_HEADER, "XXXXXXXXXX.XXXXXX\tC1\t10.10.20.5\t55355\t10.10.20.8\t20000\tOPERATE\tRESPONSE\t0",
             *BACNET_DISCOVERY, *S7_KNOWN])
    got = roles(r)
    assert got["134.217.61.211"] == "PLC" and got["192.168.0.1"] == "PLC"
    assert got["134.217.61.131"] == "engineering station"  # it uploads programs and stops PLCs
    assert got["192.168.0.33"] == "HMI" and got["10.0.0.9"] == "HMI"  # reads and writes set-points
    assert got["10.0.0.3"] == "PLC" and got["10.10.20.8"] == "outstation"
    assert got["172.20.32.108"] == "controller"  # a BACnet device announcing itself (I-Am)
    assert "172.20.32.255" not in got  # a broadcast address is not a device
    books = r.inventory.book.assets
    assert books["172.20.32.108"].identity["vendor"] == "Cornell University"
    assert books["172.17.0.3"].identity["module_name"] == "CPU 315-2 PN/DP"
    plc = books["134.217.61.211"]
    assert {"s7comm:PLC Stop", "s7comm:Start Upload"} <= plc.functions and plc.commands == 2
    assert plc.talkers == {"134.217.61.131"}


def test_after_learning_the_first_new_talker_function_and_target_are_marked_once():
    r = OtReplay()
    r.inventory.force_learning = True
    evs = [e for b in [feed(r, [*MODBUS_HEADER, *(modbus("10.0.0.20", "READ_HOLDING_REGISTERS", tid=i)
                                                  for i in range(5))])] for e in b]
    assert not evs  # polling raises nothing
    r.inventory.end_learning()
    first = len(r.raws)
    feed(r, [*MODBUS_HEADER, modbus("10.0.0.20", "READ_HOLDING_REGISTERS", tid=9),
             modbus("10.0.0.99", "READ_HOLDING_REGISTERS", tid=1), modbus("10.0.0.99", "WRITE_SINGLE_COIL", tid=2),
             modbus("10.0.0.99", "WRITE_SINGLE_COIL", tid=3)])
    rules = {u.rule_id: u for u in r.updates}
    assert {"ot.new_talker", "ot.new_asset", "ot.new_function", "ot.process_write"} <= set(rules)
    assert rules["ot.new_talker"].count == 1 and rules["ot.new_function"].count == 1  # once, not per event
    assert rules["ot.new_talker"].entity == "ot_link=modbus 10.0.0.99→10.0.0.3"
    cited = {i for u in r.updates for i in u.new_event_ids}
    assert first + 4 + 1 not in cited  # the known HMI's poll after learning is not new


def test_commands_from_hosts_not_listed_in_assets_and_criticality():
    cfg = InventoryConfig.from_values(criticality={"10.0.0.0/24": "high", "10.0.0.3": "critical"},
                                      engineering_stations=["10.0.0.50"], hmis=["10.0.0.20"],
                                      site_networks=["3.15.227.0/24"])
    r = OtReplay(inventory=AssetInventory(cfg))
    lines = [*MODBUS_HEADER, modbus("10.0.0.20", "WRITE_SINGLE_REGISTER"), modbus("10.0.0.50", "WRITE_SINGLE_COIL"),
             modbus("10.0.0.66", "WRITE_SINGLE_COIL"), modbus("10.0.0.20", "READ_COILS", server="10.0.0.4"),
             modbus("10.0.0.20", "WRITE_SINGLE_COIL", server="10.0.0.4"),
             modbus("192.168.1.6", "READ_HOLDING_REGISTERS", server="3.15.227.20"),
             *S7_HEADER, s7("10.0.0.20", 8, "0x1d", "Start Upload", server="10.0.0.3")]
    feed(r, lines)
    by_rule: dict[str, set[str]] = {}
    for u in r.updates:
        by_rule.setdefault(u.rule_id, set()).add(u.entity)
    assert by_rule["ot.unexpected_commander"] == {"ot_link=modbus 10.0.0.66→10.0.0.3",
                                                  "ot_link=s7comm 10.0.0.20→10.0.0.3"}  # an HMI uploading logic
    assert by_rule["ot.command_to_critical_asset"] >= {"ot_link=modbus 10.0.0.20→10.0.0.3"}
    assert by_rule["ot.command_to_high_criticality_asset"] == {"ot_link=modbus 10.0.0.20→10.0.0.4"}
    assert "ot.public_address" not in by_rule  # 3.15.227.20 is inside [assets] site_networks
    crit = [u for u in r.updates if u.rule_id == "ot.command_to_critical_asset"]
    assert all(u.severity == "critical" for u in crit)


def test_mms_association_history():
    header = ("TimeStamp;Relative Time;srcIP;dstIP;srcPort;dstPort;ipLen;MMS Type;MMS Service;Invoke Id;"
              "Domain Id;Item Id;Object Class")

    def row(t: float, pdu: int, service: str = "", invoke: str = "", from_server: bool = False) -> str:
        stamp = (datetime(2026, 12, 3, 7, 0) + timedelta(seconds=t)).strftime("%H:%M:%S.%f")
        a, b, pa, pb = ("10.10.20.10", "10.10.3.19", 102, 50225) if from_server else ("10.10.3.19", "10.10.20.10",
                                                                                      50225, 102)
        return f"{stamp};{t};{a};{b};{pa};{pb};80;{pdu};{service};{invoke};;;"

    lines = [header, row(0, 8), row(0.01, 9, from_server=True)]
    lines += [row(10 * i + 1, 0, "1", str(800 + i)) for i in range(25)]  # normal polling, ids rising
    lines += [row(300, 8), row(300.01, 9, from_server=True), row(301, 0, "1", "1"), row(302, 0, "1", "2", True)]
    lines += [row(480, 3, "0", from_server=True)]  # 178 s of silence on a chatty association
    r = OtReplay()
    feed(r, lines)
    cited = {u.rule_id: sorted(u.new_event_ids) for u in r.updates}
    n = len(lines)
    assert cited["ot.session_reinit"] == [29, 30]  # the second initiate request and its response
    assert cited["ot.request_id_regression"] == [31, 32]
    assert cited["ot.role_reversal"] == [32]
    assert cited["ot.communication_loss"] == [n]
    assert "ot.session_reinit" not in {u.rule_id for u in r.updates if 2 in u.new_event_ids}


def test_full_inventory_counts_what_it_drops():
    book = AssetBook(max_assets=2)
    for i in range(5):
        book.observe(client=f"10.0.0.{i + 10}", server="10.0.0.3", proto="modbus", function="READ_COILS",
                     action="ot_read", direction="request", target=None, when=RA, learning=True)
    assert len(book.assets) == 2 and book.dropped == 4


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*vigil_cmd(), *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_inventory_persists_with_the_events_and_learning_ends_with_ingest_learn(tmp_path: Path):
    db = str(tmp_path / "v.duckdb")
    normal = tmp_path / "modbus.log"
    normal.write_text("\n".join([*MODBUS_HEADER, *(modbus("10.0.0.20", "READ_COILS", tid=i) for i in range(3))])
                      + "\n")
    attack = tmp_path / "attack-modbus.log"
    attack.write_text("\n".join([*MODBUS_HEADER, modbus("10.0.0.99", "WRITE_SINGLE_COIL")]) + "\n")
    assert _run("ingest", "--learn", "--db", db, str(normal)).returncode == 0
    out = _run("assets", "--db", db, "--format", "json")
    assert out.returncode == 0, out.stderr
    assets = {a["address"]: a for a in json.loads(out.stdout)}
    assert assets["10.0.0.3"]["role"] == "PLC" and assets["10.0.0.20"]["role"] == "HMI"
    assert assets["10.0.0.3"]["functions"] == ["modbus:READ_COILS"] and assets["10.0.0.3"]["events"] == 3
    # A second process: the baseline and the end of learning come back from the store.
    assert _run("ingest", "--detect", "--db", db, str(attack)).returncode == 0
    q = _run("query", "--db", db, "--format", "json", "SELECT rule_id FROM alerts ORDER BY rule_id")
    rules = {r["rule_id"] for r in json.loads(q.stdout)}
    assert {"ot.new_talker", "ot.new_function", "ot.process_write"} <= rules
    table = _run("assets", "--db", db)
    assert "10.0.0.99" in table.stdout and "learning ended" in table.stderr
    assert _run("assets", "--db", db, "--restart-learning").returncode == 0
    assert "learning starts" not in _run("assets", "--db", db).stderr  # state cleared, shown as not started
    assert "not started" in _run("assets", "--db", db).stderr


def test_bad_assets_config_is_refused_by_name(tmp_path: Path, private_xdg: Path):
    cfg = private_xdg / "xdg_config_home" / "vigil"
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "config.toml").write_text('[assets]\ncriticality = { "10.0.0.300" = "high" }\n')
    out = _run("assets", "--db", str(tmp_path / "v.duckdb"))
    assert out.returncode == 2 and "assets.criticality.10.0.0.300" in out.stderr and "Traceback" not in out.stderr
    (cfg / "config.toml").write_text('[assets]\nengineering_stations = ["10.0.0.5", "eng-ws"]\n')
    out = _run("assets", "--db", str(tmp_path / "v.duckdb"))
    assert out.returncode == 2 and "assets.engineering_stations[1]" in out.stderr


def test_auto_run_never_targets_an_inventoried_asset(tmp_path: Path):
    from playbooks.chat import PlaybookSession
    from store.inventory.storage import INVENTORY_MIGRATIONS, asset_row

    from .playbook_support import bruteforce_alert, make_config, open_db, unprivileged_catalog

    con, db = open_db(tmp_path / "guard.duckdb")
    for stmt in INVENTORY_MIGRATIONS[0][1].split(";\n"):
        con.execute(stmt)
    book = AssetBook()
    book.observe(client="203.0.113.61", server="10.0.0.3", proto="modbus", function="WRITE_SINGLE_COIL",
                 action="ot_write", direction="request", target=None, when=RA, learning=True)
    con.execute("INSERT INTO ot_assets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                list(asset_row(book.assets["203.0.113.61"], None)))
    s = PlaybookSession(make_config(tmp_path, auto_run_medium=True), db, catalog=unprivileged_catalog())
    bruteforce_alert(con, 1, "medium", first_event=100, ip="203.0.113.61")
    bruteforce_alert(con, 2, "medium", first_event=200, ip="203.0.113.62")
    held, ran = s.route(1), s.route(2)
    assert held is not None and held.action == "prepare" and held.held is not None
    assert held.held.kind == "ot_asset" and "203.0.113.61 is in the OT asset inventory" in held.held.text
    assert ran is not None and ran.action == "auto_run"
    record = con.execute("SELECT record FROM audit_log WHERE kind = 'auto_run_held'").fetchone()
    assert record and json.loads(record[0])["data"]["limit"] == "ot_asset"
    con.close()
