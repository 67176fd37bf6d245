"""FTP servers: vsftpd, proftpd (also ProFTPD's mod_sftp), pure-ftpd, SFTPGo.

Actions: login_failed (fields.invalid_user when the account does not exist, fields.reason), login, connect,
disconnect, max_attempts, ftp_command / ftp_response (vsftpd's protocol log), ftp_<verb> for vsftpd's transfer
lines (ftp_ok_upload, ftp_fail_download, …), ftp_tls_required, ftp_ratelimited.

Addresses: vsftpd `Client "ip"` (the line must hold exactly one `: Client "` — user names, file names and the
anonymous password are the client's text), proftpd `(host[ip])` right after the server name, pure-ftpd's
`(user@host)` prefix, SFTPGo's own JSON keys.
"""

from __future__ import annotations

import json
import re
from typing import Any

from store.parsers.services import extractor
from store.parsers.services.normalised import fields, mark

FTP = "ftp"
_IP = r"[0-9A-Fa-f:.]{2,45}"

# ---------------------------------------------------------------------------------------------- proftpd
_PRO = re.compile(r"(?P<server>.{0,255}?) \((?P<chost>[^\s\[\]()]{0,255})\[(?P<ip>" + _IP + r")\]\)(?::| -) "
                  r"(?P<msg>.*)\Z", re.S)
_PRO_FAILED = re.compile(r"USER (?P<user>.*) \(Login failed\): (?P<reason>.*)\Z", re.S)
_PRO_NO_USER = re.compile(r"USER (?P<user>.*): no such user found from \S{1,255} \[" + _IP + r"\] to \S{1,300}\Z",
                          re.S)
_PRO_OK = re.compile(r"USER (?P<user>.*): Login successful\.?\Z", re.S)
_PRO_MAX = re.compile(r"Maximum login attempts \((?P<n>\d{1,6})\) exceeded")


def proftpd_message(msg: str, ev: dict[str, Any]) -> bool:
    """`server (host[ip]) - text` (syslog) or `server (host[ip]): text` (proftpd's own log)."""
    m = _PRO.match(msg)
    if not m:
        return False
    ip = m["ip"]
    text = m["msg"]
    common: dict[str, Any] = {"server_name": m["server"][:120] or None, "protocol": "ftp"}
    if text.startswith("USER "):
        u = _PRO_FAILED.match(text)
        if u:
            reason = u["reason"].strip()
            return mark(ev, "login_failed", ip=ip, user=u["user"], reason=reason[:200],
                        invalid_user=True if reason.lower().startswith("no such user") else None, **common)
        u = _PRO_NO_USER.match(text)
        if u:
            return mark(ev, "login_failed", ip=ip, user=u["user"], reason="no such user", invalid_user=True,
                        **common)
        u = _PRO_OK.match(text)
        if u:
            return mark(ev, "login", ip=ip, user=u["user"], **common)
    if text.startswith("SECURITY VIOLATION"):
        root = "Root login attempted" in text
        return mark(ev, "login_failed" if root else "ftp_security_violation", category=None if root else FTP,
                    ip=ip, user="root" if root else None, reason=text[:200], **common)
    mx = _PRO_MAX.match(text)
    if mx:
        return mark(ev, "max_attempts", ip=ip, attempts=int(mx["n"]), **common)
    if text.startswith(("FTP session opened", "SSH2 session opened", "SFTP session opened")):
        return mark(ev, "connect", category=FTP, ip=ip, **common)
    if text.startswith(("FTP session closed", "SSH2 session closed", "SFTP session closed")):
        return mark(ev, "disconnect", category=FTP, ip=ip, **common)
    return mark(ev, None, category=FTP, ip=ip, **common)


# ---------------------------------------------------------------------------------------------- vsftpd
_VS = re.compile(r'(?:\[pid \d{1,10}\] )?(?:\[(?P<user>.*?)\] )?(?P<verb>[A-Z][A-Z ]{1,30}[A-Z]|FTP command'
                 r'|FTP response): Client "(?P<ip>[^"]{1,60})"(?P<rest>.*)\Z', re.S)
_VS_RESPONSE = re.compile(r', "(?P<code>\d{3})[ -](?P<text>.*)"\Z', re.S)


def vsftpd_message(msg: str, ev: dict[str, Any]) -> bool:
    if msg.count(': Client "') != 1:
        # Zero: not a vsftpd record line. Two or more: a name the client chose repeats the shape.
        return msg.count(': Client "') > 1 and mark(ev, None, category=FTP, ambiguous_address=True)
    m = _VS.match(msg)
    if not m:
        return False
    verb = m["verb"]
    user = m["user"]
    ip = m["ip"]
    if verb == "FAIL LOGIN":
        return mark(ev, "login_failed", ip=ip, user=user, protocol="ftp")
    if verb == "OK LOGIN":
        return mark(ev, "login", ip=ip, user=user, protocol="ftp")
    if verb == "CONNECT":
        return mark(ev, "connect", category=FTP, ip=ip, protocol="ftp")
    if verb == "FTP response":
        r = _VS_RESPONSE.search(m["rest"])
        if r and r["code"] == "530" and r["text"].startswith("Permission denied"):
            # userlist/ftpusers refusal: vsftpd writes no FAIL LOGIN line for it.
            return mark(ev, "login_failed", ip=ip, user=user, protocol="ftp", reason="permission denied")
        return mark(ev, "ftp_response", category=FTP, ip=ip, user=user, protocol="ftp",
                    code=int(r["code"]) if r else None)
    if verb == "FTP command":
        return mark(ev, "ftp_command", category=FTP, ip=ip, user=user, protocol="ftp")
    return mark(ev, "ftp_" + verb.lower().replace(" ", "_"), category=FTP, ip=ip, user=user, protocol="ftp")


