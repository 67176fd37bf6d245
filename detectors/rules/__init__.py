"""Built-in declarative detections and the engine that runs them over event batches."""

from detectors.rules.engine import Rule, RuleEngine

__all__ = ["Rule", "RuleEngine"]
