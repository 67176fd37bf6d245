"""Helpers for the tests beside the rule files: real lines through the real parser chain, template miner and
rule engine (the shipped Sigma files, loaded the way the engine loads them)."""

from __future__ import annotations

from collections.abc import Iterable

from detectors.alerts import Hit
from detectors.replay import parsed_batches
from detectors.rules.evaluate import RuleEngine
from detectors.rules.ruleset import RuleSet, default_rule_dirs, load_rules
from detectors.templates import TemplateMiner

_SHIPPED: RuleSet | None = None


def shipped_rules() -> RuleSet:
    global _SHIPPED
    if _SHIPPED is None:
        _SHIPPED = load_rules(default_rule_dirs())
        assert not _SHIPPED.problems, _SHIPPED.problems
    return _SHIPPED


def run_rules(lines: Iterable[str], engine: RuleEngine | None = None, batch_size: int = 5000) -> list[Hit]:
    engine = engine or RuleEngine(shipped_rules())
    hits: list[Hit] = []
    for batch in parsed_batches(list(lines), miner=TemplateMiner(), batch_size=batch_size):
        hits.extend(engine.evaluate(batch))
    return hits


def by_rule(hits: list[Hit], rule_id: str) -> list[Hit]:
    return [h for h in hits if h.rule_id == rule_id]
