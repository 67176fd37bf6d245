"""Forwarding throughput: site outbox → NATS JetStream (real nats-server, loopback) → central landing, and the
rate at which an outbox backlog built during an outage drains once the link returns. Also the payload codec
choice (Arrow IPC + zstd vs JSON lines) measured on the same events."""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from bench.gen import write_lines


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(pred: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return False


class _Server:
    def __init__(self, root: Path) -> None:
        self.port, self.root = _free_port(), root
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["nats-server", "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.root / "js")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def up() -> bool:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return True
            except OSError:
                return False
        if not _wait(up, 15):
            raise RuntimeError("nats-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(15)


def _event_batches(n: int, root: Path, first_id: int, batch_rows: int = 5000) -> list[pa.RecordBatch]:
    """Real parser output for generated auth/access/5424 lines, in pipeline-sized batches."""
    from store.parsers import ParserChain
    from store.pipeline import EventBatchBuilder

    lines = write_lines(root / f"lines-{first_id}.log", n).read_bytes().splitlines()
    chain = ParserChain(None)
    now = datetime.now(UTC)
    out = []
    for start in range(0, n, batch_rows):
        b = EventBatchBuilder()
        b.first_id = first_id + start
        chunk = lines[start:start + batch_rows]
        b.extend([chain.parse(line, now) for line in chunk], now, "file:/var/log/bench.log", None, None)
        out.append(b.build())
    return out


def _fill_site(store: object, batches: list[pa.RecordBatch]) -> None:
    from store.forward import outbox_write
    from store.writer import insert_events

    con = store.con  # type: ignore[attr-defined]
    for batch in batches:  # as the pipeline does: events and their outbox row in one transaction
        con.execute("BEGIN")
        insert_events(con, batch)
        write = outbox_write(batch)
        assert write is not None
        write(con)
        con.execute("COMMIT")


def _codec_figures(batch: pa.RecordBatch) -> None:
    from store.nats_link import decode_events, encode_events

    table = pa.Table.from_batches([batch]).slice(0, 2000)
    t0 = time.perf_counter()
    for _ in range(20):
        ipc = encode_events(table)
    t_ipc = (time.perf_counter() - t0) / 20
    t0 = time.perf_counter()
    for _ in range(20):
        decode_events(ipc)
    t_dec = (time.perf_counter() - t0) / 20
    rows = table.to_pylist()
    t0 = time.perf_counter()
    for _ in range(5):
        js = "\n".join(json.dumps(r, default=str, separators=(",", ":")) for r in rows).encode()
    t_json = (time.perf_counter() - t0) / 5
    print(f"  payload for 2,000 events: Arrow IPC+zstd {len(ipc) / 1024:,.0f} KiB "
          f"(encode {t_ipc * 1000:.1f} ms, decode {t_dec * 1000:.1f} ms); "
          f"JSON lines {len(js) / 1024:,.0f} KiB (encode {t_json * 1000:.1f} ms, decode not counted)")


def run(events: int = 50_000, backlog: int = 50_000) -> None:
    if shutil.which("nats-server") is None:
        print("  skipped: nats-server is not installed (apt-get install nats-server)")
        return
    from store.db import Store
    from store.forward import FORWARD_MIGRATIONS, EventForwarder
    from store.nats_link import NatsLinkConfig
    from store.sources.nats_consumer import NatsConsumerSource
    from store.writer import StoreWriter

    with tempfile.TemporaryDirectory(prefix="vigil-bench-fwd-") as tmp:
        root = Path(tmp)
        server = _Server(root)
        server.start()
        migrations = {"forward": FORWARD_MIGRATIONS}
        site = Store.open(root / "site.duckdb", migrations=migrations)
        central = Store.open(root / "central.duckdb", migrations=migrations)
        site_writer, central_writer = StoreWriter(site).start(), StoreWriter(central).start()
        link = NatsLinkConfig(f"nats://127.0.0.1:{server.port}")
        first = _event_batches(events, root, 1)
        _codec_figures(first[0])
        _fill_site(site, first)
        consumer = NatsConsumerSource(link, central, central_writer, fetch_batch=64)
        forwarder = EventForwarder(link, site, site_writer, "bench-site")

        def landed() -> int:
            (row,) = central.cursor().execute("SELECT count(*) FROM events").fetchall()
            return int(row[0])
        try:
            consumer.start()
            t0 = time.perf_counter()
            forwarder.start()
            if not _wait(lambda: landed() >= events, 300):
                raise RuntimeError(f"only {landed()} of {events} events landed")
            dt = time.perf_counter() - t0
            print(f"  forward site → JetStream → central store: {events:,} events in {dt:.2f} s = "
                  f"{events / dt:,.0f} events/s ({forwarder.stats.messages} messages)")

            server.stop()  # outage: the site keeps committing; the outbox queues
            _wait(lambda: not forwarder.connected, 15)
            _fill_site(site, _event_batches(backlog, root, events + 1))
            forwarder.wake()
            _wait(lambda: int(forwarder.status()["backlog_events"]) >= backlog, 15)  # type: ignore[call-overload]
            queued = int(forwarder.status()["backlog_events"])  # type: ignore[call-overload]
            server.start()
            t0 = time.perf_counter()
            if not _wait(lambda: forwarder.status()["backlog_events"] == 0, 300):
                raise RuntimeError("the outbox did not drain")
            t_drain = time.perf_counter() - t0
            if not _wait(lambda: landed() >= events + backlog, 300):
                raise RuntimeError("the backlog did not land")
            t_land = time.perf_counter() - t0
            print(f"  after an outage: {queued:,} queued events drained from the outbox in {t_drain:.2f} s = "
                  f"{queued / t_drain:,.0f} events/s (reconnect included); all landed centrally after "
                  f"{t_land:.2f} s = {queued / t_land:,.0f} events/s")
            (row,) = central.cursor().execute("SELECT count(*), count(DISTINCT raw) FROM events").fetchall()
            print(f"  central store: {row[0]:,} rows for {events + backlog:,} sent "
                  f"(duplicates landed: {int(row[0]) - (events + backlog)})")
        finally:
            forwarder.stop()
            consumer.stop()
            site_writer.stop()
            central_writer.stop()
            site.close()
            central.close()
            server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--backlog", type=int, default=50_000)
    args = ap.parse_args()
    run(args.events, args.backlog)


if __name__ == "__main__":
    main()
