"""`vigil eval DATASET`: precision/recall/F1 of Vigil's detectors on labelled data.

Each dataset lives in its own module with `add_arguments(parser)` (optional) and `run(args) -> EvalResult |
list[EvalResult]`; this module only dispatches, prints, and guarantees the closing `precision=… recall=… f1=…`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from detectors.eval.common import DatasetMissing, EvalResult, combine

DATASETS: dict[str, str] = {
    "hdfs": "HDFS block-level anomalies (loglead 2% dev split; --train/--test DIR for your own data)",
    "bgl": "BGL 2k line-level anomalies (loghub)",
    "wazuh": "Wazuh ruleset tests: lines Wazuh alerts on, by level",
    "auth": "elastic auth.log SSH brute force, entity level (attacking addresses)",
    "apache": "Apache scanner sessions flagged; false-positive rate on a benign access log",
    "crowdsec-hub": "CrowdSec hub scenario tests: attacker addresses alerted per service family, false alerts",
}
DATASETS.update({
    "ot-ics": "Zeek ICS + Suricata EVE (ot-ics-logs): interesting.jsonl lines alerted, by severity of interest",
    "ot-mms": "IEC 61850 MMS captures: learn on the normal one, labelled attack lines alerted medium+, false alerts",
})


def _module(name: str) -> str:
    return f"detectors.eval.{name.replace('-', '_')}"


def add_dataset_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    module = importlib.import_module(_module(name))
    hook = getattr(module, "add_arguments", None)
    if hook is not None:
        hook(parser)


def run(name: str, args: argparse.Namespace) -> int:
    try:
        module = importlib.import_module(_module(name))
    except ModuleNotFoundError:
        print(f"vigil eval: unknown dataset {name!r}; known: {', '.join(DATASETS)}", file=sys.stderr)
        return 2
    try:
        out = module.run(args)
    except DatasetMissing as exc:
        print(f"vigil eval {name}: {exc}", file=sys.stderr)
        return 3
    results: list[EvalResult] = out if isinstance(out, list) else [out]
    summarise = getattr(module, "summarise", None)
    if len(results) == 1:
        final = results[-1]
    else:
        final = summarise(results) if summarise else combine(f"{name} (all parts)", results)
    for r in results:
        if r is not final:
            print(r.render())
            print()
    print(final.render())  # last: scripts read its closing precision/recall/f1 line
    return 0
