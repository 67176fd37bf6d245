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


def _connection(log: _Log, rnd: random.Random, t: datetime, ip: str, user: str, valid: bool, tries: int) -> datetime:
    pid, port = log.next_pid(), rnd.randint(1024, 65535)
    s = f"sshd[{pid}]"
    if not valid:
        log.add(t, s, f"Invalid user {user} from {ip} port {port}")
    for k in range(tries):
        at = t + timedelta(seconds=2.5 * k)
        if valid:
            log.add(at, s, "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
                           f"rhost={ip}  user={user}")
            log.add(at + timedelta(seconds=2), s, f"Failed password for {user} from {ip} port {port} ssh2")
        else:
            log.add(at, s, "pam_unix(sshd:auth): check pass; user unknown")
            log.add(at + timedelta(seconds=2), s, f"Failed password for invalid user {user} from {ip} port {port} ssh2")
    end = t + timedelta(seconds=tries * 2.5 + 1)
    who = f"{'authenticating' if valid else 'invalid'} user {user}"
    log.add(end, s, f"Connection closed by {who} {ip} port {port} [preauth]")
    return end


def write_labelled_day(path: Path, seed: int = 11) -> dict[str, str]:
    """An SSH day with fast brute forcers (20), brute forcers who get in (2), low-and-slow guessers (3, one try
    every 5–10 minutes for hours) and 500 benign users, a quarter of whom mistype once or twice. Returns
    address → kind ("fast", "success", "slow", "benign")."""
    rnd = random.Random(seed)
    log = _Log()
    day0, span = datetime(2026, 11, 21, 7, 0, 0), 12 * 3600
    hosts = rnd.sample(range(1, 2 ** 17 - 1), 600)
    ips = iter(f"198.{18 + (h >> 16)}.{(h >> 8) & 255}.{h & 255}" for h in hosts)
    truth: dict[str, str] = {}
    for _ in range(20):
        ip, tries = next(ips), rnd.randint(20, 200)
        t, done, pace = day0 + timedelta(seconds=rnd.uniform(600, span - 1200)), 0, rnd.uniform(120, 720) / tries
        while done < tries:
            user = rnd.choice(ATTACK_USERS)
            per = min(tries - done, rnd.randint(1, 3))
            end = _connection(log, rnd, t, ip, user, user == "root", per)
            t = end + timedelta(seconds=rnd.uniform(0, 2 * pace * per))
            done += per
        truth[ip] = "fast"
    for tries, user in ((8, "admin"), (14, "deploy")):
        ip, t, done = next(ips), day0 + timedelta(seconds=rnd.uniform(3600, span - 3600)), 0
        while done < tries:
            per = min(tries - done, rnd.randint(2, 3))
            t = _connection(log, rnd, t, ip, user, True, per) + timedelta(seconds=rnd.uniform(5, 25))
            done += per
        port = rnd.randint(1024, 65535)
        log.add(t, f"sshd[{log.next_pid()}]", f"Accepted password for {user} from {ip} port {port} ssh2")
        truth[ip] = "success"
    for _ in range(3):
        ip, t = next(ips), day0 + timedelta(seconds=rnd.uniform(600, span - 6 * 3600))
        for _k in range(rnd.randint(35, 45)):
            user = rnd.choice(ATTACK_USERS)
            _connection(log, rnd, t, ip, user, user == "root", 1)
            t += timedelta(seconds=rnd.uniform(300, 600))
        truth[ip] = "slow"
    for u in range(500):
        ip, user = next(ips), f"u{u:03d}"
        mistypes = (1 if rnd.random() < 0.25 else 0)
        mistypes += 1 if mistypes and rnd.random() < 0.15 else 0
        for j in range(rnd.randint(1, 6)):
            t = day0 + timedelta(seconds=rnd.uniform(0, span - 3600))
            pid, port = log.next_pid(), rnd.randint(1024, 65535)
            s = f"sshd[{pid}]"
            if j == 0:
                for _m in range(mistypes):
                    if rnd.random() < 0.2:  # a mistyped user name: its own connection
                        t = _connection(log, rnd, t, ip, user[:-1] + rnd.choice("xyz"), False, 1)
                    else:
                        log.add(t, s, "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh "
                                      f"ruser= rhost={ip}  user={user}")
                        log.add(t + timedelta(seconds=2), s, f"Failed password for {user} from {ip} port {port} ssh2")
                    t += timedelta(seconds=rnd.uniform(4, 12))
            method = "password" if u % 3 == 0 or (j == 0 and mistypes) else "publickey"
            log.add(t, s, f"Accepted {method} for {user} from {ip} port {port} ssh2")
            log.add(t, s, f"pam_unix(sshd:session): session opened for user {user}(uid=1000) by (uid=0)")
        truth[ip] = "benign"
    t = day0
    while t < day0 + timedelta(seconds=span):
        log.add(t, "CRON[2001]", "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)")
        t += timedelta(seconds=60)
    log.rows.sort()
    path.write_text("\n".join(r[2] for r in log.rows) + "\n")
    return truth
