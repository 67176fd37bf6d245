"""Python applications: Paperless-ngx, Calibre-Web, Mealie, Odoo, SABnzbd, Home Assistant, uvicorn request lines
(Open WebUI, LiteLLM), RomM, Baserow.

See store/parsers/webapps/lines.py for the anchoring rules every pattern here follows.
"""

from __future__ import annotations

import re
from datetime import datetime

from store.parsers.webapps.addresses import canonical_ip, client_from_chain
from store.parsers.webapps.event import IP as _IP
from store.parsers.webapps.event import Event, Shape
from store.parsers.webapps.event import base as _base
from store.parsers.webapps.event import ts as _ts
from store.parsers.webapps.outcome import mark

_PAPERLESS = re.compile(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\] \[(\w+)\] \[([\w.]{1,100})\] (.*)", re.S)
_PAPERLESS_FAIL = re.compile(r"Login failed for user `(.*)` from (?:private )?IP `(" + _IP + r")(?:`\.|\.`)", re.S)
_CALIBRE = re.compile(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\] +(\w+) \{([^}]{0,200})\} (.*)", re.S)
_CALIBRE_FAIL = re.compile(r'Login failed for user "(.*)" IP-address: (' + _IP + r")", re.S)
_MEALIE = re.compile(r"(DEBUG|INFO|WARNING|ERROR|CRITICAL):? +(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d{1,6})? - (.*)",
                     re.S)
# Mealie's log file (the console adds the level first; see _MEALIE).
_MEALIE_FILE = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d{1,6})?(?: - (\w+))?: Incorrect username or "
                          r"password from (" + _IP + r")")
_MEALIE_FAIL = re.compile(r"Incorrect username or password from (" + _IP + r")")
_MEALIE_ACCESS = re.compile(r"\[(" + _IP + r"):(\d{1,5})\] (\d{3}) ([\w ]{1,40}) "
                            r"\"([A-Z]{3,10}) (\S+) HTTP/[\d.]{1,3}\"")
_ODOO = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) (\d+) (\w+) (\S+) ([\w.]{1,200}): (.*)", re.S)
_ODOO_AUTH = re.compile(r"Login (failed|successful) for db:(\S*) login:(.*) from (" + _IP + r")", re.S)
_SABNZBD = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})::(\w+)::\[([\w.]{1,64}):(\d+)\] (.*)", re.S)
# The failed-login sentence in SABnzbd's translations (English first).
_SAB_PREFIXES = ("Unsuccessful login attempt from", "Fehlerhafter Login Versuch von",
                 "Echec de la tentative de connexion de", "Mislukte login poging van",
                 "Intento de inicio de sesión fallido desde", "Tentativo di accesso fallito da",
                 "Misslyckad inloggning från", "Mislykket loginforsøg fra", "Mislykket påloggingsforsøk fra",
                 "Nieudana próba logowania z", "Tentativa de login mal sucedida de")
_SAB_FAIL = re.compile(r"(?:" + "|".join(re.escape(p) for p in _SAB_PREFIXES) + r") (" + _IP + r")( .*)?", re.S)
_SAB_XFF = re.compile(r" \(X-Forwarded-For: ([0-9A-Fa-f:., ]{2,400})\) \[")
_HASS = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,6})?) (\w+) \(([^()]{1,100})\) \[([\w.]{1,200})\] (.*)",
                   re.S)
_HASS_FAIL = re.compile(r"Login attempt or request with invalid authentication from (\S+) \((" + _IP + r")\)\.(?: .*)?",
                        re.S)
_UVICORN = re.compile(r"(DEBUG|INFO|WARNING|ERROR):? +(" + _IP + r"):(\d{1,5}) - "
                      r"\"([A-Z]{3,10}) (\S+) HTTP/[\d.]{1,3}\" "
                      r"(\d{3})(?: (.*))?", re.S)
_UVICORN_SIGNIN = ("/api/v1/auths/signin", "/api/auth/token", "/login", "/token", "/api/login", "/auth/login")
_ROMM = re.compile(r"(\w+): +\[RomM\]\[([\w.-]{1,64})\]\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\] +(" + _IP + r") \| (" + _IP
                   + r") \| ([A-Z]{3,10}) (\S+) (\d{3}) \|(.*)", re.S)
_BASEROW = re.compile(r" ?\[BACKEND\]\[(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d{1,6})?)\] (" + _IP + r"):(\d{1,5}) - "
                      r"\"([A-Z]{3,10}) (\S+) HTTP/[\d.]{1,3}\" (\d{3})(.*)", re.S)


def _paperless(text: str, received_at: datetime) -> Event | None:
    m = _PAPERLESS.fullmatch(text)
    if m is None:
        return None
    ev = _base("paperless", _ts(m[1], received_at), m[2], m[4], m[3])
    if m[3] == "paperless.auth":
        f = _PAPERLESS_FAIL.fullmatch(m[4])
        if f is not None:
            mark(ev, "paperless-ngx", "login_failed", f[2], f[1])
    return ev


def _calibre(text: str, received_at: datetime) -> Event | None:
    m = _CALIBRE.fullmatch(text)
    if m is None:
        return None
    ev = _base("calibre-web", _ts(m[1], received_at), m[2], m[4], m[3])
    f = _CALIBRE_FAIL.fullmatch(m[4])
    if f is not None:
        mark(ev, "calibre-web", "login_failed", f[2], f[1])
    return ev


