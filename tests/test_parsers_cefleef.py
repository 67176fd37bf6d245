"""CEF and LEEF 1.0/2.0: escapes, extension key boundaries, severities, custom delimiters, envelopes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from store.parsers import ParserChain
from store.parsers.cefleef import cef_severity, parse_cef_extension

FIXTURES = Path(__file__).parent / "fixtures" / "lines"
RA = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)


def parse(line: str) -> dict:
    return ParserChain().parse(line.encode(), RA)


def test_cef_header_escapes_and_extension_values_with_spaces() -> None:
    ev = parse(r"CEF:0|Sec\|urity|threat\\manager|1.0|100|worm successfully stopped|10|"
               r"src=10.0.0.1 dst=2.1.2.2 spt=1232 suser=bob msg=Detected a threat. No action needed a\=b "
               r"act=blocked")
    assert ev["format"] == "cef" and ev.get("parse_error") is None
    cef = ev["fields"]["cef"]
    assert (cef["vendor"], cef["product"], cef["signature_id"]) == ("Sec|urity", "threat\\manager", "100")
    ext = ev["fields"]["ext"]
    assert ext["msg"] == "Detected a threat. No action needed a=b"
    assert ext["act"] == "blocked"
    assert (ev["src_ip"], ev["dst_ip"], ev["src_port"], ev["user"]) == ("10.0.0.1", "2.1.2.2", 1232, "bob")
    assert ev["message"] == "Detected a threat. No action needed a=b"
    assert ev["severity"] == 2  # CEF 10 → syslog crit


def test_cef_extension_newline_escape_and_empty_extension() -> None:
    assert parse_cef_extension(r"msg=line1\nline2 cs1=x\\y") == {"msg": "line1\nline2", "cs1": "x\\y"}
    assert parse_cef_extension("") == {}
    ev = parse("CEF:0|V|P|1|sig|Name|Low|")
    assert ev["format"] == "cef" and ev["fields"]["ext"] == {} and ev["severity"] == 5


@pytest.mark.parametrize(("value", "sev"), [("0", 5), ("3", 5), ("5", 4), ("8", 3), ("10", 2), ("Very-High", 2),
                                             ("High", 3), ("Medium", 4), ("Unknown", None), ("11", None)])
def test_cef_severity_scale(value: str, sev: int | None) -> None:
    assert cef_severity(value) == sev


def test_cef_rt_epoch_millis_sets_timestamp() -> None:
    ev = parse("CEF:0|V|P|1|sig|Name|5|rt=1763704082000 src=203.0.113.9")
    assert ev["ts"] == datetime(2025, 11, 21, 5, 48, 2, tzinfo=UTC)


def test_leef_1_tab_separated_from_wazuh_ruleset() -> None:
    line = next(ln for ln in (FIXTURES / "wazuh_ruleset_logs.log").read_text().splitlines()
                if ln.startswith("LEEF:"))
    ev = parse(line)
    assert ev["format"] == "leef"
    leef = ev["fields"]["leef"]
    assert (leef["version"], leef["vendor"], leef["product"], leef["event_id"]) == (
        "1.0", "Panda Security", "paps", "registrym")
    assert (ev["src_ip"], ev["user"]) == ("192.168.0.8", "SYSTEM")
    assert ev["fields"]["ext"]["domain"] == "NT AUTHORITY"
    assert ev["ts"] == datetime(2019, 5, 9, 22, 3, 58, 692466, tzinfo=UTC)


@pytest.mark.parametrize("delim", ["^", "x5E", "0x5e"])
def test_leef_2_custom_delimiters(delim: str) -> None:
    sep = "^"
    ev = parse(f"LEEF:2.0|Lancope|StealthWatch|1.0|41|{delim}|src=10.0.1.8{sep}dst=10.0.0.5{sep}sev=5{sep}"
               f"srcPort=81{sep}usrName=joe")
    assert ev["format"] == "leef"
    assert (ev["src_ip"], ev["dst_ip"], ev["src_port"], ev["user"]) == ("10.0.1.8", "10.0.0.5", 81, "joe")


def test_leef_2_hex_tab_delimiter_inside_syslog() -> None:
    ev = parse("<13>Jan 18 11:07:53 192.168.1.1 LEEF:2.0|Vendor|Product|2.1|Login|x09|src=172.16.0.3\t"
               "usrName=alice\tsev=8")
    assert ev["format"] == "leef"
    assert (ev["host"], ev["src_ip"], ev["user"], ev["severity"]) == ("192.168.1.1", "172.16.0.3", "alice", 3)
    assert ev["ts"] == datetime(2026, 1, 18, 11, 7, 53, tzinfo=UTC)


def test_leef_1_without_pipe_after_event_id() -> None:
    ev = parse("LEEF:1.0|Microsoft|MSExchange|4.0.0|15345\tsrc=10.50.1.1\tusrName=bob")
    assert ev["format"] == "leef" and ev["fields"]["leef"]["event_id"] == "15345"
    assert (ev["src_ip"], ev["user"]) == ("10.50.1.1", "bob")


def test_broken_cef_stays_a_syslog_event() -> None:
    ev = parse("<134>Feb  1 12:00:00 fw CEF:0|only|three")
    assert ev["format"] == "rfc3164" and ev["host"] == "fw"
    assert ev["message"] == "CEF:0|only|three"  # the payload is kept whole


def test_cef_key_given_twice_maps_no_column() -> None:
    # A device that does not escape '=' in a user name lets "suser=x src=192.0.2.10" add a second src.
    ev = parse("CEF:0|V|P|1|sig|Login failed|5|src=203.0.113.66 suser=x src=192.0.2.10 spt=4000")
    assert ev.get("src_ip") is None and ev["src_port"] == 4000 and ev["user"] == "x"
    assert ev["fields"]["ambiguous"] == "src given twice; not mapped"


def test_leef_key_given_twice_maps_no_column() -> None:
    ev = parse("LEEF:1.0|V|P|1|login|src=203.0.113.66\tusrName=x\tsrc=192.0.2.10\tusrName=root")
    assert ev.get("src_ip") is None and ev.get("user") is None
    assert ev["fields"]["ambiguous"] == "src, usrName given twice; not mapped"
