"""`vigil rules list|show|test|disable|enable`: the detections as content an analyst can read, try and switch off.

Every detection is a Sigma file: the built-in ones in detectors/sigma_rules/, a site's in `[detectors] sigma_dirs`
(same id or name replaces a built-in). Disabling writes the id to `$XDG_CONFIG_HOME/vigil/disabled-rules` (one per
line), read with `[detectors] disabled_rules` when the engine starts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXAMPLES = """examples:
  vigil rules list                         every rule: id, kind, level, title, file, ATT&CK tags
  vigil rules list --format json | jq .    the same for scripts
  vigil rules show auth.bruteforce         the rule file and what Vigil compiled it to
  vigil rules test my_rule.yml auth.log    run one rule file over log files and print what it finds
  vigil rules disable web.scripted_client  stop a rule from running (from the next engine start)
"""


def register(sub: Any, add_common: Callable[..., None]) -> None:
    p = sub.add_parser("rules", help="list, show, test, disable or enable the Sigma detections",
                       description="The detections are Sigma rules and correlations, built in and your own.",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    rs = p.add_subparsers(dest="rules_command", metavar="ACTION", required=True)
    q = rs.add_parser("list", help="every rule with its id, kind, level, title, file and ATT&CK tags")
    add_common(q, db=False)
    q.add_argument("--format", choices=["table", "json"], default="table")
    q.set_defaults(handler=_list)
    q = rs.add_parser("show", help="a rule's file and what Vigil compiled it to")
    add_common(q, db=False)
    q.add_argument("rule_id", metavar="ID")
    q.set_defaults(handler=_show)
    q = rs.add_parser("test", help="run the rules of one Sigma file over log files and print the hits")
    add_common(q, db=False)
    q.add_argument("rule_file", metavar="FILE.yml")
    q.add_argument("logs", nargs="+", metavar="LOG")
    q.add_argument("--format", dest="hint", metavar="PARSER", help="parser for the logs (default: detect)")
    q.set_defaults(handler=_test)
    for name, helptext, fn in (("disable", "stop a rule from running (next engine start)", _disable),
                               ("enable", "undo `disable`", _enable)):
        q = rs.add_parser(name, help=helptext)
        add_common(q, db=False)
        q.add_argument("rule_id", metavar="ID")
        q.set_defaults(handler=fn)


def disabled_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "vigil" / "disabled-rules"


def disabled_ids(config_list: list[str]) -> list[str]:
    """The config's disabled_rules and those `vigil rules disable` recorded."""
    out = list(config_list)
    f = disabled_file()
    if f.exists():
        for line in f.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.split("#", 1)[0].strip()
            if line and line not in out:
                out.append(line)
    return out


def _ruleset(args: argparse.Namespace, *, with_disabled: bool = True) -> Any:
    from app.config import load_config
    from detectors.rules.ruleset import default_rule_dirs, load_rules

    cfg = load_config(getattr(args, "config", None))
    dirs = [*default_rule_dirs(), *(Path(d) for d in cfg.detectors.sigma_dirs)]
    return load_rules(dirs, disabled_ids(cfg.detectors.disabled_rules) if with_disabled else ())


def _attack(tags: list[str]) -> str:
    return ",".join(t.split(".", 1)[1].upper() for t in tags if t.lower().startswith("attack.t"))


def _rows(rs: Any, disabled: set[str]) -> list[dict[str, Any]]:
    rows = []
    for r in [*rs.detections, *rs.correlations]:
        kind = "detection" if r.kind == "detection" else f"correlation:{r.type}"
        rows.append({"id": r.id, "kind": kind, "level": r.level, "title": r.title, "file": r.path,
                     "attack": _attack(r.tags), "tags": r.tags, "alerts": r.alerts,
                     "state": "disabled" if r.id in disabled else "active"})
    return rows


def _list(args: argparse.Namespace) -> int:
    full = _ruleset(args, with_disabled=False)
    off = set(_ruleset(args).disabled)
    rows = _rows(full, off)
    if args.format == "json":
        print(json.dumps({"rules": rows, "not_loaded": [{"file": f, "reason": r} for f, r in full.problems]},
                         indent=1))
        return 0
    home = str(Path.cwd())
    widths = {"id": 38, "kind": 26, "level": 13, "state": 8}
    print(f"{'ID':<38} {'KIND':<26} {'LEVEL':<13} {'STATE':<8} {'ATT&CK':<18} TITLE — FILE")
    for r in rows:
        path = r["file"].replace(home + "/", "")
        print(f"{r['id'][:widths['id']]:<38} {r['kind']:<26} {r['level']:<13} {r['state']:<8} "
              f"{r['attack'][:18]:<18} {r['title']} — {path}")
    print(f"\n{len(full.detections)} detections, {len(full.correlations)} correlations"
          + (f", {len(off)} disabled" if off else "")
          + (f"; {len(full.problems)} file(s) not loaded (vigil doctor shows why)" if full.problems else ""))
    return 0


