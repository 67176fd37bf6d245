"""Small helpers every parser shares: timestamp building, year inference, cheap IP checks, level names.

Kept allocation-light because they run once per line on the ingest hot path.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo

_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MONTHS: dict[str, int] = {m: i + 1 for i, m in enumerate(_MONTH_NAMES)}

_ONE_DAY = timedelta(days=1)
_IPV4 = re.compile(r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}")
_TZ_CACHE: dict[str, tzinfo] = {"Z": UTC, "+00:00": UTC, "+0000": UTC, "-00:00": UTC, "-0000": UTC}

# Level words seen in application logs -> syslog severity (RFC 5424 numbering).
LEVELS: dict[str, int] = {
    "emerg": 0, "emergency": 0, "panic": 0, "alert": 1, "crit": 2, "critical": 2, "fatal": 2, "severe": 3,
    "err": 3, "error": 3, "eror": 3, "warn": 4, "warning": 4, "notice": 5, "info": 6, "information": 6,
    "informational": 6, "debug": 7, "trace": 7, "verbose": 7, "fine": 7, "finer": 7, "finest": 7,
}


def level_severity(word: object) -> int | None:
    """Syslog severity for a level word ("INFO", "warn", "E"…) or a 0–7 number; None when unknown."""
    if isinstance(word, bool):
        return None
    if isinstance(word, int):
        return word if 0 <= word <= 7 else None
    if not isinstance(word, str) or len(word) > 16:
        return None
    w = word.strip().lower()
    if w.isdigit():
        n = int(w)
        return n if n <= 7 else None
    sev = LEVELS.get(w)
    if sev is None and len(w) == 1:
        # Android / glog single-letter levels.
        sev = {"v": 7, "d": 7, "i": 6, "w": 4, "e": 3, "f": 2, "a": 1}.get(w)
    return sev


_IP_SEEN: dict[str, bool] = {}


def is_ip(s: str | None) -> bool:
    """True for a dotted-quad IPv4 or an IPv6 address. Answers are cached: log lines repeat addresses."""
    if not s:
        return False
    known = _IP_SEEN.get(s)
    if known is not None:
        return known
    if len(s) > 45:
        return False
    if ":" not in s:
        ok = _IPV4.fullmatch(s) is not None
    else:
        try:
            ipaddress.IPv6Address(s)
            ok = True
        except ValueError:
            ok = False
    if len(_IP_SEEN) >= 65536:
        _IP_SEEN.clear()
    _IP_SEEN[s] = ok
    return ok


def ip_or_none(s: str | None) -> str | None:
    return s if s and is_ip(s) else None


def port_or_none(s: object) -> int | None:
    """A TCP/UDP port from text or int; None when absent or out of range."""
    if isinstance(s, str):
        if s.isdigit() and len(s) <= 5:
            n = int(s)
            return n if n <= 65535 else None
        return None
    if isinstance(s, int) and not isinstance(s, bool):
        return s if 0 <= s <= 65535 else None
    return None


def tz_from_offset(off: str) -> tzinfo | None:
    """`Z`, `+0800`, `+08:00`, `-0530` → tzinfo (cached); None if malformed."""
    tz = _TZ_CACHE.get(off)
    if tz is not None:
        return tz
    s = off.replace(":", "")
    if len(s) != 5 or s[0] not in "+-" or not s[1:].isdigit():
        return None
    hours, minutes = int(s[1:3]), int(s[3:5])
    if hours > 23 or minutes > 59:
        return None
    delta = timedelta(hours=hours, minutes=minutes)
    tz = timezone(-delta if s[0] == "-" else delta)
    if len(_TZ_CACHE) < 512:
        _TZ_CACHE[off] = tz
    return tz


def to_utc(ts: datetime, received_at: datetime) -> datetime:
    """Make `ts` aware (a naive time is taken in the receiver's zone) and normalise it to UTC."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=received_at.tzinfo or UTC)
    if ts.utcoffset():
        return ts.astimezone(UTC)
    return ts if ts.tzinfo is UTC else ts.replace(tzinfo=UTC)


def parse_iso(s: str, received_at: datetime) -> datetime | None:
    """RFC 3339 / ISO 8601 text → aware UTC datetime, or None. Never raises."""
    try:
        ts = datetime.fromisoformat(s)
    except ValueError:
        return None
    return to_utc(ts, received_at)


def infer_year(month: int, day: int, hour: int, minute: int, second: int, received_at: datetime,
               micro: int = 0) -> datetime | None:
    """Timestamp for a year-less date (RFC 3164, Android…) in the receiver's zone, normalised to UTC.

    The year is the receiver's, unless that puts the event more than a day in the future: then it is last
    year's (a December line read on 1 January). A January line received in late December is next year's
    (the sender's clock runs slightly ahead across New Year).
    """
    return infer_year_with_margin(month, day, hour, minute, second, received_at, micro)[0]


def infer_year_with_margin(month: int, day: int, hour: int, minute: int, second: int, received_at: datetime,
                           micro: int = 0) -> tuple[datetime | None, timedelta]:
    """`infer_year`, plus how far `received_at` may move before the chosen year would change (for caches)."""
    tz = received_at.tzinfo or UTC
    year = received_at.year
    if month == 1 and received_at.month == 12:
        year += 1
    margin = timedelta(0)
    try:
        ts = datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
        ahead = ts - received_at
        margin = abs(ahead - _ONE_DAY)
        if ahead > _ONE_DAY:
            ts = ts.replace(year=year - 1)
    except ValueError:
        # 29 Feb of a non-leap year: the event belongs to the most recent leap year before it.
        for back in range(1, 5):
            try:
                ts = datetime(year - back, month, day, hour, minute, second, micro, tzinfo=tz)
                break
            except ValueError:
                continue
        else:
            return None, margin
    return (ts if tz is UTC else ts.astimezone(UTC)), margin


def epoch_to_utc(value: float) -> datetime | None:
    """Unix time in s, ms, µs or ns (guessed from magnitude) → aware UTC datetime, or None."""
    try:
        v = float(value)
        if v != v or v < 0:
            return None
        if v > 1e17:
            v /= 1e9
        elif v > 1e14:
            v /= 1e6
        elif v > 1e11:
            v /= 1e3
        return datetime.fromtimestamp(v, UTC)
    except (ValueError, OverflowError, OSError):
        return None
