"""VPN servers: OpenVPN (syslog or its own log file) and strongSwan's IKE daemon `charon` (IPsec, IKEv1/IKEv2).

Actions: login_failed (a user name/password, EAP, XAuth or pre-shared key that did not verify), pam_failure
(XAuth's PAM line that echoes the attempt charon also logs), invalid_user (charon: no key for the EAP identity),
login (OpenVPN: a peer whose TLS handshake and authentication completed; the user is its certificate's common
name), tls_failure (OpenVPN: a packet or handshake rejected before authentication: tls-auth/tls-crypt HMAC
mismatch, handshake or key negotiation failure).

Addresses: OpenVPN writes its peer as the `[cn/]ADDR:PORT` prefix of a line, before any text the client
chose. charon names the peer only on its packet lines (`received packet: from ADDR[port] to …`, `sending packet:
from … to ADDR[port]`, `ADDR is initiating an IKE_SA`); the failure lines carry the IKE_SA's unique id
(`<conn|N>`) instead, so the peer seen on the same daemon's (host, pid, IKE_SA) earlier lines is remembered and
given to them. The EAP/XAuth identities in quotes are the client's text and only ever fill `user`.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import Any

from store.parsers.services import extractor
from store.parsers.services.normalised import address, mark

VPN = "vpn"
AUTH = "authentication"

# ------------------------------------------------------------------------------------------------------ OpenVPN
_OVPN_PEER = re.compile(r"(?:(\S{1,256})/)?(\d{1,3}(?:\.\d{1,3}){3}|\[?[0-9A-Fa-f:]{2,39}\]?):(\d{1,5}) (.*)\Z", re.S)
_OVPN_TLS = ("TLS Error: incoming packet authentication failed", "TLS Error: tls-crypt unwrapping failed",
             "TLS Error: TLS handshake failed", "TLS Error: TLS key negotiation failed",
             "TLS Error: tls-auth", "TLS Error: cannot locate HMAC", "TLS Error: Unroutable control packet",
             "TLS_ERROR: BIO read tls_read_plaintext error", "OpenSSL: error:")
_OVPN_AUTH = ("TLS Auth Error:", "VERIFY ERROR:", "VERIFY PLUGIN ERROR:", "VERIFY SCRIPT ERROR:",
              "AUTH: Received control message: AUTH_FAILED",
              "WARNING: Failed running command (--auth-user-pass-verify)")


def openvpn_message(msg: str, ev: dict[str, Any]) -> bool:
    """`[cn/]ADDR:PORT text` lines of an OpenVPN server (the time stamp already removed)."""
    m = _OVPN_PEER.match(msg)
    if m is None:
        return False
    ev["service"] = "openvpn"
    cn, ip, port, text = m[1], m[2], m[3], m[4]
    if text.startswith(_OVPN_AUTH):
        return mark(ev, "login_failed", category=AUTH, ip=ip, port=port, user=cn, reason=text[:200])
    if text.startswith(_OVPN_TLS):
        return mark(ev, "tls_failure", outcome="failure", category=VPN, ip=ip, port=port, user=cn,
                    reason=text[:200])
    if text.startswith("Peer Connection Initiated with "):
        return mark(ev, "login", category=AUTH, ip=ip, port=port, user=cn)
    return mark(ev, None, category=VPN, ip=ip, port=port, user=cn)


@extractor("openvpn", "ovpn-server", "ovpn-openvpn", "ovpn-udp", "ovpn-tcp")
def _openvpn(app: str, msg: str, ev: dict[str, Any]) -> bool:
    return openvpn_message(msg, ev)


# ------------------------------------------------------------------------------------------------------ charon
_CHARON = re.compile(r"(?:\d{1,3}\[[A-Z]{2,4}\] )?(?:<(?:[^|<>]{0,128}\|)?(\d{1,10})> )?(.*)\Z", re.S)
_IP = r"[0-9A-Fa-f:.]{2,45}"
_RECEIVED = re.compile(r"received packet: from (" + _IP + r")\[(\d{1,5})\] to " + _IP + r"\[\d{1,5}\]")
_SENDING = re.compile(r"sending packet: from " + _IP + r"\[\d{1,5}\] to (" + _IP + r")\[(\d{1,5})\]")
_INITIATING = re.compile(r"(" + _IP + r") is initiating an? (?:Main Mode |Aggressive Mode )?IKE_SA\s*\Z")
_HALF_OPEN = re.compile(r"deleting half open IKE_SA with (" + _IP + r") after timeout\s*\Z")
_EAP_USER = re.compile(r"EAP-[\w-]{1,32} username: '(.*)'\s*\Z", re.S)
_FAILED = [
    re.compile(r"(?:EAP-MS-CHAPv2|EAP-MD5|EAP-GTC|EAP-TLS|EAP-TTLS|EAP-PEAP) verification failed"),
    re.compile(r"EAP method \S{1,64} failed for peer (.*?)\s*\Z", re.S),
    re.compile(r"(?:XAuth|RADIUS|EAP-RADIUS) authentication of '(.*)' failed\s*\Z", re.S),
    re.compile(r"tried \d{1,6} shared keys? for '(.*)' - '.*', but MAC mismatched\s*\Z", re.S),
]
_PAM_ECHO = re.compile(r"XAuth pam_authenticate for '(.*)' failed", re.S)
_NO_EAP_KEY = re.compile(r"no EAP key found for hosts '.*' - '(.*)'\s*\Z", re.S)
_PEERS: OrderedDict[tuple[object, ...], tuple[str, str | None]] = OrderedDict()
_PEERS_MAX = 4096
_LOCK = threading.Lock()


def _sa_key(ev: dict[str, Any], sa: str) -> tuple[object, ...]:
    return (ev.get("host"), ev.get("pid"), sa)


def _remember(key: tuple[object, ...], ip: str, user: str | None = None) -> None:
    with _LOCK:
        prior = _PEERS.pop(key, None)
        if user is None and prior is not None and prior[0] == ip:
            user = prior[1]
        _PEERS[key] = (ip, user)
        while len(_PEERS) > _PEERS_MAX:
            _PEERS.popitem(last=False)


def _recall(key: tuple[object, ...]) -> tuple[str | None, str | None]:
    with _LOCK:
        got = _PEERS.get(key)
    return got if got is not None else (None, None)


def charon_message(msg: str, ev: dict[str, Any]) -> bool:
    m = _CHARON.match(msg)
    if m is None:  # pragma: no cover - the pattern accepts any text
        return False
    sa, text = m[1], m[2]
    ev["service"] = "charon"
    key = _sa_key(ev, sa) if sa else None
    for rx, port_group in ((_RECEIVED, 2), (_SENDING, 2), (_INITIATING, 0), (_HALF_OPEN, 0)):
        p = rx.match(text)
        if p:
            ip = address(p[1])
            if ip is not None and key is not None:
                _remember(key, ip)
            return mark(ev, None, category=VPN, ip=p[1], port=p[port_group] if port_group else None)
    peer, user = _recall(key) if key is not None else (None, None)
    u = _EAP_USER.match(text)
    if u:
        if key is not None and peer is not None:
            _remember(key, peer, u[1][:256])
        return mark(ev, None, category=VPN, ip=peer, user=u[1][:256])
    for rx in _FAILED:
        f = rx.match(text)
        if f:
            who = f[1] if f.groups() and f[1] else user
            return mark(ev, "login_failed", category=AUTH, ip=peer, user=(who or "")[:256] or None,
                        reason=text[:200], protocol="ike")
    f = _PAM_ECHO.match(text)
    if f:
        return mark(ev, "pam_failure", outcome="failure", category=AUTH, ip=peer, user=f[1][:256] or None,
                    reason=text[:200])
    f = _NO_EAP_KEY.match(text)
    if f:
        return mark(ev, "invalid_user", outcome="failure", category=AUTH, ip=peer, user=f[1][:256] or None)
    return mark(ev, None, category=VPN, ip=peer)


@extractor("charon", "charon-systemd", "charon-cmd")
def _charon(app: str, msg: str, ev: dict[str, Any]) -> bool:
    return charon_message(msg, ev)
