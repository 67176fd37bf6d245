"""Mail servers: postfix (smtpd, submission, postscreen), dovecot, exim, courier, cyrus, amavis, MailScanner.

Actions (besides login_failed, login and disconnect/connect):
- smtp_relay_denied, smtp_helo_rejected, smtp_unknown_recipient, smtp_blocklisted (an RBL/DNSBL or access list
  refused the client), smtp_client_rejected, smtp_sender_rejected, smtp_sender_verify_failed, smtp_auth_required,
  smtp_ratelimited, smtp_content_rejected, smtp_reject (any other refusal of an SMTP command);
- smtp_non_smtp_command (HTTP or binary talk on an SMTP port), smtp_pregreet (the client spoke before the
  greeting), smtp_pipelining, smtp_protocol_error, smtp_too_many_errors, smtp_hangup, smtp_dnsbl (postscreen's
  DNSBL score), smtp_postscreen_pass, smtp_allowlisted;
- smtp_lost_after_auth (the client dropped or timed out in the middle of AUTH), smtp_lost_connection,
  smtp_auth_disconnect (postfix's disconnect summary counted failed AUTH commands: fields.auth_failed),
  smtp_auth_server_error (the SASL back end was unreachable: not the client's failure);
- mail_malware (amavis/MailScanner blocked a virus or banned file), mail_spam (fields.spam_score),
  mail_blacklisted (MailScanner: the sender is on the site's blacklist).

`fields.protocol` is smtp, imap, pop3, … where the line says so (the SMTP-specific rules use it). A failed login
for an account that does not exist is still one failed attempt: login_failed with fields.invalid_user, as sshd's
"Failed password for invalid user". Dovecot with auth_verbose logs its auth back end's verdict as well as the
login process's summary line; both are counted, as fail2ban's and CrowdSec's dovecot filters count them.

Addresses come only from the position each server writes its client: postfix `host[ip]`, postscreen `[ip]:port`,
dovecot `rip=`, exim's ` [ip]` host spec, courier `ip=[…]` at the end of the line, … A user name, HELO name,
recipient or subject can carry text shaped like any of those; when a line holds two different candidates it names
no address.
"""

from __future__ import annotations

import re
from typing import Any

from store.parsers.services import extractor
from store.parsers.services.normalised import address, fields, mark, single

EMAIL = "email"
_IP = r"[0-9A-Fa-f:.]{2,45}"

# ---------------------------------------------------------------------------------------------- postfix
_PF_CLIENT = r"(?P<host>[^\s\[\]]{0,255})\[(?P<ip>" + _IP + r")\](?::(?P<port>\d{1,5}))?"
_PF_SASL = re.compile(r"warning: " + _PF_CLIENT + r": SASL (?P<mech>[A-Za-z0-9_-]{1,30}) authentication failed:? ?"
                      r"(?P<reason>.*?)(?:, sasl_username=(?P<user>.*))?\Z", re.S)
_PF_REJECT = re.compile(
    r"(?P<qid>NOQUEUE|[0-9A-Za-z]{5,20}): (?P<verdict>reject|reject_warning|discard|hold|defer|defer_if_permit"
    r"|redirect|filter): (?P<cmd>[A-Z][A-Z-]{1,20}) from " + _PF_CLIENT
    + r": (?P<code>\d{3})(?: (?P<enh>\d\.\d{1,3}\.\d{1,3}))? ?(?P<text>.*)\Z", re.S)
_PF_LOST = re.compile(r"(?P<how>lost connection|timeout|too many errors) after (?P<cmd>[A-Z][A-Z-]{0,20}|"
                      r"[a-z][a-z ]{0,30}?)(?: \([^()]{0,40}\))? from " + _PF_CLIENT + r"\Z")
_PF_NON_SMTP = re.compile(r"warning: non-SMTP command from " + _PF_CLIENT + r": (?P<text>.*)\Z", re.S)
_PF_CONNECT = re.compile(r"(?P<what>connect|disconnect) from " + _PF_CLIENT + r"(?P<stats>(?: \S+)*)\Z")
_PF_AUTH_STAT = re.compile(r" auth=(\d{1,6})/(\d{1,6})")
_PF_PIPELINING = re.compile(r"improper command pipelining after (?P<cmd>[A-Z][A-Z-]{0,20}) from " + _PF_CLIENT
                            + r"(?::.*)?\Z", re.S)