def _mealie(text: str, received_at: datetime) -> Event | None:
    m = _MEALIE.fullmatch(text)
    if m is None:
        f = _MEALIE_FILE.fullmatch(text)
        if f is None:
            return None
        ev = _base("mealie", _ts(f[1], received_at), f[2], text[len(f[1]):].lstrip(" -:"), "mealie")
        return mark(ev, "mealie", "login_failed", f[3])
    ev = _base("mealie", _ts(m[2], received_at), m[1], m[3])
    f = _MEALIE_FAIL.fullmatch(m[3])
    if f is not None:
        return mark(ev, "mealie", "login_failed", f[1])
    a = _MEALIE_ACCESS.fullmatch(m[3])
    if a is not None:
        ev["category"] = "web"
        ip = canonical_ip(a[1])
        if ip:
            ev["src_ip"] = ip
        ev["fields"].update(method=a[5], path=a[6], status=int(a[3]))
    return ev


def _odoo(text: str, received_at: datetime) -> Event | None:
    if text[23:24] != " " or not text[24:25].isdigit():
        return None
    m = _ODOO.fullmatch(text)
    if m is None:
        return None
    ev = _base("odoo", _ts(f"{m[1]}.{m[2]}", received_at), m[4], m[7], m[6])
    ev["pid"] = int(m[3]) if len(m[3]) < 10 else None
    a = _ODOO_AUTH.fullmatch(m[7])
    if a is not None:
        mark(ev, "odoo", "login" if a[1] == "successful" else "login_failed", a[4], a[3], None, database=a[2])
    return ev


def sabnzbd_message(message: str, ev: Event) -> bool:
    m = _SAB_FAIL.fullmatch(message)
    if m is None:
        return False
    client = canonical_ip(m[1])
    x = _SAB_XFF.match(m[2] or "")
    if x is not None and client is not None:
        # SABnzbd writes the peer first and the forwarded chain after it; the peer is the nearest hop.
        client = client_from_chain(x[1].split(",") + [client])
    mark(ev, "sabnzbd", "login_failed", client, None, peer=canonical_ip(m[1]))
    return True


def _sabnzbd(text: str, received_at: datetime) -> Event | None:
    if text[23:25] != "::":
        return None
    m = _SABNZBD.fullmatch(text)
    if m is None:
        return None
    ev = _base("sabnzbd", _ts(m[1], received_at), m[2], m[5], m[3])
    sabnzbd_message(m[5], ev)
    return ev


def _hass(text: str, received_at: datetime) -> Event | None:
    m = _HASS.fullmatch(text)
    if m is None:
        return None
    ev = _base("home-assistant", _ts(m[1], received_at), m[2], m[5], m[4])
    if m[4] == "homeassistant.components.http.ban":
        f = _HASS_FAIL.fullmatch(m[5])
        if f is not None:
            mark(ev, "home-assistant", "login_failed", f[2], None, "invalid authentication", client_host=f[1])
    return ev


def _uvicorn(text: str, received_at: datetime) -> Event | None:
    m = _UVICORN.fullmatch(text)
    if m is None:
        return None
    status = int(m[6])
    ev = _base("uvicorn", None, m[1], text[m.start(4) - 1:])
    ev["category"] = "web"
    ev["fields"].update(method=m[4], path=m[5], status=status)
    ip = canonical_ip(m[2])
    if ip:
        ev["src_ip"] = ip
    path = m[5].split("?", 1)[0]
    # Open WebUI's sign-in path names it; other uvicorn applications (LiteLLM, …) are not told apart.
    service = "open-webui" if path.startswith("/api/v1/auths/") else "uvicorn"
    if status == 401 or (status in (400, 403) and m[4] == "POST" and path in _UVICORN_SIGNIN):
        mark(ev, service, "login_failed", m[2], None, f"HTTP {status} on {path}"[:200])
    return ev


def _romm(text: str, received_at: datetime) -> Event | None:
    m = _ROMM.fullmatch(text)
    if m is None:
        return None
    ev = _base("romm", _ts(m[3], received_at), m[1], m[9].strip(), "romm")
    client = client_from_chain([m[5], m[4]])
    ev["category"] = "web"
    ev["fields"].update(method=m[6], path=m[7], status=int(m[8]))
    if m[7].split("?", 1)[0] == "/api/login" and m[8] in ("401", "403", "429"):
        return mark(ev, "romm", "login_failed", client, None, f"HTTP {m[8]}")
    if client:
        ev["src_ip"] = client
    return ev


def _baserow(text: str, received_at: datetime) -> Event | None:
    m = _BASEROW.fullmatch(text)
    if m is None:
        return None
    ev = _base("baserow", _ts(m[1], received_at), None, text.strip(), "baserow")
    ev["category"] = "web"
    status = int(m[6])
    ev["fields"] = {"method": m[4], "path": m[5], "status": status}
    if m[4] == "POST" and m[5].startswith("/api/user/token-auth"):
        if status in (400, 401):
            return mark(ev, "baserow", "login_failed", m[2], None, f"HTTP {status}")
        if status == 200:
            return mark(ev, "baserow", "login", m[2])
    ip = canonical_ip(m[2])
    if ip:
        ev["src_ip"] = ip
    return ev


# This module's line shapes by name (lines.py decides which to try for a line).
SHAPES: dict[str, Shape] = {
    "sabnzbd": _sabnzbd,
    "odoo": _odoo,
    "hass": _hass,
    "mealie": _mealie,
    "paperless": _paperless,
    "calibre": _calibre,
    "uvicorn": _uvicorn,
    "romm": _romm,
    "baserow": _baserow,
}
