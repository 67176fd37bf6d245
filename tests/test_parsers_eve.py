"""Suricata EVE records on real lines, and the MMS flow-probe CSV.

EVE fixtures are records of ot-ics-logs/suricata-verify (rebuilt from OISF/suricata-verify test assertions, MIT,
(c) 2017-2021 OISF). MMS fixtures are rows of matousp/datasets mms-test/gics-*.csv (BUT Open Source Licence,
(c) Petr Matoušek, Brno University of Technology).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from store.parsers import ParserChain
from store.parsers.eve import EveParser

RA = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)

DNP3_OPERATE = ('{"timestamp":"2011-12-21T21:08:59.965774+0000","pcap_cnt":8,"event_type":"dnp3",'
                '"src_ip":"130.126.142.250","src_port":49404,"dest_ip":"130.126.140.229","dest_port":20000,'
                '"proto":"TCP","dnp3":{"application":{"complete":true,"control":{"con":false,"fin":true,"fir":true,'
                '"sequence":8,"uns":false},"function_code":4,"objects":[{"count":1,"group":12,"points":[{"count":1,'
                '"cr":0,"index":1,"offtime":100,"ontime":100,"op_type":3,"prefix":1,"qu":0,"reserved":0,'
                '"status_code":0,"tcc":0}],"prefix_code":2,"qualifier":40,"range_code":8,"start":0,"stop":0,'
                '"variation":1}]},"control":{"dir":true,"fcb":false,"fcv":false,"function_code":4,"pri":true},'
                '"dst":2,"src":3,"type":"request"}}')
DNP3_RESTART = ('{"timestamp":"2015-07-14T17:45:56.280000+0000","event_type":"dnp3","src_ip":"127.0.0.1",'
                '"src_port":45112,"dest_ip":"127.0.0.1","dest_port":20000,"proto":"TCP","dnp3":{"application":'
                '{"complete":true,"function_code":130},"iin":{"indicators":["device_restart"]},'
                '"type":"unsolicited_response"}}')
MODBUS_WRITE_ALERT = '{"event_type":"alert","alert":{"signature_id":6,"signature":"Modbus access write test"}}'
NO_TYPE_ALERT = '{"alert":{"signature_id":2270000,"signature":"SURICATA DNP3 Request flood detected","rev":2}}'
FLOW = ('{"event_type":"flow","src_ip":"130.126.142.250","src_port":49413,"dest_ip":"130.126.140.229",'
        '"dest_port":20000,"proto":"TCP","app_proto":"dnp3","flow":{"age":4,"alerted":false,"bytes_toclient":305,'
        '"bytes_toserver":315,"pkts_toclient":5,"pkts_toserver":5,"reason":"shutdown","state":"closed"}}')
ENIP_IDENTITY = ('{"event_type":"enip","enip":{"request":{"command":"list_identity"},"response":{"status":"success",'
                 '"identity":{"revision":"4.3","product_name":"1756-ENBT/A","vendor_id":'
                 '"Rockwell Automation/Allen-Bradley"}}}}')
MMS_HEADER = ("TimeStamp;Relative Time;srcIP;dstIP;srcPort;dstPort;ipLen;MMS Type;MMS Service;Invoke Id;Domain Id;"
              "Item Id;Object Class")
MMS_READ_REQUEST = ("07:08:31.301966091;0.112160380;10.10.3.19;10.10.20.10;50225;102;129;0;4;14;"
                    "FALLOU4_CALVI3p1_OperationalValues;LLN0$DC$NamPlt;")
MMS_RESPONSE = "07:08:31.305558210;0.115752499;10.10.20.10;10.10.3.19;102;50225;113;1;4;14;;;"
MMS_RCB_WRITE = ("07:27:51.514118043;1160.324312332;10.10.3.19;10.10.20.10;50225;102;130;0;5;477;"
                 "FALLOU4_CALApplication;LLN0$RP$A_URCB01$RptEna;")
MMS_REVERSED = "07:51:21.672620999;2570.482815288;10.10.20.10;10.10.3.19;102;50225;122;0;1;11;;;0"


def parse(line: str, hint: str | None = None) -> dict:
    return ParserChain(hint).parse(line.encode(), RA)


def test_dnp3_operate_request():
    for hint in (None, "jsonl"):  # `vigil ingest x.json` hints JSON: the EVE mapping still applies
        ev = parse(DNP3_OPERATE, hint)
        assert (ev["format"], ev["service"], ev["app"], ev["category"]) == ("suricata", "suricata", "dnp3", "ics")
        assert ev["action"] == "ot_control" and ev["fields"]["ot_function"] == "OPERATE"
        assert (ev["src_ip"], ev["src_port"], ev["dst_ip"], ev["fields"]["dst_port"]) == (
            "130.126.142.250", 49404, "130.126.140.229", 20000)
        assert ev["ts"] == datetime(2011, 12, 21, 21, 8, 59, 965774, tzinfo=UTC)
        assert ev["message"].startswith("DNP3 OPERATE (FC 4) request") and "index 1" in ev["message"]
        assert ev["fields"]["public_peer"] == "130.126.142.250"


def test_dnp3_restart_indication():
    ev = parse(DNP3_RESTART)
    assert ev["action"] == "ot_device_restarted" and "DEVICE_RESTART" in ev["message"]


def test_alerts_with_and_without_event_type():
    ev = parse(MODBUS_WRITE_ALERT)
    assert ev["action"] == "ids_alert" and ev["category"] == "ics" and ev["fields"]["signature_id"] == 6
    assert ev["message"].startswith("Suricata alert [6] Modbus access write test")
    ev = parse(NO_TYPE_ALERT)
    assert ev["app"] == "alert" and ev["action"] == "ids_alert" and ev["fields"]["ot_protocol"] == "dnp3"
    generic = parse('{"event_type":"alert","alert":{"signature_id":9,"signature":"ET SCAN x","severity":1},'
                    '"src_ip":"203.0.113.5","dest_ip":"10.0.0.1","dest_port":22}')
    assert generic["category"] == "ids" and generic["fields"]["alert_severity"] == 1
    assert generic["src_ip"] == "203.0.113.5"


def test_flow_and_identity():
    flow = parse(FLOW)
    assert flow["action"] == "connection" and flow["category"] == "ics" and flow["fields"]["ot_protocol"] == "dnp3"
    ident = parse(ENIP_IDENTITY)
    assert ident["action"] == "ot_identity" and ident["fields"]["ot_identity"]["product_name"] == "1756-ENBT/A"


def test_web_and_dns_records_keep_the_fields_rules_read():
    http = parse('{"timestamp":"2024-01-01T00:00:00.000000+0000","event_type":"http","src_ip":"198.51.100.9",'
                 '"src_port":5555,"dest_ip":"10.0.0.5","dest_port":80,"http":{"hostname":"plant.example",'
                 '"url":"/cgi-bin/../../etc/passwd","http_user_agent":"curl/8","http_method":"GET","status":404}}')
    assert http["category"] == "web" and http["fields"]["path"] == "/cgi-bin/../../etc/passwd"
    assert http["fields"]["status"] == 404 and http["fields"]["method"] == "GET"
    dns = parse('{"event_type":"dns","src_ip":"10.0.0.5","dest_ip":"10.0.0.1","dns":{"type":"query",'
                '"rrname":"evil.example","rrtype":"A"}}')
    assert dns["category"] == "dns" and dns["fields"]["query"] == "evil.example"


def test_other_json_is_left_to_the_json_parser():
    assert EveParser().parse('{"event_type":"login","user":"bob","src_ip":"10.0.0.1"}', RA) is None
    ev = parse('{"event_type":"login","user":"bob","src_ip":"10.0.0.1"}')
    assert ev["format"] == "json" and ev["user"] == "bob"


def test_mms_rows_are_client_to_server_whichever_way_the_packet_went():
    chain = ParserChain()
    evs = [chain.parse(line.encode(), RA) for line in (MMS_HEADER, MMS_READ_REQUEST, MMS_RESPONSE, MMS_RCB_WRITE,
                                                       MMS_REVERSED)]
    head, req, resp, rcb, rev = evs
    assert head["action"] == "log_header" and not head.get("parse_error")
    for e in (req, resp, rcb, rev):
        assert (e["src_ip"], e["dst_ip"], e["fields"]["dst_port"]) == ("10.10.3.19", "10.10.20.10", 102)
        assert e["app"] == "mms" and e["service"] == "ipfix" and not e.get("parse_error")
    assert req["action"] == "ot_read" and req["fields"]["mms_item"] == "LLN0$DC$NamPlt"
    assert req["fields"]["ot_invoke_id"] == 14 and req["ts"] == datetime(2026, 12, 3, 7, 8, 31, 301966, tzinfo=UTC)
    assert resp["action"] == "ot_response" and resp["fields"]["ot_direction"] == "response"
    assert rcb["action"] == "ot_session"  # reserving/enabling a report control block is client housekeeping
    assert rev["fields"]["ot_reversed"] is True and "sent by the server" in rev["message"]
    assert "ot_reversed" not in req["fields"]


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=80))
def test_signature_and_payload_text_never_supply_an_address(text: str):
    rec = {"event_type": "alert", "src_ip": "10.0.0.7", "dest_ip": "10.0.0.3", "dest_port": 502,
           "alert": {"signature_id": 1, "signature": f"{text} src_ip=192.0.2.10"},
           "modbus": {"request": {"function_code": text}}}
    ev = parse(json.dumps(rec))
    assert (ev.get("src_ip"), ev.get("dst_ip")) == ("10.0.0.7", "10.0.0.3")