_PF_CLIENT_LINE = re.compile(r"(?P<qid>[0-9A-Za-z]{5,20}): client=" + _PF_CLIENT
                             + r"(?:, sasl_method=(?P<mech>[A-Za-z0-9_-]{1,30}), sasl_username=(?P<user>.*?))?"
                             r"(?:, sasl_sender=.*)?\Z", re.S)
_PF_LIMIT = re.compile(r"warning: Connection (?P<kind>rate|concurrency|count) limit exceeded: (?P<n>\d+) from "
                       + _PF_CLIENT + r" for service (?P<svc>\S+)\Z")
_PF_FCRDNS = re.compile(r"warning: hostname (?P<name>\S{1,255}) does not resolve to address (?P<ip>" + _IP
                        + r")(?::.*)?\Z", re.S)
_PF_ILLEGAL = re.compile(r"warning: Illegal address syntax from " + _PF_CLIENT + r" in (?P<cmd>[A-Z]+) command")
_PS_CLIENT = r"\[(?P<ip>" + _IP + r")\]:(?P<port>\d{1,5})"
_PS_TIMED = re.compile(r"(?P<ev>PREGREET|HANGUP)(?: (?P<n>\d+))? after (?P<t>[\d.]+) from " + _PS_CLIENT
                       + r"(?P<rest>.*)\Z", re.S)
_PS_DNSBL = re.compile(r"DNSBL rank (?P<rank>-?\d+) for " + _PS_CLIENT + r"\Z")
_PS_STATE = re.compile(r"(?P<ev>CONNECT from|PASS NEW|PASS OLD|DISCONNECT|WHITELISTED|BLACKLISTED|ALLOWLISTED"
                       r"|DENYLISTED|WHITELIST VETO|ALLOWLIST VETO) " + _PS_CLIENT + r"(?: to \[[^\]]*\]:\d+)?\Z")
_PS_PROTOCOL = re.compile(r"(?P<ev>COMMAND PIPELINING|NON-SMTP COMMAND|BARE NEWLINE|COMMAND TIME LIMIT"
                          r"|COMMAND COUNT LIMIT|COMMAND LENGTH LIMIT|DATA without valid RCPT) from "
                          + _PS_CLIENT + r"(?P<rest>.*)\Z", re.S)
_PS_ACTIONS = {
    "CONNECT from": "connect", "PASS NEW": "smtp_postscreen_pass", "PASS OLD": "smtp_postscreen_pass",
    "DISCONNECT": "disconnect", "WHITELISTED": "smtp_allowlisted", "ALLOWLISTED": "smtp_allowlisted",
    "BLACKLISTED": "smtp_blocklisted", "DENYLISTED": "smtp_blocklisted", "WHITELIST VETO": "smtp_dnsbl",
    "ALLOWLIST VETO": "smtp_dnsbl", "COMMAND PIPELINING": "smtp_pipelining",
    "NON-SMTP COMMAND": "smtp_non_smtp_command",
}
_SERVER_SIDE_SASL = ("Connection lost to authentication server", "authentication failure: server error")


def _reject_reason(text: str) -> str:
    """The server's reason out of `<addr>: Reason; from=<…> to=<…> proto=… helo=<…>`."""
    reason = text
    if reason.startswith("<"):
        end = reason.find(">: ")
        if end > 0:
            reason = reason[end + 3:]
    cut = reason.find("; from=<")
    return reason[:cut] if cut >= 0 else reason


def smtp_reject_action(reason: str) -> str:
    """One SMTP refusal → its action (postfix and exim wording)."""
    r = reason.lower()
    if "relay access denied" in r or "relay not permitted" in r or "relaying denied" in r:
        return "smtp_relay_denied"
    if "helo command rejected" in r or "rejected ehlo or helo" in r:
        return "smtp_helo_rejected"
    if ("user unknown" in r or "unknown user" in r or "no such user" in r or "unrouteable address" in r
            or "recipient address rejected: undeliverable" in r or "mailbox unavailable" in r):
        return "smtp_unknown_recipient"
    if ("blocked using" in r or "is in an rbl" in r or "email blocked by" in r or "service unavailable" in r
            or "is listed" in r or "black list" in r or "blacklisted" in r or "blocklist" in r):
        return "smtp_blocklisted"
    if "ratelimit" in r or "rate limit" in r or "too many connections" in r:
        return "smtp_ratelimited"
    if "sender verify fail" in r:
        return "smtp_sender_verify_failed"
    if "auth is required" in r or "authentication required" in r or "when not advertised" in r:
        return "smtp_auth_required"
    if "client host rejected" in r:
        return "smtp_client_rejected"
    if "sender address rejected" in r:
        return "smtp_sender_rejected"
    return "smtp_reject"


