"""`vigil eval ot-mms`: the labelled IEC 61850 MMS captures (Brno University of Technology, `ot-ics-logs/
mms-iec61850-but/`). The inventory learns from the normal capture (as `vigil ingest --learn` does), then every
other capture in the folder is scored on its own copy of that baseline: a labelled line counts as found when a
medium+ alert cites it; a medium+ alert citing an unlabelled line is a false alert. The normal capture is scored
too, after training (it must raise nothing medium+). Captures added to the folder with their labels in
`labels.jsonl` are scored the same way.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from detectors.eval.common import EvalResult, datasets_root, require
from detectors.eval.ot_replay import MEDIUM_PLUS, OtReplay, alerted_ids

FOLDER = "ot-ics-logs/mms-iec61850-but"
NORMAL = "gics-normal.csv"


def labels(folder: Path) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for line in (folder / "labels.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            out.setdefault(row["file"], set()).add(int(row["line_no"]))
    return out


def trained(folder: Path) -> OtReplay:
    run = OtReplay()
    run.learn([folder / NORMAL])
    return run


def score_file(folder: Path, path: Path, wanted: set[int]) -> EvalResult:
    run = trained(folder)
    first = run.next_id
    updates = run.feed(path)
    flagged = alerted_ids(updates, MEDIUM_PLUS)
    res = EvalResult(f"ot-mms {path.name}", unit="lines")
    for n, eid in enumerate(range(first, run.next_id), start=1):
        hit, want = eid in flagged, n in wanted
        res.tp += hit and want
        res.fn += want and not hit
        res.fp += hit and not want
        res.tn += not hit and not want
    return res


def run(args: argparse.Namespace) -> list[EvalResult]:
    folder = require(datasets_root() / FOLDER, "the MMS captures")
    lab = labels(folder)
    results = [score_file(folder, folder / NORMAL, set())]
    for path in sorted(folder.glob("*.csv")):
        if path.name != NORMAL:
            results.append(score_file(folder, path, lab.get(path.name, set())))
    return results
