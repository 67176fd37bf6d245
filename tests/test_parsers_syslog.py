"""RFC 5424 and RFC 3164-as-emitted: real sender captures, a live `logger` over UDP, year inference."""

from __future__ import annotations

import shutil
import socket
import subprocess
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from store.parsers import ParserChain
from store.parsers.syslog import SyslogParser

FIXTURES = Path(__file__).parent / "fixtures" / "lines"
RA = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)


def fixture_lines(name: str) -> list[bytes]:
    data = (FIXTURES / name).read_bytes()
    return [ln for ln in data.split(b"\n") if ln and not ln.startswith(b"# ")]


def parse(line: str | bytes, received_at: datetime = RA) -> dict:
    b = line.encode() if isinstance(line, str) else line
    return ParserChain().parse(b, received_at)


def test_captured_sender_lines_parse_to_exact_fields() -> None:
    ev = [parse(b) for b in fixture_lines("rsyslog_logger_captures.log")]
    assert all(e.get("parse_error") is None for e in ev)

    # logger default over UDP: RFC 5424 with SD and a 6-digit fraction.
    assert ev[0]["format"] == "rfc5424"
    assert ev[0]["ts"] == datetime(2026, 11, 21, 5, 48, 2, 482636, tzinfo=UTC)
    assert (ev[0]["facility"], ev[0]["severity"]) == (4, 4)  # auth.warning
    assert (ev[0]["host"], ev[0]["app"], ev[0]["pid"]) == ("vm", "sshd", 1234)
    assert ev[0]["message"] == "udp default (rfc5424?) message"
    assert ev[0]["fields"]["sd"] == {"timeQuality": {"tzKnown": "1", "isSynced": "0"}}

    # logger --rfc3164: tag with colon, no pid.
    assert ev[1]["format"] == "rfc3164"
    assert ev[1]["ts"] == datetime(2026, 11, 21, 5, 48, 2, tzinfo=UTC)
    assert (ev[1]["host"], ev[1]["app"], ev[1].get("pid")) == ("vm", "sshd", None)
    assert ev[1]["message"] == "udp rfc3164 message"

    # --msgid and a second SD element.
    assert ev[2]["fields"]["msgid"] == "ID47"
    assert ev[2]["fields"]["sd"]["exampleSDID@32473"] == {"iut": "3"}
    assert ev[2]["message"] == "udp 5424 sd"
    assert "pid" not in ev[2]

    assert ev[3]["message"] == "tcp default framing"

    # rsyslog traditional forward format, and the sshd extraction after the envelope.
    assert (ev[4]["facility"], ev[4]["severity"], ev[4]["pid"]) == (4, 6, 999)
    assert (ev[4]["user"], ev[4]["src_ip"], ev[4]["src_port"]) == ("root", "10.0.0.5", 51234)
    assert (ev[4]["category"], ev[4]["outcome"], ev[4]["fields"]["action"]) == (
        "authentication", "success", "login")

    # A 5424 origin forwarded by rsyslog: the tag has NO colon.
    assert (ev[5]["host"], ev[5]["app"], ev[5]["message"]) == ("vm", "myapp", "rfc5424 in")
    assert (ev[5]["facility"], ev[5]["severity"]) == (16, 3)

    # RFC 3339 time inside a 3164 header (RSYSLOG_ForwardFormat).
    assert ev[6]["ts"] == datetime(2026, 11, 21, 5, 48, 22, tzinfo=UTC)
    assert ev[6]["user"] == "root" and ev[6]["src_port"] == 51234

    # SyslogProtocol23Format: two spaces before MSG.
    assert ev[7]["format"] == "rfc5424"
    assert ev[7]["message"] == "Accepted publickey for root from 10.0.0.5 port 51234 ssh2"
    assert ev[7]["src_ip"] == "10.0.0.5"

    # rsyslog file line (RSYSLOG_FileFormat): no PRI at all.
    assert ev[8]["format"] == "rfc3164" and "facility" not in ev[8]
    assert ev[8]["ts"] == datetime(2026, 11, 21, 5, 56, 45, tzinfo=UTC)
    assert (ev[8]["user"], ev[8]["src_ip"], ev[8]["outcome"]) == ("admin", "203.0.113.7", "failure")
    assert ev[8]["fields"]["invalid_user"] is True