def _postscreen(msg: str, ev: dict[str, Any]) -> bool:
    c = msg[:1]
    if c == "P" or c == "H":
        m = _PS_TIMED.match(msg)
        if m:
            if m["ev"] == "PREGREET":
                return mark(ev, "smtp_pregreet", category=EMAIL, ip=m["ip"], port=m["port"], protocol="smtp",
                            bytes=int(m["n"]) if m["n"] else None)
            return mark(ev, "smtp_hangup", category=EMAIL, ip=m["ip"], port=m["port"], protocol="smtp")
    if c == "D":
        m = _PS_DNSBL.match(msg)
        if m:
            return mark(ev, "smtp_dnsbl", category=EMAIL, ip=m["ip"], port=m["port"], protocol="smtp",
                        dnsbl_rank=int(m["rank"]))
    m = _PS_STATE.match(msg)
    if m:
        return mark(ev, _PS_ACTIONS[m["ev"]], category=EMAIL, ip=m["ip"], port=m["port"], protocol="smtp")
    m = _PS_PROTOCOL.match(msg)
    if m:
        return mark(ev, _PS_ACTIONS.get(m["ev"], "smtp_protocol_error"), category=EMAIL, ip=m["ip"],
                    port=m["port"], protocol="smtp", detail=m["ev"].lower())
    return False


def postfix_message(app: str, msg: str, ev: dict[str, Any]) -> bool:
    if "postscreen" in app and _postscreen(msg, ev):
        return True
    c = msg[:1]
    if c == "w":
        m = _PF_SASL.match(msg)
        if m:
            reason = m["reason"].strip()
            user = m["user"] or None
            if any(reason.startswith(s) for s in _SERVER_SIDE_SASL):
                return mark(ev, "smtp_auth_server_error", category=EMAIL, ip=m["ip"], port=m["port"],
                            user=user, protocol="smtp", reason=reason[:200])
            return mark(ev, "login_failed", ip=m["ip"], port=m["port"], user=user, protocol="smtp",
                        mechanism=m["mech"].upper(), reason=reason[:200] or None, client_name=m["host"] or None)
        m = _PF_NON_SMTP.match(msg)
        if m:
            return mark(ev, "smtp_non_smtp_command", category=EMAIL, ip=m["ip"], port=m["port"], protocol="smtp",
                        command=m["text"][:200])
        m = _PF_LIMIT.match(msg)
        if m:
            return mark(ev, "smtp_ratelimited", category=EMAIL, ip=m["ip"], port=m["port"], protocol="smtp",
                        limit=m["kind"], count=int(m["n"]))
        m = _PF_FCRDNS.match(msg)
        if m:
            return mark(ev, "smtp_fcrdns_mismatch", category=EMAIL, ip=m["ip"], protocol="smtp",
                        client_name=m["name"])
        m = _PF_ILLEGAL.match(msg)
        if m:
            return mark(ev, "smtp_protocol_error", category=EMAIL, ip=m["ip"], port=m["port"], protocol="smtp",
                        command=m["cmd"])
        return False
    if c == "N" or ": reject" in msg[:30] or ": discard" in msg[:30] or ": hold" in msg[:30]:
        m = _PF_REJECT.match(msg)
        if m:
            reason = _reject_reason(m["text"])
            action = smtp_reject_action(reason)
            if m["verdict"] == "reject_warning":
                action = "smtp_reject_warning"
            return mark(ev, action, category=EMAIL, outcome="failure", ip=m["ip"], port=m["port"], protocol="smtp",
                        command=m["cmd"], code=int(m["code"]), reason=reason[:300], client_name=m["host"] or None)
    if c == "l" or c == "t":
        m = _PF_LOST.match(msg)
        if m:
            cmd = m["cmd"]
            if m["how"] == "too many errors":
                action = "smtp_too_many_errors"
            else:
                action = "smtp_lost_after_auth" if cmd == "AUTH" else "smtp_lost_connection"
            return mark(ev, action, category=EMAIL, ip=m["ip"], port=m["port"], protocol="smtp", command=cmd,
                        how=m["how"], client_name=m["host"] or None)
    if c == "c" or c == "d":
        m = _PF_CONNECT.match(msg)
        if m:
            if m["what"] == "connect":
                return mark(ev, "connect", category=EMAIL, ip=m["ip"], port=m["port"], protocol="smtp",
                            client_name=m["host"] or None)
            a = _PF_AUTH_STAT.search(m["stats"] or "")
            failed = int(a[2]) - int(a[1]) if a else 0
            return mark(ev, "smtp_auth_disconnect" if failed > 0 else "disconnect", category=EMAIL, ip=m["ip"],
                        port=m["port"], protocol="smtp", auth_failed=failed or None,
                        stats=(m["stats"] or "").strip()[:200] or None)
    if c == "i":
        m = _PF_PIPELINING.match(msg)
        if m:
            return mark(ev, "smtp_pipelining", category=EMAIL, ip=m["ip"], port=m["port"], protocol="smtp",
                        command=m["cmd"])
    if "client=" in msg[:40]:
        m = _PF_CLIENT_LINE.match(msg)
        if m:
            if m["user"]:
                return mark(ev, "login", ip=m["ip"], port=m["port"], user=m["user"], protocol="smtp",
                            mechanism=m["mech"].upper(), queue_id=m["qid"])
            return mark(ev, "smtp_client", category=EMAIL, ip=m["ip"], port=m["port"], protocol="smtp",
                        queue_id=m["qid"])
    return False


