"""Bulk parsing of the commonest line shapes (RFC 3164/5424 syslog, sshd, Apache/nginx combined) with Arrow.

RE2 kernels over a whole LineBatch replace ~7 µs of per-line Python. A row is claimed only when the result is
provably identical to `ParserChain.parse` (printable ASCII, strict canonical shapes no other parser accepts);
everything else is left to the scalar chain. tests/test_parsers_fast.py compares both paths row by row.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from store.parsers import auth
from store.parsers.devices import DEVICE_HINT
from store.parsers.normalise import normalise_columns
from store.parsers.registry import resolve
from store.parsers.services import has_extractor
from store.schema import EVENT_SCHEMA, UTC_TS
from store.sources.base import MAX_LINE_BYTES

# Row kinds in FastResult.kinds: which scalar parser the row stands for (the chain promotes it on a hit).
SYSLOG, ACCESS = 1, 2
KIND_PARSER = {SYSLOG: "syslog", ACCESS: "access"}
# Hints whose chains start with a parser that could claim these lines differently are left to the chain.
_FAST_HINTS = (None, "syslog", "access")
_MONTHS = pa.array(["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"])
_DAYS_IN_MONTH = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_US = 86_400_000_000
_AUTH_APPS = pa.array(["sshd", "sshd-session", "sudo", "su", "login", "pam", "doas"])
_SSHD_APPS = pa.array(["sshd", "sshd-session"])
_CEF_APPS = pa.array(["CEF", "LEEF"])

# Header patterns are written so RE2 can run them one-pass (no counted repeats, no shared prefixes): that is
# 5–20× faster than the scalar parsers' patterns. Bounds the scalar patterns have ({1,2}, {1,128}…) are
# checked on the captured lengths instead, and the message is what follows the header (never captured: a
# long capture is what makes RE2 slow).
_PRINTABLE = r"^[ -~]*$"
_ISO = (r"(?P<y>\d\d\d\d)-(?P<mo>\d\d)-(?P<d>\d\d)T(?P<h>\d\d):(?P<mi2>\d\d):(?P<s2>\d\d)(?:\.(?P<f>\d+))?"
        r"(?P<tz>Z|[+-]\d\d:\d\d)")
_TAG = r" (?P<host>[^ \[\]:]+) (?P<app>[^ \[:]+)\[(?P<pid>\d+)\]: *"
_R3164_BSD = (r"^(?:<(?P<pri>\d+)>)?(?P<mon>[A-Z][a-z][a-z]) (?P<sp> ?)(?P<day>\d+) "
              r"(?P<hh>\d\d):(?P<mi>\d\d):(?P<ss>\d\d)" + _TAG)
_R3164_ISO = r"^(?:<(?P<pri>\d+)>)?" + _ISO + _TAG
_R5424 = (r"^<(?P<pri>\d+)>1 (?P<ts>[^ ]+) (?P<host>[^ ]+) (?P<app>[^ ]+) (?P<procid>[^ ]+) (?P<msgid>[^ ]+)"
          r" - *")
_RISO = "^" + _ISO + "$"
_Q = r'[^"\\]*(?:\\.[^"\\]*)*'
_RACCESS = (
    r"^(?P<client>[^ ]+) (?P<ident>[^ ]+) (?P<user>[^ ]+) "
    r"\[(?P<day>\d+)/(?P<mon>[A-Z][a-z][a-z])/(?P<year>\d\d\d\d):"
    r"(?P<hh>\d\d):(?P<mi>\d\d):(?P<ss>\d\d)(?:\.\d+)? (?P<off>[+-]\d\d\d\d)\] "
    r'"(?P<req>' + _Q + r')" (?P<status>\d\d\d|-) (?P<bytes>\d+|-)'
)
# The combined format without escapes: splitting on spaces and quotes then finds every field (~4× cheaper).
_RACCESS_PLAIN = (r'^\d{1,3}(?:\.\d{1,3}){3} [^ "\\]+ [^ "\\]+ '
                  r'\[\d\d/[A-Z][a-z][a-z]/\d\d\d\d:\d\d:\d\d:\d\d [+-]\d\d\d\d\] '
                  r'"[^"\\ ]* [^"\\]* HTTP/[^"\\ ]*" (?:\d\d\d|-) (?:\d+|-) "[^"\\]*" "[^"\\]*"$')
_RREFUA = r'^ "(?P<ref>' + _Q + r')" "(?P<ua>' + _Q + r')"'
_RREQUEST = r"^(?P<method>[^ ]*) (?P<path>.*) (?P<proto>HTTP/[^ ]*)$"
_RIPV4 = r"^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$"
# sshd messages: the patterns of store/parsers/auth.py (RE2 keeps Perl's leftmost-first submatches).
# "Failed"/"Accepted": only a one-token user, anchored at the end of the line (or at sshd's ": <info>").
# Then the message holds one "from <addr> port <n>" candidate unless the info holds " from " too, and those
# rows are left to the chain, which decides between candidates (auth._login_peer).
_R_LOGIN_TAIL = r" from (?P<ip>[^ ]+) port (?P<port>\d+)(?: \w+)?(?: \[preauth\])?(?P<info>:.*)? *$"
_NO_INFO_METHODS = pa.array(sorted(auth.NO_INFO_METHODS))
_R_FAILED = (r"^Failed (?P<method>[^ ]+) for (?P<inv>invalid user )?(?P<user>[^ ]*)" + _R_LOGIN_TAIL)
_R_ACCEPTED = r"^Accepted (?P<method>[^ ]+) for (?P<user>[^ ]*)" + _R_LOGIN_TAIL
_R_INVALID = r"^Invalid user (?P<user>.*?) from (?P<ip>\S+?)(?: port (?P<port>\d+))?\s*$"
_R_CLOSED = (r"^Connection (?:closed|reset) by (?:(?P<kind>authenticating|invalid) user (?P<user>.*?) )?"
             r"(?P<ip>\S+?)(?: port (?P<port>\d+))?(?: \[preauth\])?\s*$")
_R_DISCONNECTED = (r"^Disconnected from (?:(?P<kind>authenticating|invalid) )?(?:user (?P<user>.*?) )?"
                   r"(?P<ip>\S+?)(?: port (?P<port>\d+))?(?: \[preauth\])?\s*$")
_R_PAM = (r"^pam_unix\(sshd:auth\): authentication failure; logname=\S* uid=\S* euid=\S* tty=(?P<tty>\S*) "
          r"ruser=(?P<ruser>\S*) rhost=(?P<rhost>\S*)(?: +user=(?P<user>\S*))?$")
# Only the first alternative of auth._RECEIVED_DISC (an address with a port): the other is the chain's.
_R_RECEIVED = r"^Received disconnect from (?P<ip>\S+) port (?P<port>\d+):(?: ?(?P<code>\d+):)? ?.*$"
# auth._PAM_PREFIX with the bodies auth._pam_body reads for any service.
_R_PAM_HEAD = r"^pam_unix\((?P<svc>[^:)]*):\w+\): ?"
_R_PAM_UNKNOWN = _R_PAM_HEAD + "check pass; user unknown"
_R_PAM_SESSION = (_R_PAM_HEAD + r"session (?P<op>opened|closed) for user (?P<user>[^\s(]+)(?:\(uid=\d+\))?"
                  r"(?: by (?P<by>[^\s(]*)(?:\(uid=\d+\))?)?")
_PRIV_PAM = pa.array(["sudo", "su", "su-l", "doas"])


def _bare(pattern: str) -> str:
    """The pattern without named groups (a replace with it needs no submatch bookkeeping)."""
    return re.sub(r"\(\?P<\w+>", "(?:", pattern)


class _Kernels:
    """pyarrow.compute element-wise kernels with Python literals turned into cached Arrow scalars: pyarrow's
    own conversion of a literal retries a failing optional import on every call (~100 µs each)."""

    _cache: dict[tuple[type, object], pa.Scalar] = {}

    def __getattr__(self, name: str) -> Callable[..., Any]:
        fn = getattr(pc, name)

        def call(*args: Any) -> Any:
            return fn(*[_lit(a) if isinstance(a, (str, int, bytes)) else a for a in args])

        return call


def _lit(value: str | int | bytes) -> pa.Scalar:
    key = (type(value), value)
    sc = _Kernels._cache.get(key)
    if sc is None:
        typ = (pa.string() if isinstance(value, str) else pa.binary() if isinstance(value, bytes)
               else pa.bool_() if isinstance(value, bool) else pa.int64())
        sc = _Kernels._cache[key] = pa.scalar(value, typ)
    return sc


_k = _Kernels()
_NULL_S = pa.scalar(None, pa.string())
_NULL_I64 = pa.scalar(None, pa.int64())
_CONST: dict[str, pa.Array] = {}


def _const(text: str, n: int) -> pa.Array:
    """A string column of `n` copies of `text` (a zero-copy slice of a cached column)."""
    col = _CONST.get(text)
    if col is None or len(col) < n:
        size = max(n, 8192)
        offsets = np.arange(size + 1, dtype=np.int32) * len(text.encode())
        data = pa.py_buffer(text.encode() * size)
        col = _CONST[text] = pa.StringArray.from_buffers(size, pa.py_buffer(offsets), data)
    return col.slice(0, n)


@dataclass
class FastResult:
    """Rows the fast path claimed: their positions in the batch (ascending), which parser each stands for,
    and event columns (store.schema names and types) aligned with `idx`. Columns not present are all null."""

    idx: np.ndarray
    kinds: np.ndarray
    columns: dict[str, pa.Array]


def fast_path_applies(hint: str | None) -> bool:
    """Sources hinted at JSON, CEF/LEEF or plain text keep the scalar chain for every line."""
    return hint is None or resolve(hint) in _FAST_HINTS


def _np(a: pa.Array) -> np.ndarray:
    return a.to_numpy(zero_copy_only=False)


def _take(cols: dict[str, pa.Array], keep: np.ndarray) -> dict[str, pa.Array]:
    if keep.all():
        return cols
    sel = pa.array(keep)
    return {k: v.filter(sel) for k, v in cols.items()}


def _len(a: pa.Array) -> np.ndarray:
    return _np(pc.binary_length(a))


def _int(a: pa.Array) -> np.ndarray:
    """Digits → int64 numpy ("" → 0; callers mask those rows)."""
    try:
        return _np(pc.cast(a, pa.int64()))
    except pa.ArrowInvalid:
        pass
    return _np(pc.cast(_k.if_else(_k.greater(pc.binary_length(a), 0), a, "0"), pa.int64()))


def _nonempty(a: pa.Array) -> pa.Array:
    return _k.greater(pc.binary_length(a), 0)


def _esc(a: pa.Array) -> pa.Array:
    """Printable-ASCII strings escaped for a JSON string body, as orjson does (only `\\` and `"`)."""
    if pc.any(pc.match_substring(a, "\\")).as_py():
        a = pc.replace_substring(a, "\\", "\\\\")
    if pc.any(pc.match_substring(a, '"')).as_py():
        a = pc.replace_substring(a, '"', '\\"')
    return a


def _jstr(a: pa.Array) -> pa.Array:
    """JSON string literals of printable-ASCII strings."""
    return _k.binary_join_element_wise('"', _esc(a), '"', "")


def _opt(present: pa.Array, *pieces: pa.Array | str) -> pa.Array:
    """The concatenated pieces where `present`, "" elsewhere."""
    text = _k.binary_join_element_wise(*pieces, "") if len(pieces) > 1 else pieces[0]
    return _k.if_else(present, text, "")


def _join(pieces: list[pa.Array | str], n: int) -> pa.Array:
    arrays = [p for p in pieces if not isinstance(p, str)]
    if not arrays:
        return _const("".join(p for p in pieces if isinstance(p, str)), n)
    return _k.binary_join_element_wise(*pieces, "")


def _ipv4(a: pa.Array) -> pa.Array:
    return pc.match_substring_regex(a, _RIPV4)


def _port(a: pa.Array) -> pa.Array:
    """port_or_none of a digits-or-empty column: int32 or null."""
    ok = pc.and_(_nonempty(a), _k.less_equal(pc.binary_length(a), 5))
    v = pc.cast(_k.if_else(ok, a, "0"), pa.int64())
    return pc.cast(_k.if_else(pc.and_(ok, _k.less_equal(v, 65535)), v, _NULL_I64), pa.int32())


def _days(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    months = ((year - 1970) * 12 + (month - 1)).astype("datetime64[M]")
    return months.astype("datetime64[D]").astype(np.int64) + (day - 1)


def _valid(year: np.ndarray | None, month: np.ndarray, day: np.ndarray, hh: np.ndarray, mi: np.ndarray,
           ss: np.ndarray) -> np.ndarray:
    """Fields datetime() accepts. Without a year (year inference), 29 February is left to the chain."""
    dim = _DAYS_IN_MONTH[np.clip(month - 1, 0, 11)]
    if year is not None:
        leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
        dim = dim + ((month == 2) & leap)
    return (month >= 1) & (month <= 12) & (day >= 1) & (day <= dim) & (hh <= 23) & (mi <= 59) & (ss <= 59)


def _month(a: pa.Array) -> np.ndarray:
    idx = _np(pc.fill_null(pc.index_in(a, value_set=_MONTHS), -1)).astype(np.int64)
    return idx + 1


def _iso_us(m: pa.StructArray) -> tuple[np.ndarray, np.ndarray]:
    """(µs since epoch, valid) for the RFC 3339 groups of `_ISO`: what datetime.fromisoformat gives."""
    y, mo, d = _int(m.field("y")), _int(m.field("mo")), _int(m.field("d"))
    h, mi, s = _int(m.field("h")), _int(m.field("mi2")), _int(m.field("s2"))
    frac = m.field("f")
    flen = _len(frac)
    f = _int(pc.utf8_rpad(frac, 6, "0"))  # "1" → 100000 µs
    tz = m.field("tz")
    tzl = _len(tz)
    sign = np.where(_np(pc.starts_with(tz, "-")), -1, 1)
    oh = np.where(tzl == 6, _int(pc.utf8_slice_codeunits(tz, 1, 3)), 0)
    om = np.where(tzl == 6, _int(pc.utf8_slice_codeunits(tz, 4, 6)), 0)
    ok = _valid(y, mo, d, h, mi, s) & (y >= 1900) & (y <= 9000) & (oh <= 23) & (om <= 59) & (flen <= 6)
    days = _days(np.where(ok, y, 1970), np.where(ok, mo, 1), np.where(ok, d, 1))
    us = (days * 86400 + h * 3600 + mi * 60 + s - sign * (oh * 3600 + om * 60)) * 1_000_000 + f
    return us, ok


def _iso_groups(ts: pa.Array) -> _Groups:
    """The `_ISO` groups of timestamps already known to match it, by position instead of by regex."""
    zulu = pc.ends_with(ts, "Z")
    frac = _k.if_else(zulu, pc.utf8_slice_codeunits(ts, 20, -1), pc.utf8_slice_codeunits(ts, 20, -6))
    return _Groups(y=pc.utf8_slice_codeunits(ts, 0, 4), mo=pc.utf8_slice_codeunits(ts, 5, 7),
                   d=pc.utf8_slice_codeunits(ts, 8, 10), h=pc.utf8_slice_codeunits(ts, 11, 13),
                   mi2=pc.utf8_slice_codeunits(ts, 14, 16), s2=pc.utf8_slice_codeunits(ts, 17, 19), f=frac,
                   tz=_k.if_else(zulu, "Z", pc.utf8_slice_codeunits(ts, -6)))


def _bsd_us(m: pa.StructArray, received_at: datetime) -> tuple[np.ndarray, np.ndarray]:
    """`infer_year` for `Mmm dd hh:mm:ss` in bulk (received_at is UTC)."""
    month = _month(m.field("mon"))
    day, hh, mi, ss = (_int(m.field(k)) for k in ("day", "hh", "mi", "ss"))
    ok = _valid(None, month, day, hh, mi, ss) & (_len(m.field("day")) <= 2)
    year = np.full(len(month), received_at.year, dtype=np.int64)
    if received_at.month == 12:
        year[month == 1] += 1
    mo, d = np.where(ok, month, 1), np.where(ok, day, 1)
    secs = hh * 3600 + mi * 60 + ss
    us = (_days(year, mo, d) * 86400 + secs) * 1_000_000
    recv = (received_at - _EPOCH) // timedelta(microseconds=1)
    back = (us - recv) > _DAY_US
    if back.any():
        us = np.where(back, (_days(year - 1, mo, d) * 86400 + secs) * 1_000_000, us)
    return us, ok


def _pri(pri: pa.Array) -> tuple[pa.Array, pa.Array, np.ndarray]:
    """(facility, severity, ok) from PRI digits ("" = none); PRI > 191 or > 3 digits is left to the chain."""
    short = _len(pri) <= 3  # a hostile 25-digit PRI must not reach the integer cast
    has = _nonempty(pri)
    v = pc.cast(_k.if_else(pa.array(short), _k.if_else(has, pri, "0"), "0"), pa.int64())
    ok = _np(_k.less_equal(v, 191)) & short
    # Rows that are not ok go to the chain; zero them first so the narrowing casts below cannot overflow.
    v = _k.if_else(pa.array(ok), v, 0)
    null8 = pa.scalar(None, pa.int8())
    fac = _k.if_else(has, pc.cast(_k.shift_right(v, 3), pa.int8()), null8)
    sev = _k.if_else(has, pc.cast(_k.bit_wise_and(v, 7), pa.int8()), null8)
    return fac, sev, ok


def _header(text: pa.Array, pattern: str) -> tuple[np.ndarray, pa.StructArray, pa.Array]:
    """(matching rows, their groups, the text after the header) for an anchored header pattern."""
    m = pc.extract_regex(text, pattern)
    hit = _np(m.is_valid())
    rows = np.flatnonzero(hit)
    if not len(rows):
        return rows, m, text
    if len(rows) < len(text):
        sel = pa.array(hit)
        m, text = m.filter(sel), text.filter(sel)
    rest = pc.replace_substring_regex(text, _bare(pattern), "", max_replacements=1)
    return rows, m, rest


class _Groups(dict[str, pa.Array]):
    """Named columns from splitting, used where an extract_regex struct would be (same `.field(name)`)."""

    def field(self, name: str) -> pa.Array:
        return self[name]


def _plain_3164(text: pa.Array) -> tuple[np.ndarray, _Groups, pa.Array]:
    """`Mmm dd hh:mm:ss host app[pid]: msg` without PRI: a fixed-width stamp, then three space-split parts."""
    n = len(text)
    rest = pc.utf8_slice_codeunits(text, 16)
    host, tag, msg = _split(rest, " ", 3, max_splits=2)
    app, pid = _split(tag, "[", 2, max_splits=1)
    g = _Groups(pri=_const("", n), mon=pc.utf8_slice_codeunits(text, 0, 3),
                day=pc.utf8_ltrim(pc.utf8_slice_codeunits(text, 4, 6), " "),
                hh=pc.utf8_slice_codeunits(text, 7, 9), mi=pc.utf8_slice_codeunits(text, 10, 12),
                ss=pc.utf8_slice_codeunits(text, 13, 15), host=host, app=app,
                pid=pc.utf8_slice_codeunits(pid, 0, -2))
    return np.arange(n), g, pc.utf8_ltrim(msg, " ")


def _plain_5424(text: pa.Array) -> tuple[np.ndarray, _Groups, pa.Array]:
    """`<pri>1 ts host app procid msgid - msg`: eight space-split parts."""
    head, ts, host, app, procid, msgid, _, msg = _split(text, " ", 8, max_splits=7)
    g = _Groups(pri=pc.utf8_slice_codeunits(head, 1, -2), ts=ts, host=host, app=app, procid=procid,
                msgid=msgid)
    return np.arange(len(text)), g, pc.utf8_ltrim(msg, " ")


_Header = Callable[[pa.Array], tuple[np.ndarray, Any, pa.Array]]
_Columns = Callable[[np.ndarray, Any, pa.Array], tuple[np.ndarray, dict[str, pa.Array]]]


def _dispatch(text: pa.Array, plain_pattern: str, plain: _Header, general: str,
              columns: _Columns) -> tuple[np.ndarray, dict[str, pa.Array]]:
    """Rows of the canonical shape are split (cheap); the rest go through the capturing header regex."""
    is_plain = _np(pc.match_substring_regex(text, plain_pattern))
    parts: list[tuple[np.ndarray, dict[str, pa.Array]]] = []
    for mask, header in ((is_plain, plain), (~is_plain, lambda t: _header(t, general))):
        rows = np.flatnonzero(mask)
        if len(rows):
            sub = text if len(rows) == len(text) else text.filter(pa.array(mask))
            hit, groups, msg = header(sub)
            if len(hit):
                r, c = columns(hit, groups, msg)
                if len(r):
                    parts.append((rows[r], c))
    if not parts:
        return np.zeros(0, np.int64), {}
    if len(parts) == 1:
        return parts[0]
    rows = np.concatenate([p[0] for p in parts])
    order = pa.array(np.argsort(rows, kind="stable"))
    cols = {k: v.take(order) for k, v in _concat_cols([p[1] for p in parts]).items()}
    return np.sort(rows), cols


_R3164_PLAIN = r"^[A-Z][a-z][a-z] [ \d]\d \d\d:\d\d:\d\d [^ \[\]:]+ [^ \[:]+\[\d+\]: "
_R5424_PLAIN = r"^<\d{1,3}>1 [^ ]+ [^ ]+ [^ ]+ [^ ]+ [^ ]+ - "


def _syslog_3164(text: pa.Array, received_at: datetime, iso: bool) -> tuple[np.ndarray, dict[str, pa.Array]]:
    def columns(rows: np.ndarray, m: Any, msg: pa.Array) -> tuple[np.ndarray, dict[str, pa.Array]]:
        return _syslog_3164_cols(rows, m, msg, received_at, iso)

    if iso:
        rows, m, msg = _header(text, _R3164_ISO)
        return columns(rows, m, msg) if len(rows) else (rows, {})
    return _dispatch(text, _R3164_PLAIN, _plain_3164, _R3164_BSD, columns)


def _syslog_3164_cols(rows: np.ndarray, m: Any, msg: pa.Array, received_at: datetime,
                      iso: bool) -> tuple[np.ndarray, dict[str, pa.Array]]:
    n = len(rows)
    fac, sev, ok = _pri(m.field("pri"))
    us, tok = _iso_us(m) if iso else _bsd_us(m, received_at)
    ok &= tok & (_len(m.field("app")) <= 128) & (_len(m.field("pid")) <= 18)
    if iso:
        # An RFC 3339 file line whose message opens with "[" could also read as an access-log line.
        ok &= ~_np(pc.starts_with(msg, "["))
    cols = {
        "format": _const("rfc3164", n), "facility": fac, "severity": sev,
        "ts": pa.array(us, pa.int64()).cast(UTC_TS),
        "host": m.field("host"), "app": m.field("app"), "pid": pc.cast(m.field("pid"), pa.int64()),
        "message": msg, "_fields": _const("", n),
    }
    return rows[ok], _take(cols, ok)


def _syslog_5424(text: pa.Array) -> tuple[np.ndarray, dict[str, pa.Array]]:
    return _dispatch(text, _R5424_PLAIN, _plain_5424, _R5424, _syslog_5424_cols)


def _syslog_5424_cols(rows: np.ndarray, m: Any, msg: pa.Array) -> tuple[np.ndarray, dict[str, pa.Array]]:
    n = len(rows)
    fac, sev, ok = _pri(m.field("pri"))
    tstext, host, app = m.field("ts"), m.field("host"), m.field("app")
    procid, msgid = m.field("procid"), m.field("msgid")
    ok &= ((_len(tstext) <= 64) & (_len(host) <= 255) & (_len(app) <= 48) & (_len(procid) <= 128)
           & (_len(msgid) <= 32))
    dash_ts = _np(_k.equal(tstext, "-"))
    iso = pc.match_substring_regex(tstext, _bare(_RISO))
    us, iok = _iso_us(_iso_groups(_k.if_else(iso, tstext, "1970-01-01T00:00:00Z")))
    ok &= dash_ts | (_np(iso) & iok)
    # An app opening with "[" could let the line read as an access-log line.
    ok &= ~_np(pc.starts_with(app, "["))
    pid_ok = pc.and_(pc.match_substring_regex(procid, r"^\d+$"), _k.less(pc.binary_length(procid), 19))
    procid_field = pc.and_(pc.invert(pid_ok), _k.not_equal(procid, "-"))
    ts = pa.array(np.where(dash_ts, 0, us), pa.int64()).cast(UTC_TS)
    cols = {
        "format": _const("rfc5424", n), "facility": fac, "severity": sev,
        "ts": _k.if_else(pa.array(dash_ts), pa.scalar(None, UTC_TS), ts),
        "host": _k.if_else(_k.equal(host, "-"), _NULL_S, host),
        "app": _k.if_else(_k.equal(app, "-"), _NULL_S, app),
        "pid": _k.if_else(pid_ok, pc.cast(_k.if_else(pid_ok, procid, "0"), pa.int64()), _NULL_I64),
        "message": msg,
        "_fields": _join([_opt(procid_field, ',"procid":"', _esc(procid), '"'),
                          _opt(_k.not_equal(msgid, "-"), ',"msgid":"', _esc(msgid), '"')], n),
    }
    return rows[ok], _take(cols, ok)


def _addr(ip: pa.Array, port: pa.Array | None) -> tuple[pa.Array, pa.Array, pa.Array, np.ndarray]:
    """What auth._set does with an address: (src_ip, src_port, `"rhost":…,` piece, ok). IPv6 is left to the
    chain; "" means no address was given."""
    v4 = _ipv4(ip)
    src_ip = _k.if_else(v4, ip, _NULL_S)
    src_port = _k.if_else(v4, _port(port), pa.scalar(None, pa.int32())) if port is not None else None
    rhost = pc.and_(pc.and_(pc.invert(v4), _nonempty(ip)), _k.not_equal(ip, "UNKNOWN"))
    ok = ~_np(pc.match_substring(ip, ":"))
    return src_ip, src_port, _opt(rhost, '"rhost":"', _esc(ip), '",'), ok


class _Claims:
    """Rows claimed shape by shape, each shape computed on its own rows only, then scattered once into
    columns over the whole batch (a shape costs what its rows cost, not a pass over every row)."""

    TYPES = {"user": pa.string(), "src_ip": pa.string(), "src_port": pa.int32(), "outcome": pa.string(),
             "_auth": pa.string()}

    def __init__(self, n: int) -> None:
        self.n = n
        self.claimed = np.zeros(n, bool)
        self.rows: list[np.ndarray] = []
        self.parts: list[dict[str, pa.Array]] = []

    def candidates(self, msg: pa.Array, prefix: str, where: np.ndarray, pattern: str
                   ) -> tuple[np.ndarray, pa.StructArray] | None:
        """Rows in `where`, not yet claimed, whose message starts with `prefix` and matches `pattern`."""
        rows = np.flatnonzero(where & ~self.claimed & _np(pc.starts_with(msg, prefix)))
        if not len(rows):
            return None
        m = pc.extract_regex(msg.take(pa.array(rows)), pattern)
        hit = _np(m.is_valid())
        if not hit.any():
            return None
        return (rows, m) if hit.all() else (rows[hit], m.filter(pa.array(hit)))

    def put(self, rows: np.ndarray, user: pa.Array | None, outcome: str | pa.Array | None,
            pieces: list[pa.Array | str],
            ip: pa.Array | None = None, port: pa.Array | None = None, keep: pa.Array | None = None) -> None:
        """Claim `rows` (those where `keep`): auth columns from the shape's groups, `pieces` the JSON keys of
        fields (the first one ends in a comma or is empty: an rhost key goes after it)."""
        k = len(rows)
        ok = np.ones(k, bool) if keep is None else _np(keep)
        cols: dict[str, pa.Array] = {}
        if user is not None:
            cols["user"] = _k.if_else(_nonempty(user), user, _NULL_S)
        if ip is not None:
            src_ip, src_port, rhost, addr_ok = _addr(ip, port)
            ok &= addr_ok
            cols["src_ip"] = src_ip
            if src_port is not None:
                cols["src_port"] = src_port
            pieces = pieces[:1] + [rhost] + pieces[1:]
        if outcome is not None:
            cols["outcome"] = _const(outcome, k) if isinstance(outcome, str) else outcome
        cols["_auth"] = _join(pieces, k)
        if not ok.all():
            rows, cols = rows[ok], _take(cols, ok)
        if len(rows):
            self.claimed[rows] = True
            self.rows.append(rows)
            self.parts.append(cols)

    def columns(self) -> dict[str, pa.Array]:
        """Every auth column over the whole batch (null on rows no shape claimed)."""
        if not self.rows:
            return {name: pa.nulls(self.n, typ) for name, typ in self.TYPES.items()}
        rows = np.concatenate(self.rows)
        pos = np.full(self.n, -1, np.int64)
        pos[rows] = np.arange(len(rows))
        index = pa.array(pos, mask=pos < 0)
        out = {}
        for name, typ in self.TYPES.items():
            pieces = [p[name] if name in p else pa.nulls(len(r), typ)
                      for p, r in zip(self.parts, self.rows, strict=True)]
            out[name] = pa.concat_arrays(pieces).take(index)
        return out


def _auth_shapes(msg: pa.Array, sshd: np.ndarray, pam: np.ndarray) -> tuple[np.ndarray, dict[str, pa.Array]]:
    """The sshd messages (rows whose app is sshd) and PAM messages (`pam`: programs whose pam_unix lines the
    chain reads with auth._pam) the fast path reads: (claimed, columns over all rows)."""
    c = _Claims(len(msg))

    def one_peer(m: pa.StructArray) -> pa.Array | None:
        # An info part naming " from " may hold a second candidate, and one after a method that never has
        # an info part is not sshd's: the chain decides those rows.
        info = m.field("info")
        has_info = _nonempty(info)
        if not pc.any(has_info).as_py():
            return None
        no_info = pc.is_in(m.field("method"), value_set=_NO_INFO_METHODS)
        odd = pc.or_(pc.match_substring(info, " from "), pc.and_(has_info, no_info))
        return pc.invert(pc.fill_null(odd, False))

    def preauth(sub: pa.Array) -> pa.Array:
        return _opt(pc.ends_with(sub, "[preauth]"), ',"preauth":true')

    if r := c.candidates(msg, "Failed ", sshd, _R_FAILED):
        rows, m = r
        c.put(rows, m.field("user"), "failure",
              ["", '"action":"login","method":"', _esc(m.field("method")), '"',
               _opt(_nonempty(m.field("inv")), ',"invalid_user":true')],
              m.field("ip"), m.field("port"), one_peer(m))
    if r := c.candidates(msg, "Accepted ", sshd, _R_ACCEPTED):
        rows, m = r
        info = m.field("info")
        key = _k.if_else(pc.starts_with(info, ": "), pc.utf8_slice_codeunits(info, 2), "")
        c.put(rows, m.field("user"), "success",
              ["", '"action":"login","method":"', _esc(m.field("method")), '"',
               _opt(_nonempty(key), ',"key":"', _esc(key), '"')],
              m.field("ip"), m.field("port"), one_peer(m))
    if r := c.candidates(msg, "Invalid user ", sshd, _R_INVALID):
        rows, m = r
        c.put(rows, m.field("user"), "failure", ["", '"action":"invalid_user"'], m.field("ip"), m.field("port"))
    if r := c.candidates(msg, "Connection ", sshd, _R_CLOSED):
        rows, m = r
        sub = msg.take(pa.array(rows))
        c.put(rows, m.field("user"), None,
              ["", '"action":"disconnect"', _opt(_k.equal(m.field("kind"), "invalid"), ',"invalid_user":true'),
               preauth(sub)], m.field("ip"), m.field("port"))
    if r := c.candidates(msg, "Disconnected from ", sshd, _R_DISCONNECTED):
        rows, m = r
        c.put(rows, m.field("user"), None, ["", '"action":"disconnect"', preauth(msg.take(pa.array(rows)))],
              m.field("ip"), m.field("port"))
    if r := c.candidates(msg, "Received disconnect from ", sshd, _R_RECEIVED):
        rows, m = r
        code = m.field("code")
        # auth: int(code) if len(code) < 6 else code
        short = pc.and_(_nonempty(code), _k.less(pc.binary_length(code), 6))
        number = pc.cast(pc.cast(_k.if_else(short, code, "0"), pa.int64()), pa.string())
        c.put(rows, None, None,
              ["", '"action":"disconnect"',
               _opt(_nonempty(code), ',"reason_code":', _k.if_else(short, number, _jstr(code)))],
              m.field("ip"), m.field("port"))
    if r := c.candidates(msg, "pam_unix(sshd:auth): authentication failure", sshd, _R_PAM):
        rows, m = r
        user, ruser, tty = m.field("user"), m.field("ruser"), m.field("tty")
        # A set ruser= with a second "rhost=" makes the line ambiguous (auth._pam_failure_kv): the chain's.
        # (These are sshd's lines, where an empty ruser= is sshd's own.)
        has_ruser = _nonempty(ruser)
        keep = None
        if pc.any(has_ruser).as_py():
            twice = _k.greater(pc.count_substring(msg.take(pa.array(rows)), "rhost="), 1)
            keep = pc.invert(pc.and_(has_ruser, twice))
        who = _k.if_else(_nonempty(user), user, ruser)  # kv.get("user") or kv.get("ruser")
        c.put(rows, who, "failure",
              ['"pam_service":"sshd",', '"action":"auth_failure"',
               _opt(pc.and_(_nonempty(ruser), _k.not_equal(ruser, who)), ',"ruser":"', _esc(ruser), '"'),
               _opt(_nonempty(tty), ',"tty":"', _esc(tty), '"')],
              m.field("rhost"), None, keep)
    if r := c.candidates(msg, "pam_unix(", pam, _R_PAM_UNKNOWN):
        rows, m = r
        c.put(rows, None, "failure", ['"pam_service":"', _esc(m.field("svc")), '","action":"unknown_user"'])
    if r := c.candidates(msg, "pam_unix(", pam, _R_PAM_SESSION):
        rows, m = r
        # Privileged services' sessions name who switched user (auth._pam_body): the chain's.
        keep = pc.invert(pc.is_in(m.field("svc"), value_set=_PRIV_PAM))
        opened = _k.equal(m.field("op"), "opened")
        by = m.field("by")
        # Only an opened session has an outcome; a closed one keeps the envelope's (none).
        c.put(rows, m.field("user"), _k.if_else(opened, "success", _NULL_S),
              ['"pam_service":"', _esc(m.field("svc")), '","action":"session_', m.field("op"), '"',
               _opt(pc.and_(opened, _nonempty(by)), ',"by_user":"', _esc(by), '"')], keep=keep)
    return c.claimed, c.columns()


def _syslog_auth(cols: dict[str, pa.Array]) -> tuple[np.ndarray, dict[str, pa.Array]]:
    """SyslogParser's auth and CEF/LEEF steps for claimed rows; unclaim what only the chain reads."""
    app = pc.fill_null(cols["app"], "")
    msg = cols["message"]
    cef = pc.or_(pc.or_(pc.starts_with(msg, "CEF:"), pc.starts_with(msg, "LEEF:")),
                 pc.is_in(app, value_set=_CEF_APPS))
    # Programs with a service extractor (store.parsers.services) are the chain's: it reads their messages.
    plain = ~_np(cef) & ~_np(has_extractor(app))
    paren = _np(pc.match_substring(app, "("))
    pam_msg = _np(pc.starts_with(msg, "pam_unix("))
    # Rows the chain reads with auth.extract_auth (auth.wants_auth): only the shapes below are claimed there.
    auth_read = _np(pc.is_in(app, value_set=_AUTH_APPS)) | paren | pam_msg
    sshd = plain & _np(pc.is_in(app, value_set=_SSHD_APPS))
    # Any program's pam_unix line goes to auth._pam (sshd's too, after its own first-word dispatch).
    pam = plain & pam_msg & ~paren & _np(_nonempty(app))
    ok = plain & ~auth_read
    out = dict(cols)
    base = out.pop("_fields")
    if not (sshd | pam).any():
        out["fields"] = _k.if_else(_nonempty(base), _object(base), _NULL_S)
        return ok, out
    claimed, auth_cols = _auth_shapes(msg, sshd, pam)
    ok |= claimed
    for name in ("user", "src_ip", "src_port", "outcome"):
        out[name] = auth_cols[name]
    out["category"] = _k.if_else(pa.array(claimed), "authentication", _NULL_S)
    # The envelope's fields (5424 procid/msgid) come first, then the auth keys.
    auth_f = pc.fill_null(auth_cols["_auth"], "")
    both = _k.binary_join_element_wise(base, _k.if_else(_nonempty(auth_f), ",", ""), auth_f, "")
    out["fields"] = _k.if_else(_nonempty(both), _object(both), _NULL_S)
    return ok, out


