"""Subcommands beyond the core ones: eval, train, ask, playbooks, audit, import. Each handler imports its
machinery lazily so `vigil --help` stays fast."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

AddCommon = Callable[..., None]


def register(sub: Any, add_common: AddCommon) -> None:
    from detectors.eval import DATASETS

    p = sub.add_parser(
        "eval",
        help="precision/recall/F1 of the detectors on labelled data",
        description="Datasets: " + "; ".join(f"{k}: {v}" for k, v in DATASETS.items()),
    )
    p.add_argument("dataset", choices=sorted(DATASETS), metavar="DATASET", help=", ".join(sorted(DATASETS)))
    p.add_argument("--train", metavar="DIR", help="hdfs: training directory (one *.log + anomaly_label.csv)")
    p.add_argument("--test", metavar="DIR", help="hdfs: test directory (same layout)")
    p.add_argument("--data", metavar="DIR", help="datasets root (default ../shared/datasets or $VIGIL_DATASETS)")
    p.set_defaults(handler=_cmd_eval)


def _cmd_eval(args: argparse.Namespace) -> int:
    import os

    from detectors import eval as evaluation

    if args.data:
        os.environ["VIGIL_DATASETS"] = args.data
    return evaluation.run(args.dataset, args)
