"""Append one ticket (a JSON object read from stdin) as a line to a JSONL file created with mode 0600."""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ticket")
    parser.add_argument("--file", required=True, type=Path)
    args = parser.parse_args(argv)
    payload = json.load(sys.stdin)
    ticket = {"ticket_id": str(uuid.uuid4()), "opened_at": datetime.now(UTC).isoformat(), **payload}
    args.file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(args.file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a") as fh:
        fh.write(json.dumps(ticket, sort_keys=True, default=str) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    print(f"ticket {ticket['ticket_id']} appended to {args.file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
