"""`vigil eval wazuh`: does Vigil flag the lines Wazuh's own ruleset tests say Wazuh alerts on? Product rule
files only (sshd, sudo, su, pam, web, …); positives are lines Wazuh alerts on at a high level, negatives are
level-0 lines and expected non-matches. Levels in between are reported per band, outside the confusion.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

from detectors.eval.common import EvalResult, datasets_root, require
from detectors.replay import replay
from detectors.scorer import Scorer, ScorerConfig
from store.schema import severity_rank

POSITIVE_LEVEL = 7  # "alert-worthy" cut, the dataset README's convention
BANDS = [(0, 0, "0"), (1, 3, "1-3"), (4, 6, "4-6"), (7, 9, "7-9"), (10, 16, "10-16")]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--positive-level", type=int, default=POSITIVE_LEVEL,
                        help="Wazuh alert level from which a passing test line is a positive")
    parser.add_argument("--min-severity", default="low",
                        help="lowest Vigil alert severity that counts as a flag")


def _band(level: int) -> str:
    for lo, hi, name in BANDS:
        if lo <= level <= hi:
            return name
    return "?"


def run(args: argparse.Namespace | None = None) -> EvalResult:
    path = require(datasets_root() / "wazuh-ruleset-tests" / "wazuh_ruleset_tests.jsonl",
                   "wazuh ruleset tests")
    pos_level = int(getattr(args, "positive_level", None) or POSITIVE_LEVEL)
    cut = severity_rank(getattr(args, "min_severity", None) or "low")
    by_file: dict[str, list[dict]] = defaultdict(list)
    for raw in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(raw)
        except ValueError:
            continue
        if not str(rec.get("file", "")).startswith("test_"):
            by_file[rec["file"]].append(rec)
    res = EvalResult("wazuh (ruleset test lines, product rule files)", unit="log lines")
    res.notes.append(f"positive = expect=pass with alert_level >= {pos_level}; negative = alert_level 0 or "
                     "expect=fail; flagged = the line is cited by any Vigil alert "
                     f"(severity >= {getattr(args, 'min_severity', None) or 'low'}; template novelty off)")
    band_total: dict[str, int] = defaultdict(int)
    band_flag: dict[str, int] = defaultdict(int)
    missed: list[str] = []
    false_flags: list[str] = []
    for name in sorted(by_file):
        recs = by_file[name]
        # One scorer per rule file, lines in order: like a wazuh-logtest session.
        out = replay([r["log"] for r in recs], Scorer(ScorerConfig(novelty_warmup_events=10**12)),
                     source=f"wazuh:{name}")
        cited: set[int] = set()
        for u in out.updates:
            if severity_rank(u.severity) >= cut:
                cited.update(u.new_event_ids)
        for i, rec in enumerate(recs):
            flagged = (i + 1) in cited  # replay numbers events from 1 in input order
            level = int(rec.get("alert_level") or 0)
            passing = rec.get("expect") == "pass"
            if passing:
                band = _band(level)
                band_total[band] += 1
                band_flag[band] += flagged
            if passing and level >= pos_level:
                res.tp += flagged
                res.fn += not flagged
                if not flagged:
                    missed.append(f"{name}:{rec.get('rule')}")
            elif not passing or level == 0:
                res.fp += flagged
                res.tn += not flagged
                if flagged:
                    false_flags.append(f"{name}:{rec.get('rule')}")
    for _, _, band in BANDS:
        if band_total[band]:
            res.extra[f"flagged at Wazuh level {band}"] = f"{band_flag[band]}/{band_total[band]}"
    if missed:
        res.notes.append(f"missed positives ({len(missed)}): " + ", ".join(missed[:15]))
    if false_flags:
        res.notes.append(f"flagged negatives ({len(false_flags)}): " + ", ".join(false_flags[:15]))
    return res
