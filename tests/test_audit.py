"""The audit log is an append-only hash chain: it verifies when intact, names the first bad record when a
record, an indexed column or a row is tampered with, and exports as private JSONL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from playbooks import audit
from playbooks.audit import AuditLog, chain_hash, verify

from .playbook_support import open_db


@pytest.fixture()
def chain(tmp_path: Path):
    con, db = open_db(tmp_path / "audit.duckdb")
    log = AuditLog(db)
    for i in range(1, 6):
        log.record("proposal", actor_type="llm", actor_id="llama3.2", alert_id=i, proposal_id=f"p{i}",
                   playbook_id="block_ip_nft", plan_hash="ab" * 32,
                   data={"params": {"ip": f"203.0.113.{i}"}, "api_token": "s3cret", "llm": {"digest": "sha256:x"}})
    yield con
    con.close()


def test_intact_chain_verifies(chain) -> None:
    ok, bad, reason = verify(chain)
    assert ok and bad is None and "5 records" in reason


def test_each_hash_is_sha256_of_prev_hash_and_canonical_record(chain) -> None:
    rows = chain.execute("SELECT record, prev_hash, hash FROM audit_log ORDER BY seq").fetchall()
    assert rows[0][1] == audit.GENESIS
    for (rec, prev, digest), nxt in zip(rows, rows[1:] + [(None, None, None)], strict=True):
        assert chain_hash(prev, json.loads(rec)) == digest
        if nxt[1] is not None:
            assert nxt[1] == digest


def test_records_carry_os_identity_and_mask_secrets(chain) -> None:
    rec = json.loads(chain.execute("SELECT record FROM audit_log WHERE seq = 1").fetchone()[0])
    assert rec["os"]["uid"] >= 0 and "user" in rec["os"] and "ssh_connection" in rec["os"]
    assert rec["data"]["api_token"] == "***"
    assert rec["data"]["llm"]["digest"] == "sha256:x"


def test_modified_record_is_detected_at_its_sequence_number(chain) -> None:
    rec = json.loads(chain.execute("SELECT record FROM audit_log WHERE seq = 3").fetchone()[0])
    rec["data"]["params"]["ip"] = "10.0.0.1"
    chain.execute("UPDATE audit_log SET record = ? WHERE seq = 3", [json.dumps(rec)])
    assert verify(chain) == (False, 3, "hash mismatch: the record was modified")


def test_edited_index_column_is_detected(chain) -> None:
    chain.execute("UPDATE audit_log SET actor_type = 'human' WHERE seq = 2")
    ok, bad, reason = verify(chain)
    assert (ok, bad) == (False, 2) and "actor_type" in reason


def test_rehashed_record_breaks_the_next_link(chain) -> None:
    rec = json.loads(chain.execute("SELECT record FROM audit_log WHERE seq = 2").fetchone()[0])
    prev = chain.execute("SELECT prev_hash FROM audit_log WHERE seq = 2").fetchone()[0]
    rec["actor_id"] = "someone-else"
    chain.execute("UPDATE audit_log SET record = ?, actor_id = 'someone-else', hash = ? WHERE seq = 2",
                  [json.dumps(rec), chain_hash(prev, rec)])
    ok, bad, reason = verify(chain)
    assert (ok, bad) == (False, 3) and "prev_hash" in reason


def test_deleted_row_is_detected(chain) -> None:
    chain.execute("DELETE FROM audit_log WHERE seq = 4")
    ok, bad, reason = verify(chain)
    assert (ok, bad) == (False, 4) and "gap" in reason


def test_export_writes_private_jsonl_with_hashes(chain, tmp_path: Path) -> None:
    out = tmp_path / "audit.jsonl"
    assert audit.export(chain, out) == 5
    assert (out.stat().st_mode & 0o777) == 0o600
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [x["record"]["seq"] for x in lines] == [1, 2, 3, 4, 5]
    assert lines[1]["prev_hash"] == lines[0]["hash"]


def test_unknown_actor_type_is_refused(chain) -> None:
    with pytest.raises(ValueError):
        audit.append(chain, "x", actor_type="robot", actor_id=None)
