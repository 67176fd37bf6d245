"""JSON lines: generic key mapping, Wazuh alerts.json and Zabbix export profiles, hostile nesting, truncation."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from store.parsers import ParserChain
from store.parsers.jsonl import JsonLinesParser, too_deep

RA = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)

# A real Wazuh 4.x alert as quoted (trimmed) in /work/shared/notes/ingest-store-scale.md §1.3, which took it
# from public repositories; the elided parts ("…") are left out, every kept value is unchanged.
WAZUH_ALERT = (
    '{"timestamp":"2021-12-13T19:52:38.852+0800","rule":{"level":5,"description":"sshd: authentication failed.",'
    '"id":"5716","mitre":{"id":["T1110"]},"firedtimes":3,"mail":false,"groups":["syslog","sshd",'
    '"authentication_failed"]},"agent":{"id":"000","name":"centqiang"},"manager":{"name":"centqiang"},'
    '"id":"1639396358.5588","full_log":"Dec 13 19:52:38 centqiang sshd[23271]: Failed password for root from '
    '192.168.112.188 port 56902 ssh2","decoder":{"parent":"sshd","name":"sshd"},"data":{"srcip":'
    '"192.168.112.188","srcport":"56902","dstuser":"root"},"location":"/var/log/secure"}'
)


def parse(line: str | bytes, hint: str | None = None) -> dict:
    return ParserChain(hint).parse(line.encode() if isinstance(line, str) else line, RA)


def test_wazuh_alert_profile() -> None:
    ev = parse(WAZUH_ALERT)
    assert ev["format"] == "wazuh" and ev.get("parse_error") is None
    assert ev["ts"] == datetime(2021, 12, 13, 11, 52, 38, 852000, tzinfo=UTC)  # +0800 normalised
    assert (ev["host"], ev["app"], ev["message"]) == ("centqiang", "sshd", "sshd: authentication failed.")
    assert (ev["src_ip"], ev["src_port"], ev["user"]) == ("192.168.112.188", 56902, "root")
    assert (ev["category"], ev["outcome"], ev["severity"]) == ("authentication", "failure", 5)
    f = ev["fields"]
    assert f["rule"] == {"id": "5716", "level": 5, "groups": ["syslog", "sshd", "authentication_failed"],
                         "mitre": {"id": ["T1110"]}, "firedtimes": 3}
    assert f["location"] == "/var/log/secure" and f["decoder"] == {"parent": "sshd", "name": "sshd"}
    assert f["full_log"].startswith("Dec 13 19:52:38 centqiang sshd[23271]: Failed password")
    assert f["alert_id"] == "1639396358.5588"
    json.dumps(f)  # the pipeline JSON-encodes fields


def test_wazuh_profile_tolerates_odd_shapes() -> None:
    odd = {"timestamp": "not a time", "rule": {"level": "high", "groups": "x"}, "agent": [], "data": None}
    ev = parse(json.dumps(odd), hint="wazuh")
    assert ev["format"] == "wazuh" and ev["ts"] is None and ev.get("severity") is None


def test_zabbix_problem_recovery_and_item_value() -> None:
    problem = {"clock": 1519304285, "ns": 123456789, "value": 1, "eventid": 42, "name": "CPU load too high on Host B",
               "severity": 3, "hosts": [{"host": "Host B", "name": "Host B visible"}], "groups": ["Linux servers"],
               "tags": [{"tag": "scope", "value": "performance"}]}
    ev = parse(json.dumps(problem))
    assert ev["format"] == "zabbix"
    assert ev["ts"] == datetime(2018, 2, 22, 12, 58, 5, 123456, tzinfo=UTC)
    assert (ev["host"], ev["message"], ev["severity"], ev["outcome"]) == (
        "Host B", "CPU load too high on Host B", 3, "failure")
    assert ev["fields"]["kind"] == "problem" and ev["fields"]["eventid"] == 42
    assert ev["fields"]["tags"] == [{"tag": "scope", "value": "performance"}]

    recovery = parse('{"clock":1519304345,"ns":987654321,"value":0,"eventid":43,"p_eventid":42}')
    assert recovery["fields"]["kind"] == "recovery" and recovery["fields"]["p_eventid"] == 42
    assert recovery["outcome"] == "success" and recovery["message"] == "recovery of problem 42"

    item = parse('{"host":{"host":"Host B","name":"Host B visible"},"groups":["Linux servers"],"item_tags":[],'
                 '"itemid":3,"name":"Agent availability","clock":1519304285,"ns":1,"value":1,"type":3}')
    assert (item["host"], item["message"], item["fields"]["kind"]) == ("Host B", "Agent availability = 1", "item")

    old = parse('{"hosts":["Host B"],"groups":["G"],"tags":[],"name":"x","clock":1,"ns":0,"eventid":1,"value":1}')
    assert old["host"] == "Host B"


def test_generic_json_maps_common_keys_and_keeps_the_rest() -> None:
    ev = parse('{"@timestamp":"2026-11-21T05:48:02.5Z","host":{"name":"web1"},"service":"api","level":"WARN",'
               '"msg":"slow request","src_ip":"203.0.113.9","user":"ann","latency_ms":812,"tags":["a"]}')
    assert ev["format"] == "json"
    assert ev["ts"] == datetime(2026, 11, 21, 5, 48, 2, 500000, tzinfo=UTC)
    assert (ev["host"], ev["app"], ev["message"], ev["severity"]) == ("web1", "api", "slow request", 4)
    assert (ev["src_ip"], ev["user"]) == ("203.0.113.9", "ann")
    assert ev["fields"]["latency_ms"] == 812 and ev["fields"]["tags"] == ["a"]
    assert ev["fields"]["level"] == "WARN"

    epoch = parse('{"ts": 1763704082.25, "message": "x"}')
    assert epoch["ts"] == datetime(2025, 11, 21, 5, 48, 2, 250000, tzinfo=UTC)
    millis = parse('{"time": 1763704082250, "message": "x"}')
    assert millis["ts"] == epoch["ts"]


def test_journald_export_keys() -> None:
    ev = parse('{"__REALTIME_TIMESTAMP":"1763704082250000","_HOSTNAME":"vm","SYSLOG_IDENTIFIER":"sshd",'
               '"_PID":"4242","PRIORITY":"6","MESSAGE":"Accepted publickey for root"}')
    assert ev["ts"] == datetime(2025, 11, 21, 5, 48, 2, 250000, tzinfo=UTC)
    assert (ev["host"], ev["app"], ev["pid"], ev["severity"]) == ("vm", "sshd", 4242, 6)


def test_truncated_json_is_stored_raw_with_an_error() -> None:
    line = WAZUH_ALERT[:200]
    ev = parse(line)
    assert ev["format"] == "json" and ev["raw"] == line and ev["message"] == line
    assert "invalid JSON" in ev["parse_error"]


def test_deep_nesting_is_refused_before_decoding() -> None:
    for line in ("[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000):
        ev = parse("{" + line if line[0] == "[" else line)
        assert "nested deeper" in ev["parse_error"] and ev["raw"]
    # Brackets inside strings do not count.
    assert not too_deep(json.dumps({"a": "[" * 10_000}))
    ok = parse(json.dumps({"a": "{" * 10_000}))
    assert ok.get("parse_error") is None and ok["fields"]["a"] == "{" * 10_000


def test_non_object_json_and_non_json() -> None:
    p = JsonLinesParser()
    assert p.parse("[1, 2]", RA) is None  # only objects are JSON lines here
    assert p.parse("hello", RA) is None
    ev = parse("{not json at all")
    assert ev["format"] == "json" and ev["parse_error"]


def test_address_or_user_key_given_twice_maps_no_column() -> None:
    # A logger that pastes a client's text into its JSON unescaped lets it add a key; the decoder would keep
    # whichever copy came last, so neither is used. One spelled with \u escapes is found too.
    for line in ('{"src_ip": "203.0.113.66", "user": "x", "src_ip": "192.0.2.10", "msg": "login failed"}',
                 '{"src_ip": "203.0.113.66", "user": "x", "src_\\u0069p": "192.0.2.10", "msg": "login failed"}'):
        ev = parse(line)
        assert ev.get("src_ip") is None and ev["user"] == "x", line
        assert ev["fields"]["ambiguous"] == "src_ip given twice; not mapped"
    ev = parse('{"ip": "203.0.113.66", "user": "a", "peer": {"ip": "10.0.0.1", "ip": "10.0.0.2"}, "user": "b"}')
    assert ev["src_ip"] == "203.0.113.66" and ev.get("user") is None  # nested repeats do not matter
    assert ev["fields"]["ambiguous"] == "user given twice; not mapped"


def test_wazuh_srcip_moved_by_a_crafted_user_name_is_corrected_from_full_log() -> None:
    # Wazuh's sshd decoder is not anchored: it took the address inside the user name. The original line, read by
    # our anchored parser, names the real sender.
    alert = json.loads(WAZUH_ALERT)
    alert["full_log"] = ("Dec 13 19:52:38 centqiang sshd[23271]: Failed password for invalid user u0 from "
                         "192.0.2.10 port 22 from 203.0.113.66 port 42000 ssh2")
    alert["data"] = {"srcip": "192.0.2.10", "srcport": "22", "srcuser": "u0"}
    ev = parse(json.dumps(alert))
    assert (ev["src_ip"], ev["src_port"]) == ("203.0.113.66", 42000)
    assert "192.0.2.10" in ev["fields"]["ambiguous"]
    # Where both agree nothing changes.
    assert "ambiguous" not in parse(WAZUH_ALERT)["fields"]
