"""`vigil eval bgl`: line-level, unsupervised; the label column never reaches the detector.

Uses /work/shared/datasets/loghub/BGL/BGL_2k.log (loghub, Zhu et al. ISSRE 2023; BGL from Oliner & Stearley
2007) when present; the small fixture lines below are copied from that file.
"""

from __future__ import annotations

import argparse

import pytest

from detectors.eval import add_dataset_arguments
from detectors.eval.bgl import run
from detectors.eval.common import DatasetMissing, datasets_root

BGL = datasets_root() / "loghub" / "BGL" / "BGL_2k.log"

# Real BGL_2k lines (loghub): an alert, its register read-out, a user error, and INFO traffic.
FIXTURE = [
    "KERNDTLB 1118536327 2005.06.11 R30-M0-N9-C:J16-U01 2005-06-11-17.32.07.581048 R30-M0-N9-C:J16-U01 RAS "
    "KERNEL FATAL data TLB error interrupt",
    "- 1118709955 2005.06.13 R10-M0-N1-C:J17-U11 2005-06-13-17.45.55.186640 R10-M0-N1-C:J17-U11 RAS KERNEL "
    "FATAL instruction address: 0x00004ed8",
    "- 1118193358 2005.06.07 R11-M0-NC-I:J18-U01 2005-06-07-18.15.58.329227 R11-M0-NC-I:J18-U01 RAS APP FATAL "
    "ciod: LOGIN chdir(/p/gb2/glosli/8M_5000K/t800) failed: No such file or directory",
    "- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 RAS KERNEL "
    "INFO instruction cache parity error corrected",
] + [
    f"- 11178385{70 + i} 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 RAS "
    f"KERNEL INFO {i} double-hummer alignment exceptions"
    for i in range(120)
]


def _args(**kw) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_dataset_arguments("bgl", p)
    ns = p.parse_args([])
    for k, v in kw.items():
        setattr(ns, k, v)
    return ns


def test_fixture_shipped_engine_flags_every_fatal_line_and_the_prior_only_the_alert(tmp_path):
    log = tmp_path / "bgl.log"
    log.write_text("\r\n".join(FIXTURE))  # CRLF like the loghub file
    res = run(_args(log=log, models=False))
    # The shipped engine: sys.critical_message flags the three FATAL lines (one is the labelled alert).
    assert (res.tp, res.fp, res.fn) == (1, 2, 0), res.render()
    # The domain prior (not shipped) leaves out the read-out and the user error.
    assert res.extra["domain prior f1 (NOT shipped: exclusions chosen by reading these lines)"] == 1.0


def test_label_column_does_not_influence_the_decision(tmp_path):
    relabelled = ["- " + ln.split(" ", 1)[1] for ln in FIXTURE]
    relabelled[3] = "KERNDTLB " + relabelled[3][2:]  # claim the INFO line is an alert
    log = tmp_path / "bgl.log"
    log.write_text("\n".join(relabelled) + "\n")
    res = run(_args(log=log, models=False))
    # Same detections as with the true labels; only the scoring against labels moves.
    assert (res.tp, res.fp, res.fn) == (0, 3, 1), res.render()


@pytest.mark.skipif(not BGL.exists(), reason=f"loghub BGL_2k not present at {BGL}")
def test_bgl_2k_figures_are_the_shipped_engines():
    res = run(_args(log=BGL, models=False))
    assert res.tp + res.fn == 143 and res.recall == 1.0  # every labelled alert line is at least critical
    assert "shipped engine" in res.dataset and 0.5 < res.f1 < 0.7, res.render()


def test_missing_log_says_where_it_looked(tmp_path):
    with pytest.raises(DatasetMissing, match=str(tmp_path / "none.log")):
        run(_args(log=tmp_path / "none.log"))
