"""Vaultwarden (Rust), Redmine (Ruby logger), qBittorrent, Webmin (Perl), Proxmox VE and Backup Server.

See store/parsers/webapps/lines.py for the anchoring rules every pattern here follows.
"""

from __future__ import annotations

import re
from datetime import datetime

from store.parsers.common import MONTHS, to_utc
from store.parsers.webapps.addresses import canonical_ip, host_of
from store.parsers.webapps.event import IP as _IP
from store.parsers.webapps.event import Event, Shape
from store.parsers.webapps.event import base as _base
from store.parsers.webapps.event import ts as _ts
from store.parsers.webapps.outcome import mark

_VAULTWARDEN = re.compile(r"\[(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:[+-]\d\d:?\d\d|Z)?)\]"
                          r"\[([\w:]{1,200})\]"
                          r"\[(\w+)\] (.*)", re.S)
_VW_FAIL = re.compile(r"Username or password is incorrect\. Try again\. IP: (" + _IP + r")\. Username: (.*)\.", re.S)
_VW_ADMIN = re.compile(r"Invalid admin token\. IP: (" + _IP + r")\.?")
_VW_TOTP = re.compile(r"Invalid TOTP code! Server time: (.{8,40}) IP: (" + _IP + r")")
_VW_TOKEN = re.compile(r"Token is invalid! IP: (" + _IP + r")")
_REDMINE = re.compile(r"([DIWEFAU]), \[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?) #(\d+)\] +(\w+) -- "
                      r"([\w:]*): (.*)",
                      re.S)
_REDMINE_AUTH = re.compile(r"(Failed login|Successful authentication) for '(.*)' from (" + _IP
                           + r") at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?: UTC| [+-]\d{4})?", re.S)
_QBT = re.compile(r"\(([NIWC])\) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d) - (.*)", re.S)
_QBT_FAIL = re.compile(r"WebAPI login failure\. Reason: (.*?), IP: (" + _IP + r"), username: (.*)", re.S)
_QBT_LEVELS = {"N": "info", "I": "info", "W": "warning", "C": "critical"}
_WEBMIN = re.compile(r"(\d+)\.\d+\.\d+ \[(\d{1,2})/(\w{3})/(\d{4}) (\d\d):(\d\d):(\d\d)\] (\S+) (\S+) (" + _IP
                     + r") (\S+) (\S+) \"([^\"]*)\" \"([^\"]*)\" \"([^\"]*)\"")
_PBS = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[+-]\d\d:\d\d|Z)): (.*)", re.S)
_PBS_FAIL = re.compile(r"authentication failure; rhost=(\[[0-9A-Fa-f:.]{2,45}\](?::\d{1,5})?|" + _IP
                       + r") user=(\S+) msg=(.*)", re.S)
_PBS_OK = re.compile(r"successful auth for user '(.*)'", re.S)


def vaultwarden_message(module: str, message: str, ev: Event) -> bool:
    m = _VW_FAIL.fullmatch(message)
    if m is not None:
        mark(ev, "vaultwarden", "login_failed", m[1], m[2], "wrong password")
        return True
    m = _VW_ADMIN.fullmatch(message)
    if m is not None:
        mark(ev, "vaultwarden", "login_failed", m[1], "admin", "invalid admin token")
        return True
    m = _VW_TOTP.fullmatch(message)
    if m is not None:
        mark(ev, "vaultwarden", "login_failed", m[2], None, "invalid TOTP code", factor="totp")
        return True
    m = _VW_TOKEN.fullmatch(message)
    if m is not None:
        factor = module.rsplit("::", 1)[-1]
        mark(ev, "vaultwarden", "login_failed", m[1], None, "invalid second-factor token", factor=factor)
        return True
    return False


def _vaultwarden(text: str, received_at: datetime) -> Event | None:
    m = _VAULTWARDEN.fullmatch(text)
    if m is None:
        return None
    ev = _base("vaultwarden", _ts(m[1], received_at), m[3], m[4], m[2])
    if m[2].startswith("vaultwarden::"):
        vaultwarden_message(m[2], m[4], ev)
    return ev


def _redmine(text: str, received_at: datetime) -> Event | None:
    m = _REDMINE.fullmatch(text)
    if m is None:
        return None
    ev = _base("ruby-logger", _ts(m[2], received_at), m[4], m[6], m[5] or None)
    a = _REDMINE_AUTH.fullmatch(m[6])
    if a is not None:
        mark(ev, "redmine", "login" if a[1].startswith("Successful") else "login_failed", a[3], a[2])
    return ev


def _qbittorrent(text: str, received_at: datetime) -> Event | None:
    m = _QBT.fullmatch(text)
    if m is None:
        return None
    ev = _base("qbittorrent", _ts(m[2], received_at), _QBT_LEVELS[m[1]], m[3], "qbittorrent")
    f = _QBT_FAIL.fullmatch(m[3])
    if f is not None:
        mark(ev, "qbittorrent", "login_failed", f[2], f[3], f[1])
    return ev


def _webmin(text: str, received_at: datetime) -> Event | None:
    m = _WEBMIN.fullmatch(text)
    if m is None:
        return None
    month = MONTHS.get(m[3])
    ts = None
    if month is not None:
        try:
            ts = to_utc(datetime(int(m[4]), month, int(m[2]), int(m[5]), int(m[6]), int(m[7])), received_at)
        except ValueError:
            ts = None
    ev = _base("webmin", ts, None, f"{m[11]} {m[12]} {m[13]} {m[14]} {m[15]}", "webmin")
    ev["fields"] = {"module": m[11], "script": m[12], "action": m[13]}
    if m[12] == "miniserv.pl" and m[13] == "failed":
        return mark(ev, "webmin", "login_failed", m[10], m[8] if m[8] != "-" else None, m[15])
    if m[12] == "miniserv.pl" and m[13] == "login":
        return mark(ev, "webmin", "login", m[10], m[8] if m[8] != "-" else None)
    ip = canonical_ip(m[10])
    if ip:
        ev["src_ip"] = ip
    return ev


def pbs_message(message: str, ev: Event) -> bool:
    """Proxmox VE and Backup Server: `authentication failure; rhost=… user=… msg=…` (the address first)."""
    m = _PBS_FAIL.fullmatch(message)
    if m is not None:
        reason = m[3]
        mark(ev, ev.get("service") or "proxmox", "login_failed", host_of(m[1]), m[2],
             "unknown user" if reason.startswith("no such user") else reason)
        return True
    m = _PBS_OK.fullmatch(message)
    if m is not None:
        mark(ev, ev.get("service") or "proxmox", "login", None, m[1])
        return True
    return False


def _pbs(text: str, received_at: datetime) -> Event | None:
    m = _PBS.fullmatch(text)
    if m is None:
        return None
    ev = _base("proxmox-backup", _ts(m[1], received_at), None, m[2], "proxmox-backup")
    ev["service"] = "proxmox-backup"
    return ev if pbs_message(m[2], ev) else None


# This module's line shapes by name (lines.py decides which to try for a line).
SHAPES: dict[str, Shape] = {
    "pbs": _pbs,
    "webmin": _webmin,
    "vaultwarden": _vaultwarden,
    "redmine": _redmine,
    "qbittorrent": _qbittorrent,
}
