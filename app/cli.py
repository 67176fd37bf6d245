"""`vigil` command line: the console, the headless engine, one-shot ingest, SQL, export, doctor, and friends.

Every subcommand exits non-zero with one clear line on stderr when something is wrong (bad config names the
file, key and problem; a store held by a running engine says so).
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from app.config import Config, ConfigError, load_config

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_LOCKED = 0, 1, 2, 3

EPILOG = """\
examples:
  vigil demo                                  the console on a generated attack scenario, zero config
  vigil run --watch /var/log/auth.log         the console on your logs (ctrl+q quits)
  vigil run --headless --listen udp://127.0.0.1:5514 --watch '/var/log/nginx/*.log'
  vigil ingest /var/log/auth.log.1            one-shot import with progress
  vigil query --format csv "SELECT src_ip, count(*) FROM events GROUP BY 1 ORDER BY 2 DESC LIMIT 10"
  vigil doctor                                check config, store, listeners, models and Ollama

config: $XDG_CONFIG_HOME/vigil/config.toml (see README); data: $XDG_DATA_HOME/vigil/
"""


def _add_common(p: argparse.ArgumentParser, *, db: bool = True,
                db_default: str = "$XDG_DATA_HOME/vigil/vigil.duckdb") -> None:
    p.add_argument("--config", metavar="PATH", help="config file (default: $XDG_CONFIG_HOME/vigil/config.toml)")
    if db:
        p.add_argument("--db", metavar="PATH", help=f"DuckDB store (default: {db_default})")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging on stderr")


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("vigil")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "0+unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vigil",
        description="Vigil: a terminal security console. Tails logs and syslog into DuckDB, scores them with "
        "rules, Sigma and ONNX models, and proposes playbooks that run only after you approve them.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vigil {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("run", help="run the engine on configured/given sources (console unless --headless)")
    _add_common(p)
    p.add_argument("--headless", action="store_true", help="no console: print a status line, stop on ctrl+c")
    p.add_argument("--watch", action="append", default=[], metavar="PATH|GLOB|DIR", help="tail files (repeatable)")
    p.add_argument("--listen", action="append", default=[], metavar="URL",
                   help="syslog listener udp://|tcp://|tls://HOST:PORT (repeatable; loopback unless told)")
    p.add_argument("--read-only", action="store_true", help="disable every mutation from the console")
    p.add_argument("--forward", metavar="NATS_URL", help="forward events and alerts to NATS JetStream")
    p.add_argument("--consume", metavar="NATS_URL", help="consume other sites' events from NATS JetStream")
    p.add_argument("--site", metavar="ID", help="this site's id (stamped on forwarded events)")
    p.add_argument("--status-every", type=float, default=10.0, metavar="SECONDS",
                   help="headless and not on a terminal: one status line this often (default 10)")
    p.add_argument("--api", metavar="[HOST:]PORT",
                   help="serve the read-only JSON API and live alert stream here (loopback unless a host is given; "
                        "bearer token in $XDG_DATA_HOME/vigil/api-token)")

    p = sub.add_parser("demo", help="the console on a generated scenario (SSH brute force, web scan, …)")
    _add_common(p, db_default="$XDG_DATA_HOME/vigil/demo.duckdb, emptied at every start; a --db you give is kept")
    p.add_argument("--headless", action="store_true", help="no console: print a live status line")
    p.add_argument("--rate", type=float, default=200.0, help="background lines per second (default 200)")
    p.add_argument("--seconds", type=float, default=0.0, help="stop after this long (default: until ctrl+c)")
    p.add_argument("--status-every", type=float, default=10.0, metavar="SECONDS",
                   help="headless and not on a terminal: one status line this often (default 10)")
    p.add_argument("--api", metavar="[HOST:]PORT", help="also serve the local API (as for vigil run)")

    p = sub.add_parser("ingest", help="one-shot import of files (or - for stdin) with progress and a summary")
    _add_common(p)
    p.add_argument("files", nargs="+", metavar="FILE|-")
    p.add_argument("--detect", action="store_true",
                   help="also run templates, rules, Sigma and models over what is imported (slower; a running "
                        "engine detects continuously)")
    p.add_argument("--learn", action="store_true",
                   help="these files are the site's normal OT traffic: the asset inventory learns its baseline from "
                        "them and ends learning afterwards (new talkers/functions are flagged from then on)")

    p = sub.add_parser("query", help="run one read-only SELECT on the store (no files, no settings, no writes)")
    _add_common(p)
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("--limit", type=int, default=0, help="cap rows in table format (0 = all)")
    p.add_argument("sql", metavar="SQL")

    p = sub.add_parser("export", help="export events for a time range as Parquet (by day), CSV or JSONL")
    _add_common(p)
    p.add_argument("--since", metavar="TIME", help="ISO time or date, inclusive (default: beginning)")
    p.add_argument("--until", metavar="TIME", help="ISO time or date, exclusive (default: now)")
    p.add_argument("--format", choices=["parquet", "csv", "jsonl"], default="parquet")
    p.add_argument("--out", metavar="PATH", required=True, help="directory (parquet) or file (csv, jsonl)")
    p.add_argument("--table", choices=["events", "alerts"], default="events")
    p.add_argument("--sign", action="store_true",
                   help="sign the Parquet archive with this site's key ([archive] signing_key; created 0600 on "
                        "first use) so the central site can verify it")

    p = sub.add_parser("doctor", help="check config, store, listeners, models and Ollama")
    _add_common(p)

    from app import extra_commands

    extra_commands.register(sub, _add_common)
    return parser


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _load(args: argparse.Namespace) -> Config:
    return load_config(getattr(args, "config", None))


PRIVATE_UMASK = 0o077
GC_THRESHOLDS = (100_000, 50, 10)


def main(argv: Sequence[str] | None = None) -> int:
    # Everything Vigil writes holds log data. A process-wide umask makes every file and directory private from
    # its first byte, including those a library creates for us (DuckDB's WAL and spill files, COPY targets,
    # model files): a chmod afterwards leaves a window, and misses files we never see.
    os.umask(PRIVATE_UMASK)
    # Batches of parsed events, alerts and window state are many small container objects that live for a
    # batch or longer: at CPython's default (700 allocations) the cyclic collector re-walks them hundreds of
    # times per batch, a quarter of `ingest --detect`'s time (make bench). Collect far less often instead; full
    # collections still come (after ~50M allocations), so a console running for weeks still frees its cycles.
    gc.set_threshold(*GC_THRESHOLDS)
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(getattr(args, "verbose", 0))
    command = args.command or "console"
    try:
        handler: Callable[[argparse.Namespace], int] = HANDLERS.get(command) or args.handler
        return handler(args)
    except ConfigError as exc:
        print(f"vigil: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from app.api.address import ApiAddressError
        from app.api.server import ApiStartError
        from store.db import StoreError, StoreLockedError
        from store.sources.net import ListenerError

        if isinstance(exc, ApiAddressError | ApiStartError):
            print(f"vigil: {exc}", file=sys.stderr)
            return EXIT_USAGE if isinstance(exc, ValueError) else EXIT_ERROR
        if isinstance(exc, ListenerError):  # bad --listen URL, port in use, unreadable TLS key
            print(f"vigil: {exc}", file=sys.stderr)
            return EXIT_USAGE if isinstance(exc, ValueError) else EXIT_ERROR
        if isinstance(exc, StoreLockedError):
            print(f"vigil: {exc}", file=sys.stderr)
            return EXIT_LOCKED
        if isinstance(exc, StoreError):
            print(f"vigil: {exc}", file=sys.stderr)
            return EXIT_ERROR
        if isinstance(exc, BrokenPipeError):  # `vigil … | head`: the reader left; nothing to say
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return EXIT_OK
        if isinstance(exc, OSError):  # a path the user gave that cannot be read or written: say which, no traceback
            where = f": {exc.filename}" if exc.filename else ""
            print(f"vigil: {exc.strerror or exc}{where}", file=sys.stderr)
            return EXIT_ERROR
        raise


# -- run / demo --------------------------------------------------------------------------------------------
def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handle(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop


def format_status(engine: Any, *, plain: bool = False) -> str:
    """One status line; `plain` (logs, not a terminal) writes numbers without separators, as key=value."""
    from app.ui.status_bar import source_health  # no Textual import: plain functions over the status dicts

    st = engine.status()
    healthy = source_health(list(st.sources))[0]
    lag = f"{st.detect_lag_events:,} behind, {st.detect_lag_s:.1f} s" if st.detect_lag_events else "caught up"
    behind = files_behind_bytes(st.sources)
    if plain:
        line = (f"events={st.events_total} ev/s={st.events_per_s:.0f} sources={healthy}/{len(st.sources)} "
                f"parse_errors={st.parse_errors} alerts={st.alerts_total} detect_lag_events={st.detect_lag_events} "
                f"detect_lag_s={st.detect_lag_s:.1f} files_behind_bytes={behind}")
    else:
        line = (
            f"{st.events_per_s:8,.0f} ev/s  total {st.events_total:,}  sources {healthy}/{len(st.sources)}  "
            f"parse errors {st.parse_errors:,}  alerts {st.alerts_total:,}  detect: {lag}"
        )
    models = st.scorer.get("models") if st.scorer else None
    if isinstance(models, dict) and models.get("mode") == "learning":
        line += f"  learning {100 * float(models.get('progress', 0)):.0f}%"
    if st.scorer.get("error"):
        line += f"  detection error: {str(st.scorer['error'])[:80]}"
    if engine.writer.stats.disk_full_since is not None:
        line += f"  STORE DISK FULL ({st.store_path}): ingestion paused until there is space"
    elif st.last_error:
        line += f"  store error: {st.last_error[:160]}"
    if st.problems:
        line += (f" problems={len(st.problems)}" if plain else
                 f"  {len(st.problems)} problem(s) (vigil doctor lists them)")
    return line


def files_behind_bytes(sources: Sequence[dict[str, Any]]) -> int:
    """Bytes of the tailed files not yet handed over (what ingestion still has to read)."""
    behind = 0
    for src in sources:
        if src.get("kind") != "files":
            continue
        for f in src.get("files") or []:
            try:
                behind += max(0, int(f.get("size") or 0) - int(f.get("offset") or 0))
            except (TypeError, ValueError):
                continue
    return behind


def run_headless(engine: Any, stop: threading.Event, seconds: float = 0.0, every: float = 10.0) -> int:
    """Run until stopped; exit non-zero when anything received was not stored (the writer failed for good, or
    shutdown gave up on lines), after saying what, per source."""
    tty = sys.stderr.isatty()
    deadline = time.monotonic() + seconds if seconds else None
    next_plain = 0.0
    tick = min(1.0, max(0.1, every))
    code = EXIT_OK
    try:
        while not stop.wait(tick):
            if engine.writer.failed is not None:
                print(f"\nvigil: store writer failed for good, nothing more is stored: {engine.writer.failed}",
                      file=sys.stderr)
                code = EXIT_ERROR
                break
            line = format_status(engine, plain=not tty)
            if tty:
                print("\r" + line.ljust(120)[:160], end="", file=sys.stderr, flush=True)
            elif time.monotonic() >= next_plain:
                print(line, file=sys.stderr, flush=True)
                next_plain = time.monotonic() + every
            if deadline is not None and time.monotonic() >= deadline:
                break
    finally:
        if tty:
            print(file=sys.stderr)
        engine.stop()
        print("vigil: stopped; " + format_status_final(engine), file=sys.stderr)
        problems = engine.problems()
        for p in problems:
            print(f"vigil: {'FAIL' if p.severe else 'warn'}: {p.line(400)}", file=sys.stderr)
    if engine.writer.failed is not None or engine.pipeline.abandoned_by_source():
        return EXIT_ERROR
    return code


def format_status_final(engine: Any) -> str:
    st = engine.pipeline.stats
    text = f"{st.events:,} events stored, {st.parse_errors:,} parse errors"
    if engine.detection is not None:
        d = engine.detection.status()
        text += f", {d['scored']:,} scored, detection checkpoint {d['checkpoint']:,}"
    return text


def cmd_run(args: argparse.Namespace) -> int:
    from app.engine import Engine

    cfg = _load(args)
    cfg.sources.watch = list(cfg.sources.watch) + list(args.watch)
    cfg.sources.listen = list(cfg.sources.listen) + list(args.listen)
    if args.site:
        cfg.sources.site = args.site
    if args.forward:
        cfg.forward.nats = args.forward
    if args.consume:
        cfg.forward.consume = args.consume
    if args.api:
        from app.api.address import parse_api_address

        parse_api_address(args.api)  # a bad address fails now, in one line
        cfg.api.listen = args.api
    read_only = args.read_only or cfg.ui.read_only
    if not args.headless:
        return _console(cfg, args.db, read_only=read_only)
    if not (cfg.sources.watch or cfg.sources.listen or cfg.forward.consume):
        print("vigil: nothing to watch: give --watch PATH or --listen URL (or set [sources] in the config)",
              file=sys.stderr)
        return EXIT_USAGE
    from store.sources.net import parse_listen_url

    for url in cfg.sources.listen:  # a bad URL fails now, in one line, before the engine is built
        parse_listen_url(url)
    stop = _stop_on_signals()
    engine = Engine(cfg, db_path=args.db, read_only=read_only).start()
    print(f"vigil: storing into {engine.store.path}", file=sys.stderr)
    if engine.api is not None:
        made = "created" if engine.api.token_created else "in"
        print(f"vigil: API on {engine.api.url}/api/v1/ (bearer token {made} {engine.api.token_path})",
              file=sys.stderr)
    return run_headless(engine, stop, every=args.status_every)


def _console(cfg: Config, db: str | None, *, read_only: bool, demo: Any = None) -> int:
    from app.ui.main import run_console

    return run_console(cfg, db, read_only=read_only, demo=demo)


def cmd_console(args: argparse.Namespace) -> int:
    cfg = load_config(None)
    return _console(cfg, None, read_only=cfg.ui.read_only)


def cmd_demo(args: argparse.Namespace) -> int:
    from app.demo import DemoScenario, demo_db_path, demo_site_config
    from app.engine import Engine

    cfg = _load(args)
    demo_site_config(cfg)  # the demo plant's [assets]: a critical PLC, its HMI and engineering station
    db = Path(args.db) if args.db else demo_db_path()
    # The demo learns its own baseline: its models must never land where a real store's models live.
    models = db.parent / f"{db.stem}-models"
    cfg.detectors.models_dir = str(models)
    if not args.db:
        import shutil

        from playbooks.audit_anchor import mirror_path

        for p in (db, Path(str(db) + ".wal"), mirror_path(db)):
            p.unlink(missing_ok=True)  # the demo starts from a clean slate every time (its audit mirror too)
        shutil.rmtree(models, ignore_errors=True)
    if args.api:
        from app.api.address import parse_api_address

        parse_api_address(args.api)
        cfg.api.listen = args.api
    scenario = DemoScenario(rate=args.rate)
    if not args.headless:
        return _console(cfg, str(db), read_only=False, demo=scenario)
    stop = _stop_on_signals()
    engine = Engine(cfg, db_path=db, extra_sources=[scenario]).start()
    print(f"vigil demo: generated scenario into {engine.store.path} (ctrl+c stops)", file=sys.stderr)
    return run_headless(engine, stop, seconds=args.seconds, every=args.status_every)


# -- ingest ------------------------------------------------------------------------------------------------
def cmd_ingest(args: argparse.Namespace) -> int:
    from app.ingest import ingest_files

    cfg = _load(args)
    return ingest_files(cfg, args.db, args.files, detect=args.detect, learn=args.learn)


# -- query -------------------------------------------------------------------------------------------------
def cmd_query(args: argparse.Namespace) -> int:
    from app.query import run_query

    cfg = _load(args)
    return run_query(cfg, args.db, args.sql, args.format, args.limit)


def cmd_export(args: argparse.Namespace) -> int:
    from app.storage import open_store
    from store.export import ExportError, export_range
    from store.nats_link import default_site_id

    cfg = _load(args)
    site = cfg.sources.site or default_site_id()
    key = None
    if args.sign or cfg.archive.sign:
        if args.format != "parquet":
            print("vigil export: only Parquet archives are signed (--format parquet)", file=sys.stderr)
            return EXIT_USAGE
        key = _signing_key(cfg, site)
        if key is None:
            return EXIT_ERROR
    store = open_store(args.db, cfg, read_only=True)
    try:
        result = export_range(store.cursor(), args.table, args.format, Path(args.out), args.since, args.until,
                              site=site, key=key)
    except ExportError as exc:
        print(f"vigil export: {exc}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        store.close()
    signed = f", signed for site {site!r} with key id {key.key_id}" if key is not None else ""
    print(f"vigil export: {result.rows:,} rows → {result.path} ({result.files} file(s){signed})", file=sys.stderr)
    return EXIT_OK


def _signing_key(cfg: Config, site: str) -> Any:
    from store.archive_signing import SigningKeyError, load_or_create_key
    from store.db import default_data_dir

    path = Path(cfg.archive.signing_key).expanduser() if cfg.archive.signing_key else (
        default_data_dir() / "archive-signing.key")
    try:
        key, created = load_or_create_key(path)
    except SigningKeyError as exc:
        print(f"vigil export: {exc}", file=sys.stderr)
        return None
    if created:
        print(f"vigil export: created signing key {path} (key id {key.key_id}, mode 0600). Give a copy to the "
              f"central site, kept 0600, and name it there: [archive.trusted_keys] \"{site}\" = \"PATH\"",
              file=sys.stderr)
    return key


def cmd_doctor(args: argparse.Namespace) -> int:
    from app.doctor import run_doctor

    return run_doctor(args)


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": cmd_run,
    "demo": cmd_demo,
    "ingest": cmd_ingest,
    "query": cmd_query,
    "export": cmd_export,
    "doctor": cmd_doctor,
    "console": cmd_console,
}


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
