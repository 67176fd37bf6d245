"""Apache/nginx combined and common logs: real lines, the scanner dataset's quoting, whole-file status counts."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from store.parsers import ParserChain
from store.parsers.access import AccessLogParser
from tests.conftest import DATASETS

FIXTURES = Path(__file__).parent / "fixtures" / "lines"
RA = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)


def fixture_lines(name: str) -> list[bytes]:
    data = (FIXTURES / name).read_bytes()
    return [ln for ln in data.split(b"\n") if ln and not ln.startswith(b"# ")]


def parse(line: str | bytes) -> dict:
    return ParserChain().parse(line.encode() if isinstance(line, str) else line, RA)


def test_elastic_apache_combined_lines() -> None:
    ev = [parse(b) for b in fixture_lines("elastic_apache.log")]
    assert all(e["format"] == "access" and e["category"] == "web" for e in ev)
    first = ev[0]
    assert first["src_ip"] == "83.149.9.216" and first.get("user") is None
    assert first["ts"] == datetime(2015, 5, 17, 10, 5, 3, tzinfo=UTC)
    assert first["outcome"] == "success"
    assert first["fields"] == {
        "method": "GET",
        "path": "/presentations/logstash-monitorama-2013/images/kibana-search.png",
        "protocol": "HTTP/1.1",
        "status": 200,
        "bytes": 203023,
        "referer": "http://semicomplete.com/presentations/logstash-monitorama-2013/",
        "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) "
                      "Chrome/32.0.1700.77 Safari/537.36",
    }
    assert ev[1]["fields"]["status"] == 404 and ev[1]["outcome"] == "failure"
    assert ev[1]["fields"]["referer"] is None
    assert ev[2]["fields"]["status"] == 500 and ev[2]["fields"]["bytes"] is None  # "-" bytes
    assert ev[3]["fields"]["user_agent"] is None and ev[3]["fields"]["referer"] is None


def test_scanner_lines_lose_their_extra_quotes_and_keep_payloads() -> None:
    ev = [parse(b) for b in fixture_lines("scanner_access.log")]
    assert [e["src_ip"] for e in ev] == ["192.168.4.164", "192.168.4.25", "192.168.4.163"]
    assert ev[0]["ts"] == datetime(2016, 12, 22, 12, 19, 5, tzinfo=UTC)  # +0300
    assert ev[0]["fields"]["user_agent"].endswith("Safari/537.36")  # closing quote not swallowed
    assert ev[0].get("parse_error") is None
    sqli = ev[1]["fields"]
    # Apache's escapes stay as logged: \" inside the request and \xf0\x9f\x92\xa9 for a 4-byte emoji.
    assert sqli["method"] == "GET" and sqli["protocol"] == "HTTP/1.1"
    assert sqli["path"].startswith("/index.php/component/search/?ordering=popular&searchphrase=12345'\\\"")
    assert "\\xf0\\x9f\\x92\\xa9" in sqli["path"]
    assert sqli["referer"] == "http://192.168.4.161/DVWA"
    assert ev[2]["fields"]["user_agent"] == "w3af.org"
    assert ev[2]["raw"].startswith('"192.168.4.163')  # raw stays exactly as read (minus CR)


def test_common_log_format_and_remote_user() -> None:
    ev = parse('10.1.2.3 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326')
    assert ev["format"] == "access" and ev["user"] == "frank"
    assert ev["ts"] == datetime(2000, 10, 10, 20, 55, 36, tzinfo=UTC)
    assert ev["fields"]["status"] == 200 and ev["fields"]["bytes"] == 2326
    assert "referer" not in ev["fields"]


def test_odd_requests_do_not_break_the_line() -> None:
    tls = parse('203.0.113.5 - - [21/Nov/2026:05:48:02 +0000] "\\x16\\x03\\x01\\x02\\x00\\x01" 400 157 "-" "-"')
    assert tls["fields"]["method"] is None and tls["fields"]["request"] == "\\x16\\x03\\x01\\x02\\x00\\x01"
    assert tls["fields"]["status"] == 400 and tls["outcome"] == "failure"
    dash = parse('203.0.113.5 - - [21/Nov/2026:05:48:02 +0000] "-" 408 - "-" "-"')
    assert dash["fields"]["status"] == 408 and dash["fields"]["bytes"] is None
    nginx_host = parse('example.org - - [21/Nov/2026:05:48:02 +0000] "GET / HTTP/1.1" 301 0 "-" "curl/8"')
    assert nginx_host.get("src_ip") is None and nginx_host["fields"]["client"] == "example.org"


def test_very_long_access_line_parses() -> None:
    path = "/search?q=" + "A" * 60000
    ev = parse(f'203.0.113.5 - - [21/Nov/2026:05:48:02 +0000] "GET {path} HTTP/1.1" 414 0 "-" "x"')
    assert ev["fields"]["path"] == path and ev["fields"]["status"] == 414


def test_access_parser_says_no_to_other_formats() -> None:
    p = AccessLogParser()
    for text in ("Nov 21 05:48:02 h sshd[1]: x", '{"a": 1}', '"', '""', "", "- - - [x] y"):
        assert p.parse(text, RA) is None


needs_datasets = pytest.mark.skipif(not DATASETS.is_dir(), reason=f"datasets not found at {DATASETS}")


def statuses(path: Path) -> tuple[int, Counter]:
    chain = ParserChain()
    events = [chain.parse(line, RA) for line in path.read_bytes().splitlines()]
    assert all(e["format"] == "access" and e.get("parse_error") is None for e in events), path
    return len(events), Counter(e["fields"]["status"] for e in events)


@needs_datasets
def test_elastic_apache_logs_status_counts_match_readme() -> None:
    path = DATASETS / "elastic-examples-security" / "apache_logs"
    if not path.exists():
        pytest.skip(f"{path} missing")
    n, st = statuses(path)
    assert n == 10000
    assert {s: st[s] for s in (200, 304, 404, 301, 206, 500)} == {
        200: 9126, 304: 445, 404: 213, 301: 164, 206: 45, 500: 3}


@needs_datasets
@pytest.mark.parametrize(
    ("name", "lines", "top"),
    [
        # README counts `wc -l` lines; every file lacks a final newline, so there is one record more.
        ("acunetix.txt", 6539, {303: 3407, 200: 2036, 500: 706, 404: 258}),
        ("netsparker.txt", 7314, {200: 3784, 404: 2602, 302: 910}),
        ("w3af.txt", 3996, {200: 2124, 303: 681, 500: 513, 404: 490}),
    ],
)
def test_scanner_logs_status_counts_match_readme(name: str, lines: int, top: dict[int, int]) -> None:
    path = DATASETS / "apache-scanner-access-logs" / name
    if not path.exists():
        pytest.skip(f"{path} missing")
    n, st = statuses(path)
    assert n == lines
    assert {s: st[s] for s in top} == top
