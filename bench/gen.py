"""Generated syslog/auth/access lines for benchmarks (deterministic, same mix as the acceptance check)."""

from __future__ import annotations

import random
from pathlib import Path

USERS = ["root", "admin", "alice", "bob", "oracle", "test"]


def write_lines(path: Path, n: int, seed: int = 7) -> Path:
    rng = random.Random(seed)
    with open(path, "w") as f:
        for i in range(n):
            k = i % 3
            ip = f"203.0.113.{rng.randint(1, 254)}"
            if k == 0:
                f.write(f"Nov 21 10:{i // 6000 % 60:02d}:{i // 100 % 60:02d} jump1 sshd[{1000 + i % 500}]: "
                        f"Failed password for invalid user {rng.choice(USERS)} from {ip} port "
                        f"{rng.randint(1024, 65535)} ssh2\n")
            elif k == 1:
                f.write(f'{ip} - - [21/Nov/2026:10:00:{i % 60:02d} +0000] "GET /index.php?id={i} HTTP/1.1" '
                        f'{rng.choice([200, 404, 403, 500])} {rng.randint(100, 9000)} "-" "Mozilla/5.0"\n')
            else:
                f.write(f"<{rng.randint(0, 191)}>1 2026-11-21T10:00:{i % 60:02d}.{i % 1000:03d}Z plc-gw{i % 7} "
                        f"modbusd {i % 900} - - register {i % 4096} write value={rng.randint(0, 65535)}\n")
    return path
