"""Add, remove or check Vigil's `ALL: <ip>` lines in a hosts.deny file, idempotently and atomically."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
import tempfile
from pathlib import Path

MARK = "# vigil"


def _line(ip: str) -> str:
    # TCP wrappers want IPv6 addresses in brackets.
    return f"ALL: [{ip}] {MARK}" if ":" in ip else f"ALL: {ip} {MARK}"


def _write(path: Path, lines: list[str]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".hosts.deny.")
    with os.fdopen(fd, "w") as fh:
        fh.write("".join(line + "\n" for line in lines))
        fh.flush()
        os.fsync(fh.fileno())
    if path.exists():
        os.chmod(tmp, path.stat().st_mode & 0o777)
    else:
        os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hosts_deny")
    parser.add_argument("op", choices=["add", "remove", "check"])
    parser.add_argument("--file", required=True, type=Path)
    parser.add_argument("--ip", required=True)
    args = parser.parse_args(argv)
    ip = str(ipaddress.ip_address(args.ip))
    path: Path = args.file
    lines = path.read_text().splitlines() if path.exists() else []
    wanted = _line(ip)
    present = wanted in lines
    if args.op == "check":
        print("present" if present else "absent")
        return 0 if present else 1
    if args.op == "add":
        if present:
            print(f"{ip} already denied in {path}")
            return 0
        _write(path, [*lines, wanted])
        print(f"added {wanted!r} to {path}")
        return 0
    if not present:
        print(f"{ip} not present in {path}")
        return 0
    _write(path, [ln for ln in lines if ln != wanted])
    print(f"removed {wanted!r} from {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
