"""Every OT rule fires on a real line of the kind it is about and stays quiet on normal polling: the lines go
through the real parser chain, the asset inventory (the enricher) and the shipped rules (detectors/eval/ot_replay,
exactly what `vigil ingest --detect` runs). Fixture lines and their licences: ot_lines.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detectors.alerts import AlertUpdate
from detectors.eval.ot_replay import OtReplay
from detectors.sigma_rules import ot_lines as L
from store.inventory import AssetInventory, InventoryConfig

# Only program download has no capture in any public baseline: this S7 Job-Request is written in the ICSNPP
# s7comm.log format with the function code S7 uses for it (0x1a Request Download).
S7_REQUEST_DOWNLOAD = L.S7_PLC_STOP.replace("\t28\t0x29\tPLC Stop\t", "\t40\t0x1a\tRequest Download\t")
EVE_SEVERE = json.dumps({"timestamp": "2024-05-01T10:00:00.000000+0000", "event_type": "alert",
                         "src_ip": "203.0.113.50", "src_port": 51000, "dest_ip": "10.0.0.5", "dest_port": 22,
                         "proto": "TCP", "alert": {"action": "allowed", "signature_id": 2001219,
                                                   "signature": "ET SCAN Potential SSH Scan", "severity": 1}})


def run(lines: list[str], replay: OtReplay | None = None, source: str = "replay") -> list[AlertUpdate]:
    r = replay or OtReplay()
    return r.feed_lines(lines, source)


def fired(updates: list[AlertUpdate]) -> dict[str, AlertUpdate]:
    """The last state of each rule's alert (tests that expect several alerts of a rule use `entities`)."""
    out: dict[str, AlertUpdate] = {}
    for u in updates:
        out[u.rule_id] = u
    return out


def entities(updates: list[AlertUpdate], rule: str) -> set[str]:
    return {u.entity for u in updates if u.rule_id == rule}


CASES = [
    ("ot.process_write", [*L.MODBUS_DETAILED_HEADER, L.MODBUS_WRITE_REGISTER], "medium", "WRITE_SINGLE_REGISTER"),
    ("ot.control_command", [*L.DNP3_CONTROL_HEADER, L.DNP3_CROB_OPERATE], "high", "OPERATE"),
    ("ot.program_download", [*L.S7_HEADER, S7_REQUEST_DOWNLOAD], "high", "Request Download"),
    ("ot.program_upload", [*L.S7_HEADER, L.S7_START_UPLOAD], "medium", "Start Upload"),
    ("ot.controller_stop", [*L.S7_HEADER, L.S7_PLC_STOP], "high", "PLC Stop"),
    ("ot.operating_mode_change", [*L.S7_HEADER, L.S7_PLC_CONTROL], "high", "PLC Copy Ram to Rom"),
    ("ot.device_restart", [*L.BACNET_HEADER, L.BACNET_REINIT], "high", "reinitialize_device"),
    ("ot.device_restart", [*L.DNP3_HEADER, L.DNP3_COLD_RESTART], "high", "COLD_RESTART"),
    ("ot.communication_control", [*L.BACNET_HEADER, L.BACNET_SERVICES_DCC], "high", "device_communication_control"),
    ("ot.reporting_disabled", [*L.DNP3_HEADER, L.DNP3_DISABLE_UNSOLICITED], "medium", "DISABLE_UNSOLICITED"),
    ("ot.configuration_change", [*L.S7_HEADER, L.S7_SET_CLOCK], "medium", "Set Clock"),
    ("ot.file_transfer", [*L.BACNET_HEADER, L.BACNET_ATOMIC_WRITE], "medium", "atomic_write_file"),
    ("ot.file_delete", [*L.DNP3_HEADER, L.DNP3_DELETE_FILE], "high", "DELETE_FILE"),
    ("ot.engineering_channel", [*L.BACNET_HEADER, L.BACNET_VT_OPEN], "medium", "vt_open"),
    ("ot.device_restarted", [*L.DNP3_HEADER, L.DNP3_RESTARTED], "medium", "DEVICE_RESTART"),
    ("ot.undefined_function", [*L.MODBUS_HEADER, L.MODBUS_UNDEFINED], "medium", "unknown-29"),
    ("ot.protocol_anomaly", [*L.ANALYZER_HEADER, L.ANALYZER_VIOLATION], "low", "MODBUS analyzer violation"),
    ("ot.auth_failure", [*L.BACNET_HEADER, L.BACNET_PASSWORD_FAILURE], "medium", "wrong password"),
    ("ot.public_address", [*L.CONN_HEADER, L.CONN_INTERNET], "high", "Modbus port connection"),
    ("ot.ids_alert", [L.EVE_MODBUS_WRITE_ALERT], "high", "Modbus access write test"),
    ("net.suricata_alert", [L.EVE_LUA_ALERT], "medium", "LUA"),
    ("net.suricata_alert_severe", [EVE_SEVERE], "high", "ET SCAN Potential SSH Scan"),
]


@pytest.mark.parametrize(("rule", "lines", "severity", "function"), CASES, ids=[f"{c[0]}:{c[3]}" for c in CASES])
def test_rule_fires_on_its_real_line_and_the_why_names_the_function(rule, lines, severity, function):
    got = fired(run(lines))
    assert rule in got, sorted(got)
    u = got[rule]
    assert u.severity == severity
    assert function in u.why, u.why  # the analyst sees which function was used


