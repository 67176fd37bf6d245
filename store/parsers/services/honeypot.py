"""Honeypots and tarpits: Endlessh (SSH tarpit) and Cowrie (SSH/Telnet honeypot), through syslog or their own files.

Nobody legitimate connects to a honeypot, so every contact is a signal; these lines are normalised so the honeypot
rules can count them per address. Actions (category `honeypot`): honeypot_connect (a client opened a connection),
honeypot_disconnect (fields.seconds: how long it was held), honeypot_login (fields.result failed|succeeded: a
credential tried on the honeypot — never `login`/`login_failed`, a honeypot login compromises nothing and must not
feed the success-after-failures rules), honeypot_command (a command typed in the fake shell).

Addresses: Endlessh's `host=` right after its verb; Cowrie's `New connection: SRC:PORT (DST:PORT)` and the
`[…Transport,N,ADDR]` context Twisted writes before the message. Credentials and commands come after those and are
the attacker's text; nothing is read from them but the user name.
"""

from __future__ import annotations

import re
from typing import Any

from store.parsers.services import extractor
from store.parsers.services.normalised import mark

HONEYPOT = "honeypot"
_IP = r"[0-9A-Fa-f:.]{2,45}"

_ENDLESSH = re.compile(r"(ACCEPT|CLOSE) host=(" + _IP + r") port=(\d{1,5}) (?:fd=\d{1,10} )?"
                       r"(?:n=\d{1,10}/\d{1,10}|time=(\d{1,12}(?:\.\d{1,9})?) bytes=(\d{1,20}))\s*\Z")


def endlessh_message(msg: str, ev: dict[str, Any]) -> bool:
    """`ACCEPT host=… port=… fd=… n=…/…` and `CLOSE host=… port=… fd=… time=… bytes=…` (endlessh-go: no fd)."""
    m = _ENDLESSH.match(msg)
    if m is None:
        if msg.startswith(("TOTALS ", "Port ", "Delay ", "MaxLineLength ", "MaxClients ", "BindFamily ")):
            return mark(ev, None, category=HONEYPOT)
        return False
    ev["service"] = "endlessh"
    if m[1] == "ACCEPT":
        return mark(ev, "honeypot_connect", category=HONEYPOT, ip=m[2], port=m[3], protocol="ssh")
    return mark(ev, "honeypot_disconnect", category=HONEYPOT, ip=m[2], port=m[3], seconds=float(m[4]),
                bytes=int(m[5]) if len(m[5]) < 19 else None)


# Cowrie's text log: "[context] message", optionally after its own ISO time when syslog carries the file line.
_COWRIE_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d) ")
_COWRIE_NEW = re.compile(r"\[cowrie\.(ssh|telnet)\.factory\.\w{1,64}\] New connection: (" + _IP + r"):(\d{1,5}) "
                         r"\((" + _IP + r"):(\d{1,5})\) \[session: (\w{1,64})\]\s*\Z")
# "[HoneyPotSSHTransport,2,ADDR]" or "[SSHService b'ssh-userauth' on HoneyPotSSHTransport,2,ADDR]": the address
# closes the context Twisted writes; the bracket-free prefix keeps a client's text from reaching it.
_COWRIE_CTX = re.compile(r"\[(?:[^\[\]]{0,120} on )?(\w{1,64}Transport),\d{1,10},(" + _IP + r")\] (.*)\Z", re.S)
_COWRIE_LOGIN = re.compile(r"login attempt \[(.*)\] (failed|succeeded)\s*\Z", re.S)
_BYTES_LITERAL = re.compile(r"b'(.*)'\Z|b\"(.*)\"\Z", re.S)


def _unbytes(text: str) -> str:
    m = _BYTES_LITERAL.match(text)
    return (m[1] if m[1] is not None else m[2]) if m else text


def cowrie_message(msg: str, ev: dict[str, Any]) -> bool:
    """One line of cowrie.log (the inner ISO time, when present, is left to the envelope's)."""
    m = _COWRIE_TS.match(msg)
    text = msg[m.end():] if m else msg
    n = _COWRIE_NEW.match(text)
    if n:
        ev["service"] = "cowrie"
        return mark(ev, "honeypot_connect", category=HONEYPOT, ip=n[2], port=n[3], protocol=n[1],
                    honeypot_port=int(n[5]), session=n[6])
    c = _COWRIE_CTX.match(text)
    if c is None:
        return text.startswith("[") and mark(ev, None, category=HONEYPOT)
    ev["service"] = "cowrie"
    protocol = "telnet" if "Telnet" in c[1] else "ssh"
    body = c[3]
    login = _COWRIE_LOGIN.match(body)
    if login:
        # "[b'root'/b'1234']": the user is before the first slash of the pair (a slash in it stays ambiguous and
        # only changes which text is kept as the user name).
        user = _unbytes(login[1].split("/", 1)[0])
        return mark(ev, "honeypot_login", category=HONEYPOT, ip=c[2], user=user or None, protocol=protocol,
                    result=login[2])
    if body.startswith("CMD: "):
        return mark(ev, "honeypot_command", category=HONEYPOT, ip=c[2], protocol=protocol,
                    command=body[5:2005])
    if body.startswith("Connection lost"):
        return mark(ev, "honeypot_disconnect", category=HONEYPOT, ip=c[2], protocol=protocol)
    return mark(ev, None, category=HONEYPOT, ip=c[2], protocol=protocol)


@extractor("endlessh", "endlessh-go")
def _endlessh(app: str, msg: str, ev: dict[str, Any]) -> bool:
    return endlessh_message(msg, ev)


@extractor("cowrie")
def _cowrie(app: str, msg: str, ev: dict[str, Any]) -> bool:
    return cowrie_message(msg, ev)
