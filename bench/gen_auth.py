"""A jump host's auth.log, as Debian 12 (OpenSSH 9.2, PAM) writes it, for the detection benchmark.

Attackers (203.0.113.0/24) spray root/admin/oracle/… all the time, one to three passwords per connection, each
attempt written as sshd and PAM write it; sixty users (198.51.100.1-60) log in by key and log out; cron, the
kernel and systemd add noise. Time only moves forward (~100 lines a second). Deterministic for a seed.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

ATTACK_USERS = ["root", "admin", "oracle", "test", "ubuntu", "postgres", "git", "user", "ftpuser", "pi", "guest",
                "support", "deploy", "hadoop", "mysql", "ansible", "jenkins", "tomcat", "www", "nagios"]
ATTACKERS = [f"203.0.113.{i}" for i in range(1, 255)]
USERS = [(f"198.51.100.{i}", f"user{i:02d}") for i in range(1, 61)]
NOISE = [
    ("kernel", "[{k}.{u:06d}] eth0: link up, 1000Mbps, full-duplex"),
    ("systemd[1]", "Starting sysstat-collect.service - system activity accounting tool..."),
    ("systemd[1]", "sysstat-collect.service: Deactivated successfully."),
    ("systemd-timesyncd[455]", "Initial synchronization to time server 192.0.2.123:123 (ntp.example.net)."),
]


class _Log:
    def __init__(self) -> None:
        self.rows: list[tuple[float, int, str]] = []
        self.pid = 4000
        self.session = 100

    def add(self, t: datetime, prog: str, msg: str) -> None:
        self.rows.append((t.timestamp(), len(self.rows), f"{t:%b %d %H:%M:%S} jump1 {prog}: {msg}"))

    def next_pid(self) -> int:
        self.pid = 4000 + (self.pid - 4000 + 7) % 60000
        return self.pid


def _attack(log: _Log, rnd: random.Random, t: datetime) -> None:
    ip, user = rnd.choice(ATTACKERS), rnd.choice(ATTACK_USERS)
    pid, port, s = log.next_pid(), rnd.randint(1024, 65535), ""
    s = f"sshd[{pid}]"
    valid = user == "root"
    if not valid:
        log.add(t, s, f"Invalid user {user} from {ip} port {port}")
    for k in range(rnd.randint(1, 3)):
        at = t + timedelta(seconds=2.5 * k)
        if valid:
            log.add(at, s, "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
                           f"rhost={ip}  user={user}")
            log.add(at + timedelta(seconds=2), s, f"Failed password for {user} from {ip} port {port} ssh2")
        else:
            log.add(at, s, "pam_unix(sshd:auth): check pass; user unknown")
            log.add(at, s, "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
                           f"rhost={ip}")
            log.add(at + timedelta(seconds=2), s, f"Failed password for invalid user {user} from {ip} port {port} ssh2")
    who = f"{'authenticating' if valid else 'invalid'} user {user}"
    log.add(t + timedelta(seconds=9), s, f"Connection closed by {who} {ip} port {port} [preauth]")


def _login(log: _Log, rnd: random.Random, t: datetime) -> None:
    ip, user = rnd.choice(USERS)
    pid, port = log.next_pid(), rnd.randint(1024, 65535)
    log.session += 1
    s, sid = f"sshd[{pid}]", log.session
    key = "".join(rnd.choice("abcdefghijkLMNOPQRS0123456789+/") for _ in range(43))
    log.add(t, s, f"Accepted publickey for {user} from {ip} port {port} ssh2: RSA SHA256:{key}")
    log.add(t, s, f"pam_unix(sshd:session): session opened for user {user}(uid=1000) by (uid=0)")
    log.add(t, "systemd-logind[612]", f"New session {sid} of user {user}.")
    e = t + timedelta(seconds=rnd.uniform(30, 3600))
    log.add(e, s, f"Received disconnect from {ip} port {port}:11: disconnected by user")
    log.add(e, s, f"Disconnected from user {user} {ip} port {port}")
    log.add(e, s, f"pam_unix(sshd:session): session closed for user {user}")
    log.add(e, "systemd-logind[612]", f"Removed session {sid}.")


def write_jump_host_log(path: Path, n: int, seed: int = 7) -> Path:
    """`n` lines; attacker and user address pools as in ATTACKERS / USERS."""
    rnd = random.Random(seed)
    log = _Log()
    t, k = datetime(2026, 11, 21, 6, 0, 0), 0
    while len(log.rows) < n + n // 50 + 1000:
        k += 1
        r = rnd.random()
        if r < 0.25:
            _attack(log, rnd, t)
        elif r < 0.33:
            _login(log, rnd, t)
        elif r < 0.68:
            pid = 20000 + k % 30000
            log.add(t, f"CRON[{pid}]", "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)")
            log.add(t, f"CRON[{pid}]", "(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)")
            log.add(t + timedelta(seconds=1), f"CRON[{pid}]", "pam_unix(cron:session): session closed for user root")
        else:
            prog, msg = NOISE[rnd.randrange(len(NOISE))]
            log.add(t, prog, msg.format(k=10000 + k // 1000, u=k % 1000000))
        t += timedelta(seconds=rnd.expovariate(1 / 0.035))
    log.rows.sort()
    path.write_text("\n".join(r[2] for r in log.rows[:n]) + "\n")
    return path
