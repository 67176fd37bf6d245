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

    p = sub.add_parser("import", help="load a Parquet archive written by `vigil export` (verified, each "
                       "partition once)")
    add_common(p)
    p.add_argument("dir", metavar="DIR", help="the archive directory (holds manifest.json)")
    p.set_defaults(handler=_cmd_import)


def _cmd_eval(args: argparse.Namespace) -> int:
    import os

    from detectors import eval as evaluation

    if args.data:
        os.environ["VIGIL_DATASETS"] = args.data
    return evaluation.run(args.dataset, args)


def _cmd_import(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from app.config import load_config
    from app.storage import open_store
    from store.archive import ArchiveError, import_archive

    store = open_store(args.db, load_config(args.config))
    try:
        res = import_archive(store.con, Path(args.dir))
    except ArchiveError as exc:
        print(f"vigil import: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    for name, problem in res.refused:
        print(f"vigil import: refused {name}: {problem}", file=sys.stderr)
    print(f"vigil import: {res.imported} of {res.partitions} partition(s) loaded ({res.rows:,} rows, "
          f"{res.duplicates:,} already present), {res.already} imported before, {len(res.refused)} refused",
          file=sys.stderr)
    return 1 if res.refused else 0
