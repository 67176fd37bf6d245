"""Linux audit records: `/var/log/audit/audit.log` lines and the same records forwarded to syslog by
audispd / audisp-syslog (`… audispd: node=h type=USER_AUTH msg=audit(1700000000.123:456): …`).

A record is `[node=N ]type=T msg=audit(SECONDS.MS:SERIAL): key=value …`, optionally followed (log_format=ENRICHED)
by a GS character (0x1d) and the kernel's interpreted names (`AUID="alice" SYSCALL=execve …`). User-space records
(USER_AUTH, USER_LOGIN, USER_CMD, ADD_USER, …) carry their own `msg='op=… acct="…" exe="…" hostname=… addr=…
terminal=… res=…'`, which is parsed too. Every key lands in `fields` under its own name (so Sigma's `type`, `key`,
`exe`, `comm`, `a0`, `name`, `SYSCALL` resolve), with values decoded: libaudit writes an untrusted string either
"quoted" or, when it holds a space, a quote or a control byte, as upper-case hex.

Trust: every string the audited user chooses (acct, exe, comm, cmd, name, a0…, hostname — a reverse-DNS answer
the remote side controls) is data. The address is only `addr=` of the user-space msg, the position libaudit
writes the peer in; `addr=?` gives none, and a record with more than one `addr=` token has two readings and
gives none. The user is `acct` (or, in enriched records, the resolved AUID name), never a numeric id.

Actions: `login_failed` for USER_AUTH res=failed (PAM's authentication step: one per attempt for every PAM
service) and for USER_LOGIN res=failed of programs other than sshd; `pam_failure` for sshd's USER_LOGIN
res=failed (sshd writes it beside the USER_AUTH of the same password attempt, and also for its `none` probe
before every login, so counting it would double every attempt); `login` for USER_LOGIN res=success; otherwise
the record type in lower case (`user_cmd`, `add_user`, `execve`, `syscall`, `anom_abend`, …).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from store.parsers.common import epoch_to_utc, ip_or_none

SERVICE = "auditd"
_HEADER = re.compile(r"(?:node=(\S{1,255}) )?type=([A-Z0-9_]{1,40}) msg=audit\((\d{1,12})\.(\d{1,6}):(\d{1,20})\): ?")
# One key=value token: "quoted" (libaudit never writes a quote inside), 'single-quoted' (only the user-space msg),
# or bare up to the next space.
_TOKEN = re.compile(r'([A-Za-z_][A-Za-z0-9_\[\]-]{0,63})=("[^"]*"|\'[^\']*\'|[^\s"\']*)(?: +|$)')
_INNER_MSG = re.compile(r"msg='(.*)'$", re.S)
_HEX = re.compile(r"(?:[0-9A-F]{2}){1,65536}")
# The enriched tail glued to the last value when a copy lost the GS byte (`key=(null)ARCH=x86_64 SYSCALL=execve
# AUID="bui"`, as in the CrowdSec hub's test files): upper-case keys only, to the end of the record.
_GLUED_TAIL = re.compile(r'(?<=[^\s=])((?:[A-Z][A-Z0-9_]{0,15}=(?:"[^"]*"|[^\s"]*) ?)+)$')
_TAIL_WINDOW = 512
_ADDR_TOKEN = re.compile(r"(?:^|[\s'])addr=")
# Keys whose unquoted value is libaudit's hex encoding of a string (aN only in EXECVE records, where it is an
# argument; in SYSCALL records a0…a3 are raw hex register values).
_ENCODED = frozenset({"acct", "exe", "comm", "cmd", "cwd", "name", "key", "proctitle", "data", "path"})
_ARG = re.compile(r"a\d{1,5}(?:\[\d{1,5}\])?")
_UNSET_USER = frozenset({"?", "(null)", "unset", "(unknown)", "(invalid user)", "UNKNOWN", ""})
_AUTH_TYPES = frozenset({"USER_AUTH", "USER_LOGIN", "USER_LOGOUT", "USER_ACCT", "USER_START", "USER_END",
                         "USER_ERR", "CRED_ACQ", "CRED_DISP", "CRED_REFR", "USER_CHAUTHTOK", "LOGIN"})
_ACCOUNT_TYPES = frozenset({"ADD_USER", "DEL_USER", "ADD_GROUP", "DEL_GROUP", "USER_MGMT", "GRP_MGMT",
                            "ACCT_LOCK", "ACCT_UNLOCK", "USER_ROLE_CHANGE"})


def _decode(key: str, value: str, record_type: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    encoded = key in _ENCODED or (record_type == "EXECVE" and _ARG.fullmatch(key) is not None)
    if encoded and len(value) >= 2 and _HEX.fullmatch(value):
        raw = bytes.fromhex(value)
        if key == "proctitle":
            raw = raw.replace(b"\x00", b" ").rstrip()
        elif key == "key":
            raw = raw.replace(b"\x01", b",")  # several audit rule keys are joined by 0x01
        return raw.decode("utf-8", "replace")
    return value


def _pairs(body: str, record_type: str, into: dict[str, Any]) -> None:
    pos, n = 0, len(body)
    for m in _TOKEN.finditer(body):  # fast path: the tokens follow each other
        if m.start() != pos:
            break
        key, value = m[1], m[2]
        if key not in into:  # the first writing of a key wins; a repeated key cannot overwrite it
            into[key] = value[1:-1] if value[:1] == '"' and len(value) >= 2 else _decode(key, value, record_type)
        pos = m.end()
    while pos < n:
        t = _TOKEN.match(body, pos)
        if t is None:
            # Free text a record may carry (AVC's `{ read }`): skip one word, never fail the record.
            nxt = body.find(" ", pos)
            if nxt < 0:
                break
            pos = nxt + 1
            continue
        if t[1] not in into:
            into[t[1]] = _decode(t[1], t[2], record_type)
        pos = t.end()


def _enriched(tail: str, into: dict[str, Any]) -> None:
    # The kernel's interpreted names (AUID="alice", SYSCALL=execve); upper-case keys, so they never collide.
    for m in _TOKEN.finditer(tail.strip()):
        into.setdefault(m[1], m[2][1:-1] if m[2][:1] == '"' and len(m[2]) >= 2 else m[2])


def _user(fields: dict[str, Any]) -> str | None:
    for key in ("acct", "AUID", "UID"):
        v = fields.get(key)
        # A numeric id is not a name (and auid 4294967295 means "unset"); only a written name is the user.
        if isinstance(v, str) and v not in _UNSET_USER and not v.isdigit():
            return v[:256]
    return None


def _action(rtype: str, res: str | None, exe: str) -> str:
    if rtype == "USER_AUTH" and res == "failed":
        return "login_failed"
    if rtype == "USER_LOGIN" and res == "failed":
        return "pam_failure" if exe.rsplit("/", 1)[-1] in ("sshd", "sshd-session") else "login_failed"
    if rtype == "USER_LOGIN" and res == "success":
        return "login"
    return rtype.lower()


def parse_record(text: str, ev: dict[str, Any]) -> bool:
    """Fill `ev` from one audit record (`text` starts at `node=` or `type=`); False if it is not one."""
    m = _HEADER.match(text)
    if m is None:
        return False
    node, rtype, secs, frac, serial = m.groups()
    body = text[m.end():]
    tail = ""
    gs = body.find("\x1d")
    if gs >= 0:
        body, tail = body[:gs], body[gs + 1:]
    else:
        start = max(0, len(body) - _TAIL_WINDOW)  # bounded: the search is quadratic on hostile key=value runs
        g = _GLUED_TAIL.search(body, start)
        if g is not None and g.start() > start:
            body, tail = body[:g.start()], g[1]
    fields: dict[str, Any] = {"type": rtype, "msg_id": f"{secs}.{frac}:{serial}"}
    if node is not None:
        fields["node"] = node
        if not ev.get("host"):
            ev["host"] = node  # auditd's own name_format setting, not a value the audited user chooses
    inner_text: str | None = None
    im = _INNER_MSG.search(body)
    if im is not None and body[:im.start()].count("'") == 0:
        inner_text = im[1]
        body = body[:im.start()]
    _pairs(body, rtype, fields)
    inner: dict[str, Any] = {}
    if inner_text is not None:
        _pairs(inner_text, rtype, inner)
        for k, v in inner.items():
            fields[k if k not in fields else "msg_" + k] = v
    if tail:
        _enriched(tail, fields)
    ev["ts"] = epoch_to_utc(float(f"{secs}.{frac}"))
    ev["service"] = SERVICE
    pid = fields.get("pid")
    if isinstance(pid, str) and pid.isdigit() and len(pid) < 19:
        ev["pid"] = int(pid)
    user = _user(fields)
    if user is not None:
        ev["user"] = user
    res = inner.get("res", fields.get("res"))
    if res in ("success", "failed"):
        ev["outcome"] = "success" if res == "success" else "failure"
    elif res in ("1", "0"):  # kernel CONFIG_CHANGE / ANOM_* records write res=1 / res=0
        ev["outcome"] = "success" if res == "1" else "failure"
    # Only the user-space msg's own addr= names the peer; two addr= tokens anywhere are two readings.
    addr = inner.get("addr")
    if isinstance(addr, str) and len(_ADDR_TOKEN.findall(text)) == 1:
        ip = ip_or_none(addr[7:] if addr.startswith("::ffff:") and "." in addr else addr)
        if ip is not None:
            ev["src_ip"] = ip
    exe = fields.get("exe")
    ev["action"] = _action(rtype, res if isinstance(res, str) else None, exe if isinstance(exe, str) else "")
    if rtype in _AUTH_TYPES:
        ev["category"] = "authentication"
    elif rtype in _ACCOUNT_TYPES:
        ev["category"] = "iam"
    else:
        ev["category"] = "audit"
    if rtype == "EXECVE":
        args = [fields[f"a{i}"] for i in range(min(_argc(fields), 256)) if isinstance(fields.get(f"a{i}"), str)]
        if args:
            fields["command"] = " ".join(args)[:8192]
    prior = ev.get("fields")
    if isinstance(prior, dict):
        for k, v in prior.items():
            fields.setdefault(k, v)
    ev["fields"] = fields
    return True


def _argc(fields: dict[str, Any]) -> int:
    v = fields.get("argc")
    return int(v) if isinstance(v, str) and v.isdigit() and len(v) < 6 else 0


class AuditdParser:
    """Bare audit.log lines (`type=…` or `node=… type=…`); anything else is None at its first characters."""

    name = "auditd"

    def parse(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        if not (text.startswith("type=") or text.startswith("node=")):
            return None
        ev: dict[str, Any] = {"format": "auditd", "app": SERVICE, "message": text}
        if not parse_record(text, ev):
            return None
        return ev
