"""The bulk (Arrow/RE2) fast path must store exactly what the scalar ParserChain stores, row for row.

Every comparison builds the same LineBatch twice through the real IngestPipeline parse step — fast path on,
fast path off — and compares the full Arrow batches (every column, every row). Dataset files are read from
../shared/datasets (skipped with a reason when absent); loghub lines: https://github.com/logpai/loghub,
Zhu et al., "Loghub: A Large Collection of System Log Datasets for AI-driven Log Analytics", ISSRE 2023.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors.eval.common import datasets_root
from store.db import Store
from store.parsers.fast import fast_path_applies, parse_fast
from store.pipeline import EventBatchBuilder, IngestPipeline
from store.sources.base import MAX_LINE_BYTES, LineBatch
from store.writer import StoreWriter

FIXTURES = Path(__file__).parent / "fixtures" / "lines"
DATASETS = datasets_root()
RA = datetime(2026, 11, 21, 10, 30, tzinfo=UTC)


def _build(lines: list[bytes], ra: datetime, fast: bool, hint: str | None = None,
           notes: dict[int, str] | None = None, chunk: int = 5000) -> list[dict]:
    """Parse `lines` as the pipeline thread does (one chain per source, in LineBatches of `chunk`) → rows."""
    pipe = IngestPipeline(None, fast_path=fast)  # type: ignore[arg-type]  # the writer is only used by flush
    pipe.fast_min_lines = 1
    rows: list[dict] = []
    for i in range(0, len(lines), chunk):
        builder = EventBatchBuilder()
        part_notes = {k - i: v for k, v in (notes or {}).items() if i <= k < i + chunk}
        pipe._parse_into(builder, LineBatch("file:/t.log", lines[i:i + chunk], ra, format_hint=hint,
                                            notes=part_notes or None))
        builder.first_id = 1 + i
        rows += builder.build().to_pylist()
    return rows


def assert_same(lines: list[bytes], ra: datetime = RA, hint: str | None = None,
                notes: dict[int, str] | None = None, chunk: int = 5000) -> int:
    """Fast path on == off for every row and column; returns how many rows the fast path claimed."""
    fast = _build(lines, ra, True, hint, notes, chunk)
    slow = _build(lines, ra, False, hint, notes, chunk)
    assert len(fast) == len(slow) == len(lines)
    for i, (a, b) in enumerate(zip(fast, slow, strict=True)):
        if a != b:
            diff = {k: (a[k], b[k]) for k in a if a[k] != b[k]}
            pytest.fail(f"row {i} differs (fast, chain) for line {lines[i][:300]!r}: {diff}")
    claimed = 0
    if fast_path_applies(hint):
        for i in range(0, len(lines), chunk):
            r = parse_fast(lines[i:i + chunk], ra)
            claimed += 0 if r is None else len(r.idx)
    return claimed


def fixture_lines() -> list[bytes]:
    out: list[bytes] = []
    for p in sorted(FIXTURES.glob("*.log")):
        out += [ln for ln in p.read_bytes().split(b"\n") if ln and not ln.startswith(b"# ")]
    return out


def generator_lines(n: int = 3000) -> list[bytes]:
    """The acceptance check's generator (../shared/acceptance/ingest-throughput), same seed and shapes."""
    random.seed(7)
    users = ["root", "admin", "alice", "bob", "oracle", "test"]
    out = []
    for i in range(n):
        k = i % 3
        ip = f"203.0.113.{random.randint(1, 254)}"
        if k == 0:
            out.append(f"Nov 21 10:{i // 6000 % 60:02d}:{i // 100 % 60:02d} jump1 sshd[{1000 + i % 500}]: "
                       f"Failed password for invalid user {random.choice(users)} from {ip} port "
                       f"{random.randint(1024, 65535)} ssh2")
        elif k == 1:
            out.append(f'{ip} - - [21/Nov/2026:10:00:{i % 60:02d} +0000] "GET /index.php?id={i} HTTP/1.1" '
                       f'{random.choice([200, 404, 403, 500])} {random.randint(100, 9000)} "-" "Mozilla/5.0"')
        else:
            out.append(f"<{random.randint(0, 191)}>1 2026-11-21T10:00:{i % 60:02d}.{i % 1000:03d}Z "
                       f"plc-gw{i % 7} modbusd {i % 900} - - register {i % 4096} write "
                       f"value={random.randint(0, 65535)}")
    return [s.encode() for s in out]