@pytest.mark.skipif(shutil.which("logger") is None, reason="util-linux logger not installed")
@pytest.mark.parametrize(
    ("flags", "fmt"), [([], "rfc5424"), (["--rfc3164"], "rfc3164"), (["--rfc5424", "--msgid", "LOGIN"], "rfc5424")]
)
def test_live_logger_datagram_parses(flags: list[str], fmt: str) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(10)
    port = sock.getsockname()[1]
    try:
        msg = "Failed password for invalid user oracle from 198.51.100.23 port 40022 ssh2"
        subprocess.run(["logger", "-n", "127.0.0.1", "-P", str(port), "-d", "-t", "sshd", "--id=4321",
                        "-p", "auth.info", *flags, msg], check=True, timeout=10)
        data, _ = sock.recvfrom(65535)
    finally:
        sock.close()
    before = datetime.now(UTC)
    ev = ParserChain().parse(data.rstrip(b"\n"), before)
    assert ev["format"] == fmt
    assert (ev["facility"], ev["severity"], ev["app"], ev["pid"]) == (4, 6, "sshd", 4321)
    assert ev["message"] == msg
    assert (ev["user"], ev["src_ip"], ev["src_port"], ev["outcome"]) == ("oracle", "198.51.100.23", 40022, "failure")
    assert abs(ev["ts"] - before) < timedelta(minutes=5)
    if "--msgid" in flags:
        assert ev["fields"]["msgid"] == "LOGIN"


def test_rfc5424_structured_data_escapes_and_nilvalues() -> None:
    line = ('<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 '
            '[exampleSDID@32473 iut="3" eventSource="App\\"lic\\]ation" eventID="1011\\\\x"]'
            '[examplePriority@32473 class="high"] \ufeffAn application event log entry...')
    ev = parse(line)
    assert ev["format"] == "rfc5424" and ev.get("parse_error") is None
    assert (ev["facility"], ev["severity"]) == (20, 5)
    assert ev["ts"] == datetime(2003, 10, 11, 22, 14, 15, 3000, tzinfo=UTC)
    assert ev["app"] == "evntslog" and "pid" not in ev
    assert ev["fields"]["sd"]["exampleSDID@32473"] == {
        "iut": "3", "eventSource": 'App"lic]ation', "eventID": "1011\\x"}
    assert ev["fields"]["sd"]["examplePriority@32473"] == {"class": "high"}
    assert ev["message"] == "An application event log entry..."  # BOM removed

    nil = parse("<34>1 - - - - - -")
    assert nil["format"] == "rfc5424"
    assert nil.get("ts") is None and nil.get("host") is None and nil.get("app") is None
    assert nil["message"] == "" and nil.get("fields") is None


def test_rfc5424_offsets_are_normalised_to_utc() -> None:
    ev = parse("<13>1 2026-11-21T07:48:02.5+02:00 h a 77 - - x")
    assert ev["ts"] == datetime(2026, 11, 21, 5, 48, 2, 500000, tzinfo=UTC)
    assert ev["ts"].tzinfo is UTC
    assert parse("<13>1 2026-11-21T05:48:02-05:00 h a - - - x")["ts"] == datetime(
        2026, 11, 21, 10, 48, 2, tzinfo=UTC)


def test_rfc5424_bad_timestamp_is_flagged_not_dropped() -> None:
    ev = parse("<13>1 2026-13-45T99:00:00Z h app - - - hello")
    assert ev["format"] == "rfc5424"
    assert ev["ts"] is None and ev["message"] == "hello"
    assert "timestamp" in ev["parse_error"]


def test_rfc3164_space_padded_day_missing_host_and_no_colon_tag() -> None:
    ev = parse("<30>Oct  1 03:04:05 myhost cron[12]: job done")
    assert ev["ts"] == datetime(2026, 10, 1, 3, 4, 5, tzinfo=UTC)
    assert (ev["host"], ev["app"], ev["pid"], ev["message"]) == ("myhost", "cron", 12, "job done")

    nohost = parse("<30>Oct  1 03:04:05 cron[12]: job done")
    assert nohost.get("host") is None and nohost["app"] == "cron" and nohost["message"] == "job done"

    double = parse("<30>Oct 11 03:04:05 myhost app:  two spaces")
    assert double["message"] == "two spaces"


def test_pri_without_header_keeps_message() -> None:
    ev = parse("<13>just some text")
    assert (ev["format"], ev["facility"], ev["severity"], ev["message"]) == ("rfc3164", 1, 5, "just some text")
    assert ev.get("ts") is None