def _object(body: pa.Array) -> pa.Array:
    """`{…}` around pieces that each start with a comma (the first one is dropped)."""
    return _k.binary_join_element_wise("{", pc.utf8_slice_codeunits(body, 1), "}", "")


def _access_general(text: pa.Array) -> tuple[np.ndarray, dict[str, pa.Array]]:
    rows, m, tail = _header(text, _RACCESS)
    n = len(rows)
    if not n:
        return rows, {}
    client = m.field("client")
    ok = _np(_ipv4(client))  # only then can no other parser read the line
    req = m.field("req")
    rq = pc.extract_regex(req, _RREQUEST)
    ok &= _np(rq.is_valid())
    # Timestamp: an explicit offset, no year inference.
    month = _month(m.field("mon"))
    y, d = _int(m.field("year")), _int(m.field("day"))
    hh, mi, ss = _int(m.field("hh")), _int(m.field("mi")), _int(m.field("ss"))
    off = m.field("off")
    sign = np.where(_np(pc.starts_with(off, "-")), -1, 1)
    oh, om = _int(pc.utf8_slice_codeunits(off, 1, 3)), _int(pc.utf8_slice_codeunits(off, 3, 5))
    valid = _valid(y, month, d, hh, mi, ss) & (y >= 1900) & (y <= 9000) & (oh <= 23) & (om <= 59)
    ok &= valid & (_len(m.field("day")) <= 2)
    days = _days(np.where(valid, y, 1970), np.where(valid, month, 1), np.where(valid, d, 1))
    us = (days * 86400 + hh * 3600 + mi * 60 + ss - sign * (oh * 3600 + om * 60)) * 1_000_000
    status, size = m.field("status"), m.field("bytes")
    has_st = _k.not_equal(status, "-")
    st = _k.if_else(has_st, pc.cast(_k.if_else(has_st, status, "0"), pa.int64()), _NULL_I64)
    has_size = pc.and_(_k.not_equal(size, "-"), _k.less(pc.binary_length(size), 19))
    size_i = _k.if_else(has_size, pc.cast(_k.if_else(has_size, size, "0"), pa.int64()), _NULL_I64)
    # Optional ` "referer" "user-agent"`, then whatever else the format appended.
    ru = pc.extract_regex(tail, _RREFUA)
    refua = ru.is_valid()
    extra = _k.if_else(refua, pc.replace_substring_regex(tail, _bare(_RREFUA), "", max_replacements=1), tail)
    ref, ua, user, ident = ru.field("ref"), ru.field("ua"), m.field("user"), m.field("ident")

    def jnull(a: pa.Array) -> pa.Array:
        return _k.if_else(_k.equal(a, "-"), "null", _jstr(a))

    fields = _join([
        _opt(_k.not_equal(ident, "-"), '"ident":"', _esc(ident), '",'),
        '"method":"', _esc(rq.field("method")), '","path":"', _esc(rq.field("path")),
        '","protocol":"', _esc(rq.field("proto")), '"',
        ',"status":', pc.fill_null(pc.cast(st, pa.string()), "null"),
        ',"bytes":', pc.fill_null(pc.cast(size_i, pa.string()), "null"),
        _opt(refua, ',"referer":', jnull(ref), ',"user_agent":', jnull(ua)),
        _opt(_nonempty(extra), ',"extra":"', _esc(pc.utf8_trim(extra, " ")), '"'),
    ], n)
    fail = _k.greater_equal(st, 400)
    cols = {
        "format": _const("access", n), "category": _const("web", n),
        "src_ip": client, "user": _k.if_else(_k.equal(user, "-"), _NULL_S, user),
        "ts": pa.array(us, pa.int64()).cast(UTC_TS),
        "fields": _k.binary_join_element_wise("{", fields, "}", ""),
        "outcome": _k.if_else(fail, "failure", "success"),
        "severity": pc.cast(_k.if_else(_k.greater_equal(st, 500), 3, _k.if_else(fail, 4, 6)), pa.int8()),
        "message": req,
    }
    return rows[ok], _take(cols, ok)