# Hand-written shapes around every branch the fast path claims or refuses.
EDGE = [
    b"Nov 21 10:00:00 host sshd[1]: Failed password for root from 10.0.0.1 port 22 ssh2",
    b"Nov  1 10:00:00 host sshd[1]: Failed password for invalid user  from 10.0.0.1 port 22 ssh2",
    b"Nov 21 10:00:00 host sshd[1]: Failed password for invalid user from 10.0.0.1 port 22 ssh2",
    b"Nov 21 10:00:00 host sshd[1]: Failed password for root from x from 10.0.0.1 port 22 ssh2",
    b"Nov 21 10:00:00 host sshd[1]: Failed publickey for bob from ::1 port 22 ssh2",
    b"Nov 21 10:00:00 host sshd[1]: Failed password for bob from host.example port 99999 ssh2",
    b"Nov 21 10:00:00 host sshd[1]: Failed password for bob from UNKNOWN port 22",
    b'Nov 21 10:00:00 host sshd[1]: Failed pass"wd for b\\ob from 10.0.0.1 port 22',
    b"Nov 21 10:00:00 host sshd[1]: Accepted publickey for alice from 10.0.0.2 port 5000 ssh2: RSA "
    b"SHA256:abc",
    b"Nov 21 10:00:00 host sshd[1]: Accepted password for alice from 10.0.0.2 port 5000 ssh2:",
    b"Nov 21 10:00:00 host sshd[1]: Invalid user admin from 10.0.0.3 port 4000",
    b"Nov 21 10:00:00 host sshd[1]: Invalid user  from 10.0.0.3",
    b"Nov 21 10:00:00 host sshd[1]: Connection closed by invalid user x 10.0.0.4 port 1 [preauth]",
    b"Nov 21 10:00:00 host sshd[1]: Connection closed by 10.0.0.4 port 1 [preauth]  ",
    b"Nov 21 10:00:00 host sshd[1]: Connection reset by authenticating user root 10.0.0.4 port 1",
    b"Nov 21 10:00:00 host sshd[1]: Disconnected from invalid user a b 10.0.0.5 port 2 [preauth]",
    b"Nov 21 10:00:00 host sshd[1]: Disconnected from 10.0.0.5",
    b"Nov 21 10:00:00 host sshd[1]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 "
    b"tty=ssh ruser= rhost=10.0.0.6  user=root",
    b"Nov 21 10:00:00 host sshd[1]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 "
    b"tty=ssh ruser=bob rhost=example.org",
    b"Nov 21 10:00:00 host sshd[1]: [ID 800047 auth.info] Failed password for root from 10.0.0.1 port 22",
    # Crafted user names and info parts: the address is sshd's tail or none, never the user's text.
    b"Nov 21 10:00:00 host sshd[1]: Failed password for invalid user u0 from 192.0.2.10 port 22 from "
    b"203.0.113.66 port 42000 ssh2",
    b"Nov 21 10:00:00 host sshd[1]: Failed password for invalid user a from 192.0.2.10 port 22 ssh2: x from "
    b"203.0.113.66 port 4 ssh2",
    b"Nov 21 10:00:00 host sshd[1]: Failed publickey for b from 10.0.0.1 port 22 ssh2: RSA SHA256:x from "
    b"192.0.2.10 port 22 ssh2",
    b"Nov 21 10:00:00 host sshd[1]: Failed password for root from 10.0.0.1 port 22 ssh2: RSA SHA256:abc",
    b"Nov 21 10:00:00 host sshd[1]: Accepted publickey for root from 10.0.0.1 port 22 ssh2: ED25519-CERT "
    b"SHA256:a ID x from 192.0.2.10 port 22 ssh2: y (serial 1) CA ED25519 SHA256:b",
    b"Nov 21 10:00:00 host sshd[1]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 "
    b"tty=ssh ruser= rhost=203.0.113.66  user=x rhost=192.0.2.10",
    b"Nov 21 10:00:00 host sshd[1]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 "
    b"tty=ssh ruser=bob rhost=203.0.113.66  user=rhost=192.0.2.10",
    b"Nov 21 10:00:00 host sshd[1]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 "
    b"tty=ssh ruser= rhost=203.0.113.66  user=rhost=192.0.2.10",
    b"Nov 21 10:00:00 host sshd[1]: message repeated 2 times: [ Failed password for root from 1.2.3.4 "
    b"port 22]",
    # PAM bodies any program writes (auth._pam_body), and sshd's "Received disconnect".
    b"Nov 21 10:17:01 host CRON[9]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
    b"Nov 21 10:17:01 host CRON[9]: pam_unix(cron:session): session closed for user root",
    b"Nov 21 10:00:00 host sshd[1]: pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)",
    b"Nov 21 10:00:00 host sshd[1]: pam_unix(sshd:session): session opened for user alice by bob(uid=7) extra",
    b"Nov 21 10:00:00 host sudo[1]: pam_unix(sudo:session): session opened for user root(uid=0) by alice(uid=1)",
    b"Nov 21 10:00:00 host su[1]: pam_unix(su-l:session): session closed for user root",
    b"Nov 21 10:00:00 host CRON[1]: pam_unix(cron:session):  session opened for user root(uid=0) by (uid=0)",
    b"Nov 21 10:00:00 host CRON[1]: pam_unix(cron:session):session closed for user root",
    b"Nov 21 10:00:00 host CRON[1]: pam_unix(cron:session): session opened for user (uid=0) by (uid=0)",
    b'Nov 21 10:00:00 host app[1]: pam_unix(a"b\\c:session): session opened for user q"x(uid=1) by b\\y(uid=2)',
    b"Nov 21 10:00:00 host sshd[1]: pam_unix(sshd:auth): check pass; user unknown",
    b"Nov 21 10:00:00 host login[1]: pam_unix(login:auth): check pass; user unknown; more",
    b"Nov 21 10:00:00 host CRON(pam_unix)[1]: session opened for user root(uid=0) by (uid=0)",
    b"Nov 21 10:00:00 host -[1]: pam_unix(cron:session): session closed for user root",
    b"<86>1 2026-11-21T10:00:00Z host CRON 12 - - pam_unix(cron:session): session closed for user root",
    b"<86>1 2026-11-21T10:00:00Z host - 12 - - pam_unix(cron:session): session closed for user root",
    b"<86>1 2026-11-21T10:00:00Z host sshd x9 m - pam_unix(sshd:auth): check pass; user unknown",
    b"Nov 21 10:00:00 host sshd[1]: Received disconnect from 10.0.0.1 port 22:11: disconnected by user",
    b"Nov 21 10:00:00 host sshd[1]: Received disconnect from 10.0.0.1 port 22:0000011: long code",
    b"Nov 21 10:00:00 host sshd[1]: Received disconnect from 10.0.0.1 port 22:011: leading zero",
    b"Nov 21 10:00:00 host sshd[1]: Received disconnect from 10.0.0.1 port 22: no code",
    b"Nov 21 10:00:00 host sshd[1]: Received disconnect from host.example port 22:11: bye [preauth]",
    b"Nov 21 10:00:00 host sshd[1]: Received disconnect from 10.0.0.1: 11: no port",
    b"Nov 21 10:00:00 host sshd[1]: Received disconnect from ::1 port 22:11: v6",
    b"Nov 21 10:00:00 host sshd[1]: Received disconnect from 10.0.0.1 port 99999:11: bad port",
    b"Nov 21 10:00:00 host sudo[1]: alice : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/ls",
    b"Nov 21 10:00:00 host sshd(pam_unix)[1]: authentication failure; rhost=1.2.3.4",
    b"Nov 21 10:00:00 host CEF[1]: 0|a|b|1|2|n|3|",
    b"Nov 21 10:00:00 host app[1]: CEF:0|a|b|1|2|n|3|src=1.2.3.4",
    b"Nov 21 10:00:00 host app[1]:no space",
    b"Nov 21 10:00:00 host app[1]:    many spaces",
    b"Nov 21 10:00:00 host app[01234567890123456789]: long pid",
    b"Nov 21 10:00:00 host app[123]: ",
    b"Nov 21 10:00:00 host app: no pid",
    b"Nov 21 25:00:00 host app[1]: bad hour",
    b"Nov 31 10:00:00 host app[1]: bad day",
    b"Feb 29 10:00:00 host app[1]: leap day",
    b"Foo 21 10:00:00 host app[1]: not a month",
    b"<13>Nov 21 10:00:00 host app[7]: with pri",
    b"<192>Nov 21 10:00:00 host app[7]: pri too big",
    b"<0013>Nov 21 10:00:00 host app[7]: four digit pri",
    b"2026-11-21T10:00:00Z host app[1]: iso",
    b"2026-11-21T10:00:00.5+05:30 host app[1]: iso offset",
    b"<34>2026-11-21T10:00:00.123456-08:00 host app[1]: iso with pri",
    b"2026-11-21T10:00:00.1234567Z host app[1]: seven digits",
    b"2026-11-21T10:00:00+24:00 host app[1]: bad offset",
    b'2026-11-21T10:00:00Z host app[1]: [21/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1',
    b"<165>1 2026-11-21T10:00:00.000Z plc app 42 ID47 - hello",
    b"<165>1 2026-11-21T10:00:00.000Z - - - - -  hello",
    b"<165>1 - host app abc ID47 -hello",
    b"<165>1 2026-11-21T10:00:00Z host app 01234567890123456789 - - x",
    b'<165>1 2026-11-21T10:00:00Z host app 1 - [ex@1 a="b"] sd',
    b"<165>1 2026-11-21T10:00:00Z host sshd 1 - - Failed password for root from 10.0.0.9 port 22 ssh2",
    b"<165>1 2026-11-21T10:00:00Z host sshd x7 m1 - Invalid user q from 10.0.0.9 port 23",
    b"<165>1 2026-13-21T10:00:00Z host app 1 - - bad month",
    b"<165>1 2026-11-21T10:00:00 host app 1 - - no zone",
    b"<999>1 2026-11-21T10:00:00Z host app 1 - - pri too big",
    b"<165>1 2026-11-21T10:00:00Z host [app 1 - - bracket app",
    b'10.1.2.3 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326',
    b'10.1.2.3 - - [10/Oct/2000:13:55:36 +0200] "GET /a b HTTP/1.1" 500 - "http://r/" "UA \\"q\\""',
    b'10.1.2.3 id - [10/Oct/2000:13:55:36 +0000] "POST /x HTTP/2.0" 404 0000012 "-" "-" extra stuff ',
    b'10.1.2.3 - - [10/Oct/2000:13:55:36 +0000] "-" 400 0',
    b'10.1.2.3 - - [10/Oct/2000:13:55:36 +0000] "\\x16\\x03" 400 0',
    b'10.1.2.3 - - [10/Oct/2000:13:55:36 +0000] "GET /" 200 1',
    b'10.1.2.3 - - [32/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 1',
    b'10.1.2.3 - - [10/Oct/2000:13:55:36 +2500] "GET / HTTP/1.1" 200 1',
    b'10.1.2.3 - - [10/Foo/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 1',
    b'10.1.2.3 - - [10/Oct/2000:13:55:36.123 +0000] "GET / HTTP/1.1" - -',
    b'10.1.2.3 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 1234567890123456789',
    b'999.1.2.3 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 1',
    b'::1 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 1',
    b'"10.1.2.3 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 1"',
    b'{"a": 1}',
    b"CEF:0|a|b|1|2|n|3|",
    b"Nov 21 10:00:00 host sshd[1]: Failed password for root from 10.0.0.1 port 22\r",
    "Nov 21 10:00:00 hést sshd[1]: Failed password for root from 10.0.0.1 port 22".encode(),
    b"Nov 21 10:00:00 host sshd[1]: Failed password for r\xffoot from 10.0.0.1 port 22",
    b"Nov 21 10:00:00 host app[1]: tab\there",
    b"",
    b"plain text",
]


