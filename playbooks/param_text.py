"""Playbook parameters as a person reads them: `ip=203.0.113.45 duration=1h`, never a Python dict.

Used by the console's proposal cards, the incident list's response column and notices. Values come from
evidence (attacker-controlled text), so they are shown quoted when they hold spaces and never interpreted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def human_duration(seconds: int | float) -> str:
    """3600 → 1h, 5400 → 1h30m, 90 → 1m30s, 45 → 45s."""
    s = int(seconds)
    if s <= 0:
        return f"{s}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if s >= size:
            parts.append(f"{s // size}{unit}")
            s %= size
    return "".join(parts[:2])


def _value(name: str, value: Any, kind: str | None) -> str:
    if (kind == "duration" or name == "duration" or name.endswith("_s")) and isinstance(value, int | float) \
            and not isinstance(value, bool):
        return human_duration(value)
    if (kind == "duration" or name == "duration") and isinstance(value, str) and value.isdigit():
        return human_duration(int(value))
    text = str(value)
    if not text or any(ch.isspace() for ch in text) or "=" in text:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def format_params(params: Mapping[str, Any], kinds: Mapping[str, str] | None = None) -> str:
    """`k=v` pairs in the playbook's order, separated by spaces; durations in h/m/s."""
    kinds = kinds or {}
    return " ".join(f"{k}={_value(k, v, kinds.get(k))}" for k, v in params.items())