# ---------------------------------------------------------------------------------------------- pure-ftpd
_PURE = re.compile(r"\((?P<who>[^()]{0,256})@(?P<host>[^@()\s]{1,255})\) \[(?P<level>[A-Z]{1,10})\] "
                   r"(?P<msg>.*)\Z", re.S)
_PURE_FAILED = re.compile(r"Authentication failed for user \[(?P<user>.*)\]\Z", re.S)
_PURE_OK = re.compile(r"(?P<user>.*) is now logged in\Z", re.S)


def pureftpd_message(msg: str, ev: dict[str, Any]) -> bool:
    m = _PURE.match(msg)
    if not m:
        return False
    ip = m["host"]
    text = m["msg"]
    common: dict[str, Any] = {"protocol": "ftp", "level": m["level"]}
    f = _PURE_FAILED.match(text)
    if f:
        return mark(ev, "login_failed", ip=ip, user=f["user"], **common)
    if text.startswith("New connection from"):
        return mark(ev, "connect", category=FTP, ip=ip, **common)
    if text.startswith("Logout"):
        return mark(ev, "disconnect", category=FTP, ip=ip, **common)
    if text.startswith("Sorry, cleartext sessions"):
        return mark(ev, "ftp_tls_required", category=FTP, ip=ip, **common)
    if text.startswith("Too many connections"):
        return mark(ev, "ftp_ratelimited", category=FTP, ip=ip, **common)
    ok = _PURE_OK.match(text)
    if ok:
        return mark(ev, "login", ip=ip, user=ok["user"], **common)
    return mark(ev, None, category=FTP, ip=ip, **common)


# ---------------------------------------------------------------------------------------------- SFTPGo
_SFTPGO_UNKNOWN = ("no such user", "user not found", "could not find user", "does not exist")
_SFTPGO_LOGGED_IN = re.compile(r'User "(?P<user>[^"]{0,256})" logged in.* from ip "(?P<ip>' + _IP + r')"', re.S)


def _s(obj: dict[str, Any], key: str) -> str | None:
    v = obj.get(key)
    return v if isinstance(v, str) else None


# SFTPGo's log senders (its zerolog "sender" key); other JSON logs with a "sender" key are not claimed.
_SFTPGO_SENDERS = frozenset({
    "connection_failed", "login", "SFTP", "SCP", "SSH", "FTP", "WebDAV", "HTTP", "HTTPShare", "sftpd", "ftpd",
    "webdavd", "httpd", "dataprovider", "service", "config", "eventmanager", "defender", "plugins", "Upload",
    "Download", "Rename", "Remove", "Mkdir", "Rmdir", "Chmod", "Chown", "Chtimes", "Truncate", "SSHCommand", "Copy",
    "sshd", "common", "smtp", "acme", "telemetry", "command",
})


def sftpgo_record(obj: dict[str, Any], ev: dict[str, Any]) -> bool:
    """One SFTPGo JSON log record (already decoded) → normalised columns; False if it is not SFTPGo's shape."""
    sender = _s(obj, "sender")
    if sender is None or "level" not in obj or (sender not in _SFTPGO_SENDERS and "connection_id" not in obj):
        return False
    ev["app"] = "sftpgo"
    ev["service"] = "sftpgo"
    proto = (_s(obj, "protocol") or "").lower() or None
    user = _s(obj, "username")
    if sender == "connection_failed":
        # SFTPGo writes this record for each failed login (its defender counts them).
        err = (_s(obj, "error") or "").lower()
        unknown = any(s in err for s in _SFTPGO_UNKNOWN)
        return mark(ev, "login_failed", ip=_s(obj, "client_ip"), user=user, protocol=proto,
                    login_type=_s(obj, "login_type"), reason=err[:200] or None,
                    invalid_user=True if unknown else None)
    if sender == "login":
        return mark(ev, "login", ip=_s(obj, "ip") or _s(obj, "client_ip"), user=user, protocol=proto,
                    login_method=_s(obj, "method"))
    message = _s(obj, "message")
    if message and "logged in" in message:
        m = _SFTPGO_LOGGED_IN.search(message)
        if m:
            return mark(ev, "login", ip=m["ip"], user=m["user"], protocol=proto or sender.lower())
    return mark(ev, None, category=FTP, ip=_s(obj, "client_ip") or _s(obj, "remote_address"), user=user,
                protocol=proto)


# ---------------------------------------------------------------------------------------------- registry
@extractor("proftpd")
def _proftpd(app: str, msg: str, ev: dict[str, Any]) -> bool:
    return proftpd_message(msg, ev)


@extractor("vsftpd")
def _vsftpd(app: str, msg: str, ev: dict[str, Any]) -> bool:
    return vsftpd_message(msg, ev)


@extractor("pure-ftpd", "pureftpd", "pure-ftpd-mysql", "pure-ftpd-postgresql", "pure-ftpd-ldap")
def _pureftpd(app: str, msg: str, ev: dict[str, Any]) -> bool:
    return pureftpd_message(msg, ev)


@extractor("sftpgo")
def _sftpgo(app: str, msg: str, ev: dict[str, Any]) -> bool:
    if not msg.startswith("{") or len(msg) > 65536:
        return False
    try:
        obj = json.loads(msg)
    except ValueError:
        return False
    if not isinstance(obj, dict) or not sftpgo_record(obj, ev):
        return False
    fields(ev)["sftpgo"] = {k: v for k, v in obj.items() if isinstance(v, (str, int, float, bool))}
    return True