# ---------------------------------------------------------------------------------------------- dovecot
_DC_LOGIN = re.compile(r"(?P<proto>[a-z][a-z0-9]{1,15})-login: (?:(?:Info|Warning|Error|Debug): )?(?P<what>.*?)"
                       r": user=<(?P<kv>.*)\Z", re.S)
_DC_ATTEMPTS = re.compile(r"\(auth failed, (?P<n>\d{1,6}) attempts?(?: in \d+ secs?)?\)")
_DC_RIP = re.compile(r"(?:^|, )rip=(?P<ip>" + _IP + r")(?=,|$)")
_DC_METHOD = re.compile(r", method=(?P<m>[A-Za-z0-9_-]{1,30}),")
_DC_AUTH = re.compile(
    r"auth(?:-worker\(\d{1,10}\))?: (?:(?:Info|Warning|Error|Debug): )?"
    r"(?:conn unix:[\w-]{1,40} \(pid=\d{1,10},uid=\d{1,10}\): auth-worker<\d{1,10}>: )?"
    r"(?P<db>[a-z][a-z0-9_-]{1,20})\((?P<inner>[^()]*)\): (?P<text>.*)\Z", re.S)
_DC_SESSION = re.compile(r"<[^<>,]{0,64}>")
_DC_FAILED = ("password mismatch", "authentication failure", "pam_authenticate() failed", "auth failed",
              "invalid password", "unknown user")


def _dovecot_user(raw: str) -> str | None:
    return raw[:256] if raw else None


