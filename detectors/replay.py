"""Replay raw lines through the real parser chain, template miner and scorer without a store: what
`vigil eval` and the detector tests use to see exactly what the live engine would alert on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa

from detectors.alerts import AlertUpdate
from detectors.scorer import Scorer
from detectors.templates import TemplateMiner
from store.parsers import ParserChain
from store.pipeline import EventBatchBuilder


def parsed_batches(lines: Iterable[str | bytes], source: str = "replay", hint: str | None = None,
                   batch_size: int = 5000, received_at: datetime | None = None, first_id: int = 1,
                   miner: TemplateMiner | None = None) -> Iterator[pa.RecordBatch]:
    """Arrow event batches (ids from `first_id`, template ids filled when a miner is given)."""
    chain = ParserChain(hint, source=source)
    when = received_at or datetime.now(UTC)
    next_id = first_id
    pending: list[dict] = []

    def flush() -> pa.RecordBatch:
        nonlocal next_id
        b = EventBatchBuilder()
        b.first_id = next_id
        b.extend(pending, when, source, None, None)
        batch = b.build()
        next_id += batch.num_rows
        pending.clear()
        if miner is not None:
            idx = batch.schema.get_field_index("template_id")
            batch = batch.set_column(idx, "template_id", miner.assign_column(batch.column("message")))
        return batch

    for line in lines:
        data = line.encode("utf-8", "surrogateescape") if isinstance(line, str) else line
        pending.append(chain.parse(data.rstrip(b"\r\n"), when))
        if len(pending) >= batch_size:
            yield flush()
    if pending:
        yield flush()


@dataclass
class Replay:
    """Every alert state the scorer produced, plus the event table, for checking what fired on what."""

    updates: list[AlertUpdate] = field(default_factory=list)
    batches: list[pa.RecordBatch] = field(default_factory=list)

    def final(self) -> dict[int, AlertUpdate]:
        """The last state of each alert by id."""
        out: dict[int, AlertUpdate] = {}
        for u in self.updates:
            out[u.alert_id] = u
        return out

    def events(self) -> pa.Table:
        return pa.Table.from_batches(self.batches) if self.batches else pa.table({})

    def flagged_event_ids(self) -> set[int]:
        """Every event cited as evidence by any alert (all of them, not just the capped evidence list)."""
        ids: set[int] = set()
        for u in self.updates:
            ids.update(u.new_event_ids)
        return ids


def replay(lines: Iterable[str | bytes], scorer: Scorer | None = None, source: str = "replay",
           hint: str | None = None, batch_size: int = 5000, keep_batches: bool = True,
           received_at: datetime | None = None) -> Replay:
    scorer = scorer or Scorer()
    miner = TemplateMiner()
    out = Replay()
    for batch in parsed_batches(lines, source, hint, batch_size, received_at, miner=miner):
        out.updates.extend(scorer.process(batch))
        if keep_batches:
            out.batches.append(batch)
    return out