def test_invalid_pri_is_not_mistaken_for_syslog() -> None:
    ev = parse("<999>Oct 11 03:04:05 myhost app: x")
    assert "facility" not in ev


def test_file_line_without_tag_colon_is_left_to_plain() -> None:
    # No PRI, no "tag:" — not a syslog file line; plain still takes the timestamp.
    ev = parse("Nov 21 05:48:02 something happened here")
    assert ev["format"] == "plain"
    assert ev["ts"] == datetime(2026, 11, 21, 5, 48, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("line", "received", "expected"),
    [
        # Read on 1 January: a 31 December line is last year's.
        ("Dec 31 23:59:58 h a: x", datetime(2027, 1, 1, 0, 0, 3, tzinfo=UTC), datetime(2026, 12, 31, 23, 59, 58)),
        # Sender clock slightly ahead across New Year: a January line read on 31 December is next year's.
        ("Jan  1 00:00:01 h a: x", datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC), datetime(2027, 1, 1, 0, 0, 1)),
        # Up to a day ahead is clock skew, not last year.
        ("Nov 22 05:00:00 h a: x", datetime(2026, 11, 21, 6, 0, tzinfo=UTC), datetime(2026, 11, 22, 5, 0)),
        # More than a day ahead: last year.
        ("Nov 23 05:00:00 h a: x", datetime(2026, 11, 21, 6, 0, tzinfo=UTC), datetime(2025, 11, 23, 5, 0)),
        # 29 February read in a non-leap year belongs to the last leap year.
        ("Feb 29 12:00:00 h a: x", datetime(2027, 3, 1, tzinfo=UTC), datetime(2024, 2, 29, 12, 0)),
    ],
)
def test_year_inference_across_new_year(line: str, received: datetime, expected: datetime) -> None:
    assert parse(line, received)["ts"] == expected.replace(tzinfo=UTC)


def test_year_inference_cache_does_not_leak_between_receive_times() -> None:
    # The same chain sees the same text on both sides of New Year; the answers must differ.
    chain = ParserChain()
    line = b"Dec 31 23:59:58 h a: x"
    assert chain.parse(line, datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC))["ts"].year == 2026
    assert chain.parse(line, datetime(2027, 1, 1, 0, 0, 5, tzinfo=UTC))["ts"].year == 2026
    jan = b"Jan  1 00:00:01 h a: x"
    assert chain.parse(jan, datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC))["ts"].year == 2027
    assert chain.parse(jan, datetime(2027, 1, 1, 0, 0, 5, tzinfo=UTC))["ts"].year == 2027
    near = b"Nov 22 06:30:00 h a: x"  # 1 day + 30 min after 06:00 → last year; after 06:30 receive → this year
    assert chain.parse(near, datetime(2026, 11, 21, 6, 0, tzinfo=UTC))["ts"].year == 2025
    assert chain.parse(near, datetime(2026, 11, 21, 6, 45, tzinfo=UTC))["ts"].year == 2026


def test_yearless_time_is_taken_in_the_receivers_zone() -> None:
    plus2 = timezone(timedelta(hours=2))
    ev = parse("Nov 21 08:00:00 h a: x", datetime(2026, 11, 21, 8, 30, tzinfo=plus2))
    assert ev["ts"] == datetime(2026, 11, 21, 6, 0, tzinfo=UTC)


def test_cef_inside_rfc3164_and_rfc5424_envelopes() -> None:
    cef = "CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232"
    for line in (f"<134>Feb  1 12:00:00 fw {cef}", f"<134>1 2026-02-01T12:00:00Z fw - - - - {cef}",
                 f"Feb  1 12:00:00 fw {cef}"):
        ev = parse(line)
        assert ev["format"] == "cef", line
        assert (ev["host"], ev["src_ip"], ev["dst_ip"], ev["src_port"]) == ("fw", "10.0.0.1", "2.1.2.2", 1232)
        assert ev["message"] == "worm successfully stopped"
        assert ev["ts"] == datetime(2026, 2, 1, 12, 0, tzinfo=UTC)


def test_syslog_parser_rejects_non_syslog_cheaply() -> None:
    p = SyslogParser()
    for text in ('83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 1 "-" "-"', "{}",
                 "CEF:0|a|b|c|d|e|1|", "", "hello world"):
        assert p.parse(text, RA) is None, text