def dovecot_message(msg: str, ev: dict[str, Any]) -> bool:
    m = _DC_LOGIN.match(msg)
    if m:
        proto = m["proto"]
        what = m["what"]
        kv = m["kv"]
        # user=<…> is the client's text: the address counts only when rip= occurs once in the whole record.
        rips = [r["ip"] for r in _DC_RIP.finditer(kv)]
        ip = rips[0] if len(rips) == 1 else None
        close = kv.find(">, ")
        user = _dovecot_user(kv[:close]) if close >= 0 and kv.count(">, ") == 1 else None
        meth = _DC_METHOD.search(kv)
        common: dict[str, Any] = {"protocol": proto, "method": meth["m"] if meth else None}
        if len(rips) > 1:
            common["ambiguous_address"] = True
        a = _DC_ATTEMPTS.search(what)
        if a:
            return mark(ev, "login_failed", ip=ip, user=user, attempts=int(a["n"]), reason=what[:200], **common)
        if what.startswith("Login"):
            return mark(ev, "login", ip=ip, user=user, **common)
        if "Disconnected" in what or "Aborted login" in what or "Login aborted" in what:
            return mark(ev, "disconnect", category=EMAIL, ip=ip, user=user, reason=what[:200], **common)
        return mark(ev, None, category=EMAIL, ip=ip, user=user, reason=what[:200], **common)
    if msg.startswith("auth"):
        m = _DC_AUTH.match(msg)
        if m:
            parts = m["inner"].split(",")
            if parts and _DC_SESSION.fullmatch(parts[-1]):
                parts.pop()
            ip = address(parts[-1]) if len(parts) >= 2 else None
            user_parts = parts[:-1] if ip else parts
            if ip and any(address(p) for p in user_parts):
                ip = None  # the user name carries an address too: which one dovecot meant cannot be told
            user = ",".join(user_parts)[:256] or None
            text = m["text"]
            low = text.lower()
            if low.startswith("unknown user"):
                return mark(ev, "login_failed", ip=ip, user=user, backend=m["db"], invalid_user=True,
                            reason="unknown user")
            if low.startswith(_DC_FAILED):
                return mark(ev, "login_failed", ip=ip, user=user, backend=m["db"], reason=text[:200])
            return mark(ev, None, category="authentication", ip=ip, user=user, backend=m["db"], reason=text[:200])
    return False


# ---------------------------------------------------------------------------------------------- exim
# Exim's host spec: `H=name (helo) [ip]:port`, `name ([helo]) [ip]:port`, `H=[ip]:port`. The HELO name is the
# client's text and sits in parentheses; the address is the bracketed one after a space or `H=` (`I=[…]` is our
# own interface).
_EXIM_CAND = re.compile(r"(?:(?<=\s)|(?<=H=))\[(?P<ip>" + _IP + r")\](?::(?P<port>\d{1,5}))?(?=[\s:]|$)")
_EXIM_AUTH_FAIL = re.compile(r"(?P<auth>[\w-]{1,40}) authenticator failed for .*?: (?P<code>\d{3}) (?P<text>.*)\Z",
                             re.S)
_EXIM_SET_ID = re.compile(r"\(set_id=(?P<user>.*)\)\Z", re.S)
_EXIM_ARRIVAL = re.compile(r"<= \S.* A=(?P<auth>[\w-]{1,40}):(?P<user>\S{1,256})")
_EXIM_NO_HOSTNAME = re.compile(r"no host name found for IP address (?P<ip>" + _IP + r")\Z")
_EXIM_MSGID = re.compile(r"(?:\[\d{1,10}\] )?(?:[0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4} )?")
# Records about a remote client: an `H=` host spec, or one of these fixed openings.
_EXIM_OPENINGS = ("SMTP connection from", "SMTP call from", "SMTP protocol error", "SMTP protocol synchronization",
                  "SMTP command timeout", "SMTP data timeout", "unexpected disconnection", "TLS error on connection",
                  "no host name found")
_EXIM_AUTH = re.compile(r"[\w-]{1,40} authenticator failed for ")


def exim_address(msg: str) -> tuple[str | None, int | None, bool]:
    """(address, port, ambiguous) from exim's host spec(s) in `msg`."""
    cands = list(_EXIM_CAND.finditer(msg))
    ip = single(c["ip"] for c in cands)
    if ip is None:
        return None, None, len({c["ip"] for c in cands}) > 1
    port = next((c["port"] for c in cands if address(c["ip"]) == ip and c["port"]), None)
    return ip, int(port) if port else None, False


