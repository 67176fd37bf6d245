"""`vigil eval auth`: are the SSH brute-force addresses in elastic's real auth.log found, and is no benign
address flagged? Entity level; the label is the dataset README's weak label, computed from the raw lines.
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from datetime import datetime

from detectors.eval.common import EvalResult, datasets_root, require
from detectors.replay import replay
from detectors.scorer import Scorer, ScorerConfig
from store.schema import severity_rank

LABEL_FAILS = 5  # weak label: ≥5 "Failed password" lines from one address within 10 min (fail2ban defaults)
LABEL_MINUTES = 10
_FAILED = re.compile(r"^(\w{3} +\d+ [\d:]{8}) .*?(?:message repeated (\d+) times: \[ )?Failed password for "
                     r"(?:invalid user )?\S+ from (\S+) port")
# "maximum authentication attempts exceeded" means sshd's MaxAuthTries (default 6) failures in one connection.
MAX_AUTH_TRIES = 6
_MAXED = re.compile(r"^(\w{3} +\d+ [\d:]{8}) .*maximum authentication attempts exceeded for "
                    r"(?:invalid user )?\S+ from (\S+) port")
_ANY_IP = re.compile(r"\bfrom (\d{1,3}(?:\.\d{1,3}){3})\b|rhost=(\d{1,3}(?:\.\d{1,3}){3})")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--min-severity", default="medium",
                        help="lowest alert severity that counts as a flag")
    parser.add_argument("--label-fails", type=int, default=LABEL_FAILS,
                        help=f"failed logins within {LABEL_MINUTES} min that make an address an attacker")


def weak_label(lines: list[str], need: int = LABEL_FAILS) -> tuple[set[str], set[str]]:
    """(attackers, all addresses seen) by the README's weak label."""
    times: dict[str, list[datetime]] = defaultdict(list)
    seen: set[str] = set()
    for line in lines:
        for m in _ANY_IP.finditer(line):
            seen.add(m.group(1) or m.group(2))
        x = _MAXED.match(line)
        if x:
            when = datetime.strptime("2017 " + " ".join(x.group(1).split()), "%Y %b %d %H:%M:%S")
            times[x.group(2)].extend([when] * MAX_AUTH_TRIES)
            continue
        f = _FAILED.match(line)
        if f:
            when = datetime.strptime("2017 " + " ".join(f.group(1).split()), "%Y %b %d %H:%M:%S")
            times[f.group(3)].extend([when] * int(f.group(2) or 1))
    attackers = set()
    for ip, ts in times.items():
        ts.sort()
        j = 0
        for i in range(len(ts)):
            while (ts[i] - ts[j]).total_seconds() > LABEL_MINUTES * 60:
                j += 1
            if i - j + 1 >= need:
                attackers.add(ip)
                break
    return attackers, seen


def run(args: argparse.Namespace | None = None) -> EvalResult:
    path = require(datasets_root() / "elastic-examples-security" / "auth.log", "elastic auth.log")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    need = int(getattr(args, "label_fails", None) or LABEL_FAILS)
    attackers, seen = weak_label(lines, need)
    cut = severity_rank(getattr(args, "min_severity", None) or "medium")
    out = replay(lines, Scorer(ScorerConfig()), source=f"file:{path}", keep_batches=False)
    flagged: dict[str, set[str]] = defaultdict(set)
    for u in out.final().values():
        if u.entity.startswith("src_ip=") and severity_rank(u.severity) >= cut:
            flagged[u.entity.split("=", 1)[1]].add(u.rule_id)
    res = EvalResult("auth (elastic auth.log, SSH brute force)", unit="source addresses")
    res.notes.append(f"attacker = address with >= {need} 'Failed password' lines "
                     "('message repeated N times' counts N, "
                     "'maximum authentication attempts exceeded' counts 6) "
                     f"within {LABEL_MINUTES} min "
                     "(README weak label); every other address seen in the log is benign")
    shown = getattr(args, "min_severity", None) or "medium"
    res.notes.append(f"flagged = any alert of severity >= {shown} naming the "
                     "address (src_ip=…)")
    for ip in sorted(seen | set(flagged)):
        hit, bad = ip in flagged, ip in attackers
        res.tp += hit and bad
        res.fp += hit and not bad
        res.fn += bad and not hit
        res.tn += not hit and not bad
    res.extra["addresses"] = len(seen)
    res.extra["attackers"] = len(attackers)
    missed = sorted(attackers - set(flagged))
    extra_flags = sorted(set(flagged) - attackers)
    if missed:
        res.notes.append(f"missed: {', '.join(missed[:10])}")
    if extra_flags:
        res.notes.append("flagged but not labelled: " + ", ".join(
            f"{ip} ({'/'.join(sorted(flagged[ip]))})" for ip in extra_flags[:10]))
    return res