def _split(a: pa.Array, pattern: str, count: int, **options: Any) -> list[pa.Array]:
    """Split every string into exactly `count` parts (callers validated the shape) → one column per part.
    Strided takes from the flattened lists cost a fifth of list_element."""
    lists = pc.split_pattern(a, pattern, **options)
    lengths = _np(pc.list_value_length(lists))
    if len(lengths) and (lengths.min() != count or lengths.max() != count):
        raise ValueError(f"split into {lengths.min()}..{lengths.max()} parts, expected {count}")
    flat = lists.flatten()
    n = len(a)
    return [flat.take(pa.array(np.arange(i, n * count, count))) for i in range(count)]


def _access(text: pa.Array) -> tuple[np.ndarray, dict[str, pa.Array]]:
    plain = _np(pc.match_substring_regex(text, _RACCESS_PLAIN))
    parts: list[tuple[np.ndarray, dict[str, pa.Array]]] = []
    for mask, fn in ((plain, _access_plain), (~plain, _access_general)):
        rows = np.flatnonzero(mask)
        if len(rows):
            sub = text if len(rows) == len(text) else text.filter(pa.array(mask))
            r, c = fn(sub)
            if len(r):
                parts.append((rows[r], c))
    if not parts:
        return np.zeros(0, np.int64), {}
    if len(parts) == 1:
        return parts[0]
    rows = np.concatenate([p[0] for p in parts])
    order = pa.array(np.argsort(rows, kind="stable"))
    cols = {k: v.take(order) for k, v in _concat_cols([p[1] for p in parts]).items()}
    return np.sort(rows), cols


