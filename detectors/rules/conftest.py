"""Helpers shared by the rule tests beside the rules: real lines through the real parser chain."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from detectors.alerts import Hit
from detectors.replay import parsed_batches
from detectors.rules import RuleEngine
from detectors.templates import TemplateMiner


def run_rules(lines: Iterable[str], engine: RuleEngine | None = None) -> list[Hit]:
    engine = engine or RuleEngine(novelty_warmup_events=10**9)
    hits: list[Hit] = []
    for batch in parsed_batches(list(lines), miner=TemplateMiner()):
        hits.extend(engine.evaluate(batch))
    return hits


def by_rule(hits: list[Hit], rule_id: str) -> list[Hit]:
    return [h for h in hits if h.rule_id == rule_id]


@pytest.fixture
def rules():
    return run_rules
