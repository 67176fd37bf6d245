"""Send an alert notification read from stdin (JSON): HTTP POST to a webhook, or an e-mail via SMTP."""

from __future__ import annotations

import argparse
import json
import smtplib
import sys
from email.message import EmailMessage

import httpx


def _summary(payload: dict) -> str:
    alert = payload.get("alert") or {}
    head = f"[{alert.get('severity', '?')}] {alert.get('title', '')} ({alert.get('entity', '')})"
    return "\n".join(x for x in (payload.get("message") or "", head, str(alert.get("summary") or "")) if x)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="notify")
    sub = parser.add_subparsers(dest="kind", required=True)
    hook = sub.add_parser("webhook")
    hook.add_argument("--url", required=True)
    mail = sub.add_parser("email")
    mail.add_argument("--host", required=True)
    mail.add_argument("--port", type=int, default=25)
    mail.add_argument("--from", dest="sender", required=True)
    mail.add_argument("--to", action="append", required=True)
    args = parser.parse_args(argv)
    payload = json.load(sys.stdin)
    if args.kind == "webhook":
        with httpx.Client(timeout=10, trust_env=False) as client:
            resp = client.post(args.url, json={"text": _summary(payload), **payload})
        print(f"webhook {args.url} -> HTTP {resp.status_code}")
        return 0 if resp.is_success else 1
    msg = EmailMessage()
    msg["Subject"] = "Vigil alert: " + _summary(payload).splitlines()[0][:150]
    msg["From"] = args.sender
    msg["To"] = ", ".join(args.to)
    msg.set_content(_summary(payload) + "\n\n" + json.dumps(payload, indent=2, default=str))
    with smtplib.SMTP(args.host, args.port, timeout=10) as smtp:
        smtp.send_message(msg)
    print(f"mail sent via {args.host}:{args.port} to {len(args.to)} recipient(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