def exim_message(msg: str, ev: dict[str, Any]) -> bool:
    """Exim mainlog text after the timestamp (also what exim sends to syslog)."""
    pre = _EXIM_MSGID.match(msg)
    if pre and pre.end():
        msg = msg[pre.end():]
    m = _EXIM_NO_HOSTNAME.match(msg)
    if m:
        return mark(ev, "smtp_fcrdns_mismatch", category=EMAIL, ip=m["ip"], protocol="smtp")
    if msg.startswith("<= "):
        a = _EXIM_ARRIVAL.match(msg)
        ip, port, amb = exim_address(msg)
        if a:
            return mark(ev, "login", ip=ip, port=port, user=a["user"], protocol="smtp", authenticator=a["auth"],
                        ambiguous_address=amb or None)
        return mark(ev, "smtp_message_received", category=EMAIL, ip=ip, port=port, protocol="smtp")
    if msg[:3] in ("=> ", "-> ", "*> ", "** ", "== "):
        # A delivery: its H= names the remote server we sent to, not a client.
        return mark(ev, "smtp_delivery", category=EMAIL, protocol="smtp")
    if not (msg.startswith("H=") or " H=" in msg or msg.startswith(_EXIM_OPENINGS) or _EXIM_AUTH.match(msg)):
        return False
    ip, port, amb = exim_address(msg)
    extra: dict[str, Any] = {"protocol": "smtp", "ambiguous_address": amb or None}
    m = _EXIM_AUTH_FAIL.match(msg)
    if m:
        u = _EXIM_SET_ID.search(m["text"])
        return mark(ev, "login_failed", ip=ip, port=port, user=u["user"] if u else None, authenticator=m["auth"],
                    code=int(m["code"]), **extra)
    if "synchronization error" in msg:
        return mark(ev, "smtp_pregreet", category=EMAIL, ip=ip, port=port, **extra)
    if "SMTP connection from" in msg:
        lost = " lost" in msg or "closed by" in msg
        return mark(ev, "smtp_lost_connection" if lost else "connect", category=EMAIL, ip=ip, port=port, **extra)
    if "dropped: " in msg or "SMTP protocol error" in msg:
        return mark(ev, "smtp_protocol_error", category=EMAIL, ip=ip, port=port, reason=msg[:300], **extra)
    if "unexpected disconnection" in msg or "lost while" in msg:
        after_auth = "AUTH" in msg
        return mark(ev, "smtp_lost_after_auth" if after_auth else "smtp_lost_connection", category=EMAIL, ip=ip,
                    port=port, **extra)
    if "rejected after DATA" in msg:
        return mark(ev, "smtp_content_rejected", category=EMAIL, outcome="failure", ip=ip, port=port,
                    reason=msg[:300], **extra)
    if "rejected" in msg or "refused" in msg or "verify fail" in msg:
        return mark(ev, smtp_reject_action(msg), category=EMAIL, outcome="failure", ip=ip, port=port,
                    reason=msg[:300], **extra)
    return mark(ev, None, category=EMAIL, ip=ip, port=port, **extra)


# ---------------------------------------------------------------------------------------------- courier, cyrus
_COURIER_LOGIN = re.compile(r"(?P<ok>LOGIN|LOGIN FAILED|LOGOUT|DISCONNECTED|TIMEOUT), (?P<kv>.*)\Z", re.S)
_COURIER_IP = re.compile(r", ip=\[(?P<ip>" + _IP + r")\](?:, port=\[(?P<port>\d{1,5})\])?")
_COURIER_USER = re.compile(r"(?:^|, )user=(?P<user>.*?), ip=\[", re.S)
_COURIER_SMTP = re.compile(r"error,relay=(?P<ip>" + _IP + r"),(?:port=(?P<port>\d{1,5}),)?(?:ident=[^,]*,)?"
                           r"(?:from=<[^>]*>,)?(?:addr=<[^>]*>: )?msg=\"(?P<code>\d{3})[ -](?P<text>[^\"]*)\",?"
                           r"(?:cmd: (?P<cmd>.*))?\Z", re.S)
_CYRUS = re.compile(r"(?P<what>badlogin|login): (?:(?P<host>[^\s\[\]]{1,255}) )?\[(?P<ip>" + _IP + r")\] "
                    r"(?P<rest>.*)\Z", re.S)
_CYRUS_PROTO = {"imap": "imap", "imaps": "imap", "imapd": "imap", "imapd-ssl": "imap", "pop3": "pop3",
                "pop3s": "pop3", "pop3d": "pop3", "pop3d-ssl": "pop3", "courier-imapd": "imap",
                "courier-pop3d": "pop3"}


