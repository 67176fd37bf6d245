"""Archives are data from outside: a forged archive imported first cannot shadow the genuine one, a signature that
does not verify refuses the archive, and a partition over the size, row or line caps is refused by name before
it is loaded into memory. Real DuckDB files, real Parquet, the real CLI."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from app.storage import open_store
from store.archive import (
    DEFAULT_CAPS,
    MANIFEST,
    ArchiveError,
    export_archive,
    import_archive,
    read_manifest,
    sha256_file,
)
from store.archive_signing import SIGNATURE, ArchiveTrust, load_or_create_key, signature_document
from store.parquet_guard import Caps, PartitionRefused, inspect, read_page_header
from store.schema import EVENT_SCHEMA
from store.writer import insert_events
from tests.conftest import ROOT, vigil_cmd
from tests.test_archive import DAY1, make_events

GENUINE = "line {i}: Failed password for root from 203.0.113.9"
FORGED = "line {i}: nothing to see here"


def site_store(path: Path, n: int, text: str) -> None:
    store = open_store(path)
    batch = make_events(1, n, DAY1, None)
    msgs = pa.array([text.format(i=i) for i in range(n)])
    insert_events(store.con, batch.set_column(EVENT_SCHEMA.get_field_index("message"), "message", msgs))
    store.close()


def export(db: Path, out: Path, **kw: object) -> None:
    store = open_store(db)
    try:
        export_archive(store.cursor(), out, **kw)  # type: ignore[arg-type]
    finally:
        store.close()


def rewrite_manifest(archive: Path, **changes: object) -> None:
    manifest = json.loads((archive / MANIFEST).read_text())
    manifest.update(changes)
    for entry in manifest["partitions"]:
        entry["sha256"] = sha256_file(archive / entry["path"])
    (archive / MANIFEST).write_text(json.dumps(manifest))


class Cli:
    def __init__(self, tmp: Path, name: str, config: str = "") -> None:
        self.home = tmp / name
        (self.home / "cfg" / "vigil").mkdir(parents=True)
        (self.home / "cfg" / "vigil" / "config.toml").write_text(config)
        self.env = dict(os.environ, XDG_CONFIG_HOME=str(self.home / "cfg"), XDG_DATA_HOME=str(self.home / "data"))

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*vigil_cmd(), *args], cwd=ROOT, env=self.env, capture_output=True, text=True,
                              timeout=180)


def messages(db: Path) -> list[str]:
    store = open_store(db)
    try:
        return [r[0] for r in store.cursor().execute("SELECT message FROM events ORDER BY event_id").fetchall()]
    finally:
        store.close()


def test_a_forged_archive_imported_first_does_not_shadow_the_genuine_one(tmp_path: Path) -> None:
    site_key = tmp_path / "keys" / "plant-1.key"
    site = Cli(tmp_path, "site", f'[sources]\nsite = "plant-1"\n\n[archive]\nsigning_key = "{site_key}"\n')
    site_db = tmp_path / "site.duckdb"
    site_store(site_db, 62, GENUINE)
    genuine = tmp_path / "genuine"
    r = site("export", "--db", str(site_db), "--out", str(genuine), "--sign")
    assert r.returncode == 0, r.stderr
    assert "created signing key" in r.stderr and "signed for site 'plant-1'" in r.stderr
    assert (site_key.stat().st_mode & 0o777) == 0o600 and (genuine / SIGNATURE).exists()

    # The attacker copies the public parts of the genuine manifest (origin, site) onto their own events.
    attacker_db = tmp_path / "attacker.duckdb"
    site_store(attacker_db, 62, FORGED)
    forged = tmp_path / "forged"
    export(attacker_db, forged, site="plant-1")
    rewrite_manifest(forged, origin=read_manifest(genuine)["origin"])

    trusted = tmp_path / "central-keys" / "plant-1.key"
    trusted.parent.mkdir()
    trusted.write_bytes(site_key.read_bytes())
    trusted.chmod(0o600)
    central = Cli(tmp_path, "central", f'[archive.trusted_keys]\n"plant-1" = "{trusted}"\n')
    db = tmp_path / "central.duckdb"
    r = central("import", "--db", str(db), str(forged))
    assert r.returncode == 0, r.stderr
    assert "UNVERIFIED (unsigned)" in r.stderr and "(62 rows" in r.stderr
    r = central("import", "--db", str(db), str(genuine))
    assert r.returncode == 0, r.stderr
    assert "signed by site 'plant-1'" in r.stderr and "verified" in r.stderr
    assert "2 of 2 partition(s) loaded (62 rows, 0 already present)" in r.stderr  # 62 s across midnight
    # The signed data replaced the unverified claims on the same events.
    assert messages(db) == [GENUINE.format(i=i) for i in range(62)]

    # Imported the other way round, the forgery adds nothing either.
    db2 = tmp_path / "central2.duckdb"
    assert central("import", "--db", str(db2), str(genuine)).returncode == 0
    r = central("import", "--db", str(db2), str(forged))
    assert r.returncode == 0 and "(0 rows, 62 already present)" in r.stderr
    assert messages(db2) == [GENUINE.format(i=i) for i in range(62)]


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Path, Path, ArchiveTrust]:
    """A signed archive of 62 events from plant-1 and the central site's trust in plant-1's key."""
    key, _ = load_or_create_key(tmp_path / "plant-1.key")
    site_store(tmp_path / "site.duckdb", 62, GENUINE)
    archive = tmp_path / "signed"
    export(tmp_path / "site.duckdb", archive, site="plant-1", key=key)
    return archive, tmp_path / "central.duckdb", ArchiveTrust({"plant-1": key.path})


def test_a_changed_or_wrongly_signed_archive_is_refused_whole(tmp_path: Path, signed) -> None:
    archive, db, trust = signed
    central = open_store(db)
    try:
        manifest = json.loads((archive / MANIFEST).read_text())
        manifest["site"] = "plant-1"  # same content, different bytes: the tag covers the exact bytes
        (archive / MANIFEST).write_text(json.dumps(manifest, indent=2))
        with pytest.raises(ArchiveError, match="signature does not verify with the trusted key for site"):
            import_archive(central.con, archive, trust=trust)
        # An attacker's own key, claiming plant-1, is no better.
        other, _ = load_or_create_key(tmp_path / "attacker.key")
        forged = tmp_path / "forged"
        export(tmp_path / "site.duckdb", forged, site="plant-1", key=other)
        with pytest.raises(ArchiveError, match="the archive is forged"):
            import_archive(central.con, forged, trust=trust)
        (row,) = central.cursor().execute("SELECT count(*) FROM events").fetchall()
        assert row == (0,)
    finally:
        central.close()


def test_require_signed_refuses_what_does_not_verify(tmp_path: Path, signed) -> None:
    archive, db, trust = signed
    (archive / SIGNATURE).unlink()
    central = open_store(db)
    try:
        with pytest.raises(ArchiveError, match=r"refused: unsigned \(\[archive\] require_signed is set\)"):
            import_archive(central.con, archive, trust=ArchiveTrust(trust.keys, require_signed=True))
    finally:
        central.close()


def test_a_signing_key_others_can_read_is_refused(tmp_path: Path, signed) -> None:
    archive, db, trust = signed
    trust.keys["plant-1"].chmod(0o644)
    central = open_store(db)
    try:
        with pytest.raises(ArchiveError, match=r"is readable by others \(mode 0644\): chmod 600"):
            import_archive(central.con, archive, trust=trust)
    finally:
        central.close()


def test_a_site_cannot_sign_for_another_sites_store(tmp_path: Path, signed) -> None:
    archive, db, trust = signed
    central = open_store(db)
    try:
        assert import_archive(central.con, archive, trust=trust).rows == 62
        # plant-2 is trusted for plant-2, and signs an archive that claims plant-1's store as its origin.
        key2, _ = load_or_create_key(tmp_path / "plant-2.key")
        trust.keys["plant-2"] = key2.path
        other = tmp_path / "plant2"
        site_store(tmp_path / "p2.duckdb", 62, FORGED)
        export(tmp_path / "p2.duckdb", other, site="plant-2")
        rewrite_manifest(other, origin=read_manifest(archive)["origin"])
        (other / SIGNATURE).write_bytes(signature_document(key2, "plant-2", (other / MANIFEST).read_bytes()))
        with pytest.raises(ArchiveError, match="belongs to site 'plant-1'"):
            import_archive(central.con, other, trust=trust)
    finally:
        central.close()


# -- caps ------------------------------------------------------------------------------------------------------
def hostile_partition(archive: Path, rows: int, message: pa.Array, *, arrow_schema: bool = True) -> str:
    """An archive whose one partition holds `rows` events with the given message column (written by pyarrow,
    the way an attacker would; with or without Arrow's own schema embedded), and an unsigned manifest."""
    rel = "site=plant-1/day=2026-11-20/part_x.parquet"
    path = archive / rel
    path.parent.mkdir(parents=True)
    table = pa.table({
        "event_id": pa.array(range(1, rows + 1), pa.int64()),
        "received_at": pa.array([DAY1] * rows, EVENT_SCHEMA.field("received_at").type),
        "source": pa.array(["file:/var/log/auth.log"] * rows),
        "message": message,
        "site": pa.array(["plant-1"] * rows),
    })
    pq.write_table(table, path, compression="zstd", store_schema=arrow_schema)
    manifest = {"format": "vigil-archive", "version": 1, "table": "events", "site": "plant-1",
                "origin": "0123456789abcdef", "partitions": [
                    {"path": rel, "rows": rows, "sha256": sha256_file(path), "bytes": path.stat().st_size}]}
    (archive / MANIFEST).write_text(json.dumps(manifest))
    return rel


@pytest.mark.parametrize("arrow_schema", [True, False])
def test_huge_messages_are_refused_by_name_in_bounded_memory(tmp_path: Path, arrow_schema: bool) -> None:
    """400 rows sharing one 10 MiB message: a few KB on disk, 4 GB if decoded naively. `vigil import` refuses
    the partition by name, stores nothing, and its peak memory stays far below that."""
    rows, big = 400, 10 * 1024 * 1024
    message = pa.DictionaryArray.from_arrays(pa.array([0] * rows, pa.int32()), pa.array(["A" * big]))
    archive = tmp_path / "hostile"
    rel = hostile_partition(archive, rows, message, arrow_schema=arrow_schema)
    assert (archive / rel).stat().st_size < 64 * 1024
    db = tmp_path / "central.duckdb"
    err = tmp_path / "err"
    with open(err, "wb") as errf:
        proc = subprocess.Popen([*vigil_cmd(), "import", "--db", str(db), str(archive)], cwd=ROOT,
                                env=Cli(tmp_path, "central").env, stdout=subprocess.DEVNULL, stderr=errf)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak, not the test run's
    text = err.read_text()
    assert os.waitstatus_to_exitcode(status) == 1, text
    assert f"refused {rel}: column message holds a value of {big:,} bytes, over the 65,536-byte cap" in text
    assert "0 of 1 partition(s) loaded" in text
    assert usage.ru_maxrss < 1024 * 1024, f"peak RSS {usage.ru_maxrss} KiB"  # KiB on Linux: under 1 GB
    assert messages(db) == []


def corrupt_page_payloads(path: Path) -> int:
    """Overwrite the compressed bytes of every page (headers intact): any attempt to decode them fails."""
    meta = pq.ParquetFile(path).metadata
    data = bytearray(path.read_bytes())
    pages = 0
    for i in range(meta.num_row_groups):
        for j in range(meta.num_columns):
            col = meta.row_group(i).column(j)
            pos = min(col.data_page_offset, col.dictionary_page_offset or col.data_page_offset)
            end = pos + col.total_compressed_size
            while pos < end:
                page = read_page_header(bytes(data[pos:pos + 4096]))
                start = pos + page.length
                data[start:start + page.compressed] = b"\xff" * page.compressed
                pos = start + page.compressed
                pages += 1
    path.write_bytes(bytes(data))
    return pages


def test_decompressed_size_cap_refuses_from_page_headers_before_reading(tmp_path: Path) -> None:
    rows = 3000
    message = pa.array([f"{i:06d} " + "0123456789abcdef" * 64 for i in range(rows)])  # ~3 MB, compresses well
    archive = tmp_path / "big"
    rel = hostile_partition(archive, rows, message)
    assert corrupt_page_payloads(archive / rel) >= 5
    rewrite_manifest(archive)
    cli = Cli(tmp_path, "central", "[archive]\nmax_partition_mb = 1\n")
    r = cli("import", "--db", str(tmp_path / "c.duckdb"), str(archive))
    assert r.returncode == 1
    # Refused from the page headers: had any page been decompressed, the corrupt bytes would have said so.
    assert f"refused {rel}: decompresses to more than 1,048,576 bytes (the cap per partition), by its page " \
           "headers" in r.stderr


def test_dictionary_expansion_is_caught_before_anything_lands(tmp_path: Path) -> None:
    """Pages that are small (one 60 KiB value, run-length indices) but decode to ~120 MB: over a 64 MB cap."""
    rows = 2000
    message = pa.DictionaryArray.from_arrays(pa.array([0] * rows, pa.int32()), pa.array(["B" * 60_000]))
    archive = tmp_path / "expand"
    hostile_partition(archive, rows, message)
    central = open_store(tmp_path / "c.duckdb")
    try:
        res = import_archive(central.con, archive, caps=dataclasses.replace(DEFAULT_CAPS, max_bytes=64 << 20))
        assert res.imported == 0 and res.rows == 0
        assert "decodes to more than 67,108,864 bytes" in res.refused[0][1]
        (row,) = central.cursor().execute("SELECT count(*) FROM events").fetchall()
        assert row == (0,)
    finally:
        central.close()


def test_row_and_page_caps_are_checked_from_metadata(tmp_path: Path) -> None:
    archive = tmp_path / "rows"
    rel = hostile_partition(archive, 50, pa.array([f"m{i}" for i in range(50)]))
    caps = Caps(max_bytes=1 << 30, max_rows=10, max_page_bytes=1 << 20, max_list_items=1000)
    with pytest.raises(PartitionRefused, match="50 rows, over the 10-row cap"):
        inspect(archive / rel, caps)
    with pytest.raises(PartitionRefused, match="50 rows in the file's footer, manifest says 40"):
        inspect(archive / rel, Caps(1 << 30, 100, 1 << 20, 1000), expected_rows=40)
    with pytest.raises(PartitionRefused, match=r"a page decompresses to [\d,]+ bytes, over the 100-byte page cap"):
        inspect(archive / rel, Caps(1 << 30, 100, 100, 1000))
    assert inspect(archive / rel, Caps(1 << 30, 100, 1 << 20, 1000)).rows == 50


def test_verified_events_replace_only_the_unverified_copies_of_the_same_ids(tmp_path: Path) -> None:
    from store.landing import StoreIdAllocator, land_events, translate_ids, unverified_origin
    from store.nats_link import conform

    def batch(first: int, n: int, text: str) -> pa.Table:
        rb = make_events(first, n, DAY1, "plant-1")
        msgs = pa.array([text.format(i=first + i) for i in range(n)])
        return conform(pa.Table.from_batches(
            [rb.set_column(EVENT_SCHEMA.get_field_index("message"), "message", msgs)]))

    store = open_store(tmp_path / "c.duckdb")
    try:
        con, alloc, origin = store.con, StoreIdAllocator(), "0123456789abcdef"
        assert land_events(con, unverified_origin(origin), "plant-1", batch(1, 10, FORGED), alloc)[0] == 10
        assert land_events(con, origin, "plant-1", batch(4, 3, GENUINE), alloc)[0] == 3
        rows = con.execute("SELECT message FROM events ORDER BY event_id").fetchall()
        assert [r[0] for r in rows] == [FORGED.format(i=i) for i in (1, 2, 3, 7, 8, 9, 10)] + \
            [GENUINE.format(i=i) for i in (4, 5, 6)]
        # The trimmed unverified ranges still translate the ids that remain, and only those.
        central = translate_ids(con, unverified_origin(origin), list(range(1, 11)))
        got = con.execute(f"SELECT message FROM events WHERE event_id IN ({','.join(map(str, central))}) "
                          "ORDER BY event_id").fetchall()
        assert [r[0] for r in got] == [FORGED.format(i=i) for i in (1, 2, 3, 7, 8, 9, 10)]
        # An unverified claim on ids the genuine origin holds lands nothing.
        assert land_events(con, unverified_origin(origin), "plant-1", batch(4, 3, FORGED), alloc)[:2] == (0, 3)
    finally:
        store.close()


def test_archive_settings_are_checked_and_sign_is_for_archives_only(tmp_path: Path) -> None:
    from app.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match=r"archive\.max_partition_mb: must be at least 1, got 0"):
        parse_config("[archive]\nmax_partition_mb = 0\n")
    with pytest.raises(ConfigError, match=r"archive\.trusted_keys: expected a table of strings"):
        parse_config('[archive]\ntrusted_keys = ["plant-1"]\n')
    site_store(tmp_path / "s.duckdb", 3, GENUINE)
    r = Cli(tmp_path, "site")("export", "--db", str(tmp_path / "s.duckdb"), "--format", "csv", "--out",
                              str(tmp_path / "x.csv"), "--sign")
    assert r.returncode == 2 and r.stderr.strip() == "vigil export: only Parquet archives are signed (--format parquet)"
