"""How long a test waits for a condition: never less than a generous floor. A wait costs time only when the
condition is late, and on a loaded 2-core CI box "late" is normal, not a bug; a real failure still fails, only
later. `VIGIL_TEST_MIN_WAIT_S` raises or lowers the floor."""

from __future__ import annotations

import os

FLOOR_S = float(os.environ.get("VIGIL_TEST_MIN_WAIT_S", "60"))


def generous(seconds: float) -> float:
    return max(float(seconds), FLOOR_S)
