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
        epilog="examples:\n  vigil eval hdfs\n  vigil eval crowdsec-hub --family mail --show-missed\n"
               "  vigil eval hdfs --train DIR --test DIR\n  vigil eval crowdsec-hub --help   (a dataset's own options)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dataset", choices=sorted(DATASETS), metavar="DATASET", help=", ".join(sorted(DATASETS)))
    p.add_argument("--data", metavar="DIR", help="datasets root (default ../shared/datasets or $VIGIL_DATASETS)")
    # Each dataset's own options are parsed once the dataset is known: its module is imported only then.
    p.add_argument("options", nargs=argparse.REMAINDER, help="the dataset's options (vigil eval DATASET --help)")
    p.set_defaults(handler=_cmd_eval)

    from app.analysis_cli import register as register_analysis
    from app.rules_cli import register as register_rules

    register_analysis(sub, add_common)
    from app.web import register as register_web

    register_web(sub, add_common)

    register_rules(sub, add_common)

    from app.assets_cli import register as register_assets

    register_assets(sub, add_common)

    from playbooks.cli import register as register_playbooks

    register_playbooks(sub, add_common, config_loader=_playbook_config, store_opener=_open_store)

    p = sub.add_parser("train", help="retrain the anomaly models now from the store's recent events "
                       "(stop the engine first; the console's retrain action works while it runs)")
    add_common(p)
    p.add_argument("--limit", type=int, default=200_000, help="most recent events to learn from")
    p.set_defaults(handler=_cmd_train)

    p = sub.add_parser("import", help="load a Parquet archive written by `vigil export` (verified, each "
                       "partition once)")
    add_common(p)
    p.add_argument("dir", metavar="DIR", help="the archive directory (holds manifest.json)")
    p.set_defaults(handler=_cmd_import)


def _playbook_config(args: argparse.Namespace) -> Any:
    from app.config import load_config
    from playbooks.config import config_from_sections

    cfg = load_config(getattr(args, "config", None))
    return config_from_sections(cfg.llm, cfg.playbooks, sources=cfg.sources, read_only=cfg.ui.read_only)


def _open_store(args: argparse.Namespace, read_only: bool) -> Any:
    from app.config import load_config
    from app.storage import open_store

    return open_store(getattr(args, "db", None), load_config(getattr(args, "config", None)), read_only=read_only)


def _cmd_eval(args: argparse.Namespace) -> int:
    import os

    from detectors import eval as evaluation

    own = argparse.ArgumentParser(prog=f"vigil eval {args.dataset}", description=evaluation.DATASETS[args.dataset])
    own.add_argument("--data", metavar="DIR", help="datasets root (default ../shared/datasets or $VIGIL_DATASETS)")
    evaluation.add_dataset_arguments(args.dataset, own)
    own.parse_args(args.options, namespace=args)
    if args.data:
        os.environ["VIGIL_DATASETS"] = args.data
    return evaluation.run(args.dataset, args)


def _cmd_train(args: argparse.Namespace) -> int:
    import sys
    import time
    from pathlib import Path

    from app.config import load_config
    from app.storage import open_store
    from detectors.train import NotEnoughEvents, train_from_store

    cfg = load_config(args.config)
    store = open_store(args.db, cfg)
    model_dir = Path(cfg.detectors.models_dir) if cfg.detectors.models_dir else store.path.parent / "models"
    t0 = time.monotonic()
    print(f"vigil train: learning from up to {args.limit:,} recent events in {store.path} …", file=sys.stderr)
    try:
        paths = train_from_store(store.cursor(), model_dir, limit=args.limit)
    except NotEnoughEvents as exc:
        print(f"vigil train: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    for p in paths:
        print(f"vigil train: wrote {p}", file=sys.stderr)
    print(f"vigil train: {len(paths)} model(s) in {time.monotonic() - t0:.1f} s; a running engine picks them "
          "up on its next reload (console: retrain/reload action)", file=sys.stderr)
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    import dataclasses
    import sys
    from pathlib import Path

    from app.config import load_config
    from app.storage import open_store
    from store.archive import DEFAULT_CAPS, ArchiveError, import_archive
    from store.archive_signing import ArchiveTrust

    cfg = load_config(args.config)
    ac = cfg.archive
    trust = ArchiveTrust({site: Path(p).expanduser() for site, p in ac.trusted_keys.items()}, ac.require_signed)
    caps = dataclasses.replace(DEFAULT_CAPS, max_bytes=ac.max_partition_mb * 1024 * 1024,
                               max_rows=ac.max_partition_rows)
    store = open_store(args.db, cfg)
    try:
        res = import_archive(store.con, Path(args.dir), trust=trust, caps=caps)
    except ArchiveError as exc:
        print(f"vigil import: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    if res.verified:
        print(f"vigil import: {res.note}", file=sys.stderr)
    else:
        print(f"vigil import: UNVERIFIED ({res.note}): its rows are kept under their own key, never in place of "
              "data from a signed archive or NATS, and are replaced when that data arrives", file=sys.stderr)
    for name, problem in res.refused:
        print(f"vigil import: refused {name}: {problem}", file=sys.stderr)
    print(f"vigil import: {res.imported} of {res.partitions} partition(s) loaded ({res.rows:,} rows, "
          f"{res.duplicates:,} already present), {res.already} imported before, {len(res.refused)} refused",
          file=sys.stderr)
    return 1 if res.refused else 0
