"""`vigil eval crowdsec-hub` run the way a user runs it, on web cases: the CLI takes --family/--case/--show-missed,
and an alert naming an IPv6 client counts for that address (the hub's IPv6 cases were unscoreable before)."""

from __future__ import annotations

import subprocess

from detectors.eval.crowdsec_hub import _addresses
from tests.conftest import needs_datasets, vigil_cmd


def test_entity_addresses_include_ipv6_clients() -> None:
    # One spelling per address (compressed), whatever the alert wrote.
    assert _addresses("src_ip=2001:0db8:85a3:0000:0000:8a2e:0370:7334") == {"2001:db8:85a3::8a2e:370:7334"}
    assert _addresses("src_ip=::1") == {"::1"}
    assert _addresses("src_ip=203.0.113.7") == {"203.0.113.7"}
    assert _addresses("user=root") == set()


def test_cli_scores_selected_web_cases_including_ipv6() -> None:
    needs_datasets("crowdsec-hub-tests", "labels.jsonl")
    out = subprocess.run([*vigil_cmd(), "eval", "crowdsec-hub", "--family", "http", "--case", "ipv6-postoverflow",
                          "--case", "nginx_req_limit_exceeded", "--case", "modsecurity-nginx", "--show-missed"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "missed" not in out.stdout and "false alert" not in out.stdout, out.stdout
    assert "tp=4 fp=0 fn=0" in out.stdout, out.stdout
