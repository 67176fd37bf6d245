"""Per-association state of industrial sessions (client:port → server:port), for what only a conversation's history
shows: a second initiate inside a running association, request ids jumping backwards (a second client context
injected into the session, a scanner restarting its counter), and a chatty association falling silent.

Kept in memory only and bounded (least recently seen associations are forgotten first): after a restart an
association simply starts over, which can hide one of these signals but never invents one.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# Session set-up functions (request and reply): seen again on an association that is still talking, they start a
# second session inside it.
INITIATES = frozenset({"initiate-request", "initiate-response", "Setup Communication", "Hello",
                       "Register Session"})
RUNNING_S = 300.0  # an association with traffic this recently is running
REGRESSION = 50  # a request id this far below the association's highest is not reordering
MIN_EVENTS_FOR_SILENCE = 20
SILENCE_FLOOR_S = 60.0
SILENCE_FACTOR = 3.0


@dataclass
class _Assoc:
    last: datetime
    events: int = 0
    max_invoke: int | None = None
    max_gap: float = 0.0
    initiating: bool = False  # an initiate request is waiting for its reply
    reinit: bool = False  # … and it was a second one


class SessionTracker:
    def __init__(self, capacity: int = 10_000) -> None:
        self._assoc: OrderedDict[tuple[Any, ...], _Assoc] = OrderedDict()
        self.capacity = capacity

    def observe(self, key: tuple[Any, ...], when: datetime, function: str | None, direction: str,
                invoke: int | None) -> dict[str, Any]:
        marks: dict[str, Any] = {}
        a = self._assoc.get(key)
        if a is not None and (when - a.last).total_seconds() < -RUNNING_S:
            a = None  # time went backwards (a capture replayed again): the association starts over
        if a is None:
            a = _Assoc(when)
            self._assoc[key] = a
            a.initiating = function in INITIATES and direction == "request"
            if len(self._assoc) > self.capacity:
                self._assoc.popitem(last=False)
        else:
            self._assoc.move_to_end(key)
            gap = (when - a.last).total_seconds()
            if function in INITIATES and direction != "request" and a.initiating:
                if a.reinit:
                    marks["session_reinit"] = function
                a.initiating = a.reinit = False
            elif function in INITIATES and direction == "request" and 0 <= gap <= RUNNING_S:
                a.initiating, a.reinit = True, True
                marks["session_reinit"] = function
            if (a.events >= MIN_EVENTS_FOR_SILENCE and gap >= SILENCE_FLOOR_S
                    and gap >= SILENCE_FACTOR * a.max_gap):
                marks["silence_gap_s"] = round(gap, 1)
            elif gap > a.max_gap:
                a.max_gap = gap
        if invoke is not None:
            if a.max_invoke is not None and invoke < a.max_invoke - REGRESSION:
                marks["invoke_regression"] = f"{invoke} after {a.max_invoke}"
            elif a.max_invoke is None or invoke > a.max_invoke:
                a.max_invoke = invoke
        a.events += 1
        if when > a.last:
            a.last = when
        return marks
