"""`vigil doctor`: checks an analyst can read at a glance — config, store, sources, models, Ollama, terminal.

Each check prints `ok`, `warn` or `FAIL` with what was found; the exit code is non-zero when anything failed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from app.config import ConfigError, default_config_path, load_config

OK, WARN, FAIL = "ok", "warn", "FAIL"


def _line(status: str, what: str, detail: str) -> str:
    return f"[{status:>4}] {what:<12} {detail}"


def _listener_checks(urls: list[str]) -> list[tuple[str, str, str]]:
    out = []
    for url in urls:
        host = url.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
        loopback = host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")
        if loopback:
            out.append((OK, "listener", f"{url} (loopback only)"))
        else:
            out.append((WARN, "listener", f"{url} is EXPOSED beyond this host (explicit choice: check your "
                                          "firewall and prefer tls://)"))
    return out


def _ollama_check(host: str, model: str) -> tuple[str, str, str]:
    import httpx

    from playbooks.llm import CappedTransport, OutputCapExceeded

    base = host or os.environ.get("OLLAMA_HOST") or "http://127.0.0.1:11434"
    if "://" not in base:
        base = "http://" + base
    try:
        capped = CappedTransport(1024 * 1024, 5.0)  # whatever answers there cannot flood the doctor
        with httpx.Client(timeout=1.0, trust_env=False, transport=capped) as client:
            version = client.get(f"{base}/api/version").json().get("version", "?")
            tags = client.get(f"{base}/api/tags").json().get("models", [])
    except (httpx.HTTPError, ValueError, AttributeError, OutputCapExceeded) as exc:
        return (WARN, "ollama", f"unreachable at {base} ({type(exc).__name__}); chat offers offline "
                                "(rule-based) proposals only")
    names = {m.get("model") or m.get("name") for m in tags}
    if model in names or f"{model}:latest" in names:
        return (OK, "ollama", f"{base} version {version}, model {model} present")
    return (WARN, "ollama", f"{base} version {version}, model {model!r} missing (ollama pull {model})")


def run_doctor(args: argparse.Namespace) -> int:
    from app.storage import open_store
    from store.db import StoreError, StoreLockedError, default_db_path

    results: list[tuple[str, str, str]] = []
    cfg_path = Path(args.config) if args.config else default_config_path()
    try:
        cfg = load_config(args.config)
        results.append((OK, "config", f"{cfg_path}" + ("" if cfg_path.exists() else " (absent: defaults)")))
    except ConfigError as exc:
        print(_line(FAIL, "config", str(exc)))
        return 1

    db = Path(args.db or cfg.store.path or default_db_path())
    if not db.exists():
        results.append((WARN, "store", f"{db} does not exist yet (created on first run)"))
    else:
        mode = db.stat().st_mode & 0o777
        perm = OK if mode & 0o077 == 0 else WARN
        results.append((perm, "store", f"{db} mode {mode:o}" + ("" if perm == OK else " (readable by others)")))
        try:
            store = open_store(db, cfg, read_only=True)
            try:
                cur = store.cursor()
                n_ev = cur.execute("SELECT count(*) FROM events").fetchone()
                n_al = cur.execute("SELECT count(*) FROM alerts").fetchone()
                size = store.size_bytes() / 1e6
                results.append((OK, "store", f"{n_ev[0] if n_ev else 0:,} events, {n_al[0] if n_al else 0:,} "
                                             f"alerts, {size:,.1f} MB"))
                results.append(_detection_check(cur))
            finally:
                store.close()
        except StoreLockedError as exc:
            results.append((OK, "store", f"in use by a running engine: {exc}"))
        except StoreError as exc:
            results.append((FAIL, "store", str(exc)))
    results += _problem_checks(db)
    free = shutil.disk_usage(db.parent if db.parent.exists() else Path.home()).free / 1e9
    results.append((OK if free > 1 else WARN, "disk", f"{free:,.1f} GB free at {db.parent}"))

    for pattern in cfg.sources.watch:
        import glob

        matches = glob.glob(pattern) if not Path(pattern).is_dir() else [pattern]
        unreadable = [m for m in matches if not os.access(m, os.R_OK)]
        if not matches:
            results.append((WARN, "watch", f"{pattern}: nothing matches yet"))
        elif unreadable:
            results.append((FAIL, "watch", f"{pattern}: cannot read {', '.join(unreadable[:3])}"))
        else:
            results.append((OK, "watch", f"{pattern}: {len(matches)} path(s)"))
    results += _listener_checks(cfg.sources.listen)

    results.append(_rules_check(cfg))
    models_dir = Path(cfg.detectors.models_dir) if cfg.detectors.models_dir else db.parent / "models"
    onnx = sorted(models_dir.glob("*.onnx")) if models_dir.exists() else []
    if onnx:
        results.append((OK, "models", f"{len(onnx)} model file(s) in {models_dir}"))
    else:
        results.append((WARN, "models", f"none in {models_dir} yet: the engine starts in learning mode"))

    results.append(_ollama_check(cfg.llm.host, cfg.llm.model))
    term = os.environ.get("TERM", "")
    colors = os.environ.get("COLORTERM", "")
    results.append((OK if term and term != "dumb" else WARN, "terminal",
                    f"TERM={term or '-'} COLORTERM={colors or '-'} tty={sys.stdout.isatty()}"))
    results.append((OK, "network", "Vigil makes no network calls except the configured Ollama host and "
                                   "listeners/NATS you configure"))
    for status, what, detail in results:
        print(_line(status, what, detail))
    return 1 if any(r[0] == FAIL for r in results) else 0


def _problem_checks(db: Path) -> list[tuple[str, str, str]]:
    """What the engine on this store (running now, or its last run) did not do: its health file's problems."""
    from app.problems import read_health

    health = read_health(db)
    if health is None:
        return []
    who = (f"running engine (pid {health.pid}, as of {health.updated_at})" if health.running
           else f"last run (ended {health.updated_at})")
    if not health.problems:
        return [(OK, "problems", f"{who}: none — everything received was stored, scored and handed on")]
    out = [(FAIL if any(p.severe for p in health.problems) else WARN, "problems",
            f"{who}: {len(health.problems)} problem(s)")]
    out += [(FAIL if p.severe else WARN, "problem", p.line(400)) for p in health.problems]
    return out


