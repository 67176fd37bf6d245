"""The central landing is idempotent on (origin, event id), and the wire codec refuses hostile payloads
without raising anything but PayloadError. Real DuckDB files, no server needed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.storage import open_store
from store.db import Store
from store.forward import enqueue_changed_alerts, outbox_write, store_origin
from store.landing import StoreIdAllocator, land_alert, land_events, translate_ids
from store.nats_link import PayloadError, decode_events, encode_events, subject_for
from store.schema import EVENT_SCHEMA
from store.sources.nats_consumer import decode_message

ORIGIN = "0b1f6c3e-6a55-4c5e-9a57-3d1a2f9e0c11"


def events(ids: list[int], site: str | None = None) -> pa.Table:
    n = len(ids)
    now = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    cols = {f.name: pa.nulls(n, f.type) for f in EVENT_SCHEMA}
    cols["event_id"] = pa.array(ids, pa.int64())
    cols["received_at"] = pa.array([now] * n, EVENT_SCHEMA.field("received_at").type)
    cols["ts"] = pa.array([now] * n, EVENT_SCHEMA.field("ts").type)
    cols["source"] = pa.array(["file:/var/log/auth.log"] * n)
    cols["message"] = pa.array([f"line {i}" for i in ids])
    cols["site"] = pa.array([site] * n, pa.string())
    return pa.Table.from_pydict(cols, schema=EVENT_SCHEMA)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(tmp_path / "central.duckdb")
    yield s
    s.close()


def land(store: Store, table: pa.Table, origin: str = ORIGIN, alloc: StoreIdAllocator | None = None
         ) -> tuple[int, int]:
    con = store.con
    con.execute("BEGIN")
    n, dup, _ = land_events(con, origin, "plant-1", table, alloc or StoreIdAllocator())
    con.execute("COMMIT")
    return n, dup


def stored_messages(store: Store) -> list[str]:
    return [r[0] for r in store.cursor().execute("SELECT message FROM events ORDER BY event_id").fetchall()]


def test_landing_the_same_batch_twice_stores_it_once(store: Store) -> None:
    assert land(store, events(list(range(1, 101)))) == (100, 0)
    assert land(store, events(list(range(1, 101)))) == (0, 100)
    assert len(stored_messages(store)) == 100


def test_overlapping_and_repeated_ids_land_only_the_new_ones(store: Store) -> None:
    land(store, events(list(range(1, 51))))
    # 40, 41 and 50 landed before; 61 comes twice in one message
    assert land(store, events([40, 61, 41, 61, 60, 50, 51, 52])) == (4, 4)
    msgs = stored_messages(store)
    assert len(msgs) == len(set(msgs)) == 54
    assert msgs[-4:] == ["line 51", "line 52", "line 60", "line 61"]  # central ids follow the sender's order


def test_two_origins_with_the_same_ids_are_kept_apart(store: Store) -> None:
    other = "7c9d1e2f-0000-4000-8000-00000000abcd"
    land(store, events([1, 2, 3]))
    assert land(store, events([1, 2, 3]), origin=other) == (3, 0)
    (row,) = store.cursor().execute("SELECT count(*), count(DISTINCT event_id) FROM events").fetchall()
    assert row == (6, 6)  # central ids are fresh, never the senders'


def test_central_ids_continue_after_local_events_and_translate_back(store: Store) -> None:
    alloc = StoreIdAllocator()
    land(store, events([1, 2, 3]), alloc=alloc)
    land(store, events([10, 11, 12, 5]), alloc=alloc)
    central = translate_ids(store.cursor(), ORIGIN, [11, 2, 999])
    msgs = store.cursor().execute("SELECT message FROM events WHERE event_id IN (SELECT unnest(?)) "
                                  "ORDER BY message", [central]).fetchall()
    assert [m[0] for m in msgs] == ["line 11", "line 2"]  # 999 never landed: left out


def test_site_is_stamped_where_the_sender_left_it_empty(store: Store) -> None:
    land(store, events([1], site=None))
    land(store, events([2], site="keep-me"))
    rows = store.cursor().execute("SELECT site FROM events ORDER BY event_id").fetchall()
    assert rows == [("plant-1",), ("keep-me",)]


def test_outbox_row_commits_with_its_events(store: Store) -> None:
    batch = events([7, 8, 9]).to_batches()[0]
    from store.writer import StoreWriter

    writer = StoreWriter(store).start()
    write = outbox_write(batch)
    assert write is not None
    writer.write_events(batch, extra=[write])
    assert writer.flush(10)
    writer.stop()
    rows = store.cursor().execute("SELECT kind, first_id, last_id FROM forward_outbox").fetchall()
    assert rows == [("events", 7, 9)]
    assert len(store_origin(store.cursor())) == 36


def test_changed_alerts_are_enqueued_once_per_version(store: Store) -> None:
    con = store.con
    con.execute("INSERT INTO alerts (alert_id, created_at, detector, severity, count, event_ids) "
                "VALUES (1, now(), 'rule', 'high', 1, [1]), (-5, now(), 'rule', 'low', 1, [])")
    assert enqueue_changed_alerts(con, "plant-1") == 1  # the remote (negative id) alert is not sent back
    assert enqueue_changed_alerts(con, "plant-1") == 0
    con.execute("UPDATE alerts SET count = 2 WHERE alert_id = 1")
    assert enqueue_changed_alerts(con, "plant-1") == 1
    rows = con.execute("SELECT first_id, last_id, payload FROM forward_outbox ORDER BY seq").fetchall()
    assert [(r[0], r[1]) for r in rows] == [(1, 1), (1, 2)]
    assert json.loads(rows[1][2])["site"] == "plant-1"


def test_alert_versions_only_move_forward(store: Store) -> None:
    con = store.con
    alert = {"alert_id": 9, "detector": "rule", "severity": "high", "count": 1, "title": "v1", "event_ids": []}
    assert land_alert(con, ORIGIN, "plant-1", alert, 1)
    assert land_alert(con, ORIGIN, "plant-1", {**alert, "title": "v3", "count": 3}, 3)
    assert not land_alert(con, ORIGIN, "plant-1", {**alert, "title": "v2"}, 2)  # late, older
    rows = con.execute("SELECT alert_id, title, count, site FROM alerts").fetchall()
    assert len(rows) == 1 and rows[0][0] < 0 and rows[0][1:] == ("v3", 3, "plant-1")


def test_hostile_alert_fields_get_safe_values(store: Store) -> None:
    con = store.con
    hostile = {"alert_id": 4, "severity": "apocalyptic", "status": "deleted", "score": float("nan"),
               "event_ids": ["1; DROP TABLE events", 2, True], "count": "many", "title": "x" * 10_000,
               "created_at": "yesterday"}
    assert land_alert(con, ORIGIN, "s", hostile, 1)
    (row,) = con.execute("SELECT severity, status, score, count, length(title) FROM alerts").fetchall()
    assert row == ("low", "new", None, 1, 500)  # count falls back to the one valid evidence id


def test_garbage_payloads_raise_payload_error_only() -> None:
    for junk in (b"", b"\x00" * 64, b"ARROW1" + b"\xff" * 100, json.dumps({"a": 1}).encode()):
        with pytest.raises(PayloadError):
            decode_events(junk)
    no_ids = pa.table({"message": ["x"]})
    with pytest.raises(PayloadError, match="event_id"):
        decode_events(encode_events(no_ids))
    bad_type = pa.table({"event_id": pa.array([1]), "ts": pa.array(["not a time"])})
    with pytest.raises(PayloadError, match="ts"):
        decode_events(encode_events(bad_type))


def test_a_payload_round_trips_every_column() -> None:
    table = events([1, 2])
    table = table.set_column(EVENT_SCHEMA.get_field_index("raw_bytes"), "raw_bytes",
                             pa.array([b"\xff\xfe", None], pa.binary()))
    back = decode_events(encode_events(table))
    assert back.equals(table)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300), kind=st.sampled_from(["events", "alerts", "other", ""]),
       origin=st.text(max_size=40))
def test_decode_message_never_raises_anything_but_payload_error(data: bytes, kind: str, origin: str) -> None:
    headers = {"Vigil-Wire": "1", "Vigil-Kind": kind, "Vigil-Origin": origin, "Vigil-Site": "s\x00\x1b[2J"}
    try:
        decode_message("vigil.s.events", headers, data)
    except PayloadError:
        pass


def test_site_ids_cannot_change_the_subject() -> None:
    assert subject_for("plant.1 >*", "events") == "vigil.plant_1___.events"
