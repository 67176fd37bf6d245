"""The scorer end to end on real lines: Sigma rules and correlations + an anomaly model through the AnomalyModel
protocol; a model alone is capped at low until a rule corroborates it."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from detectors.alerts import ModelHit
from detectors.replay import replay
from detectors.scorer import Scorer, ScorerConfig

LINES = [f"Dec 10 09:00:{i:02d} LabSZ sshd[1]: Failed password for root from 183.62.140.253 port {4000 + i} "
         "ssh2" for i in range(6)]
LINES.append("Dec 10 09:01:00 LabSZ sshd[2]: Received disconnect from 10.1.1.1: 11: Bye Bye")


class RareTemplateModel:
    """A tiny real model: flags rows whose template appears once in the batch."""

    def score(self, batch: pa.RecordBatch) -> list[ModelHit]:
        counts = pc.value_counts(batch.column("template_id")).to_pylist()
        rare = {c["values"] for c in counts if c["counts"] == 1}
        out = []
        cols = [batch.column(n).to_pylist() for n in ("event_id", "template_id", "host")]
        for eid, tid, host in zip(*cols, strict=True):
            if tid in rare:
                out.append(ModelHit((eid,), f"host={host}", 0.97, "medium", "model:rare",
                                    "template seen once", "rare-v1"))
        return out


class BrokenModel:
    def score(self, batch: pa.RecordBatch) -> list[ModelHit]:
        raise RuntimeError("onnx session exploded")


def test_rules_sigma_and_model_hits_become_grouped_alerts():
    out = replay(LINES, Scorer(ScorerConfig(novelty_warmup_events=10**9), models=RareTemplateModel()))
    final = out.final().values()
    by = {u.detector for u in final}
    assert {"sigma", "model:rare"} <= by
    model = next(u for u in final if u.detector == "model:rare")
    assert model.model_version == "rare-v1" and model.event_ids == [7] and model.score == 0.97
    # The model said medium about a host no rule flagged: unusual is not malicious.
    assert model.severity == "low" and "model only" in model.why


def test_a_model_hit_on_an_entity_a_rule_flagged_keeps_its_severity():
    class OnAttacker(RareTemplateModel):
        def score(self, batch: pa.RecordBatch) -> list[ModelHit]:
            ids = batch.column("event_id").to_pylist()
            return [ModelHit((ids[-2],), "src_ip=183.62.140.253", 0.99, "high", "model:rare", "odd", "rare-v1")]

    out = replay(LINES, Scorer(ScorerConfig(novelty_warmup_events=10**9), models=OnAttacker()))
    model = next(u for u in out.final().values() if u.detector == "model:rare")
    assert model.severity == "high"


def test_a_failing_model_does_not_stop_rule_alerts():
    scorer = Scorer(ScorerConfig(novelty_warmup_events=10**9), models=BrokenModel())
    out = replay(LINES, scorer)
    assert any(u.rule_id == "auth.bruteforce" for u in out.updates)
    assert scorer.model_errors == 1 and "exploded" in (scorer.last_model_error or "")
