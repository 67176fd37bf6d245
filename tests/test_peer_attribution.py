"""No text a client chose can name the address an event is blamed on.

A user name, PAM's user=/ruser=, an SSH banner or disconnect reason, an HTTP path, referer or user agent may
hold " from 192.0.2.10 port 22", "rhost=192.0.2.10" or a whole forged log line. Hypothesis builds such values
into the real shapes sshd, pam_unix, network devices and web servers write, and every path that reads an
address is checked: the parser chain, the bulk fast path (also row-for-row against the chain), the rules'
the normalised columns the rules read, the rules themselves, and `vigil ingest --detect` end to end.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors.replay import parsed_batches
from detectors.sigma_rules.conftest import run_rules
from store.parsers import ParserChain
from store.parsers.fast import parse_fast
from tests.conftest import vigil_cmd
from tests.test_parsers_fast import assert_same

RA = datetime(2026, 11, 21, 10, 30, tzinfo=UTC)
VICTIMS = ["192.0.2.10", "2001:db8::10", "::ffff:192.0.2.10", "192.0.2.11"]
REALS = ["203.0.113.66", "2001:db8:66::1"]

_victim = st.sampled_from(VICTIMS)
_port = st.integers(0, 65535).map(str)
_FORGED_TAILS = [
    " from {v} port {p}", " from {v} port {p} ssh2", " from {v} port {p} ssh2 [preauth]",
    " from {v} port {p} ssh2: RSA SHA256:Kl8kPGZrTiz7g4FO1hyqHdsSBBb5Fge6NWOobN03XJg", " from {v} port {p}: x",
    " from {v}", " {v} port {p}", " {v} port {p} [preauth]", " {v} port {p}: Too many authentication failures",
    " from {v} not allowed because not listed in AllowUsers", " rhost={v}", "  user=x rhost={v}",
    " ruser=a rhost={v}", " rhost={v}  user=y", "' from {v} port {p}", " [{v}] failed - POSSIBLE BREAK-IN ATTEMPT",
    "\" from {v} port {p}", " via {v}", " from {v} port {p} id 0",
    # Whole forged lines for the fallbacks that look for a "prog[pid]: " tag.
    " sshd[1]: Failed password for root from {v} port {p} ssh2", "sshd[7]: Invalid user x from {v}",
    " su[2]: FAILED SU (to root) x on pts/0", "pam_unix(sshd:auth): authentication failure; rhost={v}",
]
_forged = st.builds(lambda t, v, p: t.format(v=v, p=p), st.sampled_from(_FORGED_TAILS), _victim, _port)
_noise = st.text(alphabet=st.sampled_from(list("abz09 :'\"[]=;.-/\\é")), max_size=8)
# What a client may send as a user name (sshd logs up to 100 characters of it, spaces and quotes included).
HOSTILE = st.lists(st.one_of(_forged, _noise), min_size=1, max_size=4).map("".join)

# (template, the address must be the real one rather than merely not a victim's). {u} is the client's text.
SSHD = [
    ("Failed password for invalid user {u} from {r} port {p} ssh2", True),
    ("Failed password for {u} from {r} port {p} ssh2", True),
    ("Failed none for invalid user {u} from {r} port {p} ssh2", True),
    ("Failed keyboard-interactive/pam for invalid user {u} from {r} port {p} ssh2", True),
    ("Failed publickey for invalid user {u} from {r} port {p} ssh2: RSA SHA256:Kl8kPGZrTiz7g4FO1hyqHdsS", False),
    ("Accepted password for {u} from {r} port {p} ssh2", True),
    ("Accepted publickey for {u} from {r} port {p} ssh2: ED25519 SHA256:abc", False),
    # A certificate ID the client chose sits after sshd's address.
    ("Accepted publickey for root from {r} port {p} ssh2: ED25519-CERT SHA256:abc ID {u} (serial 1) CA "
     "ED25519 SHA256:def", False),
    ("Invalid user {u} from {r} port {p}", True),
    ("Invalid user {u} from {r}", True),
    ("Illegal user {u} from {r}", True),
    ("Connection closed by invalid user {u} {r} port {p} [preauth]", True),
    ("Connection reset by authenticating user {u} {r} port {p} [preauth]", True),
    ("Disconnected from invalid user {u} {r} port {p} [preauth]", True),
    ("Disconnected from authenticating user {u} {r} port {p} [preauth]", True),
    ("error: maximum authentication attempts exceeded for invalid user {u} from {r} port {p} ssh2 [preauth]", True),
    ("maximum authentication attempts exceeded for {u} from {r} port {p} ssh2", True),
    ("Disconnecting invalid user {u} {r} port {p}: Too many authentication failures [preauth]", True),
    ("error: PAM: Authentication failure for illegal user {u} from {r}", True),
    ("User {u} from {r} not allowed because not listed in AllowUsers", True),
    ("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={r}  user={u}",
     True),
    ("PAM 2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost={r}  user={u}", True),
    # A remote user name some services take from the client: with a second rhost= nobody can tell.
    ("pam_unix(rlogin:auth): authentication failure; logname= uid=0 euid=0 tty=pts/1 ruser={u} rhost={r}  "
     "user={u}", False),
    ("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser=bob rhost={r}  user={u}",
     False),
    ("message repeated 3 times: [ Failed password for invalid user {u} from {r} port {p} ssh2]", True),
    ("Postponed keyboard-interactive for invalid user {u} from {r} port {p} ssh2 [preauth]", True),
    ("Starting session: shell on pts/0 for {u} from {r} port {p} id 0", True),
    ("Bad protocol version identification '{u}' from {r} port {p}", True),
    ("Received disconnect from {r} port {p}:11: {u} [preauth]", True),
    ("Unable to negotiate with {r} port {p}: no matching key exchange method found. Their offer: {u} [preauth]",
     True),
    ("banner exchange: Connection from {r} port {p}: invalid format", True),
    # The client's banner, and nothing of sshd's naming a peer: no address at all.
    ('kex_exchange_identification: client sent invalid protocol identifier "{u}"', None),
    ("input_userauth_request: invalid user {u} [preauth]", None),
    ("Disconnecting: Too many authentication failures for {u} [preauth]", None),
]
_sshd_case = st.tuples(st.sampled_from(SSHD), HOSTILE, st.sampled_from(REALS), _port)


def _norm(addr: str | None) -> str | None:
    return None if addr is None else str(ipaddress.ip_address(addr))


def _is_victim(addr: str | None) -> bool:
    if not addr:
        return False
    try:
        a = ipaddress.ip_address(addr)
    except ValueError:
        return False
    if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped is not None:
        a = a.ipv4_mapped
    return str(a) in {"192.0.2.10", "2001:db8::10", "192.0.2.11"}


def _message(case: tuple) -> tuple[str, str, bool | None]:
    (template, strict), user, real, port = case
    return template.format(u=user, r=real, p=port), real, strict


def _envelopes(msg: str) -> list[bytes]:
    """The message as rsyslog writes it to a file, as an RFC 5424 sender sends it, and as journald JSON."""
    return [f"Nov 21 10:00:00 jump1 sshd[42]: {msg}".encode(),
            f"<38>1 2026-11-21T10:00:00Z jump1 sshd 42 - - {msg}".encode(),
            json.dumps({"SYSLOG_IDENTIFIER": "sshd", "MESSAGE": msg, "_HOSTNAME": "jump1"}).encode()]


def _check_address(got: str | None, real: str, strict: bool | None, line: bytes) -> None:
    assert not _is_victim(got), f"victim named by {line!r}"
    if strict is True:
        assert got == _norm(real), f"real sender not named by {line!r}: {got!r}"
    elif strict is None:
        assert got is None, f"an address read from the client's text in {line!r}: {got!r}"
    else:
        assert got in (None, _norm(real)), f"{got!r} from {line!r}"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_sshd_case, min_size=1, max_size=8))
def test_crafted_sshd_and_pam_lines_never_name_a_victim_in_the_parser_or_the_fast_path(cases: list) -> None:
    msgs = [_message(c) for c in cases]
    lines: list[bytes] = []
    for msg, real, strict in msgs:
        for line in _envelopes(msg)[:2]:
            ev = ParserChain().parse(line, RA)
            _check_address(ev.get("src_ip"), real, strict, line)
            lines.append(line)
    # The bulk path stores exactly what the chain stores (so it names no victim either) …
    assert_same(lines)
    # … and what it claims by itself holds no victim.
    fast = parse_fast(lines, RA)
    if fast is not None:
        assert not any(_is_victim(a) for a in fast.columns["src_ip"].to_pylist())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_sshd_case, min_size=1, max_size=6))
def test_rule_fallbacks_never_name_a_victim(cases: list) -> None:
    for msg, real, _ in (_message(c) for c in cases):
        # JSON, an envelope no parser knows and a bare message reach the rules unread by the auth parser.
        lines = _envelopes(msg) + [f"weird-envelope sshd[42]: {msg}".encode(), msg.encode()]
        for batch in parsed_batches(lines, received_at=RA):  # the columns the rules read
            for ev in batch.to_pylist():
                assert not _is_victim(ev["src_ip"]), f"victim named in the events of {ev['message']!r}"
                assert ev["src_ip"] in (None, _norm(real)), (ev["message"], ev["src_ip"])


def test_the_issue_lines_name_the_real_sender() -> None:
    lines = [
        "Failed password for invalid user u0 from 192.0.2.10 port 22 from 203.0.113.66 port 42000 ssh2",
        "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.66  "
        "user=x rhost=192.0.2.10",
        "error: maximum authentication attempts exceeded for invalid user v from 192.0.2.10 port 22 from "
        "203.0.113.66 port 42001 ssh2 [preauth]",
    ]
    got = [ParserChain().parse(f"Nov 21 10:00:00 jump1 sshd[9]: {m}".encode(), RA) for m in lines]
    assert [(e["src_ip"], e["user"]) for e in got] == [
        ("203.0.113.66", "u0 from 192.0.2.10 port 22"), ("203.0.113.66", "x rhost=192.0.2.10"),
        ("203.0.113.66", "v from 192.0.2.10 port 22")]
    assert got[0]["src_port"] == 42000 and got[2]["src_port"] == 42001


def test_two_readings_give_no_address_and_say_why() -> None:
    # The user name forges a whole "from … port … ssh2: <key>" tail: either address could be sshd's.
    line = ("Nov 21 10:00:00 jump1 sshd[9]: Failed publickey for invalid user a from 192.0.2.10 port 22 ssh2: "
            "x from 203.0.113.66 port 4000 ssh2: RSA SHA256:abc")
    ev = ParserChain().parse(line.encode(), RA)
    assert ev.get("src_ip") is None and ev.get("user") is None
    assert ev["fields"]["action"] == "login" and ev.get("outcome") == "failure"
    assert "address withheld" in ev["fields"]["ambiguous"]
    pam = ("Nov 21 10:00:00 h login[9]: pam_unix(login:auth): authentication failure; logname= uid=0 euid=0 "
           "tty=tty1 ruser=a rhost=192.0.2.10  user=b rhost=203.0.113.66  user=c")
    ev = ParserChain().parse(pam.encode(), RA)
    assert ev.get("src_ip") is None and ev.get("user") is None and "ambiguous" in ev["fields"]


# --- network devices: an account name must not supply the address ----------------------------------------

_DEVICE = [
    ('%ASA-6-605004: Login denied from {r}/32597 to outside:192.168.2.14/ssh for user "{u}"', True),
    ("%ASA-4-113006: User '{u}' locked out on exceeding '3' successive failed authentication attempts", None),
    ("webui: Invalid login attempt for user {u} from {r}", True),
    ("mgmtd: authentication failed for user {u} from host '{r}'", True),
]
_device_user = st.one_of(st.sampled_from(VICTIMS[:1] + VICTIMS[3:]), HOSTILE)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(_DEVICE), _device_user)
def test_device_login_failures_never_blame_the_account_name(case: tuple, user: str) -> None:
    (template, strict), real = case, "198.51.100.7"
    msg = template.format(u=user, r=real)
    for line in (f"Sep  1 10:25:29 10.10.10.1 {msg}", f"<190>Sep  1 10:25:29 fw1 {msg}", msg):
        for batch in parsed_batches([line], received_at=RA):
            for ev in batch.to_pylist():
                assert not _is_victim(ev["src_ip"]), line
                assert ev["action"] == "login_failed", line
                assert ev["src_ip"] in ((real,) if strict else (None,)), (line, ev["src_ip"])


# --- web access logs: the client is the first token ---------------------------------------------------------

def _apache_escape(s: str) -> str:
    # What Apache's mod_log_config does to request, referer and user-agent text.
    return s.replace("\\", "\\\\").replace('"', '\\"')


_forged_line = st.builds(lambda v: f'{v} - - [21/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-"', _victim)
_web_text = st.lists(st.one_of(_forged, _noise, _forged_line, _victim), min_size=1, max_size=4).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["203.0.113.66", "198.51.100.9", "2001:db8:66::1"]),
                          _web_text, _web_text, _web_text, st.sampled_from(["-", "frank", "192.0.2.10"]),
                          st.booleans()), min_size=1, max_size=8))
def test_web_clients_come_from_the_first_token_only(rows: list) -> None:
    lines, clients = [], []
    for client, path, referer, agent, user, wrapped in rows:
        line = (f'{client} - {user} [21/Nov/2026:10:00:00 +0000] "GET /{_apache_escape(path)} HTTP/1.1" 404 12 '
                f'"{_apache_escape(referer)}" "{_apache_escape(agent)}"')
        if wrapped:  # the scanner datasets wrap each line in one more pair of quotes
            line = f'"{line}"'
        lines.append(line.encode())
        clients.append(_norm(client))
    for line, client in zip(lines, clients, strict=True):
        ev = ParserChain().parse(line, RA)
        assert ev["format"] == "access" and ev.get("src_ip") == client, line
    assert_same(lines)
    for batch in parsed_batches(lines, received_at=RA):
        assert batch.column("src_ip").to_pylist() == clients


# --- the rules, and `vigil ingest --detect` end to end ------------------------------------------------------

def _injection_lines() -> list[str]:
    out = []
    for i in range(12):
        t = f"Nov 21 10:00:{10 + i:02d} jump1 sshd[{900 + i}]:"
        out += [
            f"{t} Failed password for invalid user u{i} from 192.0.2.10 port 22 from 203.0.113.66 port "
            f"{41000 + i} ssh2",
            f"{t} pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
            "rhost=203.0.113.66  user=x rhost=192.0.2.10",
            f"{t} error: maximum authentication attempts exceeded for invalid user v from 192.0.2.10 port 22 "
            f"from 203.0.113.66 port {42000 + i} ssh2 [preauth]",
            f"{t} Failed publickey for invalid user w from 192.0.2.11 port 22 ssh2: x from 203.0.113.66 port "
            f"{43000 + i} ssh2: RSA SHA256:abc",
            f'{t} kex_exchange_identification: client sent invalid protocol identifier "Failed password for root '
            'from 192.0.2.11 port 22 ssh2"',
            f"{t} Bad protocol version identification 'Failed password for root from 192.0.2.11 port 22 ssh2' "
            f"from 203.0.113.66 port {44000 + i}",
        ]
    return out


def test_rules_alert_on_the_sender_and_never_on_the_victims() -> None:
    hits = run_rules(_injection_lines())
    entities = {h.entity for h in hits}
    assert not [e for e in entities if "192.0.2.1" in e], entities
    assert "src_ip=203.0.113.66" in entities


def test_vigil_ingest_detect_blames_the_sender_not_the_victim(tmp_path: Path) -> None:
    log = tmp_path / "inject.log"
    log.write_text("\n".join(_injection_lines()) + "\n")
    db = tmp_path / "v.duckdb"
    out = subprocess.run([*vigil_cmd(), "ingest", "--detect", "--db", str(db), str(log)], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    con = duckdb.connect(str(db), read_only=True)
    try:
        victims = con.execute("SELECT count(*) FROM events WHERE src_ip IN ('192.0.2.10', '192.0.2.11')").fetchone()
        sender = con.execute("SELECT count(*) FROM events WHERE src_ip = '203.0.113.66'").fetchone()
        entities = {r[0] for r in con.execute("SELECT entity FROM alerts").fetchall()}
        withheld = con.execute("SELECT count(*) FROM events WHERE json_extract_string(fields, '$.ambiguous') "
                               "IS NOT NULL").fetchone()
    finally:
        con.close()
    assert victims == (0,)
    assert not [e for e in entities if "192.0.2.1" in e], entities
    assert sender is not None and sender[0] >= 48  # four families of 12 lines each name the sender
    assert "src_ip=203.0.113.66" in entities
    assert withheld == (12,)  # the publickey lines with two candidate tails
