"""`vigil similar` and `vigil triage`: what past alerts looked like this one and how they ended, and a grounded
assessment of an alert's incident. Both read the store; `similar` first embeds alerts that have no vector yet."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

AddCommon = Callable[..., None]


def register(sub: Any, add_common: AddCommon) -> None:
    p = sub.add_parser("similar", help="earlier alerts most like one alert, with how they were closed and which "
                                       "playbooks ran")
    add_common(p)
    p.add_argument("--alert", type=int, required=True, metavar="N", help="the alert id")
    p.add_argument("--top", type=int, default=5, metavar="K", help="how many to list (default 5)")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(handler=cmd_similar)

    p = sub.add_parser("triage", help="a short assessment of an alert's incident (what happened, likely intent, "
                                      "ATT&CK techniques, what to check next), every claim citing event ids")
    add_common(p)
    p.add_argument("--alert", type=int, required=True, metavar="N", help="the alert id")
    p.add_argument("--offline", action="store_true", help="do not ask the model: the deterministic summary")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(handler=cmd_triage)


def cmd_similar(args: argparse.Namespace) -> int:
    from app.config import load_config
    from app.query import render_table
    from app.storage import open_store
    from detectors.alert_embedding import MODEL
    from detectors.similar_alerts import embed_missing, similar_to

    if args.top < 1:
        print("vigil similar: --top must be at least 1", file=sys.stderr)
        return 2
    store = open_store(args.db, load_config(args.config))
    try:
        embed_missing(store.con)
        found = similar_to(store.con, args.alert, k=args.top)
        title = None
        if found is not None:
            rows = store.con.execute("SELECT title, entity FROM alerts WHERE alert_id = ?", [args.alert]).fetchall()
            title = f"{rows[0][0]} ({rows[0][1]})" if rows else None
    finally:
        store.close()
    if found is None:
        print(f"vigil similar: no alert {args.alert} in {store.path}", file=sys.stderr)
        return 1
    if args.format == "json":
        json.dump({"alert_id": args.alert, "model": MODEL,
                   "similar": [{**s.as_dict(), "outcome": s.outcome()} for s in found]}, sys.stdout,
                  ensure_ascii=False, indent=1)
        print()
        return 0
    print(render_table([f"earlier alerts like #{args.alert} {title or ''}"], []).splitlines()[0])
    rows = [(f"{s.score:.3f}", s.alert_id, s.outcome(), s.rule_id, s.entity,
             s.first_seen.isoformat(timespec="seconds") if s.first_seen else "") for s in found]
    print(render_table(["score", "alert", "what became of it", "rule", "entity", "first seen"], rows, 70))
    if not found:
        print("(no earlier alert is similar)")
    return 0


def cmd_triage(args: argparse.Namespace) -> int:
    from app.config import load_config
    from app.storage import open_store
    from playbooks.config import config_from_sections
    from playbooks.triage import TriageError, triage_alert

    cfg = load_config(args.config)
    llm = config_from_sections(cfg.llm, cfg.playbooks, sources=cfg.sources)
    store = open_store(args.db, cfg, read_only=True)
    try:
        report = triage_alert(store.con, args.alert, llm, sigma_dirs=cfg.detectors.sigma_dirs, offline=args.offline)
    except TriageError as exc:
        print(f"vigil triage: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    if args.format == "json":
        json.dump(report.as_dict(), sys.stdout, ensure_ascii=False, indent=1)
        print()
    else:
        print(report.text())
    return 0
