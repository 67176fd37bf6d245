"""`vigil eval auth|apache|wazuh` run on the shared datasets (skipped, saying where, when they are absent)."""

from __future__ import annotations

import argparse

import pytest

from detectors.eval.common import datasets_root

ROOT = datasets_root()


@pytest.fixture(autouse=True)
def _datasets(monkeypatch):
    if not ROOT.exists():
        pytest.skip(f"datasets absent at {ROOT}")
    monkeypatch.setenv("VIGIL_DATASETS", str(ROOT))


def test_auth_eval_finds_every_labelled_attacker():
    from detectors.eval.auth import run

    r = run(argparse.Namespace(min_severity="medium", label_fails=5))
    assert r.recall == 1.0 and r.precision > 0.8
    assert r.render().splitlines()[-1].startswith("precision=")


def test_apache_eval_flags_all_scanner_sessions_with_low_fp_rate():
    from detectors.eval.apache import run

    r = run(argparse.Namespace(min_severity="medium"))
    assert r.tp == 3 and r.fn == 0
    assert r.fp / (r.fp + r.tn) < 0.01


def test_wazuh_eval_reports_level_bands():
    from detectors.eval.wazuh import run

    r = run(argparse.Namespace(positive_level=7, min_severity="low"))
    assert any(k.startswith("flagged at Wazuh level") for k in r.extra)
    assert r.tp + r.fn > 0 and r.tn > r.fp


def test_missing_dataset_is_a_clear_error(monkeypatch, tmp_path):
    from detectors.eval.auth import run
    from detectors.eval.common import DatasetMissing

    monkeypatch.setenv("VIGIL_DATASETS", str(tmp_path))
    with pytest.raises(DatasetMissing, match="auth.log"):
        run(None)
