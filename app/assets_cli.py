"""`vigil assets`: the passive OT asset inventory — every address seen serving or speaking an industrial protocol,
its inferred role, criticality ([assets] criticality), protocols, functions, peers, identity and first/last seen —
and its learning period (`--end-learning` starts watching for what is new; `--restart-learning` learns again)."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable
from typing import Any

EXAMPLES = """examples:
  vigil assets                           the inventory, most recently seen first
  vigil assets --format json | jq .      the same for scripts
  vigil assets --role PLC                only the PLCs
  vigil assets --end-learning            the baseline is complete: flag new talkers/functions from now on
  vigil ingest --learn normal-day.log    learn from a known-good capture, then watch
"""
COLUMNS = ("address", "role", "criticality", "protocols", "peers", "functions", "identity", "first_seen",
           "last_seen", "events", "commands")


def register(sub: Any, add_common: Callable[..., None]) -> None:
    p = sub.add_parser("assets", help="the OT asset inventory (roles, protocols, peers, identities) and its "
                       "learning period", description=__doc__, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common(p)
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.add_argument("--role", metavar="ROLE", help="only assets with this role (PLC, outstation, HMI, …)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--end-learning", action="store_true", help="end the learning period now")
    group.add_argument("--restart-learning", action="store_true",
                       help="learn a new baseline from now on (what is seen is normal again)")
    p.set_defaults(handler=cmd_assets)


def _identity(d: dict[str, Any]) -> str:
    keys = ("vendor_name", "vendor", "vendor_id", "product_name", "module_name", "automation_system_name",
            "device_type_name", "revision", "serial_number", "module_serial", "serial")
    return " ".join(str(d[k]) for k in keys if d.get(k) not in (None, ""))[:80]


def _plain(v: Any) -> Any:
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v


def _when(v: Any) -> str:
    return v.strftime("%Y-%m-%d %H:%M:%S") if hasattr(v, "strftime") else ""


def cmd_assets(args: argparse.Namespace) -> int:
    from app.config import load_config
    from app.query import render_table
    from app.storage import open_store
    from store.inventory.storage import list_assets, load_state, save_state

    cfg = load_config(getattr(args, "config", None))
    if args.end_learning or args.restart_learning:
        from datetime import UTC, datetime

        store = open_store(args.db, cfg)
        try:
            values: dict[str, str | None] = ({"learning_ended": datetime.now(UTC).isoformat()} if args.end_learning
                                             else {"learning_ended": None, "learning_started": None})
            store.con.execute("BEGIN")
            save_state(store.con, values)
            store.con.execute("COMMIT")
        finally:
            store.close()
        print("vigil assets: learning ended; new talkers, functions and protocols are flagged from now on"
              if args.end_learning else "vigil assets: learning again from the next industrial event",
              file=sys.stderr)
        return 0
    store = open_store(args.db, cfg, read_only=True)
    try:
        cur = store.cursor()
        try:
            rows = list_assets(cur)
            state = load_state(cur)
        finally:
            cur.close()
    finally:
        store.close()
    if args.role:
        rows = [r for r in rows if str(r["role"] or "").lower() == args.role.lower()]
    if args.format == "json":
        json.dump([{k: _plain(v) for k, v in r.items()} for r in rows], sys.stdout, indent=1, ensure_ascii=False)
        print()
        return 0
    flat = [(r["address"], r["role"], r["criticality"] or "", ",".join(r["protocols"] or []), len(r["peers"] or []),
             ",".join((r["functions"] or [])[:6]) + (" …" if len(r["functions"] or []) > 6 else ""),
             _identity(r["identity"] or {}), r["first_seen"], r["last_seen"], r["events"], r["commands"])
            for r in rows]
    if args.format == "csv":
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(COLUMNS)
        w.writerows([[_plain(v) for v in row] for row in flat])
        return 0
    flat = [(*row[:7], _when(row[7]), _when(row[8]), *row[9:]) for row in flat]
    print(render_table(list(COLUMNS), flat, max_width=48))
    learning = ("ended " + state["learning_ended"][:19]) if state.get("learning_ended") else (
        f"since {state['learning_started'][:19]} ({cfg.assets.learning_hours:g} h)"
        if state.get("learning_started") else "not started")
    print(f"({len(rows)} assets; learning {learning})", file=sys.stderr)
    return 0
