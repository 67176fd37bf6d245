"""Headless commands: `vigil ask` (stream an answer and show proposals with their validation — never
executes), `vigil playbooks list|show|dry-run`, and `vigil audit verify|export`.

Wire with `register(subparsers, add_common, config_loader)`; or run `python -m playbooks.cli …` directly.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pydantic costs every other command ~90 ms of start-up; only playbook commands pay it
    from playbooks.config import PlaybookConfig

ConfigLoader = Callable[[argparse.Namespace], "PlaybookConfig"]
# (args, read_only) -> store.db.Store; the app passes its own `open_store` so config paths and every
# component's migrations apply. Default: Store.open(args.db) with the playbook migrations.
StoreOpener = Callable[[argparse.Namespace, bool], Any]
_store_opener: StoreOpener | None = None
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_LOCKED = 0, 1, 2, 3


def _default_loader(args: argparse.Namespace) -> PlaybookConfig:
    from playbooks.config import PlaybookConfig

    data: dict[str, Any] = {}
    if getattr(args, "host", None):
        data["ollama_host"] = args.host
    if getattr(args, "model", None):
        data["ollama_model"] = args.model
    if getattr(args, "catalog_dir", None):
        data["user_catalog_dir"] = Path(args.catalog_dir)
    return PlaybookConfig(**data)


def _open_store(args: argparse.Namespace, read_only: bool) -> Any:
    from playbooks.storage import PLAYBOOK_MIGRATIONS
    from store.db import Store

    if _store_opener is not None:
        return _store_opener(args, read_only)
    return Store.open(getattr(args, "db", None), read_only=read_only,
                      migrations=None if read_only else {"playbooks": PLAYBOOK_MIGRATIONS})


def _open_db(args: argparse.Namespace) -> tuple[Any, Any]:
    """(Store, PlaybookDb) or raises StoreError with a message a person can act on."""
    from playbooks.db import PlaybookDb

    store = _open_store(args, False)
    return store, PlaybookDb.direct(store.con)


def _out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def cmd_ask(args: argparse.Namespace, config: PlaybookConfig) -> int:
    """Print the streamed answer and every proposal with its validation result. Never executes."""
    from playbooks.chat import ChatEvent, PlaybookSession
    from playbooks.sanitize import clean_text
    from store.db import StoreError

    try:
        store, db = _open_db(args)
    except StoreError as exc:
        print(f"vigil ask: {exc}", file=sys.stderr)
        return EXIT_ERROR
    session = PlaybookSession(config, db)
    for err in session.catalog.errors:
        print(f"vigil ask: playbook skipped: {err}", file=sys.stderr)

    def emit(ev: ChatEvent) -> None:
        if ev.kind == "token":
            _out(clean_text(ev.text, keep_newlines=True))
        elif ev.kind in ("status", "error", "tool"):
            print(f"\n[{ev.kind}] {clean_text(ev.text, 500)}", file=sys.stderr)
        elif ev.kind == "proposal" and ev.outcome is not None:
            _print_outcome(ev.outcome)

    try:
        result = session.ask(" ".join(args.question), args.alert, emit)
    except KeyboardInterrupt:
        return 130
    finally:
        session.close()
        store.close()
    _out("\n")
    return EXIT_OK if not result.errors or result.outcomes else EXIT_ERROR


def _print_outcome(o: Any) -> None:
    from playbooks.sanitize import clean_text

    verdict = "ACCEPTED (needs analyst approval in the console)" if o.accepted else "REJECTED"
    _out(f"\n--- proposal {o.proposal_id} [{o.source}] {verdict}\n")
    if o.playbook_id:
        _out(f"playbook: {clean_text(o.playbook_id, 64)}  params: {clean_text(o.params, 300)}\n")
    else:
        _out(f"decision: {o.decision}\n")
    for reason in o.reasons:
        _out(f"reason: {clean_text(reason, 300)}\n")
    if o.rationale:
        label = "rationale (LLM-generated; may be wrong)" if o.source == "llm" else "rationale"
        _out(f"{label}: {clean_text(o.rationale, 600)}\n")
    if o.plan is not None:
        for line in o.plan.dry_run_lines():
            _out(f"  {clean_text(line, 400)}\n")


def cmd_playbooks(args: argparse.Namespace, config: PlaybookConfig) -> int:
    from playbooks.catalog import load_catalog

    catalog = load_catalog(config.user_catalog_dir)
    for err in catalog.errors:
        print(f"vigil playbooks: skipped {err}", file=sys.stderr)
    if args.op == "list":
        _out(f"{'ID':<22} {'VERSION':<4} {'TIER':<8} {'IMPACT':<6} {'FLAGS':<22} TITLE\n")
        for pb in catalog.playbooks.values():
            flags = ("reversible" if pb.risk.reversible else "irreversible") + (", auto" if pb.auto_allowed else "")
            _out(f"{pb.id:<22} v{pb.version:<3} {pb.tier:<8} {pb.risk.impact:<6} {flags:<22} {pb.title}\n")
        return EXIT_OK
    found = catalog.get(args.id)
    if found is None:
        print(f"vigil playbooks: no playbook {args.id!r}; try `vigil playbooks list`", file=sys.stderr)
        return EXIT_USAGE
    pb = found
    if args.op == "show":
        _out(f"{pb.id} v{pb.version}: {pb.title}\n{pb.description.strip()}\n")
        _out(f"tier {pb.tier}+, impact {pb.risk.impact}, {'reversible' if pb.risk.reversible else 'irreversible'}"
             f"; file {pb.source_file} sha256 {pb.file_sha256[:16]}\n")
        for name, p in pb.parameters.items():
            bound = ("bound to evidence " + (",".join(p.evidence) if isinstance(p.evidence, list) else "(any)")
                     if p.bound() else "free")
            _out(f"  param {name}: {p.type}{' (required)' if p.required and p.default is None else ''} "
                 f"default={p.default} {bound}\n")
        for c in pb.preconditions:
            _out(f"  precondition {c.check} {c.args}\n")
        for group, steps in (("step", pb.steps), ("verify", pb.verify), ("rollback", pb.rollback)):
            for s in steps:
                _out(f"  {group} {s.id}: {s.action} {s.args} timeout {s.timeout_s}s\n")
        return EXIT_OK
    return _dry_run(args, config, catalog)


def _dry_run(args: argparse.Namespace, config: PlaybookConfig, catalog: Any) -> int:
    from playbooks.guards import DenyLists
    from playbooks.proposals import ProposalValidator
    from store.db import StoreError

    params: dict[str, str] = {}
    for item in args.param or []:
        key, sep, value = item.partition("=")
        if not sep:
            print(f"vigil playbooks: --param needs k=v, got {item!r}", file=sys.stderr)
            return EXIT_USAGE
        params[key.strip()] = value
    validator = ProposalValidator(catalog, config, DenyLists.from_config(config))
    ctx = None
    store = None
    if args.alert is not None:
        try:
            store = _open_store(args, True)  # a dry-run reads only
        except StoreError as exc:
            print(f"vigil playbooks: {exc}", file=sys.stderr)
            return EXIT_ERROR
        from playbooks.evidence import load_alert

        cur = store.cursor()
        ctx = load_alert(cur, args.alert)
        cur.close()
        if ctx is None:
            print(f"vigil playbooks: alert {args.alert} not found", file=sys.stderr)
            store.close()
            return EXIT_ERROR
    if ctx is None:
        # Without an alert there is no evidence to bind to: render the plan, say binding was not checked.
        from playbooks.evidence import AlertContext

        ctx = AlertContext({"alert_id": 0, "severity": "critical", "event_ids": []}, [])
        print("vigil playbooks: no --alert given: evidence binding and tier are NOT checked", file=sys.stderr)
    raw = {"decision": "propose_playbook", "playbook": {"playbook_id": args.id, "params": params},
           "rationale": "dry-run from the command line"}
    if catalog.get(args.id) and catalog.get(args.id).categories and args.alert is None:
        ctx.alert["category"] = catalog.get(args.id).categories[0]
    outcome = validator.validate(raw, ctx, "analyst", check_binding=args.alert is not None)
    if store is not None:
        store.close()
    _print_outcome(outcome)
    for check in outcome.checks:
        _out(f"  check {check.line()}\n")
    return EXIT_OK if outcome.accepted else EXIT_ERROR


def cmd_audit(args: argparse.Namespace, config: PlaybookConfig) -> int:
    """verify: exit 0 intact, 1 broken (first bad seq named), 3 store busy (a running engine holds it)."""
    import re

    from playbooks import audit, audit_anchor
    from store.db import StoreError, StoreLockedError

    try:
        store = _open_store(args, True)
    except StoreLockedError as exc:
        m = re.search(r"\(pid \d+\)", str(exc))
        print(f"vigil audit: cannot {args.op} now: the store is held by a running Vigil engine"
              f"{' ' + m.group(0) if m else ''}. This is not a sign of tampering; stop the engine and run "
              f"`vigil audit {args.op}` again.", file=sys.stderr)
        return EXIT_LOCKED
    except StoreError as exc:
        print(f"vigil audit: {exc}", file=sys.stderr)
        return EXIT_ERROR
    try:
        row = store.con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'audit_log'"
                                ).fetchone()
        if not row or not row[0]:
            print("vigil audit: this store has no audit log yet", file=sys.stderr)
            return EXIT_ERROR
        if args.op == "verify":
            mirror = audit_anchor.AuditMirror(audit_anchor.mirror_path(store.path))
            return audit.main_verify(store.cursor(), mirror)
        n = audit.export(store.cursor(), args.out)
        print(f"vigil audit: {n} records → {args.out} (mode 0600)", file=sys.stderr)
        return EXIT_OK
    finally:
        store.close()


def register(sub: Any, add_common: Callable[..., None] | None = None,
             config_loader: ConfigLoader | None = None, store_opener: StoreOpener | None = None) -> None:
    """Add `ask`, `playbooks` and `audit` to an argparse subparsers object. Handlers are in `args.handler`."""
    global _store_opener
    loader = config_loader or _default_loader
    if store_opener is not None:
        _store_opener = store_opener

    def bind(fn: Callable[[argparse.Namespace, PlaybookConfig], int]) -> Callable[[argparse.Namespace], int]:
        return lambda args: fn(args, loader(args))

    def common(p: argparse.ArgumentParser) -> None:
        if add_common is not None:
            add_common(p)
        else:
            p.add_argument("--db", metavar="PATH", help="DuckDB store (default: $XDG_DATA_HOME/vigil/vigil.duckdb)")

    p = sub.add_parser("ask", help="ask the LLM about an alert; prints proposals, never executes")
    common(p)
    p.add_argument("--alert", type=int, metavar="ID", help="alert whose evidence goes into the question")
    p.add_argument("--host", help="Ollama host (default: config, $OLLAMA_HOST, 127.0.0.1:11434)")
    p.add_argument("--model", help="Ollama model")
    p.add_argument("question", nargs="+")
    p.set_defaults(handler=bind(cmd_ask))

    p = sub.add_parser("playbooks", help="list, show or dry-run catalogue playbooks")
    p.add_argument("--catalog-dir", metavar="DIR", help="user playbook directory (adds/overrides by id)")
    ops = p.add_subparsers(dest="op", required=True)
    ops.add_parser("list", help="every playbook in the catalogue")
    s = ops.add_parser("show", help="one playbook in full")
    s.add_argument("id")
    d = ops.add_parser("dry-run", help="validate parameters and print the exact argv")
    common(d)
    d.add_argument("id")
    d.add_argument("--param", action="append", metavar="K=V", help="parameter value (repeatable)")
    d.add_argument("--alert", type=int, metavar="ID", help="bind parameters to this alert's evidence")
    p.set_defaults(handler=bind(cmd_playbooks))

    p = sub.add_parser("audit", help="verify or export the hash-chained audit log")
    ops = p.add_subparsers(dest="op", required=True)
    v = ops.add_parser("verify", help="walk the hash chain and compare it with its mirror outside the store; exit 1 "
                                      "naming the first bad record, 3 if a running engine holds the store")
    common(v)
    e = ops.add_parser("export", help="write the audit log as JSONL (mode 0600)")
    common(e)
    e.add_argument("--out", required=True, type=Path)
    p.set_defaults(handler=bind(cmd_audit))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vigil")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
