"""A light per-row view of the events the rules look at, with the parsers' columns first and regexes on the
message as a fallback, so rules work whatever parser (or none) understood the line. Log text is hostile:
nothing here raises on odd input.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

_IP = r"(?P<ip>\d{1,3}(?:\.\d{1,3}){3}|[0-9a-fA-F:]*:[0-9a-fA-F:]+)"
_USER = r"(?P<user>\S{1,64})"

# (kind, regex) — the first match wins; kinds are what the built-in rules count.
AUTH_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("auth_fail", re.compile(
        rf"Failed (?:password|publickey|none|keyboard-interactive(?:/pam)?|hostbased) for "
        rf"(?:invalid user |illegal user )?{_USER} from {_IP}")),
    ("auth_success", re.compile(
        rf"Accepted (?:password|publickey|keyboard-interactive(?:/pam)?|hostbased|gssapi-with-mic) for "
        rf"{_USER} from {_IP}")),
    ("invalid_user", re.compile(rf"(?:Invalid|Illegal) user {_USER} from {_IP}")),
    ("auth_fail", re.compile(rf"maximum authentication attempts exceeded for (?:invalid user )?{_USER} from {_IP}")),
    ("sudo_fail", re.compile(r"sudo(?:\[\d+\])?:\s+(?P<user>\S+) : (?:\d+ incorrect password attempts?|"
                             r"user NOT in sudoers|.*authentication failure)")),
    ("su_fail", re.compile(r"(?:FAILED su for (?P<target>\S+) by (?P<user>\S+)|BAD SU (?P<user2>\S+) to "
                           r"(?P<target2>\S+)|su(?:\[\d+\])?: failed: \S+ changing from (?P<user3>\S+) to "
                           r"(?P<target3>\S+))")),
    ("auth_fail_pam", re.compile(
        r"(?P<svc>\w+)\(pam_unix\)\[\d+\]: (?:\d+ more )?authentication failures?;.*?rhost=(?P<ip>\S+)?"
        r"(?:\s+user=(?P<user>\S+))?|pam_unix\((?P<svc2>[\w-]+):auth\): (?:\d+ more )?authentication "
        r"failures?;.*?rhost=(?P<ip2>\S+)?(?:\s+user=(?P<user2>\S+))?")),
    ("sudo_cmd", re.compile(r"sudo(?:\[\d+\])?:\s+(?P<user>\S+) : (?:TTY=\S+ ; )?PWD=\S.*? ; USER=(?P<target>\S+)"
                            r" ;.*COMMAND=(?P<command>.*)")),
    ("break_in", re.compile(rf"POSSIBLE BREAK-IN ATTEMPT|\[{_IP}\] failed - POSSIBLE")),
]

SYSTEM_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("panic", re.compile(r"Kernel panic|kernel: panic|BUG: unable to handle|Oops: \d+", re.I)),
    ("oom", re.compile(r"Out of memory: Kill|oom-killer|oom_reaper|Killed process \d+", re.I)),
    ("segfault", re.compile(r"segfault at|general protection(?: fault)?|traps: \S+\[\d+\] (?:trap|general)", re.I)),
    ("svc_crash", re.compile(
        r"Main process exited, code=(?:killed|dumped)|Failed with result '(?:core-dump|signal|watchdog)'|"
        r"\(core dumped\)|dumped core|terminated by signal (?:SEGV|ABRT|BUS|KILL)|respawning too fast",
        re.I)),
]

_ACCESS = re.compile(
    r'^"?(?P<ip>\S+) \S+ (?P<ruser>\S+) \[[^\]]+\] "(?P<method>[A-Z]{2,10}) (?P<path>\S*)(?: HTTP/[\d.]+)?" '
    r'(?P<status>\d{3}) \S+(?: "(?P<referer>[^"]*)" "(?P<ua>[^"]*))?'
)

# Cheap vectorised test run on the raw line before any Python work: rows that cannot matter are skipped.
PREFILTER = (
    r"(?i)fail|invalid|illegal|accepted|sudo|\bsu\b|su\[|su\(|authentication|break-in|panic|oom|"
    r"out of memory|killed process|segfault|general protection|core|signal|respawn|HTTP/|\" [1-5]\d\d "
)
SECURITY_CATEGORIES = ["authentication", "privilege", "web", "process", "system", "kernel", "intrusion_detection"]


@dataclass(slots=True)
class Ev:
    """The columns rules read, for one event, plus what the fallbacks extracted."""

    event_id: int
    ts: datetime
    host: str | None
    app: str | None
    message: str
    src_ip: str | None = None
    user: str | None = None
    category: str | None = None
    outcome: str | None = None
    template_id: int | None = None
    kind: str | None = None  # auth_fail, auth_success, invalid_user, sudo_fail, su_fail, sudo_cmd, …
    target_user: str | None = None
    command: str | None = None
    method: str | None = None
    path: str | None = None
    status: int | None = None
    user_agent: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)


def event_times(batch: pa.RecordBatch) -> pa.Array:
    names = batch.schema.names
    cols = [batch.column(names.index(n)) for n in ("ts", "received_at") if n in names]
    if not cols:
        return pa.nulls(batch.num_rows, pa.timestamp("us", tz="UTC"))
    return cols[0] if len(cols) == 1 else pc.coalesce(*cols)


def candidate_mask(batch: pa.RecordBatch, extra: pa.Array | None = None) -> pa.Array:
    """True for rows some rule might care about (vectorised; RE2 on the raw line or message)."""
    names = batch.schema.names
    text_col = None
    for n in ("raw", "message"):
        if n in names:
            col = batch.column(names.index(n))
            text_col = col if text_col is None else pc.coalesce(col, text_col)
    masks = []
    if text_col is not None:
        masks.append(pc.fill_null(pc.match_substring_regex(text_col, PREFILTER), False))
    if "category" in names:
        masks.append(pc.fill_null(pc.is_in(batch.column(names.index("category")),
                                           pa.array(SECURITY_CATEGORIES)), False))
    if extra is not None:
        masks.append(extra)
    if not masks:
        return pa.array([False] * batch.num_rows)
    out = masks[0]
    for m in masks[1:]:
        out = pc.or_(out, m)
    return out


def views(batch: pa.RecordBatch, mask: pa.Array | None = None) -> list[Ev]:
    """Build `Ev`s for the rows selected by `mask` (all rows if None)."""
    times = event_times(batch)
    if mask is not None:
        batch = batch.filter(mask)
        times = pc.filter(times, mask)
    if batch.num_rows == 0:
        return []
    names = set(batch.schema.names)

    def col(name: str) -> list[Any]:
        return batch.column(batch.schema.names.index(name)).to_pylist() if name in names else [None] * n

    n = batch.num_rows
    ids, tss = col("event_id"), times.to_pylist()
    hosts, apps, msgs, raws = col("host"), col("app"), col("message"), col("raw")
    ips, users, cats, outs = col("src_ip"), col("user"), col("category"), col("outcome")
    tids, fields = col("template_id"), col("fields")
    now = datetime.now(UTC)
    out = []
    for i in range(n):
        ev = Ev(
            event_id=ids[i] if ids[i] is not None else -1, ts=tss[i] or now, host=hosts[i], app=apps[i],
            message=msgs[i] or raws[i] or "", src_ip=ips[i], user=users[i], category=cats[i],
            outcome=outs[i], template_id=tids[i],
        )
        enrich(ev, fields[i], raws[i])
        out.append(ev)
    return out


def _load_fields(text: Any) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    if not text or not isinstance(text, str) or len(text) > 65536:
        return {}
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def enrich(ev: Ev, fields_json: Any, raw: str | None) -> None:
    """Fill kind/user/ip/web fields from `fields` JSON, then from regexes over the message and raw line."""
    f = ev.fields = _load_fields(fields_json)
    action = f.get("action")
    if isinstance(action, str):
        ev.kind = _kind_from_action(action, ev.outcome)
    ev.method = _str(f.get("method"))
    ev.path = _str(f.get("path") or f.get("url") or f.get("uri"))
    ev.status = _as_int(f.get("status"))
    ev.user_agent = _str(f.get("user_agent") or f.get("useragent") or f.get("agent"))
    ev.target_user = _str(f.get("target_user") or f.get("runas"))
    ev.command = _str(f.get("command"))
    text = ev.message[:4096]
    if ev.kind is None or ev.src_ip is None or ev.user is None:
        _auth_fallback(ev, text)
    if ev.kind is None:
        for kind, rx in SYSTEM_PATTERNS:
            if rx.search(text):
                ev.kind = kind
                break
    if ev.path is None and ev.status is None:
        m = _ACCESS.match((raw or ev.message)[:8192])
        if m:
            ev.src_ip = ev.src_ip or m.group("ip")
            ev.method, ev.path, ev.status = m.group("method"), m.group("path"), int(m.group("status"))
            ev.user_agent = ev.user_agent or m.group("ua")
            ev.category = ev.category or "web"
    if ev.path is not None or ev.status is not None:
        ev.kind = ev.kind or "web"


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else (str(value) if value is not None else None)


def _kind_from_action(action: str, outcome: str | None) -> str | None:
    a = action.lower()
    if a in ("invalid_user", "illegal_user"):
        return "invalid_user"
    if a == "break_in_attempt":
        return "break_in"
    if a in ("login", "auth", "authentication"):
        return "auth_success" if outcome == "success" else "auth_fail" if outcome == "failure" else None
    if a == "sudo":
        return "sudo_fail" if outcome == "failure" else "sudo_cmd"
    if a == "su":
        return "su_fail" if outcome == "failure" else None
    return None


def _auth_fallback(ev: Ev, text: str) -> None:
    for kind, rx in AUTH_PATTERNS:
        m = rx.search(text)
        if not m:
            continue
        g = {k: v for k, v in m.groupdict().items() if v}
        ev.kind = ev.kind or kind
        ip = g.get("ip") or g.get("ip2")
        if ip and ev.src_ip is None and any(ch.isdigit() for ch in ip):
            ev.src_ip = ip
        user = g.get("user") or g.get("user2") or g.get("user3")
        if user and ev.user is None:
            ev.user = user
        target = g.get("target") or g.get("target2") or g.get("target3")
        if target and ev.target_user is None:
            ev.target_user = target
        if g.get("command") and ev.command is None:
            ev.command = g["command"].strip()
        if kind == "auth_fail_pam":
            svc = g.get("svc") or g.get("svc2") or ""
            if svc.startswith("su"):
                ev.kind = "su_fail" if svc == "su" else ("sudo_fail" if svc == "sudo" else ev.kind)
        return