def _detection_check(cur: Any) -> tuple[str, str, str]:
    """How far detection got: the scorer's checkpoint against the newest stored event."""
    try:
        row = cur.execute("SELECT last_event_id FROM scorer_checkpoint WHERE consumer = 'scorer'").fetchone()
        top = cur.execute("SELECT coalesce(max(event_id), 0) FROM events").fetchone()[0]
    except Exception as exc:  # a store from before checkpoints
        return WARN, "detection", f"no scorer checkpoint ({type(exc).__name__}); the next run creates it"
    done = int(row[0]) if row else 0
    behind = max(0, int(top) - done)
    if behind:
        return WARN, "detection", (f"scored through event {done:,} of {int(top):,}: {behind:,} behind "
                                   "(the next run catches up from the checkpoint)")
    return OK, "detection", f"every stored event scored (checkpoint {done:,})"


def _rules_check(cfg: Any) -> tuple[str, str, str]:
    from detectors.rules.ruleset import default_rule_dirs, load_rules

    dirs = [*default_rule_dirs(), *(Path(d) for d in cfg.detectors.sigma_dirs)]
    from app.rules_cli import disabled_ids

    rs = load_rules(dirs, disabled_ids(cfg.detectors.disabled_rules))
    text = (f"{len(rs.detections)} Sigma detections, {len(rs.correlations)} correlations"
            + (f", {len(rs.disabled)} disabled" if rs.disabled else ""))
    if rs.problems:
        path, reason = rs.problems[0]
        return WARN, "rules", f"{text}; {len(rs.problems)} not loaded, e.g. {path}: {reason[:160]}"
    return OK, "rules", text
