"""Shared fixtures: private XDG dirs per test so nothing touches the developer's real store or config."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from detectors.eval.common import datasets_root

ROOT = Path(__file__).resolve().parent.parent
DATASETS = datasets_root()


@pytest.fixture(autouse=True)
def private_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        d = tmp_path / "xdg" / var.lower()
        d.mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(var, str(d))
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    return tmp_path / "xdg"


def vigil_cmd() -> list[str]:
    """The real CLI as a subprocess: the installed console script when present, else `python -m app`."""
    exe = ROOT / ".venv" / "bin" / "vigil"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "app"]


def needs_datasets(*parts: str) -> Path:
    path = DATASETS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"dataset not available at {path} (../shared/datasets is absent on this machine)")
    return path