def test_method_call_on_a_headerless_opc_ua_log_with_its_column_map(tmp_path: Path):
    log = tmp_path / "opcua-binary" / "opcua_binary.log"
    log.parent.mkdir()
    log.write_text(L.OPCUA_CALL + "\n")
    (tmp_path / "columns.json").write_text(json.dumps({"opcua-binary/opcua_binary.log": L.OPCUA_COLUMNS}))
    got = fired(run([L.OPCUA_CALL], source=f"file:{log}"))
    assert got["ot.method_call"].severity == "medium" and "OPC UA Call" in got["ot.method_call"].why


def test_correlations_password_guessing_exception_burst_and_discovery_sweep():
    guesses = [L.BACNET_PASSWORD_FAILURE.replace("\t1\tpassword-failure", f"\t{i}\tpassword-failure")
               for i in range(1, 7)]
    got = fired(run([*L.BACNET_HEADER, *guesses]))
    assert got["ot.password_guessing"].severity == "high" and got["ot.password_guessing"].entity == \
        "src_ip=172.20.32.250"
    got = fired(run([*L.MODBUS_HEADER, *[L.MODBUS_EXCEPTION] * 12]))
    assert got["ot.exception_burst"].severity == "medium"
    sweep = [L.S7_READ_SZL.replace("134.217.61.211", f"134.217.61.{200 + i}") for i in range(6)]
    got = fired(run([*L.S7_HEADER, *sweep]))
    assert got["ot.discovery_sweep"].entity == "src_ip=134.217.61.131"
    assert "ot.device_identification" not in got  # informational: only the sweep alerts


def learned(lines: list[str], config: InventoryConfig | None = None) -> OtReplay:
    r = OtReplay(inventory=AssetInventory(config or InventoryConfig()))
    r.inventory.force_learning = True
    run(lines, r)
    r.inventory.end_learning()
    r.updates.clear()
    return r


def test_inventory_rules_after_learning():
    r = learned([*L.S7_HEADER, L.S7_READ_SZL])
    updates = run([*L.S7_HEADER, L.S7_READ_SZL, L.S7_PLC_STOP, L.S7_PLC_STOP.replace("134.217.61.131", "134.217.61.99"),
                   *L.MODBUS_DETAILED_HEADER, L.MODBUS_WRITE_REGISTER], r)
    got = fired(updates)
    assert entities(updates, "ot.new_talker") == {"ot_link=s7comm 134.217.61.99→134.217.61.211",
                                                  "ot_link=modbus_detailed 127.0.0.1→127.0.0.1"}
    stop = [u for u in updates if u.rule_id == "ot.new_function" and "s7comm" in u.entity]
    assert len(stop) == 1 and stop[0].count == 1 and "PLC Stop" in stop[0].why  # the first PLC Stop only
    assert entities(updates, "ot.new_asset") == {"ot_link=s7comm 134.217.61.99→134.217.61.211",
                                                 "ot_link=modbus_detailed 127.0.0.1→127.0.0.1"}
    assert "ot.new_protocol" not in got  # 127.0.0.1 is a new asset altogether, not a known one's new protocol
    assert got["ot.new_write_target"].severity == "medium"


def test_new_protocol_on_a_known_device():
    conn_like = L.S7_READ_SZL
    r = learned([*L.S7_HEADER, conn_like])
    read = L.MODBUS_READ_COILS.replace("127.0.0.1\t47785\t127.0.0.1", "134.217.61.131\t47785\t134.217.61.211")
    got = fired(run([*L.MODBUS_DETAILED_HEADER, read], r))
    assert got["ot.new_protocol"].entity == "ot_link=modbus_detailed 134.217.61.131→134.217.61.211"


def test_commander_and_criticality_rules():
    cfg = InventoryConfig.from_values(criticality={"134.217.61.211": "critical", "10.10.20.8": "high"},
                                      engineering_stations=["10.0.0.50"])
    got = fired(run([*L.S7_HEADER, L.S7_PLC_STOP, *L.DNP3_CONTROL_HEADER, L.DNP3_CROB_OPERATE],
                    OtReplay(inventory=AssetInventory(cfg))))
    assert got["ot.unexpected_commander"].severity == "high"
    assert got["ot.command_to_critical_asset"].severity == "critical"
    assert "PLC Stop" in got["ot.command_to_critical_asset"].why
    assert got["ot.command_to_high_criticality_asset"].entity == "ot_link=dnp3_control 10.10.20.5→10.10.20.8"


def test_mms_session_rules_on_the_scanning_capture():
    got = fired(run(L.MMS_SCAN + [L.MMS_REVERSED]))
    assert got["ot.session_reinit"].severity == "high" and "initiate" in got["ot.session_reinit"].why
    assert got["ot.request_id_regression"].severity == "medium"
    assert got["ot.role_reversal"].severity == "medium"
    got = fired(run(L.MMS_LOST))
    assert list(got) == ["ot.communication_loss"] and got["ot.communication_loss"].count == 1


def test_normal_polling_raises_nothing_during_or_after_learning():
    # The S7 identity read between site addresses (the snap7 trace's are routable, which is a finding of its own).
    s7_read = L.S7_READ_SZL.replace("134.217.61.131", "192.168.0.33").replace("134.217.61.211", "192.168.0.1")
    polling = [*L.MODBUS_DETAILED_HEADER, L.MODBUS_READ_COILS, *L.DNP3_HEADER, L.DNP3_READ, *L.BACNET_HEADER,
               L.BACNET_READ, *L.S7_HEADER, s7_read]
    r = OtReplay()
    assert run(polling, r) == []
    assert run(L.MMS_NORMAL, r) == []  # reads, information reports and report set-up writes
    r.inventory.end_learning()
    assert run(polling, r) == []  # nothing new after learning either
    assert run(L.MMS_NORMAL, r) == []
