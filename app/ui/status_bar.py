"""One-line engine health under the alert table: events/s with a sparkline, per-source health, drops and
parse errors, learning/scoring state, store size, alert count, the READ-ONLY badge, and "N problems" — every
counter that means something was not done (app.problems) — which `!` opens into a list (ProblemsScreen)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float], width: int = 12) -> str:
    vals = values[-width:]
    if not vals:
        return ""
    top = max(vals) or 1.0
    return "".join(SPARK[min(len(SPARK) - 1, int(v / top * (len(SPARK) - 1) + 0.5))] for v in vals)


def human_rate(v: float) -> str:
    return f"{v / 1000:.1f}k" if v >= 1000 else f"{v:.0f}"


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def source_health(sources: list[dict[str, Any]]) -> tuple[int, int, int]:
    """(healthy, total, drops) over engine.status().sources, whatever their kind."""
    healthy = drops = 0
    for s in sources:
        # A file source is only as healthy as its files: an unreadable watch path is an error of one of them.
        files_bad = any(f.get("state") == "error" or f.get("last_error") for f in s.get("files") or [])
        if not (s.get("error") or s.get("last_error") or s.get("watch_error") or s.get("state") == "error"
                or s.get("running") is False or files_bad):
            healthy += 1
        try:
            drops += int(s.get("drops") or 0)
        except (TypeError, ValueError):
            pass
    return healthy, len(sources), drops


def detect_lag(status: Any) -> str:
    """'detect: 38,000 behind, 2.1 s' while detection catches up; 'detect ok' when it has."""
    behind = int(getattr(status, "detect_lag_events", 0) or 0)
    if not getattr(status, "scorer", None):
        return "detect off"
    if behind:
        return f"detect: {behind:,} behind, {float(getattr(status, 'detect_lag_s', 0.0) or 0.0):.1f} s"
    return "detect ok"


def scoring_state(status: Any) -> str:
    scorer = getattr(status, "scorer", None) or {}
    models = scorer.get("models")
    if scorer.get("error") or scorer.get("rule_errors"):
        return "detection error"
    if isinstance(models, dict) and models.get("refused"):
        return "models: baseline refused"
    if isinstance(models, dict) and models.get("mode") == "learning":
        return f"learning {100 * float(models.get('progress', 0) or 0):.0f}%"
    if isinstance(models, dict) and models.get("mode"):
        return str(models["mode"])
    return "scoring" if scorer else "rules off"


def status_text(status: Any, rates: list[float], read_only: bool, width: int = 100) -> Text:
    t = Text(no_wrap=True, overflow="ellipsis", end="")
    if status is None:
        t.append(" starting engine…", style="italic")
    else:
        healthy, total, drops = source_health(list(status.sources or []))
        t.append(f" {sparkline(rates)} ", style="bold")
        t.append(f"{human_rate(status.events_per_s)} ev/s")
        t.append(" │ ", style="dim")
        t.append(f"src {healthy}/{total}", style="" if healthy == total else "bold red")
        t.append(" │ ", style="dim")
        t.append(f"drops {drops:,}", style="bold red" if drops else "")
        t.append(f" perr {status.parse_errors:,}", style="bold yellow" if status.parse_errors else "")
        t.append(" │ ", style="dim")
        lag = detect_lag(status)
        t.append(lag, style="bold yellow" if "behind" in lag else "")
        t.append(" │ ", style="dim")
        state = scoring_state(status)
        t.append(state, style="bold yellow" if "refused" in state or "error" in state else "")
        t.append(" │ ", style="dim")
        t.append(human_bytes(int(status.store_bytes or 0)))
        problems = list(getattr(status, "problems", None) or [])
        if problems:
            t.append(" │ ", style="dim")
            t.append(problems_label(problems), style="bold red" if any(p.severe for p in problems) else "bold yellow")
        elif status.last_error:
            t.append(" │ ", style="dim")
            t.append("store error", style="bold red")
    if read_only:
        t.append("  ")
        t.append(" READ-ONLY ", style="bold reverse")
    return t


def problems_label(problems: list[Any]) -> str:
    n = len(problems)
    return f"{n} problem{'' if n == 1 else 's'} (!)"


class StatusBar(Static):
    DEFAULT_CSS = "StatusBar { height: 1; background: $panel; }"

    def __init__(self, read_only: bool = False, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.read_only = read_only
        self.status: Any = None
        self.rates: list[float] = []

    def show(self, status: Any, rates: list[float]) -> None:
        self.status, self.rates = status, rates
        self.refresh()

    def render(self) -> Text:
        return status_text(self.status, self.rates, self.read_only, self.size.width)