def test_every_fixture_line_matches_the_chain() -> None:
    lines = fixture_lines()
    assert assert_same(lines) > 0


def test_edge_shapes_match_the_chain_and_common_ones_are_claimed() -> None:
    claimed = assert_same(EDGE)
    # The canonical shapes must actually go through the fast path, not all fall back.
    assert claimed >= 30
    r = parse_fast(EDGE, RA)
    assert r is not None
    claimed_rows = r.idx.tolist()
    assert 0 in claimed_rows
    assert EDGE.index(b"<165>1 2026-11-21T10:00:00.000Z plc app 42 ID47 - hello") in claimed_rows


def test_pam_session_and_received_disconnect_lines_are_claimed() -> None:
    # A jump host writes these more than any other shape (cron every minute, every sshd session): the issue's
    # store-only figure depends on them not falling to the per-line chain.
    shapes = [b"Nov 21 10:17:01 host CRON[9]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
              b"Nov 21 10:17:01 host CRON[9]: pam_unix(cron:session): session closed for user root",
              b"Nov 21 10:00:00 host sshd[1]: pam_unix(sshd:auth): check pass; user unknown",
              b"Nov 21 10:00:00 host sshd[1]: Received disconnect from 10.0.0.1 port 22:11: disconnected by user"]
    r = parse_fast(shapes, RA)
    assert r is not None and r.idx.tolist() == [0, 1, 2, 3]
    assert assert_same(shapes) == 4


