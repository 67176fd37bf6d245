"""Log text made safe to show: control characters become visible escapes and nothing is ever parsed as markup.

Log lines are attacker-controlled; an ESC sequence or `[@click=…]` in a line must appear as plain characters,
never restyle, move the cursor, or fake a part of the console.
"""

from __future__ import annotations

import re

from rich.text import Text

# C0 and C1 controls, DEL, and the Unicode bidi/format characters that can visually reorder a line.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")
DEFAULT_LIMIT = 2000


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    if ch == "\t":
        return " "
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(value: object, limit: int = DEFAULT_LIMIT) -> str:
    """A single display line: controls shown as `\\xNN`, newlines as `\\x0a`, capped at `limit` characters."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    return _UNSAFE.sub(_escape, text)


def plain(value: object, style: str = "", limit: int = DEFAULT_LIMIT) -> Text:
    """A rich Text built from a plain string (never markup), so `[bold]` stays literally `[bold]`."""
    return Text(clean(value, limit), style=style, no_wrap=False, end="")
