"""Driving the console in tests the way a keyboard user does: focus a widget, press keys, wait for what should
follow. No screen coordinates (a click lands wherever layout put things at that instant) and no fixed sleeps
(a busy machine is slower, never wrong): every wait is for a condition, with a generous deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

DEADLINE_S = 60.0


async def until(pilot: Any, cond: Callable[[], bool], timeout: float = DEADLINE_S, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout:.0f} s")
        await pilot.pause(0.05)


async def focus(pilot: Any, widget: Any) -> None:
    """Give `widget` the focus (scrolling it into view) and wait until it has it."""
    await until(pilot, lambda: widget.is_mounted and widget.display, what=f"{widget!r} mounted and shown")
    widget.focus()
    await until(pilot, lambda: widget.app.focused is widget, what=f"focus on {widget!r}")


async def press_button(pilot: Any, button: Any) -> None:
    """Press a Button with the keyboard (focus, enter). A button ignores presses while its press effect runs
    and while disabled: wait those out first, so the press is never silently lost."""
    await until(pilot, lambda: not button.disabled and not button.has_class("-active"),
                what=f"{button!r} ready to press")
    await focus(pilot, button)
    await pilot.press("enter")


async def type_into(pilot: Any, field: Any, text: str, *, submit: bool = True) -> None:
    """Type `text` into an Input as keystrokes (then enter, unless told not to)."""
    await focus(pilot, field)
    await pilot.press(*text)
    if submit:
        await pilot.press("enter")