def test_edge_shapes_one_line_at_a_time_and_shuffled() -> None:
    # Per-line batches exercise the chain's move-to-front between every row; shuffles vary the order.
    assert_same(EDGE, chunk=1)
    rnd = random.Random(3)
    for _ in range(5):
        lines = EDGE[:]
        rnd.shuffle(lines)
        assert_same(lines, chunk=len(lines))


def test_acceptance_generator_lines_are_all_claimed_and_identical() -> None:
    lines = generator_lines()
    assert assert_same(lines) == len(lines)


@pytest.mark.parametrize("rel", [
    "loghub/Linux/Linux_2k.log", "loghub/OpenSSH/OpenSSH_2k.log", "loghub/Apache/Apache_2k.log",
    "elastic-examples-security/auth.log", "elastic-examples-security/apache_logs",
    "apache-scanner-access-logs/acunetix.txt", "apache-scanner-access-logs/netsparker.txt",
    "apache-scanner-access-logs/w3af.txt",
])
def test_dataset_lines_match_the_chain(rel: str) -> None:
    path = DATASETS / rel
    if not path.is_file():
        pytest.skip(f"dataset file {path} is absent (see ../shared/datasets)")
    lines = [ln for ln in path.read_bytes().split(b"\n") if ln]
    assert_same(lines)


