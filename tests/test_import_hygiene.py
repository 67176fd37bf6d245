"""The engine core runs headless: store/, detectors/ and playbooks/ never import Textual (checked at run time
in a fresh interpreter, like harlequin's import-hygiene test; `make lint` also runs import-linter)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _modules(package: str) -> list[str]:
    names = [package]
    for info in pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}."):
        if ".test_" not in info.name and not info.name.endswith("conftest"):
            names.append(info.name)
    return names


def test_core_packages_never_import_textual() -> None:
    mods = [m for p in ("store", "detectors", "playbooks") for m in _modules(p)]
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}:\n"
        "    importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m in ('textual', 'app') or m.startswith(('textual.', 'app.')))\n"
        "print('BAD', bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "BAD []" in out.stdout, out.stdout
