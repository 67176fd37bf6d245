"""Replaying sensor files the way the engine ingests them — one parser chain per file (header state), the OT
asset inventory as the enricher, then the scorer — without a store: what `vigil eval ot-ics` and `ot-mms` and the
OT rule tests run."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from detectors.alerts import AlertUpdate
from detectors.replay import parsed_batches
from detectors.scorer import Scorer
from detectors.templates import TemplateMiner
from store.inventory import AssetInventory, InventoryConfig

MEDIUM_PLUS = frozenset({"medium", "high", "critical"})


@dataclass
class OtReplay:
    """A scorer and an inventory that live across files (training, then testing), and what each file produced."""

    inventory: AssetInventory = field(default_factory=lambda: AssetInventory(InventoryConfig()))
    scorer: Scorer = field(default_factory=Scorer)
    miner: TemplateMiner = field(default_factory=TemplateMiner)
    next_id: int = 1
    raws: dict[int, str] = field(default_factory=dict)  # event id → raw line
    updates: list[AlertUpdate] = field(default_factory=list)

    def feed(self, path: Path, received_at: datetime | None = None, keep: bool = True) -> list[AlertUpdate]:
        data = path.read_bytes().split(b"\n")
        if data and data[-1] == b"":
            data.pop()
        return self.feed_lines(data, f"file:{path.resolve()}", received_at, keep)

    def feed_lines(self, lines: Iterable[bytes | str], source: str, received_at: datetime | None = None,
                   keep: bool = True) -> list[AlertUpdate]:
        out: list[AlertUpdate] = []
        when = received_at or datetime.now(UTC)
        for batch in parsed_batches(list(lines), source=source, first_id=self.next_id, received_at=when,
                                    miner=self.miner):
            batch, _ = self.inventory.enrich(batch)
            self.next_id += batch.num_rows
            if keep:
                self._remember(batch)
            out.extend(self.scorer.process(batch))
        self.updates.extend(out)
        return out

    def _remember(self, batch: pa.RecordBatch) -> None:
        ids = batch.column("event_id").to_pylist()
        for i, raw in zip(ids, batch.column("raw").to_pylist(), strict=True):
            self.raws[int(i)] = raw or ""

    def learn(self, paths: Iterable[Path]) -> list[AlertUpdate]:
        """`vigil ingest --learn`: the files are the baseline; learning ends after them."""
        self.inventory.force_learning = True
        out: list[AlertUpdate] = []
        for p in paths:
            out.extend(self.feed(p))
        self.inventory.end_learning()
        return out


def alerted_ids(updates: Iterable[AlertUpdate], severities: frozenset[str] | None = None) -> dict[int, str]:
    """Event id → the highest severity of an alert citing it (every citation, not just the capped evidence)."""
    rank = {"low": 0, "medium": 1, "high": 2, "critical": 3}
    final: dict[int, str] = {}
    cited: dict[int, set[int]] = {}
    for u in updates:
        final[u.alert_id] = u.severity
        cited.setdefault(u.alert_id, set()).update(u.new_event_ids)
    out: dict[int, str] = {}
    for aid, ids in cited.items():
        sev = final[aid]
        if severities is not None and sev not in severities:
            continue
        for eid in ids:
            prev = out.get(eid)
            if prev is None or rank[sev] > rank[prev]:
                out[eid] = sev
    return out