def test_year_inference_across_new_year_matches_the_chain() -> None:
    lines = [b"Dec 31 23:59:59 host app[1]: old year", b"Jan  1 00:00:01 host app[1]: new year",
             b"Jan  2 00:00:01 host app[1]: two days ahead", b"Dec 30 10:00:00 host app[1]: yesterday"]
    for ra in (datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC), datetime(2025, 12, 31, 23, 59, 50, tzinfo=UTC),
               datetime(2024, 2, 29, 12, 0, tzinfo=UTC),
               datetime(2026, 1, 1, 23, 59, 59, 999999, tzinfo=UTC)):
        assert assert_same(lines, ra=ra) == len(lines)
    rows = _build(lines, datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC), True)
    assert rows[0]["ts"] == datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert rows[1]["ts"] == datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)


def test_receive_time_outside_utc_leaves_everything_to_the_chain() -> None:
    ra = datetime(2026, 11, 21, 10, 30, tzinfo=timezone(timedelta(hours=2)))
    assert parse_fast(generator_lines(30), ra) is None
    assert_same(generator_lines(30) + EDGE, ra=ra)


def test_chain_format_memory_is_kept_across_fast_rows() -> None:
    # This line reads as syslog and as an access log: whichever parser the chain tried last wins. The fast
    # path claims the access line before it, so the chain must still have moved "access" to the front.
    ambiguous = b'2026-11-21T10:00:00Z host app[1]: [21/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1'
    access = b'10.1.2.3 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 1'
    syslog = b"Nov 21 10:00:00 host app[1]: hello"
    lines = [syslog, access, ambiguous, syslog, ambiguous, access, syslog, access, ambiguous]
    assert assert_same(lines) == 6
    rows = _build(lines, RA, True)
    assert [r["format"] for r in rows] == ["rfc3164", "access", "access", "rfc3164", "rfc3164", "access",
                                           "rfc3164", "access", "access"]


def test_chain_format_memory_carries_over_from_a_fully_claimed_batch() -> None:
    access = b'10.1.2.3 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 1'
    ambiguous = b'2026-11-21T10:00:00Z host app[1]: [21/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1'
    syslog = b"Nov 21 10:00:00 host app[1]: hello"
    lines = [syslog, syslog, access, access, ambiguous, syslog]
    # Batches of two: the second is claimed whole by the fast path, the third starts with the ambiguous line.
    assert_same(lines, chunk=2)
    assert [r["format"] for r in _build(lines, RA, True, chunk=2)][4] == "access"


def test_source_notes_and_bad_bytes_keep_their_parse_errors() -> None:
    lines = generator_lines(60) + [b"x" * (MAX_LINE_BYTES + 5), b"\xff\xfe bad", b""]
    notes = {0: "line cut at 65536 bytes", 4: "frame truncated", 61: "odd"}
    assert_same(lines, notes=notes)
    rows = _build(lines, RA, True, notes=notes)
    assert rows[0]["parse_error"] == "line cut at 65536 bytes"
    assert rows[0]["format"] == "rfc3164" and rows[1]["parse_error"] is None
    assert rows[61]["raw_bytes"] == b"\xff\xfe bad"


