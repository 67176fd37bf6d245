"""`vigil eval ot-ics`: every Zeek and Suricata file in `ot-ics-logs/` replayed as `vigil ingest --detect` would
(one parser chain per file, the asset inventory, the scorer); a line of `interesting.jsonl` counts as found when
an alert cites it. Reported per severity of interest; unlabelled lines cited by medium+ alerts are counted as
false alerts (the labels flag requests, not every echoing reply, so that figure over-counts)."""

from __future__ import annotations

import argparse
import json

from detectors.eval.common import EvalResult, datasets_root, require
from detectors.eval.ot_replay import MEDIUM_PLUS, OtReplay, alerted_ids


def run(args: argparse.Namespace) -> list[EvalResult]:
    root = require(datasets_root() / "ot-ics-logs", "the OT/ICS logs")
    files = sorted(p for d in ("zeek-icsnpp", "zeek-core", "suricata-verify") for p in (root / d).rglob("*")
                   if p.is_file() and (p.suffix == ".log" or (p.name.startswith("eve-") and p.suffix == ".json")))
    replay = OtReplay()
    spans: dict[str, tuple[int, int]] = {}
    for p in files:
        first = replay.next_id
        replay.feed(p)
        spans[p.relative_to(root).as_posix()] = (first, replay.next_id)
    any_alert = alerted_ids(replay.updates)
    medium = alerted_ids(replay.updates, MEDIUM_PLUS)
    wanted: dict[str, set[int]] = {}
    by_sev: dict[str, list[int]] = {}
    for line in (root / "interesting.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["file"] not in spans:
            continue
        eid = spans[row["file"]][0] + int(row["line_no"]) - 1
        wanted.setdefault(row["severity"], set()).add(eid)
        by_sev.setdefault(row["severity"], []).append(eid)
    results = []
    labelled = set().union(*wanted.values()) if wanted else set()
    for sev in ("high", "medium", "low"):
        ids = wanted.get(sev, set())
        res = EvalResult(f"ot-ics {sev}-interest lines", unit="lines")
        res.tp = sum(1 for i in ids if i in any_alert)
        res.fn = len(ids) - res.tp
        res.extra["alerted medium+"] = sum(1 for i in ids if i in medium)
        results.append(res)
    results[0].extra["unlabelled lines cited medium+"] = sum(1 for i in medium if i not in labelled)
    return results


def summarise(results: list[EvalResult]) -> EvalResult:
    total = EvalResult("ot-ics all labelled lines", unit="lines")
    total.tp = sum(r.tp for r in results)
    total.fn = sum(r.fn for r in results)
    total.fp = int(results[0].extra.get("unlabelled lines cited medium+", 0))
    total.notes.append("fp = unlabelled lines cited by medium+ alerts (replies and repeats of flagged requests "
                       "included: the labels flag requests only)")
    return total
