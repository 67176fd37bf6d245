"""Windows event XML records and Kubernetes audit records. Real lines from the CrowdSec hub test cases (MIT,
crowdsecurity/hub; case named at each use); property tests plant addresses and markup in the user names and
headers a client chooses."""

from __future__ import annotations

import json
from xml.sax.saxutils import escape

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hub_cases import case_text, parse, parse_all

PLANTED = st.lists(st.sampled_from(list("ab<>&\"'/ =") + ['<Data Name="IpAddress">192.0.2.10</Data>',
                                                          "192.0.2.10", ' IpAddress="192.0.2.10"']),
                   max_size=8).map("".join)
WIN = ('<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><Provider '
       'Name="Microsoft-Windows-Security-Auditing" /><EventID>4625</EventID><TimeCreated '
       'SystemTime="2022-04-29T12:36:01.9027913Z" /><Computer>dc1</Computer></System><EventData>'
       '<Data Name="TargetUserName">{user}</Data><Data Name="SubStatus">0xc000006a</Data>'
       '<Data Name="LogonType">3</Data><Data Name="IpAddress">198.51.100.7</Data><Data Name="IpPort">0</Data>'
       '</EventData></Event>')


def test_windows_failed_logons() -> None:
    # CrowdSec hub test cases windows-bf and windows-logs (Event Viewer copy, `- ` prefixes) (MIT).
    evs = parse_all(case_text("windows-bf"))
    assert len(evs) == 6
    assert {(e["format"], e["action"], e["src_ip"], e["user"], e["host"]) for e in evs} == {
        ("winevent", "login_failed", "192.168.9.212", "asdfasdf", "exchange-1.mydomain.test")}
    assert evs[0]["fields"]["invalid_user"] is True  # SubStatus 0xc0000064: no such user
    logs = parse_all(case_text("windows-logs"))
    assert [(e["action"], e["src_ip"]) for e in logs] == [("login_failed", "192.168.9.212")]


def test_kubernetes_exec_and_privileged_pod() -> None:
    # CrowdSec hub test cases k8s-audit-pod-exec-file and k8s-audit-priv-pod-file (MIT).
    ex = parse(case_text("k8s-audit-pod-exec-file")[0])
    assert (ex["action"], ex["src_ip"], ex["user"], ex["fields"]["namespace"]) == (
        "k8s_pod_exec", "192.168.49.1", "minikube-user", "foo")
    priv = parse(case_text("k8s-audit-priv-pod-file")[0])
    assert (priv["action"], priv["src_ip"]) == ("k8s_privileged_pod", "192.168.49.1")
    rec = json.loads(case_text("k8s-audit-priv-pod-file")[0])
    rec["stage"] = "RequestReceived"  # the same request announced: not counted twice
    assert parse(json.dumps(rec)).get("action") is None
    rec.update(stage="ResponseComplete", responseStatus={"code": 401}, user={"username": "system:anonymous"})
    assert parse(json.dumps(rec))["action"] == "login_failed"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=PLANTED)
def test_client_text_never_supplies_the_address(text: str) -> None:
    win = parse(WIN.format(user=escape(text, {'"': "&quot;"})))
    assert (win["action"], win["src_ip"]) == ("login_failed", "198.51.100.7")
    assert win.get("user") == (text if text not in ("", "-") else None)
    rec = json.loads(case_text("k8s-audit-pod-exec-file")[0])
    rec["sourceIPs"] = ["192.0.2.10", "198.51.100.7"]  # X-Forwarded-For first, the connection last
    rec["user"] = {"username": text}
    rec["userAgent"] = text
    assert parse(json.dumps(rec))["src_ip"] == "198.51.100.7"


def test_kubernetes_anonymous_and_service_account_refusals() -> None:
    # Built from the CrowdSec hub test case k8s-audit-pod-exec-file (MIT) with the fields an API server sets.
    base = json.loads(case_text("k8s-audit-pod-exec-file")[0])
    anon = dict(base, user={"username": "system:anonymous", "groups": ["system:unauthenticated"]},
                objectRef={"resource": "secrets", "namespace": "kube-system"}, requestURI="/api/v1/secrets",
                verb="list", responseStatus={"code": 200})
    assert parse(json.dumps(anon))["action"] == "k8s_anonymous_access"
    health = dict(anon, objectRef={}, requestURI="/healthz")
    assert parse(json.dumps(health)).get("action") is None
    sa = dict(base, user={"username": "system:serviceaccount:default:web"}, responseStatus={"code": 403},
              objectRef={"resource": "secrets"}, verb="list")
    ev = parse(json.dumps(sa))
    assert (ev["action"], ev["fields"]["service_account"]) == ("k8s_forbidden", "system:serviceaccount:default:web")
