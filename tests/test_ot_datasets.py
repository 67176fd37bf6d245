"""The OT datasets end to end through the real CLI and a real DuckDB store (what the acceptance check
`ot-zeek-suricata` looks at, and the MMS captures' train-then-test protocol): parse errors only on non-data lines,
the high-interest lines of interesting.jsonl alerted with a "why" that names the function, the MMS scan alerted and
the normal capture quiet."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from .conftest import needs_datasets, vigil_cmd

pytestmark = pytest.mark.slow


def _vigil(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([*vigil_cmd(), *args], capture_output=True, text=True, timeout=900, cwd=cwd)
    assert out.returncode == 0, out.stderr[-2000:]
    return out


def _query(db: Path, sql: str) -> list[dict]:
    return json.loads(_vigil("query", "--db", str(db), "--format", "json", sql).stdout)


def test_zeek_and_suricata_files_parse_and_the_high_interest_lines_are_alerted(tmp_path: Path):
    root = needs_datasets("ot-ics-logs")
    files = sorted(p.relative_to(root).as_posix() for d in ("zeek-icsnpp", "zeek-core", "suricata-verify")
                   for p in (root / d).rglob("*")
                   if p.is_file() and (p.suffix == ".log" or (p.name.startswith("eve-") and p.suffix == ".json")))
    db = tmp_path / "ot.duckdb"
    _vigil("ingest", "--detect", "--db", str(db), *files, cwd=root)
    errors = _query(db, "SELECT raw FROM events WHERE parse_error IS NOT NULL")
    assert errors and all(r["raw"].startswith("### BTest baseline") for r in errors)  # banners, nothing else
    rows = _query(db, "SELECT e.raw, json_extract_string(e.fields, '$.ot_function') AS fn, "
                      "list(a.why) FILTER (WHERE a.alert_id IS NOT NULL) AS whys FROM events e "
                      "LEFT JOIN alerts a ON list_contains(a.event_ids, e.event_id) GROUP BY e.event_id, e.raw, fn")
    by_raw: dict[str, list[tuple[str | None, list[str]]]] = {}
    for r in rows:
        by_raw.setdefault(r["raw"], []).append((r["fn"], r["whys"] or []))
    want = hit = named = 0
    for line in (root / "interesting.jsonl").read_text().splitlines():
        x = json.loads(line)
        if x["severity"] != "high":
            continue
        raw = (root / x["file"]).read_text(errors="replace").split("\n")[x["line_no"] - 1]
        want += 1
        seen = [(fn, whys) for fn, whys in by_raw.get(raw, []) if whys]
        hit += bool(seen)
        named += any(fn and any(fn in w for w in whys) or any("Suricata alert" in w or "port connection" in w
                                                              for w in whys) for fn, whys in seen)
    assert want == 545
    assert hit / want >= 0.9, f"{hit}/{want} high-interest lines alerted"
    assert named / want >= 0.9, f"only {named}/{want} alerted lines have a why naming the function"


def test_mms_scan_is_alerted_after_learning_the_normal_capture(tmp_path: Path):
    folder = needs_datasets("ot-ics-logs", "mms-iec61850-but")
    db = tmp_path / "mms.duckdb"
    _vigil("ingest", "--detect", "--learn", "--db", str(db), "gics-normal.csv", cwd=folder)
    assert _query(db, "SELECT rule_id FROM alerts WHERE severity <> 'low'") == []  # the normal capture: quiet
    _vigil("ingest", "--detect", "--db", str(db), "gics-scanning.csv", cwd=folder)
    lines = (folder / "gics-scanning.csv").read_text().split("\n")
    labelled = {lines[json.loads(x)["line_no"] - 1] for x in (folder / "labels.jsonl").read_text().splitlines()
                if json.loads(x)["file"] == "gics-scanning.csv"}
    cited = _query(db, "SELECT DISTINCT e.raw FROM events e JOIN alerts a ON list_contains(a.event_ids, e.event_id) "
                       "WHERE a.severity IN ('medium', 'high', 'critical') AND e.source LIKE '%gics-scanning.csv'")
    alerted = {r["raw"] for r in cited}
    assert len(labelled) == 72 and labelled <= alerted  # every line of the scan
    assert alerted - labelled == set()  # and nothing of the normal traffic around it
    assets = json.loads(_vigil("assets", "--db", str(db), "--format", "json").stdout)
    assert {(a["address"], a["role"]) for a in assets} == {("10.10.20.10", "IED"), ("10.10.3.19", "HMI")}


def test_eval_ot_mms_scores_every_capture_in_the_folder():
    needs_datasets("ot-ics-logs", "mms-iec61850-but")
    out = _vigil("eval", "ot-mms").stdout
    parts = out.split("dataset: ")
    scanning = next(p for p in parts if p.startswith("ot-mms gics-scanning.csv"))
    normal = next(p for p in parts if p.startswith("ot-mms gics-normal.csv"))
    assert "tp=72 fp=0 fn=0" in scanning and "fp=0" in normal
    assert "recall=1.0000" in out.strip().splitlines()[-1]
