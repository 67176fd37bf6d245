"""What the console remembers across a dropped SSH session: filters, last view, selected alert, SQL.

Saved as a small JSON file (mode 0600, atomic rename) under `$XDG_STATE_HOME/vigil/` on change and on exit,
restored on start. A damaged file is set aside and the console starts fresh rather than refusing to open.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

VIEWS = ("alerts", "events", "sql", "timeline", "sources")


def default_state_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "vigil" / "console.json"


@dataclass
class UiState:
    view: str = "alerts"  # the screen: alerts (the main screen), events, sql, timeline, sources
    table: str = ""  # on the main screen: incidents or alerts ("" = the config's [ui] table)
    cursor_alert_id: int | None = None
    cursor_incident_id: int | None = None
    tail: bool = True
    detail_open: bool = False
    filters: list[dict[str, Any]] = field(default_factory=list)
    sql: str = ""
    sql_history: list[str] = field(default_factory=list)
    timeline_zoom: int = 0
    timeline_dimension: str = "all"
    marked: list[int] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UiState:
        known = {f.name for f in fields(cls)}
        state = cls(**{k: v for k, v in data.items() if k in known})
        if state.view not in VIEWS:
            state.view = "alerts"
        state.sql_history = [str(s) for s in state.sql_history][-50:]
        state.marked = [int(m) for m in state.marked if isinstance(m, int)][-1000:]
        return state


class StateFile:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_state_path()
        self._last = ""

    def load(self) -> UiState:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            state = UiState.from_dict(data)
        except FileNotFoundError:
            return UiState()
        except (OSError, ValueError, TypeError) as exc:
            log.warning("console state %s unreadable (%s); starting fresh", self.path, exc)
            try:
                self.path.replace(self.path.with_suffix(".bad"))
            except OSError:
                pass
            return UiState()
        self._last = state.to_json()
        return state

    def save(self, state: UiState) -> bool:
        """Write if changed; returns True when written. Never raises (the console must not die on a full disk)."""
        text = state.to_json()
        if text == self._last:
            return False
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("cannot save console state to %s: %s", self.path, exc)
            return False
        self._last = text
        return True
