"""`vigil eval crowdsec-hub` on the mail, FTP, database and VoIP families: the shipped parsers and rules find the
attacker addresses the hub's own scenario tests expect, and alert on no other address of those cases."""

from __future__ import annotations

import argparse

from detectors.eval import crowdsec_hub
from tests.conftest import needs_datasets


def test_service_families_recall_and_no_false_alerts() -> None:
    needs_datasets("crowdsec-hub-tests", "labels.jsonl")
    args = argparse.Namespace(family=["mail", "ftp", "database", "voip"], case=[], show_missed=True)
    results = {r.dataset.split("/")[-1]: r for r in crowdsec_hub.run(args)}
    assert set(results) == {"mail", "ftp", "database", "voip"}
    for family, r in results.items():
        assert r.fp == 0, (family, r.notes)
        assert r.tp / (r.tp + r.fn) >= 0.9, (family, r.notes)
    total = crowdsec_hub.summarise(list(results.values()))
    assert total.tp / (total.tp + total.fn) >= 0.9