def imap_server_message(app: str, msg: str, ev: dict[str, Any]) -> bool:
    proto = _CYRUS_PROTO.get(app.lower().split("[", 1)[0].rsplit("/", 1)[-1])
    m = _COURIER_LOGIN.match(msg)
    if m:
        kv = m["kv"]
        ips = list(_COURIER_IP.finditer(kv))
        ip = ips[0]["ip"] if len(ips) == 1 else None
        port = ips[0]["port"] if len(ips) == 1 else None
        u = _COURIER_USER.search(kv) if len(ips) == 1 else None
        user = u["user"] if u else None
        what = m["ok"]
        if what == "LOGIN FAILED":
            return mark(ev, "login_failed", ip=ip, port=port, user=user, protocol=proto)
        if what == "LOGIN":
            return mark(ev, "login", ip=ip, port=port, user=user, protocol=proto)
        return mark(ev, "disconnect", category=EMAIL, ip=ip, port=port, user=user, protocol=proto)
    m = _COURIER_SMTP.match(msg)
    if m:
        code = int(m["code"])
        if code == 535:
            return mark(ev, "login_failed", ip=m["ip"], port=m["port"], protocol="smtp", reason=m["text"][:200])
        return mark(ev, smtp_reject_action(m["text"]), category=EMAIL, outcome="failure", ip=m["ip"], port=m["port"],
                    protocol="smtp", code=code, reason=m["text"][:300])
    m = _CYRUS.match(msg)
    if m:
        rest = m["rest"]
        if m["what"] == "badlogin":
            # `badlogin: host [ip] MECH [user] SASL(-13): authentication failure: …`
            words = rest.split(" ", 2)
            user = words[1] if len(words) > 2 and not words[1].startswith("SASL(") else None
            unknown = "user not found" in rest or "SASL(-13): user not found" in rest
            return mark(ev, "login_failed", ip=m["ip"], user=user, protocol=proto, mechanism=words[0][:30],
                        invalid_user=True if unknown else None, reason=rest[:200])
        words = rest.split(" ")
        return mark(ev, "login", ip=m["ip"], user=words[0] if words else None, protocol=proto)
    return False


# ---------------------------------------------------------------------------------------------- amavis
# `(id) Blocked INFECTED (name) {actions}, [client]:port [origin] <from> -> <to>, …`. The first address is the
# SMTP client the MTA passed on (XFORWARD); the second is amavis's guess from the Received headers, which the sender
# writes, so it only goes into fields.
_AMAVIS = re.compile(r"\((?P<id>[\w-]{1,40})\) (?P<verdict>Passed|Blocked|Not-Delivered) (?P<cat>[A-Z][A-Z-]{1,20})"
                     r"(?: \((?P<match>[^()]{0,200})\))?(?: \{(?P<acts>[^{}]{0,200})\})?, (?:[A-Z]+ )?"
                     r"\[(?:IPv6:)?(?P<ip>" + _IP + r")\](?::(?P<port>\d{1,5}))?"
                     r"(?: \[(?:IPv6:)?(?P<origin>" + _IP + r")\])?(?P<rest>.*)\Z", re.S)
_AMAVIS_HITS = re.compile(r", Hits: (?P<hits>-?\d{1,4}(?:\.\d{1,3})?),")
_LOCAL = ("127.", "::1")


def amavis_message(msg: str, ev: dict[str, Any]) -> bool:
    m = _AMAVIS.match(msg)
    if not m:
        return False
    cat = m["cat"]
    blocked = m["verdict"] != "Passed"
    ip: str | None = m["ip"]
    if ip is not None and ip.startswith(_LOCAL):
        ip = None  # a content filter without XFORWARD: the client is the MTA itself
    hits = _AMAVIS_HITS.search(m["rest"])
    score = float(hits["hits"]) if hits else None
    if cat in ("INFECTED", "BANNED"):
        action = "mail_malware"
    elif cat.startswith("SPAM"):
        action = "mail_spam"
    else:
        action = "mail_scanned"
    return mark(ev, action, category=EMAIL, outcome="failure" if blocked else "success", ip=ip, port=m["port"],
                verdict=m["verdict"], content_category=cat, match=m["match"], spam_score=score,
                origin_ip=address(m["origin"]), blocked=blocked)


# ---------------------------------------------------------------------------------------------- MailScanner
_MS = re.compile(r"Message (?P<id>\S{1,64}) from (?P<ip>" + _IP + r") \((?P<rest>.*)\Z", re.S)
_MS_INFECTED = re.compile(r"Infected message (?P<id>\S{1,64}) came from (?P<ip>" + _IP + r")\s*\Z")
_MS_SCORE = re.compile(r"\(?(?:not )?cached, score=(?P<score>-?\d{1,5}(?:\.\d{1,4})?), required")