def _access_plain(text: pa.Array) -> tuple[np.ndarray, dict[str, pa.Array]]:
    """Rows matching _RACCESS_PLAIN: no backslash or stray quote anywhere, so nothing needs JSON escaping."""
    n = len(text)
    # "[dd/Mon/yyyy:hh:mm:ss", "+zzzz]", then the quoted part split on quotes:
    # '', req, ' status bytes ', ref, ' ', ua, ''.
    client, ident, user, stamp, off, rest = _split(text, " ", 6, max_splits=5)
    _, req, nums, ref, _, ua, _ = _split(rest, '"', 7)
    status, size = _split(pc.utf8_trim(nums, " "), " ", 2)
    method, after = _split(req, " ", 2, max_splits=1)
    path, proto = _split(after, " ", 2, max_splits=1, reverse=True)
    ok = _np(_ipv4(client))
    month = _month(pc.utf8_slice_codeunits(stamp, 4, 7))
    y, d = _int(pc.utf8_slice_codeunits(stamp, 8, 12)), _int(pc.utf8_slice_codeunits(stamp, 1, 3))
    hh, mi, ss = (_int(pc.utf8_slice_codeunits(stamp, a, a + 2)) for a in (13, 16, 19))
    sign = np.where(_np(pc.starts_with(off, "-")), -1, 1)
    oh, om = _int(pc.utf8_slice_codeunits(off, 1, 3)), _int(pc.utf8_slice_codeunits(off, 3, 5))
    valid = _valid(y, month, d, hh, mi, ss) & (y >= 1900) & (y <= 9000) & (oh <= 23) & (om <= 59)
    ok &= valid
    days = _days(np.where(valid, y, 1970), np.where(valid, month, 1), np.where(valid, d, 1))
    us = (days * 86400 + hh * 3600 + mi * 60 + ss - sign * (oh * 3600 + om * 60)) * 1_000_000
    has_st = _k.not_equal(status, "-")
    st = _k.if_else(has_st, pc.cast(_k.if_else(has_st, status, "0"), pa.int64()), _NULL_I64)
    has_size = pc.and_(_k.not_equal(size, "-"), _k.less(pc.binary_length(size), 19))
    size_i = _k.if_else(has_size, pc.cast(_k.if_else(has_size, size, "0"), pa.int64()), _NULL_I64)

    def jnull(a: pa.Array) -> pa.Array:
        return _k.if_else(_k.equal(a, "-"), "null", _k.binary_join_element_wise('"', a, '"', ""))

    fields = _join([
        _opt(_k.not_equal(ident, "-"), '"ident":"', ident, '",'),
        '"method":"', method, '","path":"', path, '","protocol":"', proto,
        '","status":', pc.fill_null(pc.cast(st, pa.string()), "null"),
        ',"bytes":', pc.fill_null(pc.cast(size_i, pa.string()), "null"),
        ',"referer":', jnull(ref), ',"user_agent":', jnull(ua), "}",
    ], n)
    fail = _k.greater_equal(st, 400)
    cols = {
        "format": _const("access", n), "category": _const("web", n),
        "src_ip": client, "user": _k.if_else(_k.equal(user, "-"), _NULL_S, user),
        "ts": pa.array(us, pa.int64()).cast(UTC_TS),
        "fields": _k.binary_join_element_wise("{", fields, ""),
        "outcome": _k.if_else(fail, "failure", "success"),
        "severity": pc.cast(_k.if_else(_k.greater_equal(st, 500), 3, _k.if_else(fail, 4, 6)), pa.int8()),
        "message": req,
    }
    rows = np.flatnonzero(ok)
    return rows, _take(cols, ok)


