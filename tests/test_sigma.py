"""Sigma: shipped rules load cleanly, broken files are reported by file and reason, field mapping works on
real parsed lines (netsparker/acunetix scans of DVWA, Seyyar/Çatak/Gül 2018; wazuh-ruleset sudo.ini,
GPL-2.0)."""

from __future__ import annotations

from detectors.replay import parsed_batches
from detectors.sigma import SHIPPED_RULES, SigmaEngine

SQLI = ('192.168.4.164 - - [22/Dec/2016:15:20:01 +0300] "GET /DVWA/vulnerabilities/sqli/?id=1%27%20union'
        '%20select%20user,password%20from%20users--&Submit=Submit HTTP/1.1" 200 1964 "-" "Mozilla/5.0"')
GIT = ('192.168.4.164 - - [22/Dec/2016:15:19:06 +0300] "HEAD /DVWA/.git/config HTTP/1.1" 404 139 "-" '
       '"Mozilla/5.0"')
SUDO_SHELL = ("Dec 30 19:36:11 rheltest sudo: cplummer : TTY=pts/2 ; PWD=/home/cplummer1 ; USER=root ; "
              "TSID=0000UM ; COMMAND=/bin/bash")
BENIGN = '83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /index.html HTTP/1.1" 200 2030 "-" "Mozilla/5.0"'


def hits_for(engine: SigmaEngine, lines: list[str]):
    out = []
    for b in parsed_batches(lines):
        out += engine.evaluate(b)
    return out


def test_shipped_rules_all_load():
    e = SigmaEngine.from_dirs([SHIPPED_RULES])
    assert len(e.rules) >= 5 and e.problems == []


def test_web_rules_match_query_and_stem_fields():
    e = SigmaEngine.from_dirs([SHIPPED_RULES])
    hits = hits_for(e, [SQLI, GIT, BENIGN])
    titles = {(h.title, h.entity) for h in hits}
    assert ("SQL injection keywords in request query", "src_ip=192.168.4.164") in titles
    assert ("Probe for sensitive files on a web server", "src_ip=192.168.4.164") in titles
    assert not [h for h in hits if h.entity == "src_ip=83.149.9.216"]


def test_keyword_rule_matches_sudo_root_shell():
    hits = hits_for(SigmaEngine.from_dirs([SHIPPED_RULES]), [SUDO_SHELL])
    assert [h.title for h in hits] == ["sudo to a root shell"]


def test_bad_rules_are_reported_by_file_and_reason_never_raised(tmp_path):
    (tmp_path / "broken.yml").write_text("title: x\ndetection: [unclosed\n")
    (tmp_path / "nocond.yml").write_text("title: no condition\nlogsource: {product: linux}\n"
                                         "detection:\n  sel:\n    User: root\n")
    (tmp_path / "ok.yml").write_text("title: root user\nlogsource: {product: linux, service: sshd}\n"
                                     "detection:\n  sel:\n    User: root\n  condition: sel\nlevel: high\n")
    e = SigmaEngine.from_dirs([tmp_path, tmp_path / "missing"])
    files = {p.split("/")[-1] for p, _ in e.problems}
    assert {"broken.yml", "nocond.yml", "missing"} <= files
    assert all(reason for _, reason in e.problems)
    assert [r.title for r in e.rules] == ["root user"]
    hits = hits_for(e, ["Dec 10 09:00:00 LabSZ sshd[1]: Failed password for root from 1.2.3.4 port 1 ssh2"])
    assert hits and hits[0].severity == "high" and hits[0].entity == "src_ip=1.2.3.4"


def test_python_evaluation_agrees_with_duckdb_sql_on_real_lines():
    from detectors.sigma import bench_sigma

    lines = [SQLI, GIT, SUDO_SHELL, BENIGN] * 5 + [
        "Dec 10 09:00:00 LabSZ sshd[1]: Failed password for root from 1.2.3.4 port 1 ssh2"]
    r = bench_sigma(list(parsed_batches(lines)), repeat=1)
    assert r["python_matches"] >= 16 and r["same_matches"] == 1.0