def mailscanner_message(msg: str, ev: dict[str, Any]) -> bool:
    m = _MS.match(msg)
    if not m:
        i = _MS_INFECTED.match(msg)
        if i is None:
            return False
        return mark(ev, "mail_malware", category=EMAIL, outcome="failure", ip=i["ip"], message_id=i["id"])
    rest = m["rest"]
    # The verdict follows the sender's address: "…) to domain is spam …"; the last one is MailScanner's.
    at = rest.rfind(" is spam")
    not_spam = rest.rfind(" is not spam")
    if at < 0 or not_spam > at:
        return mark(ev, "mail_scanned", category=EMAIL, ip=m["ip"], message_id=m["id"])
    verdict = rest[at:]
    s = _MS_SCORE.search(verdict)
    score = float(s["score"]) if s else None
    if verdict.startswith(" is spam (blacklisted)"):
        return mark(ev, "mail_blacklisted", category=EMAIL, outcome="failure", ip=m["ip"], message_id=m["id"],
                    spam_score=score)
    return mark(ev, "mail_spam", category=EMAIL, outcome="failure", ip=m["ip"], message_id=m["id"], spam_score=score)


# ---------------------------------------------------------------------------------------------- Mailu
# The admin container (Flask): `[2023-03-28 03:09:25,112] WARNING in limiter: Authentication attempt from
# 46.148.40.7 has been rate-limited.`
_MAILU = re.compile(r"\[(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\] (?P<level>[A-Z]{3,8}) in (?P<mod>\w{1,40}): "
                    r"(?P<msg>.*)\Z", re.S)
_MAILU_LIMITED = re.compile(r"Authentication attempt from (?P<ip>" + _IP + r") has been rate-limited\.?\s*\Z")


def mailu_message(msg: str, ev: dict[str, Any]) -> str | None:
    """Mailu's limiter line → auth_rate_limited; returns the record's own timestamp text, None if not Mailu's."""
    m = _MAILU.match(msg)
    r = _MAILU_LIMITED.match(m["msg"]) if m else None
    if m is None or r is None:
        return None
    ev["message"] = m["msg"]
    fields(ev).update({"level": m["level"], "module": m["mod"]})
    mark(ev, "auth_rate_limited", category="authentication", outcome="failure", ip=r["ip"])
    return m["ts"]


# ---------------------------------------------------------------------------------------------- registry
@extractor("mailu-admin", "mailu")
def _mailu(app: str, msg: str, ev: dict[str, Any]) -> bool:
    return mailu_message(msg, ev) is not None


@extractor("postfix")
def _postfix(app: str, msg: str, ev: dict[str, Any]) -> bool:
    ev["category"] = EMAIL
    return postfix_message(app, msg, ev)


@extractor("dovecot")
def _dovecot(app: str, msg: str, ev: dict[str, Any]) -> bool:
    ev["category"] = EMAIL
    return dovecot_message(msg, ev)


@extractor("exim", "exim4")
def _exim(app: str, msg: str, ev: dict[str, Any]) -> bool:
    ev["category"] = EMAIL
    return exim_message(msg, ev)


@extractor("imapd", "imapd-ssl", "pop3d", "pop3d-ssl", "courier-imapd", "courier-pop3d", "courieresmtpd",
           "cyrus", "imap", "imaps", "pop3", "pop3s")
def _imap_servers(app: str, msg: str, ev: dict[str, Any]) -> bool:
    ev["category"] = EMAIL
    return imap_server_message(app, msg, ev)


@extractor("amavis", "amavisd", "amavisd-new")
def _amavis(app: str, msg: str, ev: dict[str, Any]) -> bool:
    ev["category"] = EMAIL
    return amavis_message(msg, ev)


@extractor("mailscanner")
def _mailscanner(app: str, msg: str, ev: dict[str, Any]) -> bool:
    ev["category"] = EMAIL
    return mailscanner_message(msg, ev)


__all__ = ["amavis_message", "dovecot_message", "exim_address", "exim_message", "fields", "imap_server_message",
           "mailscanner_message", "mailu_message", "postfix_message", "smtp_reject_action"]