def parse_fast(lines: list[bytes], received_at: datetime) -> FastResult | None:
    """Claim what can be parsed in bulk; None when nothing can (the chain then parses every line)."""
    n = len(lines)
    if not n or received_at.tzinfo is not UTC:
        return None
    binary = pa.array(lines, pa.binary())
    try:
        text = binary.cast(pa.string())  # validates UTF-8 in C++, outside the GIL; shares the buffers
    except pa.ArrowInvalid:
        good = []
        for line in lines:
            try:
                line.decode("utf-8")
                good.append(True)
            except UnicodeDecodeError:
                good.append(False)
        text = _k.if_else(pa.array(good), binary, b"").view(pa.string())
    # Printable ASCII only: RE2's classes then mean what Python's do, and no \r, BOM or escapes arise.
    lengths = _len(binary)
    eligible = _np(pc.match_substring_regex(text, _PRINTABLE)) & (lengths > 0) & (lengths <= MAX_LINE_BYTES)
    todo = np.flatnonzero(eligible)
    if not len(todo):
        return None
    sub = text if len(todo) == n else text.take(pa.array(todo))
    left = np.ones(len(todo), bool)
    syslog_rows: list[np.ndarray] = []
    syslog_cols: list[dict[str, pa.Array]] = []

    def claim(cand: np.ndarray, fn: Callable[[pa.Array], tuple[np.ndarray, dict[str, pa.Array]]],
              rows_out: list[np.ndarray], cols_out: list[dict[str, pa.Array]]) -> None:
        if not len(cand):
            return
        part = sub if len(cand) == len(sub) else sub.take(pa.array(cand))
        r, c = fn(part)
        if len(r):
            left[cand[r]] = False
            rows_out.append(todo[cand[r]])
            cols_out.append(c)

    # The scalar parser reads "<n>1 " as RFC 5424 first; 3164 (which never matches those) after.
    lt = _np(pc.starts_with(sub, "<"))
    claim(np.flatnonzero(lt), _syslog_5424, syslog_rows, syslog_cols)
    digit = _np(pc.match_substring_regex(sub, "^[0-9]"))
    claim(np.flatnonzero(left & (lt | ~digit)), lambda t: _syslog_3164(t, received_at, False),
          syslog_rows, syslog_cols)
    claim(np.flatnonzero(left & (lt | digit) & _iso_start(sub)), lambda t: _syslog_3164(t, received_at, True),
          syslog_rows, syslog_cols)
    pieces: list[tuple[np.ndarray, int, dict[str, pa.Array]]] = []
    if syslog_rows:
        rows = np.concatenate(syslog_rows)
        ok, cols = _syslog_auth(_concat_cols(syslog_cols))
        pieces.append((rows[ok], SYSLOG, _take(cols, ok)))
    access_rows: list[np.ndarray] = []
    access_cols: list[dict[str, pa.Array]] = []
    claim(np.flatnonzero(left & digit), _access, access_rows, access_cols)
    if access_rows:
        pieces.append((access_rows[0], ACCESS, access_cols[0]))
    if not pieces:
        return None
    idx = np.concatenate([p[0] for p in pieces])
    kinds = np.concatenate([np.full(len(p[0]), p[1], np.int8) for p in pieces])
    cols = _concat_cols([p[2] for p in pieces])
    order = np.argsort(idx, kind="stable")
    if (np.diff(idx) < 0).any():
        take = pa.array(order)
        cols = {k: v.take(take) for k, v in cols.items()}
    idx = idx[order]
    cols["raw"] = text if len(idx) == n else text.take(pa.array(idx))
    # Network devices' messages (store.parsers.devices) are read per line: leave them to the chain.
    device = _np(pc.match_substring_regex(pc.fill_null(cols["message"], ""), DEVICE_HINT))
    kinds = kinds[order]
    if device.any():
        keep = ~device
        sel = pa.array(keep)
        idx, kinds = idx[keep], kinds[keep]
        cols = {k: v.filter(sel) for k, v in cols.items()}
        if not len(idx):
            return None
    return FastResult(idx, kinds, normalise_columns(cols, len(idx)))


def _iso_start(sub: pa.Array) -> np.ndarray:
    return _np(pc.match_substring_regex(sub, r"^(?:<\d+>)?\d\d\d\d-"))


def _concat_cols(parts: list[dict[str, pa.Array]]) -> dict[str, pa.Array]:
    names: dict[str, None] = {}
    for p in parts:
        names.update(dict.fromkeys(p))
    out: dict[str, pa.Array] = {}
    for name in names:
        typ = EVENT_SCHEMA.field(name).type if name in EVENT_SCHEMA.names else pa.string()
        arrays = []
        for p in parts:
            a = p.get(name)
            arrays.append(pa.nulls(len(next(iter(p.values()))), typ) if a is None else a.cast(typ))
        out[name] = arrays[0] if len(arrays) == 1 else pa.concat_arrays(arrays)
    return out
