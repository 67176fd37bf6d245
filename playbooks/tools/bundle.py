"""Collect a forensic bundle: the alert and evidence rows (stdin JSON), slices of the log files named by
`--file` (lines mentioning the alert's entity values), and a SHA256SUMS manifest over everything written.

Only `--file` arguments are read: the approved plan lists them, chosen from the configured log sources. The
`source` of an evidence row is data (it may come from an imported archive) and never names a file here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import stat
import sys
from pathlib import Path

MAX_SLICE_LINES = 2000
MAX_LINE = 8192


def _needles(payload: dict) -> set[str]:
    out: set[str] = set()
    entity = str((payload.get("alert") or {}).get("entity") or "")
    if "=" in entity:
        out.add(entity.split("=", 1)[1])
    for row in payload.get("evidence") or []:
        for key in ("src_ip", "user", "dst_ip"):
            if row.get(key):
                out.add(str(row[key]))
    return {n for n in out if len(n) >= 2}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bundle")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--file", action="append", default=[], type=Path, help="a log file to slice (repeatable)")
    args = parser.parse_args(argv)
    payload = json.load(sys.stdin)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=False, mode=0o700)
    written: list[Path] = []

    def write(name: str, data: bytes) -> None:
        path = out / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        written.append(path)

    write("alert.json", json.dumps(payload.get("alert") or {}, indent=2, sort_keys=True, default=str).encode())
    rows = payload.get("evidence") or []
    write("evidence.jsonl", b"".join(json.dumps(r, sort_keys=True, default=str).encode() + b"\n" for r in rows))
    needles = [n.encode() for n in sorted(_needles(payload))]
    for idx, path in enumerate(args.file):
        try:
            kept: list[bytes] = []
            # O_NONBLOCK: a FIFO put in a log's place must not hang the step; only regular files are read.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as fh:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    print(f"not a regular file, skipped: {path}", file=sys.stderr)
                    continue
                # readline(limit): a line without end is read in bounded pieces, never whole
                for line in iter(lambda: fh.readline(MAX_LINE), b""):
                    if any(n in line for n in needles):
                        kept.append(line)
                        if len(kept) >= MAX_SLICE_LINES:
                            break
            write(f"slice-{idx:02d}-{path.name}.log", b"".join(kept))
        except OSError as exc:
            print(f"could not read {path}: {exc.strerror}", file=sys.stderr)
    manifest = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n" for p in written)
    write("SHA256SUMS", manifest.encode())
    print(f"bundle written to {out} ({len(written)} files, {len(rows)} evidence rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
