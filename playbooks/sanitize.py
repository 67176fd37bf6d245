"""Make attacker-controlled log text safe to show a model or a terminal: strip escapes and invisible
characters, cap length, mask secrets. Never raises, whatever the input."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

# CSI/OSC/other ESC sequences first (so their payload goes too), then lone control characters.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[PX^_][^\x1b]*(?:\x1b\\)?|[@-Z\\-_])")
_C0_C1 = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Zero-width, BiDi embeddings/overrides/isolates, word joiner, BOM, soft hyphen, tag characters.
_INVISIBLE = re.compile(
    r"[\u00ad\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\U000e0000-\U000e007f]"
)
_SECRET_KEYS = re.compile(r"(?i)(pass(word|wd)?|secret|token|api[_-]?key|authorization|cookie|session)")
_SECRET_INLINE = re.compile(
    r"(?i)\b(pass(?:word|wd)?|secret|token|api[_-]?key|authorization)\b(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|\S+)"
)
REDACTED = "***"


def clean_text(value: object, limit: int | None = None, keep_newlines: bool = False) -> str:
    """Printable, normalised text from anything; truncated to `limit` characters with a marker."""
    try:
        text = value if isinstance(value, str) else str(value)
    except Exception:
        text = "<unprintable>"
    text = unicodedata.normalize("NFKC", text)
    text = _ANSI.sub("", text)
    if keep_newlines:
        text = text.replace("\r\n", "\n").replace("\t", " ")
        text = _C0_C1.sub("", text)
    else:
        text = _C0_C1.sub(" ", text.replace("\t", " ").replace("\n", " ").replace("\r", " "))
    text = _INVISIBLE.sub("", text)
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    return text


def redact_inline(text: str) -> str:
    """Mask `password=…`-style secrets inside free text."""
    return _SECRET_INLINE.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


def redact_mapping(data: Mapping[str, Any]) -> dict[str, Any]:
    """Copy of `data` with values under secret-looking keys masked (recursively)."""
    out: dict[str, Any] = {}
    for key, val in data.items():
        if _SECRET_KEYS.search(str(key)):
            out[key] = REDACTED
        elif isinstance(val, Mapping):
            out[key] = redact_mapping(val)
        else:
            out[key] = val
    return out


def cap_bytes(data: bytes, limit: int) -> tuple[str, bool]:
    """Decode (replacing bad bytes), redact, and cap; returns (text, truncated)."""
    truncated = len(data) > limit
    text = data[:limit].decode("utf-8", errors="replace")
    return redact_inline(text), truncated