def _show(args: argparse.Namespace) -> int:
    rs = _ruleset(args, with_disabled=False)
    rule = rs.by_id(args.rule_id)
    if rule is None:
        print(f"vigil rules: no rule {args.rule_id!r} (`vigil rules list` shows the ids)", file=sys.stderr)
        return 1
    print(f"# {rule.id} — {rule.title}\n# file: {rule.path}\n")
    try:
        print(Path(rule.path).read_text(encoding="utf-8").rstrip())
    except OSError as exc:
        print(f"(cannot read the file: {exc})")
    print("\n# compiled")
    if rule.kind == "detection":
        print(f"  log source: {rule.route.key} · entity: first of {', '.join(rule.entity)} · "
              f"alerts on its own: {'yes' if rule.alerts else 'no (used by a correlation)'}")
        fields = sorted({f.name for f in rule.matcher.fields()})
        print(f"  fields read: {', '.join(fields) or 'message (keywords)'}")
        print(f"  raw-line prefilter: {', '.join(sorted(rule.needles)) if rule.needles else 'none (every row)'}")
    else:
        steps = "".join(f", ≥{n} → {sev}" for n, sev in rule.escalation)
        print(f"  {rule.type} of {', '.join(rule.rules)} grouped by {', '.join(rule.group_by) or '-'} within "
              f"{rule.timespan_us // 1_000_000} s: ≥{rule.threshold} → {rule.severity}{steps}; entity {rule.entity}")
    return 0


def _test(args: argparse.Namespace) -> int:
    from detectors.replay import parsed_batches
    from detectors.rules.evaluate import RuleEngine
    from detectors.rules.ruleset import default_rule_dirs, load_rules
    from detectors.templates import TemplateMiner

    rule_file = Path(args.rule_file)
    if not rule_file.is_file():
        print(f"vigil rules test: no such rule file: {rule_file}", file=sys.stderr)
        return 1
    missing = [p for p in args.logs if not Path(p).is_file()]
    if missing:
        print(f"vigil rules test: no such log file: {', '.join(missing)}", file=sys.stderr)
        return 1
    # The built-in rules come along so a correlation can use them (e.g. auth.login_failed); only the file's
    # own rules are reported.
    rs = load_rules([*default_rule_dirs(), rule_file])
    here = str(rule_file)
    for path, reason in rs.problems:
        if path == here:
            print(f"vigil rules test: {path}: {reason}", file=sys.stderr)
    own = {r.id for r in rs.detections if r.path == here} | {r.id for r in rs.correlations if r.path == here}
    if not own:
        print(f"vigil rules test: no rule in {rule_file} could be loaded", file=sys.stderr)
        return 1
    for r in rs.detections:  # the file's detection rules report every match, even those a correlation uses
        if r.id in own:
            r.alerts = True
    engine = RuleEngine(rs)
    hits = []
    lines = 0
    miner = TemplateMiner()
    for log_path in args.logs:
        data = Path(log_path).read_bytes().splitlines()
        lines += len(data)
        for batch in parsed_batches(data, source=f"file:{log_path}", hint=args.hint, first_id=lines - len(data) + 1,
                                    miner=miner):
            texts = dict(zip(batch.column(0).to_pylist(), batch.column(batch.schema.get_field_index("raw"))
                             .to_pylist(), strict=True))
            for h in engine.evaluate(batch):
                if h.rule_id in own:
                    hits.append((h, [texts.get(e) for e in h.event_ids[:3]]))
    for h, sample in hits:
        print(f"{h.severity:<8} {h.rule_id}  {h.entity}  {len(h.event_ids)} event(s)  {h.first_ts:%Y-%m-%d %H:%M:%S}"
              f" → {h.ts:%H:%M:%S}")
        print(f"         why: {h.why}")
        for text in sample:
            print(f"         | {(text or '')[:200]}")
    print(f"\n{len(hits)} hit(s) from {len(own)} rule(s) over {lines:,} line(s)")
    return 0


def _edit_disabled(rule_id: str, add: bool) -> list[str]:
    f = disabled_file()
    current = disabled_ids([])
    new = (current + [rule_id]) if add and rule_id not in current else [i for i in current if i != rule_id]
    f.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    f.write_text("# rule ids `vigil rules disable` switched off (one a line)\n" + "".join(f"{i}\n" for i in new))
    return new


def _disable(args: argparse.Namespace) -> int:
    rs = _ruleset(args, with_disabled=False)
    rule = rs.by_id(args.rule_id)
    if rule is None:
        print(f"vigil rules: no rule {args.rule_id!r} (`vigil rules list` shows the ids)", file=sys.stderr)
        return 1
    _edit_disabled(rule.id, add=True)
    print(f"disabled {rule.id} ({rule.title}); a running engine picks it up when restarted "
          f"(recorded in {disabled_file()})")
    return 0


def _enable(args: argparse.Namespace) -> int:
    if args.rule_id not in disabled_ids([]):
        print(f"vigil rules: {args.rule_id!r} is not disabled by `vigil rules disable`", file=sys.stderr)
        return 1
    _edit_disabled(args.rule_id, add=False)
    print(f"enabled {args.rule_id}; a running engine picks it up when restarted")
    return 0