@pytest.mark.parametrize("hint", ["jsonl", "cef", "plain", "wazuh", "zabbix", "rfc5424", "apache", "bogus"])
def test_source_hints_choose_the_same_parsers(hint: str) -> None:
    assert_same(generator_lines(30) + EDGE, hint=hint)
    assert fast_path_applies(hint) == (hint in ("rfc5424", "apache", "bogus"))


_TOKENS = ["Nov", "21", "10:00:00", " ", "  ", "host", "sshd", "sshd[12]:", "app[3]:", "[", "]", ":", '"',
           "\\",
           "-", "from", "port", "22", "10.0.0.1", "::1", "invalid user ", "user", "for", "Failed", "password",
           "Accepted", "Invalid", "Connection closed by", "Disconnected from", "[preauth]", "<13>", "<13>1",
           "2026-11-21T10:00:00Z", "HTTP/1.1", "GET", "200", "=", "é", "\t", "\r", "pam_unix(sshd:auth):",
           "authentication failure;", "rhost=", "ruser=", "user=", "tty=ssh", "CEF:", "{", "ssh2", "ssh2:",
           " from 192.0.2.10 port 22", "192.0.2.10", "publickey", "RSA SHA256:x", "maximum authentication attempts "
           "exceeded for", "Illegal", "illegal user "]


def _mutate(data: st.DataObject, line: bytes) -> bytes:
    ops = data.draw(st.lists(st.tuples(st.sampled_from(["del", "ins", "swap"]), st.integers(0, 400),
                                       st.sampled_from(_TOKENS)), max_size=3))
    s = line.decode("utf-8", "replace")
    for op, pos, tok in ops:
        pos = pos % (len(s) + 1)
        if op == "del":
            s = s[:pos] + s[pos + len(tok):]
        elif op == "ins":
            s = s[:pos] + tok + s[pos:]
        else:
            end = s.find(" ", pos + 1)
            s = s[:pos] + tok + (s[end:] if end >= 0 else "")
    return s.encode()


_SEEDS = EDGE[:70] + generator_lines(9) + fixture_lines()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_lines_match_the_chain(data: st.DataObject) -> None:
    picks = data.draw(st.lists(st.sampled_from(_SEEDS), min_size=1, max_size=12))
    lines = [_mutate(data, ln) for ln in picks]
    # Several LineBatches per source: the chain's format memory must carry across them too.
    assert_same(lines, chunk=data.draw(st.integers(1, 12)))


_HEADERS = [b"", b"Nov 21 10:00:00 host sshd[1]: ", b"<13>1 2026-11-21T10:00:00Z h sshd 1 - - ",
            b"<13>Nov 21 10:00:00 host app[1]: ", b'1.2.3.4 - - [21/Nov/2026:10:00:00 +0000] "']
_SOUP = st.tuples(st.sampled_from(_HEADERS), st.lists(st.sampled_from(_TOKENS), max_size=20),
                  st.sampled_from(["", " ", "", "-"]))


@settings(max_examples=100, deadline=None)
@given(st.lists(_SOUP.map(lambda t: t[0] + t[2].join(t[1]).encode()), min_size=1, max_size=10))
def test_token_soup_after_real_headers_matches_the_chain(lines: list[bytes]) -> None:
    assert_same(lines)


def _store_events(tmp_path: Path, name: str, lines: list[bytes], fast: bool) -> list[tuple]:
    store = Store.open(tmp_path / f"{name}.duckdb")
    writer = StoreWriter(store).start()
    pipe = IngestPipeline(writer, first_event_id=1, fast_path=fast).start()
    try:
        for i in range(0, len(lines), 700):
            assert pipe.submit(LineBatch("file:/e2e.log", lines[i:i + 700], RA))
        assert pipe.sync(30)
        assert writer.flush(30)
        assert pipe.stats.lines == len(lines)
    finally:
        pipe.stop()
        writer.stop()
        store.close()
    con = duckdb.connect(str(tmp_path / f"{name}.duckdb"), read_only=True)
    try:
        return con.execute("SELECT * EXCLUDE (received_at) FROM events ORDER BY event_id").fetchall()
    finally:
        con.close()


def test_stored_events_are_identical_with_and_without_the_fast_path(tmp_path: Path) -> None:
    lines = generator_lines(1500) + EDGE + fixture_lines()
    random.Random(5).shuffle(lines)
    fast = _store_events(tmp_path, "fast", lines, True)
    slow = _store_events(tmp_path, "slow", lines, False)
    assert len(fast) == len(lines)
    assert fast == slow
