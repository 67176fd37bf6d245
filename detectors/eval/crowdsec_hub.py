"""`vigil eval crowdsec-hub`: does Vigil raise a medium+ alert on the attacker addresses CrowdSec's own hub
scenario tests expect, across services (ssh, mail, ftp, web servers, web apps, databases, VPN, VoIP, …)?

Each test case's log files go through the shipped engine's path — the real parser chain with format detection
(no hint: the way a user ingests a file), the template miner and the scorer with the shipped Sigma rules — into a
fresh scorer. An expected address counts as found when a medium/high/critical alert's entity names it; a
medium+ alert naming another address of the case is a false alert. Per family, then overall.
Labels: ../shared/datasets/crowdsec-hub-tests/labels.jsonl (MIT, CrowdSecurity; its README says how they were
extracted). About 30 % of the hub's cases are withheld from that folder and scored the same way elsewhere.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detectors.eval.common import EvalResult, datasets_root, require
from store.schema import severity_rank

_IPV4 = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d.])")
_V6_TOKEN = re.compile(r"(?<![0-9A-Fa-f:.])([0-9A-Fa-f:]*:[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*)(?![0-9A-Fa-f:.])")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--family", action="append", default=[], help="only these families (repeatable)")
    parser.add_argument("--case", action="append", default=[], help="only these cases (repeatable)")
    parser.add_argument("--show-missed", action="store_true", help="list each missed address and false alert")


@dataclass
class CaseResult:
    case: str
    family: str
    expected: set[str]
    found: set[str] = field(default_factory=set)
    false: set[str] = field(default_factory=set)


def score_case(case_dir: Path, label: dict, ruleset: Any = None) -> CaseResult:
    from detectors.replay import replay
    from detectors.scorer import Scorer, ScorerConfig

    expected = {ip for a in label.get("expect_alerts") or [] for ip in a.get("sources") or []}
    lines: list[bytes] = []
    for name in label.get("log_files") or []:
        path = case_dir / name
        if path.exists():
            lines.extend(path.read_bytes().splitlines())
    scorer = Scorer(ScorerConfig(novelty_warmup_events=10**12), ruleset=ruleset)
    out = replay(lines, scorer, source=f"file:{case_dir / (label.get('log_files') or ['log'])[0]}",
                 keep_batches=False)
    seen = {a for line in lines for a in _addresses(line.decode("utf-8", "replace"))}
    want = {_canonical(ip): ip for ip in expected}
    res = CaseResult(label["case"], label.get("family", "?"), expected)
    for u in out.final().values():
        if severity_rank(u.severity) < severity_rank("medium"):
            continue
        named = _addresses(u.entity or "")
        res.found |= {want[a] for a in named if a in want}
        res.false |= {a for a in named if a not in want and a in seen}
    return res


def _canonical(text: str) -> str:
    """One spelling per address: IPv6 compressed, IPv4-mapped IPv6 as the IPv4 it maps (the same client)."""
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return text
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)


def _addresses(text: str) -> set[str]:
    """Every IPv4 and IPv6 address in `text`, canonical (IPv6 ones are whole tokens, optionally bracketed)."""
    out = {_canonical(m) for m in _IPV4.findall(text)}
    for tok in _V6_TOKEN.findall(text):
        if tok.count(":") >= 2:
            try:
                out.add(_canonical(str(ipaddress.IPv6Address(tok))))
            except ValueError:
                continue
    return out


def run(args: argparse.Namespace) -> list[EvalResult]:
    root = require(datasets_root() / "crowdsec-hub-tests", "the CrowdSec hub test corpus")
    labels = [json.loads(line) for line in (root / "labels.jsonl").read_text().splitlines() if line.strip()]
    families = set(getattr(args, "family", None) or [])
    cases = set(getattr(args, "case", None) or [])
    from detectors.rules.ruleset import default_rule_dirs, load_rules

    # One load of the shipped rules for every case (each case still gets a fresh scorer and rule state).
    ruleset = load_rules(default_rule_dirs())
    results: list[CaseResult] = []
    for label in labels:
        if not label.get("expect_alerts") or not any(a.get("sources") for a in label["expect_alerts"]):
            continue
        if families and label.get("family") not in families:
            continue
        if cases and label["case"] not in cases:
            continue
        results.append(score_case(root / "cases" / label["case"], label, ruleset))
    by_family: dict[str, list[CaseResult]] = defaultdict(list)
    for r in results:
        by_family[r.family].append(r)
    out: list[EvalResult] = []
    for fam in sorted(by_family):
        rs = by_family[fam]
        e = EvalResult(f"crowdsec-hub/{fam}", unit="attacker addresses")
        e.tp = sum(len(r.found) for r in rs)
        e.fn = sum(len(r.expected - r.found) for r in rs)
        e.fp = sum(len(r.false) for r in rs)
        e.extra["cases"] = len(rs)
        if getattr(args, "show_missed", False):
            for r in rs:
                for ip in sorted(r.expected - r.found):
                    e.notes.append(f"missed {ip} in {r.case}")
                for ip in sorted(r.false):
                    e.notes.append(f"false alert on {ip} in {r.case}")
        out.append(e)
    return out


def summarise(parts: list[EvalResult]) -> EvalResult:
    """The overall figure: micro-averaged over families, with the false-alert rate the issue's bar uses."""
    total = EvalResult("crowdsec-hub (all families)", unit="attacker addresses")
    for e in parts:
        total.tp, total.fn, total.fp = total.tp + e.tp, total.fn + e.fn, total.fp + e.fp
    expected = total.tp + total.fn
    total.extra["cases"] = sum(int(e.extra.get("cases", 0)) for e in parts)
    total.extra["false alerts / expected addresses"] = f"{total.fp}/{expected} ({total.fp / max(1, expected):.1%})"
    total.notes.append("recall per family: " + ", ".join(
        f"{e.dataset.split('/')[-1]} {e.tp}/{e.tp + e.fn}" for e in parts))
    return total
