"""Sites forward to a central Vigil through a real nats-server (JetStream): exactly once, across outages,
re-publishes and hostile messages. Engines run in-process on real DuckDB files and real files."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.config import Config
from app.engine import Engine
from store.forward import EventForwarder
from store.nats_link import H_KIND, H_MSG_ID, H_ORIGIN, H_SITE, H_WIRE, WIRE_VERSION, encode_events
from store.sources.nats_consumer import NatsConsumerSource
from tests.deadlines import generous

pytestmark = [
    pytest.mark.skipif(shutil.which("nats-server") is None,
                       reason="nats-server is not installed (Debian package nats-server)"),
    pytest.mark.timeout(120),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(pred: Callable[[], bool], timeout: float, what: str) -> None:
    timeout = generous(timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class NatsServer:
    """A real nats-server with JetStream on a loopback port, its store in a tmp dir; stop/start keeps both."""

    def __init__(self, root: Path, extra: list[str] | None = None) -> None:
        self.extra = extra or []
        self.port = free_port()
        self.store_dir = root / "js"
        self.log = root / "nats.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                ["nats-server", "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store_dir),
                 *self.extra],
                stdout=log, stderr=subprocess.STDOUT)

        def listening() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"nats-server exited: {self.log.read_text()[-500:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return True
            except OSError:
                return False

        wait_until(listening, 15, "nats-server to listen")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)
        self.proc = None


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Site:
    def __init__(self, root: Path, name: str, url: str, site_id: str = "", **forward: str) -> None:
        cfg = Config()
        for key, value in forward.items():
            setattr(cfg.forward, key, value)
        cfg.detectors.enabled = False
        self.log = root / f"{name}.log"
        self.log.write_text("")
        cfg.sources.watch = [str(self.log)]
        cfg.sources.poll_interval = 0.2
        cfg.sources.site = site_id
        cfg.forward.nats = url
        self.name = name
        self.engine = Engine(cfg, db_path=root / f"{name}.duckdb").start()
        self.forwarder = next(s for s in self.engine.sources if isinstance(s, EventForwarder))

    def write(self, first: int, last: int) -> None:
        with open(self.log, "a") as f:
            for i in range(first, last + 1):
                f.write(f"Nov 21 10:00:00 {self.name} app[7]: site {self.name} line {i}\n")


def central_engine(root: Path, url: str, **forward: str) -> tuple[Engine, NatsConsumerSource]:
    cfg = Config()
    for key, value in forward.items():
        setattr(cfg.forward, key, value)
    cfg.detectors.enabled = False
    cfg.forward.consume = url
    engine = Engine(cfg, db_path=root / "central.duckdb").start()
    consumer = next(s for s in engine.sources if isinstance(s, NatsConsumerSource))
    return engine, consumer


def counts(engine: Engine, where: str = "TRUE") -> tuple[int, int]:
    (row,) = engine.store.cursor().execute(
        f"SELECT count(*), count(DISTINCT message) FROM events WHERE {where}").fetchall()
    return int(row[0]), int(row[1])


def test_two_sites_reach_central_exactly_once_across_an_outage(tmp_path: Path, nats_server: NatsServer) -> None:
    central, consumer = central_engine(tmp_path, nats_server.url)
    # Both sites keep the default site id (this host's name): their store uuids must keep them apart.
    a, b = Site(tmp_path, "a", nats_server.url), Site(tmp_path, "b", nats_server.url)
    try:
        a.write(1, 300)
        b.write(1, 300)
        wait_until(lambda: counts(central)[0] >= 600, 30, "600 events at the central store")

        nats_server.stop()  # the uplink goes down; the sites keep ingesting into their outboxes
        a.write(301, 600)
        b.write(301, 600)
        wait_until(lambda: a.forwarder.status()["backlog_events"] == 300
                   and b.forwarder.status()["backlog_events"] == 300, 30, "both outboxes to queue 300 events")
        assert counts(central)[0] == 600
        assert not a.forwarder.status()["connected"]

        nats_server.start()  # and comes back: the queue drains where it stopped
        a.write(601, 700)
        b.write(601, 700)
        wait_until(lambda: counts(central)[0] >= 1400, 40, "1400 events at the central store")
        time.sleep(1.0)  # anything duplicated would land now
        assert counts(central) == (1400, 1400)
        for s in (a, b):
            assert counts(central, f"message LIKE 'site {s.name} line %'") == (700, 700)
            wait_until(lambda s=s: s.forwarder.stats.backlog_rows == 0, 10, "the outbox to empty")  # type: ignore[misc]
        sites = consumer.status()["sites"]
        assert isinstance(sites, list) and len(sites) == 2
        assert sorted(x["events"] for x in sites) == [700, 700]
        assert {x["origin"] for x in sites} == {a.forwarder.origin, b.forwarder.origin}
        assert all(x["last_seen"] for x in sites)
        # every column kept: the site's source, parsed host and app arrive untouched, site is stamped
        (row,) = central.store.cursor().execute(
            "SELECT source, host, app, site, raw FROM events WHERE message = 'site a line 42'").fetchall()
        assert row[0] == f"file:{a.log}" and row[1] == "a" and row[2] == "app" and row[3] == a.forwarder.site
        assert row[4].endswith("site a line 42")
    finally:
        a.engine.stop()
        b.engine.stop()
        central.stop()


def test_republished_batches_are_not_landed_twice(tmp_path: Path, nats_server: NatsServer) -> None:
    central, consumer = central_engine(tmp_path, nats_server.url)
    a = Site(tmp_path, "a", nats_server.url, site_id="plant-1")
    try:
        a.write(1, 200)
        wait_until(lambda: counts(central)[0] == 200, 30, "200 events at the central store")
        wait_until(lambda: a.forwarder.stats.backlog_rows == 0, 10, "the outbox to empty")

        # A crash between the JetStream ack and the outbox delete: the same rows are published again.
        a.engine.writer.call(lambda con: con.execute(
            "INSERT INTO forward_outbox VALUES (nextval('forward_outbox_seq'), 'events', 1, 200, NULL, now())"
        )).result(10)
        wait_until(lambda: a.forwarder.stats.duplicates >= 1, 20, "JetStream to flag the duplicate")

        # Beyond JetStream's duplicate window (a new message id): the central landing still refuses them.
        table = a.engine.store.cursor().sql("SELECT * FROM events ORDER BY event_id").to_arrow_table()
        headers = {H_MSG_ID: "late-replay-1", H_SITE: "plant-1", H_ORIGIN: a.forwarder.origin,
                   H_KIND: "events", H_WIRE: WIRE_VERSION}
        publish(nats_server.url, "vigil.plant-1.events", encode_events(table), headers)
        wait_until(lambda: consumer.stats.duplicates >= 200, 20, "the consumer to see the replayed events")
        assert counts(central) == (200, 200)
        (sites,) = central.store.cursor().execute("SELECT count(DISTINCT site) FROM events").fetchall()
        assert sites == (1,)
    finally:
        a.engine.stop()
        central.stop()


def test_unreadable_messages_are_refused_and_the_stream_moves_on(tmp_path: Path, nats_server: NatsServer) -> None:
    central, consumer = central_engine(tmp_path, nats_server.url)
    a = Site(tmp_path, "a", nats_server.url)
    try:
        good = {H_SITE: "x", H_ORIGIN: a.forwarder.origin, H_KIND: "events", H_WIRE: WIRE_VERSION}
        publish(nats_server.url, "vigil.x.events", b"\x00not arrow at all", {**good, H_MSG_ID: "bad-1"})
        publish(nats_server.url, "vigil.x.events", b"", {H_MSG_ID: "bad-2"})  # no Vigil headers at all
        publish(nats_server.url, "vigil.x.alerts", b'{"alert_id": "nope"}',
                {**good, H_KIND: "alerts", H_MSG_ID: "bad-3"})
        a.write(1, 50)
        wait_until(lambda: counts(central)[0] == 50, 30, "the good events after the bad messages")
        assert consumer.stats.refused == 3
        status = consumer.status()
        assert "refused" in str(status["last_refused"]) and status["drops"] == 3
        assert status["last_error"] is None and str(status["state"]).startswith("connected")
    finally:
        a.engine.stop()
        central.stop()


def test_site_alerts_land_centrally_and_follow_updates(tmp_path: Path, nats_server: NatsServer) -> None:
    central, consumer = central_engine(tmp_path, nats_server.url)
    a = Site(tmp_path, "a", nats_server.url, site_id="plant-1")
    try:
        a.write(1, 10)
        wait_until(lambda: counts(central)[0] == 10, 30, "10 events at the central store")
        a.engine.writer.call(lambda con: con.execute(
            "INSERT INTO alerts (alert_id, created_at, first_seen, last_seen, detector, rule_id, entity, score, "
            "severity, title, event_ids, count, status) VALUES (1, now(), now(), now(), 'rule', 'ssh_brute', "
            "'src_ip=203.0.113.7', 0.75, 'high', 'SSH brute force', [2, 3, 4], 3, 'new')")).result(10)

        def central_alert() -> list[Any]:
            return central.store.cursor().execute(
                "SELECT alert_id, site, count, event_ids, title FROM alerts").fetchall()

        wait_until(lambda: len(central_alert()) == 1, 20, "the alert at the central store")
        alert_id, site, count, event_ids, title = central_alert()[0]
        assert alert_id < 0 and site == "plant-1" and count == 3 and title == "SSH brute force"
        # evidence ids are translated to the central ids of the same events
        msgs = central.store.cursor().execute(
            "SELECT message FROM events WHERE event_id IN (SELECT unnest(?)) ORDER BY event_id",
            [event_ids]).fetchall()
        assert [m[0] for m in msgs] == [f"site a line {i}" for i in (2, 3, 4)]

        a.engine.writer.call(lambda con: con.execute(
            "UPDATE alerts SET count = 5, event_ids = [2, 3, 4, 5, 6], last_seen = now() WHERE alert_id = 1"
        )).result(10)
        wait_until(lambda: central_alert()[0][2] == 5, 20, "the alert update at the central store")
        assert len(central_alert()) == 1 and len(central_alert()[0][3]) == 5
        # The counters move just after the commit that made the row visible: wait for them, don't race them.
        wait_until(lambda: consumer.stats.alerts == 2, 10, "both alert versions counted")
    finally:
        a.engine.stop()
        central.stop()


def test_a_site_started_while_central_is_down_queues_then_delivers(tmp_path: Path) -> None:
    server = NatsServer(tmp_path)  # not started yet
    a = Site(tmp_path, "a", server.url, site_id="plant-1")
    central = None
    try:
        a.write(1, 100)
        wait_until(lambda: a.forwarder.status()["backlog_events"] == 100, 20, "100 events queued in the outbox")
        server.start()
        central, _ = central_engine(tmp_path, server.url)
        wait_until(lambda: counts(central)[0] == 100, 30, "the queued events at the central store")
        server.stop()
        a.write(101, 110)
        wait_until(lambda: a.forwarder.status()["backlog_events"] == 10, 20, "10 events queued again")
        # Stopping must not wait for a server that is gone (reconnecting would be for ever): it ends.
        stopper = threading.Thread(target=a.engine.stop, daemon=True)
        stopper.start()
        stopper.join(120)
        assert not stopper.is_alive(), "engine.stop() waited for a NATS server that is gone"
    finally:
        a.engine.stop()
        if central is not None:
            central.stop()
        server.stop()


def test_credentials_and_tls_come_from_config(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
                    "-out", str(cert)], check=True, capture_output=True)
    server = NatsServer(tmp_path, ["--user", "vigil", "--pass", "s3cret", "--tls", "--tlscert", str(cert),
                                   "--tlskey", str(key)])
    server.start()
    good = {"user": "vigil", "password": "s3cret", "tls_ca": str(cert)}
    central, consumer = central_engine(tmp_path, server.url, **good)
    a = Site(tmp_path, "a", server.url, site_id="plant-1", **good)
    intruder = Site(tmp_path, "b", server.url, site_id="intruder", **{**good, "password": "guess"})
    try:
        a.write(1, 20)
        intruder.write(1, 20)
        wait_until(lambda: counts(central)[0] == 20, 30, "the site's events over TLS with credentials")
        assert a.forwarder.connected and consumer.connected
        # wrong password: nothing gets in, the outbox keeps it
        wait_until(lambda: intruder.forwarder.status()["backlog_events"] == 20, 20, "the intruder's queue")
        assert not intruder.forwarder.connected and counts(central, "site = 'intruder'")[0] == 0
        assert "s3cret" not in str(a.forwarder.status()) and "s3cret" not in a.forwarder.name
    finally:
        a.engine.stop()
        intruder.engine.stop()
        central.stop()
        server.stop()


def publish(url: str, subject: str, data: bytes, headers: dict[str, str]) -> None:
    import nats

    from store.nats_link import ensure_stream

    async def go() -> None:
        nc = await nats.connect(url)
        try:
            await ensure_stream(nc.jetstream())
            await nc.jetstream().publish(subject, data, headers=headers, timeout=5)
        finally:
            await nc.close()

    asyncio.run(go())
