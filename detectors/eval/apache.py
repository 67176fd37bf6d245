"""`vigil eval apache`: are web-scanner sessions flagged (Acunetix, Netsparker, w3af against DVWA), and how
often is benign traffic (elastic's apache_logs) flagged? Sessions are the unit; lines and minutes are extras.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from datetime import datetime

from detectors.eval.common import EvalResult, datasets_root, require
from detectors.replay import Replay, replay
from detectors.scorer import Scorer, ScorerConfig
from store.schema import severity_rank

SCANNERS = {"acunetix.txt": "192.168.4.25", "netsparker.txt": "192.168.4.164", "w3af.txt": "192.168.4.163"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--min-severity", default="medium",
                        help="lowest alert severity that counts as a flag")


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _unwrap(line: str) -> str:
    # The scanner files wrap every line in one extra pair of double quotes (dataset README).
    return line[1:-1] if len(line) > 1 and line.startswith('"') and line.endswith('"') else line


def _flags(out: Replay, cut: int) -> tuple[set[str], set[int]]:
    """(flagged client addresses, flagged event ids) from alerts at or above the cut."""
    ips: set[str] = set()
    ids: set[int] = set()
    for u in out.updates:
        if severity_rank(u.severity) < cut:
            continue
        if u.entity.startswith("src_ip="):
            ips.add(u.entity.split("=", 1)[1])
        ids.update(u.new_event_ids)
    return ips, ids


def _rows(out: Replay) -> list[tuple[int, str | None, datetime | None]]:
    t = out.events()
    if t.num_rows == 0:
        return []
    return list(zip(t.column("event_id").to_pylist(), t.column("src_ip").to_pylist(),
                    t.column("ts").to_pylist(), strict=True))


def run(args: argparse.Namespace | None = None) -> EvalResult:
    root = datasets_root()
    scan_dir = require(root / "apache-scanner-access-logs", "apache scanner access logs")
    benign_path = require(root / "elastic-examples-security" / "apache_logs", "elastic apache_logs")
    cut = severity_rank(getattr(args, "min_severity", None) or "medium")
    res = EvalResult("apache (scanner sessions vs benign access log)", unit="client sessions")
    res.notes.append("positive session = a scanner file's main client address; negative session = each "
                     "client "
                     "address in elastic apache_logs; flagged = an alert of severity >= medium naming it")
    line_tp = line_fn = line_fp = line_tn = 0
    min_tp = min_fn = min_fp = min_tn = 0
    for name, main_ip in SCANNERS.items():
        path = require(scan_dir / name, f"scanner log {name}")
        lines = [_unwrap(x) for x in path.read_text(encoding="utf-8", errors="replace").splitlines()]
        out = replay(lines, Scorer(ScorerConfig()), source=f"file:{path}", hint="access")
        ips, ids = _flags(out, cut)
        hit = main_ip in ips
        res.tp += hit
        res.fn += not hit
        minutes: dict[tuple[str, datetime], bool] = defaultdict(bool)
        for eid, ip, ts in _rows(out):
            flagged = eid in ids
            line_tp += flagged
            line_fn += not flagged
            if ts is not None:
                minutes[(ip or "?", ts.replace(second=0, microsecond=0))] |= flagged
        min_tp += sum(minutes.values())
        min_fn += sum(not v for v in minutes.values())
        res.notes.append(f"{name}: main client {main_ip} {'flagged' if hit else 'MISSED'} by "
                         + ", ".join(sorted({u.rule_id for u in out.updates
                                             if u.entity == f'src_ip={main_ip}'
                                             and severity_rank(u.severity) >= cut})) or "-")
    benign = benign_path.read_text(encoding="utf-8", errors="replace").splitlines()
    out = replay(benign, Scorer(ScorerConfig()), source=f"file:{benign_path}", hint="access")
    ips, ids = _flags(out, cut)
    rows = _rows(out)
    clients = {ip for _, ip, _ in rows if ip}
    res.fp += len(clients & ips)
    res.tn += len(clients - ips)
    minutes = defaultdict(bool)
    for eid, ip, ts in rows:
        flagged = eid in ids
        line_fp += flagged
        line_tn += not flagged
        if ts is not None:
            minutes[(ip or "?", ts.replace(second=0, microsecond=0))] |= flagged
    min_fp += sum(minutes.values())
    min_tn += sum(not v for v in minutes.values())
    res.extra["benign clients"] = len(clients)
    res.extra["benign clients flagged (FP rate)"] = (len(clients & ips) / len(clients)) if clients else 0.0
    res.extra["per-line: scanner lines cited / all"] = f"{line_tp}/{line_tp + line_fn}"
    res.extra["per-line: benign lines cited (FP rate)"] = _rate(line_fp, line_fp + line_tn)
    res.extra["per-minute (client, minute) windows: scanner flagged / all"] = f"{min_tp}/{min_tp + min_fn}"
    res.extra["per-minute: benign windows flagged (FP rate)"] = _rate(min_fp, min_fp + min_tn)
    res.notes.append("benign clients flagged: " + ", ".join(sorted(clients & ips)[:12]))
    return res
