"""The built-in demo scenario: a small site's auth, web and system logs with attacks woven in, and a plant network.

Background traffic (logins, cron, sudo, web hits, systemd) runs at a steady rate; every cycle an SSH brute force
from one address ends in a successful login, a web scanner probes the site, a user fumbles sudo, and the
kernel's OOM killer strikes — so every detector has something to find within the first half minute.

The plant (Zeek ICS logs, as JSON): an HMI polls the PLC over Modbus every second and the engineering station reads
its identity over S7; the OT inventory learns that for the first seconds (`demo_site_config`), then a host nobody
has seen writes the PLC's registers, forces a coil and stops it — new talker, unexpected commander, writes and a
PLC STOP on a critical asset, all within the first minute.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from store.db import default_data_dir
from store.sources.base import LineBatch, Submit

HOST = "jump1"
WEB = "web1"
USERS = ["alice", "bob", "carol", "deploy", "ops"]
INTERNAL = [f"10.20.1.{i}" for i in (11, 12, 23, 31, 47)]
ATTACKERS = ["203.0.113.45", "198.51.100.77", "203.0.113.200", "192.0.2.66"]
SCANNERS = ["198.51.100.23", "203.0.113.99"]
GUESSES = ["admin", "root", "test", "oracle", "ubuntu", "git", "postgres", "pi", "user", "support"]
PAGES = ["/", "/index.html", "/login", "/api/v1/status", "/static/app.js", "/static/site.css", "/dashboard",
         "/api/v1/alerts?page=2", "/favicon.ico"]
PROBES = ["/.env", "/wp-login.php", "/phpmyadmin/index.php", "/.git/config", "/cgi-bin/test.cgi",
          "/index.php?id=1%27%20OR%20%271%27=%271", "/../../../../etc/passwd", "/admin/config.php",
          "/search?q=%3Cscript%3Ealert(1)%3C/script%3E", "/api/v1/exec?cmd=;cat%20/etc/shadow",
          "/server-status", "/backup.zip", "/xmlrpc.php", "/manager/html"]
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SCANNER_UA = "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:Port Check)"

AUTH, ACCESS, SYSLOG = "demo:/var/log/auth.log", "demo:/var/log/nginx/access.log", "demo:/var/log/syslog"
ZEEK = "demo:/opt/zeek/logs/current/ics.log"
PLC, HMI, ENG, INTRUDER = "10.10.1.10", "10.10.1.20", "10.10.1.50", "10.10.1.99"
OT_ATTACK_S = 18.0  # into each cycle: after the inventory's demo learning period


def demo_site_config(cfg: Any, attack_s: float = OT_ATTACK_S) -> None:
    """What the demo plant's operators would write in [assets]: the PLC is critical, the HMI and the engineering
    station are the expected commanders, and the inventory learns for the seconds before the first attack."""
    cfg.assets.criticality = {PLC: "critical"}
    cfg.assets.engineering_stations = [ENG]
    cfg.assets.hmis = [HMI]
    cfg.assets.learning_hours = max(1.0, attack_s - 6.0) / 3600


def demo_db_path() -> Path:
    return default_data_dir() / "demo.duckdb"


def _syslog_ts(t: datetime) -> str:
    return t.strftime("%b %d %H:%M:%S").replace(" 0", "  ", 1) if t.day < 10 else t.strftime("%b %d %H:%M:%S")


class DemoScenario:
    """A `Source` that generates the scenario in real time (a thread, batches every 100 ms)."""

    name = "demo"

    def __init__(self, rate: float = 200.0, cycle_s: float = 60.0, seed: int | None = 7,
                 ot_attack_s: float = OT_ATTACK_S) -> None:
        self.rate = rate
        self.ot_attack_s = ot_attack_s
        self._tid = 0
        self.cycle_s = cycle_s
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 3000
        self.lines = {AUTH: 0, ACCESS: 0, SYSLOG: 0, ZEEK: 0}
        self._script: list[tuple[float, Callable[[datetime], list[tuple[str, str]]]]] = []

    # -- Source protocol -------------------------------------------------------------------------------
    def start(self, submit: Submit) -> None:
        self._thread = threading.Thread(target=self._run, args=(submit,), name="vigil-demo", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)

    def status(self) -> dict[str, object]:
        return {"name": "demo scenario", "kind": "demo", "state": "running" if not self._stop.is_set() else
                "stopped", "lines": sum(self.lines.values()), "rate": self.rate}

    # -- generation ------------------------------------------------------------------------------------
    def _next_pid(self) -> int:
        self._pid += self._rng.randint(1, 9)
        return self._pid

    def _run(self, submit: Submit) -> None:
        start = time.monotonic()
        cycle = -1
        carry = 0.0
        while not self._stop.wait(0.1):
            elapsed = time.monotonic() - start
            now = datetime.now(UTC)
            if int(elapsed // self.cycle_s) != cycle:
                cycle = int(elapsed // self.cycle_s)
                self._plan_cycle(cycle, cycle * self.cycle_s)
            out: list[tuple[str, str]] = []
            carry += self.rate * 0.1
            n, carry = int(carry), carry - int(carry)
            out += [self._background(now) for _ in range(n)]
            while self._script and self._script[0][0] <= elapsed:
                _, make = self._script.pop(0)
                out += make(now)
            by_source: dict[str, list[bytes]] = {}
            for source, line in out:
                by_source.setdefault(source, []).append(line.encode())
            for source, lines in by_source.items():
                if not submit(LineBatch(source, lines, now)):
                    return
                self.lines[source] += len(lines)

    def _plan_cycle(self, cycle: int, t0: float) -> None:
        rng = self._rng
        attacker = ATTACKERS[cycle % len(ATTACKERS)]
        scanner = SCANNERS[cycle % len(SCANNERS)]
        victim = "deploy" if cycle % 2 == 0 else "root"
        steps: list[tuple[float, Callable[[datetime], list[tuple[str, str]]]]] = []
        Step = Callable[[datetime], list[tuple[str, str]]]
        # SSH brute force: 30 failures over ~6 s, then a successful login from the same address.
        for i in range(30):
            user = rng.choice(GUESSES)
            fail: Step = partial(self._one, self._failed, user=user, ip=attacker)
            steps.append((t0 + 3 + i * 0.2, fail))
        win: Step = partial(self._one, self._accepted, user=victim, ip=attacker, how="password")
        steps.append((t0 + 9.5, win))
        # Web scanner: a burst of probes with a scanner user agent.
        for i, path in enumerate(PROBES * 2):
            probe: Step = partial(self._one, self._access, ip=scanner, path=path, ua=SCANNER_UA)
            steps.append((t0 + 14 + i * 0.1, probe))
        # A user fumbling sudo, then the OOM killer.
        steps.append((t0 + 22, lambda t: self._sudo_failure(t, "bob")))
        steps.append((t0 + 27, self._oom))
        steps.append((t0 + 33, lambda t: [self._segfault(t)]))
        steps += self._plant(t0)
        self._script = sorted(self._script + steps, key=lambda s: s[0])

    # -- the plant (Zeek ICSNPP records as JSON) ------------------------------------------------------------------
    def _plant(self, t0: float) -> list[tuple[float, Callable[[datetime], list[tuple[str, str]]]]]:
        steps: list[tuple[float, Callable[[datetime], list[tuple[str, str]]]]] = []
        for i in range(int(self.cycle_s)):  # the HMI polls the PLC every second
            steps.append((t0 + i, lambda t: [self._modbus(t, HMI, "READ_HOLDING_REGISTERS", 100, 10)]))
        for at in (1.0, 4.0):  # the engineering station checks the PLC's identity
            steps.append((t0 + at, lambda t: [self._s7(t, ENG, 7, "User-Data", "0x44", "Request: CPU Functions",
                                                       "0x01", "Read SZL")]))
        a = t0 + self.ot_attack_s
        steps.append((a, lambda t: [self._modbus(t, INTRUDER, "READ_HOLDING_REGISTERS", 100, 10)]))
        steps.append((a + 1, lambda t: [self._modbus(t, INTRUDER, "WRITE_MULTIPLE_REGISTERS", 100, 3,
                                                     values=[9999, 9999, 0])]))
        steps.append((a + 1.5, lambda t: [self._modbus(t, INTRUDER, "WRITE_SINGLE_COIL", 7, 1, values=[0])]))
        steps.append((a + 3, lambda t: [self._s7(t, INTRUDER, 1, "Job-Request", "0xf0", "Setup Communication"),
                                        self._s7(t, INTRUDER, 1, "Job-Request", "0x29", "PLC Stop")]))
        return steps

    def _uid(self, client: str) -> str:
        return "C" + "".join(self._rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789")
                             for _ in range(17)) if client == INTRUDER else f"CdemoPlant{client.rsplit('.', 1)[-1]}x"

    def _modbus(self, t: datetime, client: str, func: str, address: int, quantity: int,
                values: list[int] | None = None) -> tuple[str, str]:
        import json

        self._tid += 1
        rec: dict[str, Any] = {"_path": "modbus_detailed", "ts": t.timestamp(), "uid": self._uid(client),
                               "id.orig_h": client, "id.orig_p": 40000 + int(client.rsplit(".", 1)[-1]),
                               "id.resp_h": PLC, "id.resp_p": 502, "tid": self._tid, "unit": 1, "func": func,
                               "address": address, "quantity": quantity, "matched": True}
        if values is not None:
            rec["request_values"] = values
        else:
            rec["response_values"] = [self._rng.randint(900, 1100) for _ in range(quantity)]
        return ZEEK, json.dumps(rec)

    def _s7(self, t: datetime, client: str, rosctr: int, rosctr_name: str, code: str, name: str,
            sub_code: str | None = None, sub_name: str | None = None) -> tuple[str, str]:
        import json

        rec: dict[str, Any] = {"_path": "s7comm", "ts": t.timestamp(), "uid": self._uid(client), "id.orig_h": client,
                               "id.orig_p": 49000 + int(client.rsplit(".", 1)[-1]), "id.resp_h": PLC,
                               "id.resp_p": 102, "is_orig": True, "source_h": client, "destination_h": PLC,
                               "rosctr_code": rosctr, "rosctr_name": rosctr_name, "pdu_reference": self._tid,
                               "function_code": code, "function_name": name}
        if sub_code:
            rec["subfunction_code"], rec["subfunction_name"] = sub_code, sub_name
        return ZEEK, json.dumps(rec)

    @staticmethod
    def _one(make: Callable[..., tuple[str, str]], t: datetime, **kw: Any) -> list[tuple[str, str]]:
        return [make(t, **kw)]

    def _auth(self, t: datetime, app: str, msg: str, pid: int | None = None) -> tuple[str, str]:
        tag = f"{app}[{pid or self._next_pid()}]"
        return AUTH, f"{_syslog_ts(t)} {HOST} {tag}: {msg}"

    def _failed(self, t: datetime, user: str, ip: str) -> tuple[str, str]:
        port = self._rng.randint(30000, 65000)
        invalid = "invalid user " if user not in ("root",) else ""
        return self._auth(t, "sshd", f"Failed password for {invalid}{user} from {ip} port {port} ssh2")

    def _accepted(self, t: datetime, user: str, ip: str, how: str) -> tuple[str, str]:
        port = self._rng.randint(30000, 65000)
        return self._auth(t, "sshd", f"Accepted {how} for {user} from {ip} port {port} ssh2")

    def _access(self, t: datetime, ip: str, path: str, ua: str, status: int | None = None) -> tuple[str, str]:
        if status is None:
            status = 404 if ua == SCANNER_UA and self._rng.random() < 0.8 else 200
        size = self._rng.randint(200, 9000)
        stamp = t.strftime("%d/%b/%Y:%H:%M:%S +0000")
        return ACCESS, f'{ip} - - [{stamp}] "GET {path} HTTP/1.1" {status} {size} "-" "{ua}"'

    def _sys(self, t: datetime, app: str, msg: str, host: str = HOST) -> tuple[str, str]:
        tag = "kernel" if app == "kernel" else f"{app}[{self._next_pid()}]"
        return SYSLOG, f"{_syslog_ts(t)} {host} {tag}: {msg}"

    def _sudo_failure(self, t: datetime, user: str) -> list[tuple[str, str]]:
        return [
            self._auth(t, "sudo", f"pam_unix(sudo:auth): authentication failure; logname={user} uid=1001 "
                                  f"euid=0 tty=/dev/pts/1 ruser={user} rhost=  user={user}"),
            self._auth(t, "sudo", f"{user} : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/home/{user} ; "
                                  "USER=root ; COMMAND=/usr/bin/cat /etc/shadow"),
        ]

    def _oom(self, t: datetime) -> list[tuple[str, str]]:
        pid = self._next_pid()
        return [
            self._sys(t, "kernel", "java invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE), order=0"),
            self._sys(t, "kernel", f"Out of memory: Killed process {pid} (java) total-vm:8123456kB, "
                                   "anon-rss:6012345kB, file-rss:0kB, shmem-rss:0kB, UID:1002 pgtables:12345kB"),
        ]

    def _segfault(self, t: datetime) -> tuple[str, str]:
        return self._sys(t, "kernel", f"nginx[{self._next_pid()}]: segfault at 0 ip 000055d4c2a1b2c3 sp "
                                      "00007ffd5e8f9a10 error 4 in nginx[55d4c2a00000+f5000]", host=WEB)

    def _background(self, t: datetime) -> tuple[str, str]:
        rng = self._rng
        r = rng.random()
        user, ip = rng.choice(USERS), rng.choice(INTERNAL)
        if r < 0.45:
            path = rng.choice(PAGES)
            return self._access(t, ip, path, BROWSER, status=rng.choice([200] * 18 + [304, 301]))
        if r < 0.55:
            return self._accepted(t, user, ip, "publickey")
        if r < 0.62:
            return self._auth(t, "sshd", f"pam_unix(sshd:session): session opened for user {user}(uid=1001) "
                                         "by (uid=0)")
        if r < 0.68:
            return self._auth(t, "sshd", f"Disconnected from user {user} {ip} port {rng.randint(30000, 65000)}")
        if r < 0.72:
            cmd = rng.choice(["/usr/bin/systemctl status nginx", "/usr/bin/journalctl -u nginx",
                              "/usr/bin/apt list --upgradable"])
            return self._auth(t, "sudo", f"{user} : TTY=pts/0 ; PWD=/home/{user} ; USER=root ; COMMAND={cmd}")
        if r < 0.82:
            return self._sys(t, "CRON", "(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)")
        if r < 0.92:
            return self._sys(t, "systemd", f"Started session-{rng.randint(100, 999)}.scope - Session of "
                                           f"User {user}.")
        return self._sys(t, "systemd-logind", f"New session {rng.randint(100, 999)} of user {user}.")
