"""Everything that means "something was not done", gathered in one list with counts and the last error text: the
console's status bar ("3 problems", `!` lists them), `vigil doctor` and a headless run's exit all read it here.

The engine also keeps the list in a health file beside the store (`<store>.health.json`, 0600), because `vigil
doctor` runs in another process and DuckDB lets only one process open the store.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Problem:
    key: str  # stable id ("store", "abandoned:file:/var/log/auth.log", "rules", …)
    title: str  # what was not done, for a person
    count: int
    detail: str | None = None  # the last error text
    severe: bool = False  # data not stored or work stopped (doctor FAIL, exit code) rather than degraded

    def line(self, width: int = 300) -> str:
        text = f"{self.title}: {self.count:,}"
        if self.detail:
            text += f" — last: {self.detail}"
        return text if len(text) <= width else text[: width - 1] + "…"


def _counted(key: str, title: str, count: Any, detail: Any, *, severe: bool = False) -> list[Problem]:
    n = int(count or 0)
    return [Problem(key, title, n, str(detail) if detail else None, severe)] if n > 0 else []


def engine_problems(engine: Any, scorer: Mapping[str, Any], outbox_dropped: int) -> list[Problem]:
    """The engine's not-done counters, severe first. `scorer` is the detection status already taken."""
    out: list[Problem] = []
    writer, pipeline = engine.writer, engine.pipeline
    stats = writer.stats
    if writer.failed is not None:
        out.append(Problem("store", "store writes stopped (the store refused a write for good)",
                           sum(pipeline.abandoned_by_source().values()), stats.last_error, True))
    if stats.disk_full_since is not None:
        out.append(Problem("disk_full", f"store disk full ({engine.store.path}): ingestion paused, retried until "
                           "there is space", stats.retries, stats.last_error, True))
    for source, n in sorted(pipeline.abandoned_by_source().items()):
        again = " (re-read on restart)" if source.startswith("file:") else " (lost)"
        out += _counted(f"abandoned:{source}", f"events not stored from {source}{again}", n, None, severe=True)
    if scorer.get("stopped"):
        out.append(Problem("detection", "detection stopped", int(scorer.get("errors") or 1), scorer.get("error"),
                           True))
    else:
        out += _counted("detection", "detection errors (batches not scored)", scorer.get("errors"),
                        scorer.get("error"))
    responses = engine.responses
    if responses is not None:
        expiry = responses.expiry.status()
        out += _counted("expiry", "expiries (block undo) failed; retried with back-off", expiry["failures"],
                        expiry["last_error"], severe=bool(expiry["retrying"]))
        router = responses.router
        out += _counted("routing", "alerts not routed to a playbook", router.errors, router.last_error)
    if writer.failed is None:
        out += _counted("store_errors", "store write errors (retried, or refused to the caller)", stats.errors,
                        stats.last_error)
    out += _counted("commit_listeners", "after-commit hand-offs failed", stats.callback_errors,
                    stats.last_callback_error)
    out += _counted("alert_handoff", "alert hand-offs failed (console or response desk)",
                    engine.alert_handoff_errors, engine.last_alert_handoff_error)
    out += _counted("rules", "Sigma rule evaluation errors", scorer.get("rule_errors"), scorer.get("rule_error"))
    out += _counted("models", "anomaly model errors", scorer.get("model_errors"), scorer.get("model_error"))
    ps = pipeline.stats
    out += _counted("fast_parse", "fast parse crashes (parsed line by line instead)", ps.fast_path_errors,
                    ps.last_fast_path_error)
    out += _counted("enrich", "batches stored without template ids (enricher crashed)", ps.enricher_errors,
                    ps.last_enricher_error)
    out += _counted("outbox", "alert updates not shown live (the console fell behind; they are in the store)",
                    outbox_dropped, None)
    out += _counted("rules_not_loaded", "Sigma rules not loaded", len(engine.rule_problems),
                    "; ".join(f"{p}: {r}" for p, r in engine.rule_problems[:1]))
    return sorted(out, key=lambda p: not p.severe)


# -- the health file ----------------------------------------------------------------------------------------------
def health_path(store_path: str | Path) -> Path:
    return Path(f"{store_path}.health.json")


def write_health(store_path: str | Path, problems: list[Problem], *, running: bool) -> None:
    """Atomically replace the health file; a failure to write it must never disturb the engine."""
    path = health_path(store_path)
    doc = {"pid": os.getpid(), "running": running, "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
           "problems": [asdict(p) for p in problems]}
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(OSError):
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh)
        os.replace(tmp, path)


@dataclass
class Health:
    pid: int
    running: bool  # the engine that wrote it is still running
    updated_at: str
    problems: list[Problem]


def read_health(store_path: str | Path) -> Health | None:
    """The health file of the engine on this store, or None when there is none (or it is unreadable)."""
    try:
        doc = json.loads(health_path(store_path).read_text(encoding="utf-8"))
        problems = [Problem(str(p["key"]), str(p["title"]), int(p["count"]), p.get("detail"), bool(p["severe"]))
                    for p in doc.get("problems", [])]
        pid = int(doc.get("pid") or 0)
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    return Health(pid, bool(doc.get("running")) and _alive(pid), str(doc.get("updated_at") or "?"), problems)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
