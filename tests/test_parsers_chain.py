"""ParserChain guarantees: never raises, never drops, keeps bad bytes, cuts huge lines, learns the format.

Property tests feed random bytes and mutated real lines into the chain and into every parser on its own.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store.parsers import FACTORIES, PARSERS, ParserChain, resolve
from store.schema import EVENT_FIELD_NAMES
from store.sources.base import MAX_LINE_BYTES

FIXTURES = Path(__file__).parent / "fixtures" / "lines"
RA = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)
# Keys a parser may return: event columns minus the ones the pipeline sets itself.
ALLOWED_KEYS = set(EVENT_FIELD_NAMES) - {"event_id", "source", "received_at", "peer", "site", "template_id"}


def real_lines() -> list[bytes]:
    out: list[bytes] = []
    for p in sorted(FIXTURES.glob("*.log")):
        out += [ln for ln in p.read_bytes().split(b"\n") if ln and not ln.startswith(b"# ")]
    return out


REAL = real_lines()


def check_event(ev: dict, line: bytes) -> None:
    assert isinstance(ev, dict)
    assert set(ev) <= ALLOWED_KEYS, set(ev) - ALLOWED_KEYS
    assert isinstance(ev["raw"], str)
    kept = line[:MAX_LINE_BYTES]
    if ev.get("raw_bytes") is not None:
        assert ev["raw_bytes"] == kept  # byte-exact original
        assert "invalid UTF-8" in ev["parse_error"]
    else:
        text = kept.decode("utf-8")
        assert ev["raw"] == (text[:-1] if text.endswith("\r") else text)
    ts = ev.get("ts")
    assert ts is None or (isinstance(ts, datetime) and ts.utcoffset() is not None and not ts.utcoffset())
    for col, typ in (("pid", int), ("src_port", int), ("facility", int), ("severity", int)):
        v = ev.get(col)
        assert v is None or (isinstance(v, typ) and not isinstance(v, bool)), (col, v)
    if ev.get("facility") is not None:
        assert 0 <= ev["facility"] <= 23
    if ev.get("severity") is not None:
        assert 0 <= ev["severity"] <= 7
    if ev.get("src_port") is not None:
        assert 0 <= ev["src_port"] <= 65535
    assert ev.get("outcome") in (None, "success", "failure")
    if ev.get("fields") is not None:
        assert isinstance(ev["fields"], dict)
        # The pipeline encodes fields as JSON text and every string as UTF-8 (no NaN, no lone surrogates).
        json.dumps(ev["fields"], allow_nan=False, ensure_ascii=False).encode("utf-8")
    for v in ev.values():
        if isinstance(v, str):
            v.encode("utf-8")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_random_bytes_never_raise_and_are_always_stored(line: bytes) -> None:
    chain = ParserChain()
    check_event(chain.parse(line, RA), line)


def _mutate(data: st.DataObject) -> bytes:
    base = bytearray(data.draw(st.sampled_from(REAL)))
    for _ in range(data.draw(st.integers(0, 6))):
        op = data.draw(st.integers(0, 3))
        pos = data.draw(st.integers(0, max(len(base) - 1, 0)))
        if op == 0 and base:
            del base[pos: pos + data.draw(st.integers(1, 20))]
        elif op == 1:
            base[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
        elif op == 2 and base:
            base[pos] = data.draw(st.sampled_from(b'"[]<>|=\\:{} \t\r\xff\xc3'))
        else:
            base = base[: pos]
    return bytes(base)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_real_lines_never_raise(data: st.DataObject) -> None:
    line = _mutate(data)
    chain = ParserChain(hint=data.draw(st.sampled_from([None, *FACTORIES])))
    check_event(chain.parse(line, RA), line)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_every_parser_alone_returns_none_or_a_dict(data: st.DataObject) -> None:
    text = data.draw(st.one_of(st.text(max_size=300), st.builds(lambda b: b.decode("utf-8", "replace"),
                                                                 st.sampled_from(REAL))))
    for name, parser in PARSERS.items():
        out = parser.parse(text, RA)
        assert out is None or isinstance(out, dict), name


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["timestamp", "ts", "host", "message", "level", "rule", "agent", "data",
                                        "clock", "ns", "eventid", "value", "itemid", "hosts", "src_ip", "x"]),
                       json_values, max_size=8))
def test_arbitrary_json_objects_become_storable_events(obj: dict) -> None:
    line = json.dumps(obj).encode()  # Python writes NaN/Infinity and lone surrogates as escapes
    for hint in (None, "wazuh", "zabbix"):
        check_event(ParserChain(hint).parse(line, RA), line)


def test_invalid_utf8_is_kept_byte_exact() -> None:
    line = b"Nov 21 05:48:02 vm sshd[1]: Failed password for r\xff\xfeot from 203.0.113.7 port 22 ssh2"
    ev = ParserChain().parse(line, RA)
    assert ev["raw_bytes"] == line
    assert ev["format"] == "rfc3164" and ev["src_ip"] == "203.0.113.7"
    assert ev["user"] == "r\ufffd\ufffdot"
    assert ev["parse_error"] == "invalid UTF-8 (original bytes kept in raw_bytes)"


def test_long_line_is_cut_flagged_and_still_parsed() -> None:
    line = b"Nov 21 05:48:02 vm app[1]: " + b"A" * (MAX_LINE_BYTES * 2)
    ev = ParserChain().parse(line, RA)
    assert len(ev["raw"].encode()) == MAX_LINE_BYTES
    assert ev["format"] == "rfc3164" and "cut" in ev["parse_error"]


def test_cut_inside_a_multibyte_character_keeps_bytes() -> None:
    line = b"x" * (MAX_LINE_BYTES - 1) + "é".encode() + b"tail"
    ev = ParserChain().parse(line, RA)
    assert ev["raw_bytes"] == line[:MAX_LINE_BYTES]
    assert "cut" in ev["parse_error"] and "invalid UTF-8" in ev["parse_error"]


def test_crlf_is_stripped_once() -> None:
    ev = ParserChain().parse(b"Nov 21 05:48:02 vm app: hi\r", RA)
    assert ev["raw"] == "Nov 21 05:48:02 vm app: hi" and ev["message"] == "hi"


FIRST = ["dblog", "netlog", "fortigate", "panos", "winevent", "k8saudit", "auditd", "applog", "syslog"]


def test_move_to_front_but_fallback_stays_behind() -> None:
    chain = ParserChain()
    # Database logs, network devices' and services' own records and the applications' anchored shapes go first:
    # syslog would misread some of them.
    assert chain.order[:9] == FIRST
    chain.parse(b'83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 1 "-" "-"', RA)
    assert chain.order[0] == "access"
    chain.parse(b"2015-10-18 18:01:47,978 INFO [main] x.Y: z", RA)
    assert chain.order[0] == "access" and chain.order[-1] == "plain"
    # An rsyslog file line after a plain line is still read by syslog (auth extraction intact).
    ev = chain.parse(b"2026-11-21T05:56:45+00:00 vm sshd[4242]: Invalid user x from 203.0.113.7", RA)
    assert ev["format"] == "rfc3164" and ev["fields"]["action"] == "invalid_user"


def test_hint_goes_first_and_unknown_hint_is_ignored_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    assert ParserChain(hint="wazuh").order[0] == "wazuh"
    assert ParserChain(hint="apache").order[0] == "access"
    assert ParserChain(hint="jsonl").order[0] == "json"  # the hint the file sources send
    assert resolve("RFC5424") == "syslog" and resolve("syslogg") is None
    chain = ParserChain(hint="syslogg")
    assert chain.unknown_hint == "syslogg" and chain.order[:9] == FIRST
    assert "unknown parser hint 'syslogg'" in caplog.text
    assert chain.parse(b"Nov 21 05:48:02 vm app: hi", RA)["message"] == "hi"


def test_a_parser_bug_never_loses_the_line() -> None:
    class Broken:
        name = "broken"

        def parse(self, text: str, received_at: datetime) -> dict | None:
            raise RuntimeError("boom")

    chain = ParserChain()
    chain._parsers.insert(0, Broken())  # type: ignore[arg-type]
    chain._fallback.insert(0, False)
    ev = chain.parse(b"Nov 21 05:48:02 vm app: hi", RA)
    assert ev["format"] == "rfc3164" and ev["message"] == "hi"
    assert "broken parser failed: RuntimeError: boom" in ev["parse_error"]


def test_chains_do_not_share_parser_state() -> None:
    a, b = ParserChain(), ParserChain()
    assert all(x is not y for x, y in zip(a._parsers, b._parsers, strict=True))


def test_every_fixture_line_is_storable_in_duckdb(tmp_path: Path) -> None:
    import duckdb

    from store.pipeline import EventBatchBuilder
    from store.schema import events_ddl

    lines = [*REAL, b"\xff\xfe not utf-8", b'{"a": NaN, "b": "\\udc80", "c": 1e400}', b"x" * (MAX_LINE_BYTES + 10)]
    chain = ParserChain()
    events = [chain.parse(line, RA) for line in lines]
    builder = EventBatchBuilder()
    builder.first_id = 1
    builder.extend(events, RA, "file:/fixtures", None, None)
    con = duckdb.connect(str(tmp_path / "events.duckdb"))
    con.execute(events_ddl())
    con.register("batch", builder.build())
    con.execute("INSERT INTO events SELECT * FROM batch")
    stored = con.execute("SELECT count(*), count(*) FILTER (WHERE parse_error IS NULL), "
                         "count(*) FILTER (WHERE raw_bytes IS NOT NULL) FROM events").fetchone()
    # Only the two deliberately bad lines carry an error; every real fixture line parses cleanly.
    assert stored == (len(lines), len(lines) - 2, 1)
    got = con.execute("SELECT fields->>'$.b', fields->>'$.c' FROM events WHERE format = 'json'").fetchone()
    assert got == ("\ufffd", "1e400")
