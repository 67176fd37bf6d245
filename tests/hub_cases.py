"""Lines and labels of the CrowdSec hub test corpus (../shared/datasets/crowdsec-hub-tests, MIT, crowdsecurity/hub)
for the service-family parser and rule tests; every caller skips when the corpus is absent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from store.parsers import ParserChain
from tests.conftest import DATASETS

HUB = DATASETS / "crowdsec-hub-tests"
RA = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def labels(family: str) -> list[dict[str, Any]]:
    path = HUB / "labels.jsonl"
    if not path.exists():
        pytest.skip(f"dataset not available at {path}")
    return [d for d in (json.loads(x) for x in path.read_text().splitlines() if x.strip()) if d["family"] == family]


def case_lines(case: str) -> list[bytes]:
    d = HUB / "cases" / case
    if not d.exists():
        pytest.skip(f"dataset not available at {d}")
    label = next((x for x in (json.loads(y) for y in (HUB / "labels.jsonl").read_text().splitlines() if y.strip())
                  if x["case"] == case), None)
    names = label["log_files"] if label else sorted(p.name for p in d.glob("*.log"))
    out: list[bytes] = []
    for name in names:
        out.extend(ln for ln in (d / name).read_bytes().splitlines())
    return out


def parsed_lines(family: str) -> Iterator[tuple[str, int, dict[str, Any], dict[str, Any]]]:
    """(case, line_no, what the hub's parser asserted, what Vigil parsed) for every asserted line of `family`,
    parsed the way `vigil ingest` reads the case's file (one chain, every line in order)."""
    for label in labels(family):
        asserted = {p["line_no"]: p for p in label.get("parsed") or [] if p.get("line_no_verified", True)}
        if not asserted:
            continue
        chain = ParserChain()
        for i, line in enumerate(case_lines(label["case"]), start=1):
            ev = chain.parse(line, RA)
            if i in asserted:
                yield label["case"], i, asserted[i], ev


def case_text(case: str) -> list[str]:
    """The case's non-blank lines as text (what `vigil ingest` turns into events)."""
    return [ln.decode("utf-8", "replace") for ln in case_lines(case) if ln.strip()]


def parse_all(lines: list[str]) -> list[dict[str, Any]]:
    chain = ParserChain()
    return [chain.parse(ln.encode(), RA) for ln in lines]


def parse(line: str) -> dict[str, Any]:
    return ParserChain().parse(line.encode(), RA)


def hub_path(case: str) -> Path:
    return HUB / "cases" / case
