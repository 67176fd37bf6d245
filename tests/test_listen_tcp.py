"""Syslog over TCP on real loopback sockets: framing per connection, hostile clients, caps, timeouts,
back-pressure and prompt shutdown."""

from __future__ import annotations

import json
import os
import random
import socket
import threading
import time

import pytest

from store.sources.listeners import ListenerBindError, ListenerConfigError, open_listener, parse_listen_url
from tests.listen_support import CollectingSink, wait_until


@pytest.fixture
def sink() -> CollectingSink:
    return CollectingSink()


def start(url: str, sink: CollectingSink, **opts: object):
    listener = open_listener(url, **opts)
    listener.start(sink.submit)
    return listener


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def octet(body: bytes) -> bytes:
    return b"%d %s" % (len(body), body)


def test_each_connection_detects_its_own_framing(sink):
    lst = start("tcp://127.0.0.1:0", sink)
    try:
        a, b = connect(lst.port), connect(lst.port)
        a.sendall(b"<13>lf one\n<13>lf two\r\n")
        b.sendall(octet(b"<13>octet one\n") + octet(b"<13>octet two"))
        wait_until(lambda: sink.count() == 4, what="4 frames")
        by_peer: dict[str, list[bytes]] = {}
        for line, peer in sink.pairs():
            by_peer.setdefault(peer, []).append(line)
        assert by_peer == {
            f"127.0.0.1:{a.getsockname()[1]}": [b"<13>lf one", b"<13>lf two"],
            f"127.0.0.1:{b.getsockname()[1]}": [b"<13>octet one", b"<13>octet two"],
        }
        assert {bt.source for bt in sink.batches} == {f"tcp://127.0.0.1:{lst.port}"}
        assert all(bt.received_at.tzinfo is not None for bt in sink.batches)
        a.close()
        b.close()
    finally:
        lst.stop()
    st = lst.status()
    assert st["messages"] == 4 and st["connections_total"] == 2 and st["exposed"] is False


def test_hostile_clients_do_not_cost_a_well_behaved_sender_a_message(sink):
    # Every client here is 127.0.0.1: the per-address cap is lifted so the hostile payloads reach the decoder
    # (the cap itself is tested with two source addresses below).
    lst = start("tcp://127.0.0.1:0", sink, max_connections=512, max_connections_per_ip=0)
    n_good = 20000
    idle = []
    try:
        for _ in range(200):  # slow/silent clients holding connections open
            idle.append(connect(lst.port))

        good = connect(lst.port)
        msgs = [octet(b"<13>1 - host app - - - good %d" % i) for i in range(n_good)]
        good.sendall(b"".join(msgs[: n_good // 2]))  # first half, then the hostile clients, then the rest
        rnd = random.Random(7)
        hostile_payloads = [
            bytes(rnd.getrandbits(8) for _ in range(200_000)),  # random bytes
            octet(b"<13>ok") + b"999999999 <13>absurd count",
            octet(b"<13>ok") + b"12x <13>not a count",
            octet(b"<13>ok") + b"12345678901 <13>eleven digits",
            b"<13>" + b"L" * (1024 * 1024) + b"\n<13>after 1 MiB LF line\n",
            octet(b"<13>" + b"O" * (1024 * 1024)) + octet(b"<13>after 1 MiB octet frame"),
            b"<13>nul\x00inside\n<13>bad utf8 \xff\xfe\xc3\x28\n",
        ]
        for payload in hostile_payloads:
            h = connect(lst.port)
            try:
                h.sendall(payload)
                h.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # the listener may close a broken stream before we finish writing it
            h.close()
        for i in range(n_good // 2, n_good, 500):
            good.sendall(b"".join(msgs[i:i + 500]))
        good.close()
        wait_until(lambda: sum(1 for ln in sink.lines if b" good " in ln) >= n_good, 20, "good messages")
        good = [ln for ln in sink.lines if b" good " in ln]
        assert good == [b"<13>1 - host app - - - good %d" % i for i in range(n_good)]
        # The hostile connections are served concurrently and may finish after the good one: wait for the
        # frames that must survive them rather than assuming an order.
        survivors = [b"<13>after 1 MiB LF line", b"<13>after 1 MiB octet frame", b"<13>nul\x00inside",
                     b"<13>bad utf8 \xff\xfe\xc3\x28"]
        wait_until(lambda: all(x in sink.lines for x in survivors), 20, "frames after the hostile input")
        lines = sink.lines
        assert b"<13>after 1 MiB LF line" in lines
        assert b"<13>after 1 MiB octet frame" in lines
        assert b"<13>nul\x00inside" in lines and b"<13>bad utf8 \xff\xfe\xc3\x28" in lines
        cut = [(ln, note) for ln, note in sink.notes() if note.startswith("cut at 65536")]
        assert len(cut) == 2 and all(len(ln) == 65536 for ln, _ in cut)
        assert all(len(ln) <= 65536 for ln in lines)
        st = lst.status()
        assert st["closed"].get("bad octet count", 0) >= 3
        assert st["frame_errors"] >= 3 and st["cut_frames"] >= 2
        assert st["connections"] == 200  # the idle ones, still open (timeout 60 s)
    finally:
        for s in idle:
            s.close()
        lst.stop()


def test_connection_cap_refuses_the_excess_and_counts_it(sink):
    lst = start("tcp://127.0.0.1:0", sink, max_connections=5)
    socks = []
    try:
        for _ in range(5):
            socks.append(connect(lst.port))
        wait_until(lambda: lst.status()["connections"] == 5, what="5 accepted")
        extra = [connect(lst.port) for _ in range(3)]
        wait_until(lambda: lst.status()["refused"] == 3, what="3 refused")
        for s in extra:
            s.settimeout(5)
            assert s.recv(10) == b""  # closed by the listener
            s.close()
        socks[0].sendall(b"<13>still served\n")
        wait_until(lambda: sink.lines == [b"<13>still served"], what="frame from an accepted client")
    finally:
        for s in socks:
            s.close()
        lst.stop()


def test_per_address_cap_leaves_room_for_other_senders(sink):
    lst = start("tcp://127.0.0.1:0?max_connections_per_ip=3", sink)
    socks = []
    try:
        socks = [connect(lst.port) for _ in range(5)]
        wait_until(lambda: lst.status()["refused"] == 2, what="2 refused for 127.0.0.1")
        # Another sender: same listener, but its source address is 127.0.0.2.
        other = socket.create_connection(("127.0.0.1", lst.port), timeout=10, source_address=("127.0.0.2", 0))
        other.sendall(b"<13>from another address\n")
        wait_until(lambda: sink.lines == [b"<13>from another address"], what="frame from 127.0.0.2")
        assert lst.status()["connections"] == 4
        other.close()
        socks[0].close()  # a slot frees up when a connection ends
        wait_until(lambda: lst.status()["connections"] == 2, what="closes noticed")
        socks.append(connect(lst.port))
        wait_until(lambda: lst.status()["connections"] == 3, what="new connection accepted")
        assert lst.status()["refused"] == 2
    finally:
        for s in socks:
            s.close()
        lst.stop()


def test_one_address_cannot_take_every_slot_by_default(sink):
    """A flood of connections from 127.0.0.1 is held to the default per-address cap while a sender on
    127.0.0.2 (Linux routes all of 127/8 to lo) still gets every message through."""
    lst = start("tcp://127.0.0.1:0", sink)
    cap = lst.status()["max_connections_per_ip"]
    assert 0 < cap < lst.status()["max_connections"]
    flood: list[socket.socket] = []
    try:
        for _ in range(cap + 100):
            flood.append(connect(lst.port))
        wait_until(lambda: lst.status()["refused"] == 100, 30, "the excess refused")
        assert lst.status()["connections"] == cap
        assert lst.status()["closed"] == {"refused: per-address cap": 100}
        good = socket.create_connection(("127.0.0.1", lst.port), timeout=10, source_address=("127.0.0.2", 0))
        n = 2000
        good.sendall(b"".join(octet(b"<13>good %d" % i) for i in range(n)))
        good.close()
        wait_until(lambda: sink.count() >= n, 30, "every good message")
        assert sink.lines == [b"<13>good %d" % i for i in range(n)]
        assert {peer.split(":")[0] for _, peer in sink.pairs()} == {"127.0.0.2"}
    finally:
        for s in flood:
            s.close()
        lst.stop()


def trickle_until_closed(sock: socket.socket, payload: bytes, pause: float, limit: float = 60.0) -> bool:
    """Send `payload` a byte at a time, `pause` seconds apart, until the peer closes (True) or `limit` passes."""
    deadline = time.monotonic() + limit
    i = 0
    while time.monotonic() < deadline:
        try:
            sock.sendall(payload[i % len(payload):i % len(payload) + 1])
        except OSError:
            return True
        i += 1
        time.sleep(pause)
    return False


def test_a_trickled_frame_is_closed_by_the_frame_deadline(sink):
    """A byte every 0.1 s resets the idle timer (60 s here) but not the frame deadline: the connection is closed
    even though it never goes idle. A sender of complete lines at the same slow pace is not."""
    lst = start("tcp://127.0.0.1:0?frame_timeout=1", sink)
    try:
        slow_good = connect(lst.port)
        stop = threading.Event()

        def send_lines() -> None:
            i = 0
            while not stop.is_set():
                slow_good.sendall(b"<13>slow but whole %d\n" % i)
                i += 1
                time.sleep(0.1)

        writer = threading.Thread(target=send_lines, daemon=True)
        writer.start()
        trickler = connect(lst.port)
        assert trickle_until_closed(trickler, b"<13>never ends ", 0.1), "trickling client was never closed"
        wait_until(lambda: lst.status()["closed"].get("frame timeout") == 1, 30, "frame timeout counted")
        # the steady sender outlived the deadline and is still connected and heard
        heard = sink.count()
        wait_until(lambda: sink.count() > heard + 5, 30, "more lines from the steady sender")
        stop.set()
        writer.join(10)
        st = lst.status()
        assert st["connections"] == 1 and st["closed"] == {"frame timeout": 1}
        assert st["idle_timeout"] == 60.0 and st["frame_timeout"] == 1.0
        slow_good.close()
        trickler.close()
    finally:
        lst.stop()


def test_silent_connection_is_closed_after_idle_timeout(sink):
    lst = start("tcp://127.0.0.1:0?idle_timeout=0.3", sink)
    try:
        s = connect(lst.port)
        s.sendall(b"<13>then silence")  # no LF: the partial line must still be kept at close
        wait_until(lambda: lst.status()["timeouts"] == 1, what="idle timeout")
        assert s.recv(10) == b""
        wait_until(lambda: sink.lines == [b"<13>then silence"], what="partial line kept")
        st = lst.status()
        assert st["connections"] == 0 and st["closed"] == {"idle timeout": 1}
        s.close()
    finally:
        lst.stop()


def test_full_pipeline_stops_reading_instead_of_dropping(sink):
    lst = start("tcp://127.0.0.1:0", sink, flush_lines=100)
    n = 200_000
    payload = b"".join(b"<13>bp %07d xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n" % i for i in range(n))
    sink.gate.clear()
    try:
        s = connect(lst.port)
        s.settimeout(1.0)
        sent = 0
        with pytest.raises(TimeoutError):  # the sender is blocked: TCP windows closed, nothing dropped
            while sent < len(payload):
                sent += s.send(payload[sent:sent + 65536])
        assert sink.blocked.is_set() and sent < len(payload)
        sink.gate.set()
        s.settimeout(10)
        s.sendall(payload[sent:])
        s.close()
        wait_until(lambda: sink.count() >= n, 30, "all lines after release")
        assert sink.lines == [b"<13>bp %07d xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" % i for i in range(n)]
        assert lst.status()["blocked_seconds"] > 0  # the time spent blocked is accounted, not hidden
    finally:
        sink.gate.set()
        lst.stop()


def test_stop_does_not_wait_for_connected_clients(sink):
    """Twenty idle clients that never hang up (idle timeout an hour away): stop ends the listener and closes
    them, instead of waiting for them to leave."""
    lst = start("tcp://127.0.0.1:0?idle_timeout=3600", sink)
    socks = [connect(lst.port) for _ in range(20)]
    socks[0].sendall(b"<13>in flight\n")
    wait_until(lambda: lst.status()["connections"] == 20, what="20 connections")
    lst.stop()
    wait_until(lambda: not lst.status()["running"], what="the listener thread to end")
    assert sink.lines == [b"<13>in flight"]
    for s in socks:
        s.settimeout(60)
        assert s.recv(1) == b"", "the listener closes its clients when it stops"
        s.close()


def test_stop_takes_what_the_kernel_already_accepted(sink):
    lst = start("tcp://127.0.0.1:0", sink)
    sink.gate.clear()
    first = connect(lst.port)
    first.sendall(b"<13>first\n")
    wait_until(sink.blocked.is_set, what="listener blocked in submit")
    # While the listener cannot read, the kernel accepts these connections and their bytes for it.
    senders = [connect(lst.port) for _ in range(3)]
    for n, s in enumerate(senders):
        s.sendall(b"".join(b"<13>sender %d line %d\n" % (n, i) for i in range(2000)))
        s.close()
    stopper = threading.Thread(target=lst.stop)
    stopper.start()
    wait_until(lambda: lst._stop.is_set(), what="stop requested")
    sink.gate.set()
    stopper.join(10)
    expected = [b"<13>first"] + [b"<13>sender %d line %d" % (n, i) for n in range(3) for i in range(2000)]
    assert sorted(sink.lines) == sorted(expected)
    first.close()


_EMFILE_SCRIPT = r"""
import json, os, resource, socket, subprocess, sys, time
from store.sources.listeners import open_listener
got = []
lst = open_listener("tcp://127.0.0.1:0")
lst.start(lambda b: got.extend(b.lines) or True)
first = socket.create_connection(("127.0.0.1", lst.port))
# Clients in another process, started before the limit drops: their descriptors are not ours.
clients = subprocess.Popen([sys.executable, "-c", "import socket,time\ntime.sleep(0.5)\n"
    "s=[socket.create_connection(('127.0.0.1', %d)) for _ in range(20)]\ntime.sleep(60)" % lst.port])
n_open = len(os.listdir("/proc/self/fd"))
resource.setrlimit(resource.RLIMIT_NOFILE, (n_open + 3, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
deadline = time.monotonic() + 60
def failures():
    return sum(n for k, n in lst.status()["closed"].items() if k.startswith("accept failed"))
while not failures() and time.monotonic() < deadline:
    time.sleep(0.02)
# Accept attempts while out of descriptors, over a second: a spinning loop makes thousands; pausing makes a few.
# (A slower machine makes fewer, never more: the bound holds under load.)
before = failures(); time.sleep(1.0); attempts = failures() - before
first.sendall(b"<13>still served\n")
while not got and time.monotonic() < deadline:
    time.sleep(0.02)
print(json.dumps({"closed": sorted(lst.status()["closed"]), "attempts": attempts, "got": [g.decode() for g in got]}))
clients.kill()
lst.stop()
"""


def test_out_of_file_descriptors_pauses_accepting_without_spinning():
    import subprocess
    import sys
    from pathlib import Path

    out = subprocess.run([sys.executable, "-c", _EMFILE_SCRIPT], cwd=Path(__file__).resolve().parents[1],
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert "accept failed: Too many open files" in result["closed"]
    assert result["attempts"] <= 10, result  # paused between attempts, not spinning
    assert result["got"] == ["<13>still served"]


def test_port_in_use_is_a_clear_bind_error(sink):
    first = start("tcp://127.0.0.1:0", sink)
    try:
        with pytest.raises(ListenerBindError, match=f"cannot listen on tcp://127.0.0.1:{first.port}"):
            start(f"tcp://127.0.0.1:{first.port}", sink)
    finally:
        first.stop()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:80", "scheme must be udp://, tcp:// or tls://"),
        ("tcp://127.0.0.1:99999", "invalid listen URL"),
        ("tcp://127.0.0.1:5514?max_frame=lots", "not a number"),
        ("tcp://127.0.0.1:5514?colour=blue", "unknown listener option 'colour'"),
        ("tls://127.0.0.1:6514", "TLS needs a certificate and key"),
        ("tls://127.0.0.1:6514?cert=/nonexistent.pem&key=/nonexistent.key", "missing or unreadable"),
        ("udp://127.0.0.1:5514?cert=/etc/hostname", "only apply to tls://"),
        ("tcp://127.0.0.1:5514?max_frame=100", "at least 480 bytes"),
    ],
)
def test_bad_listen_urls_say_what_to_fix(url, message):
    with pytest.raises(ListenerConfigError, match=message):
        parse_listen_url(url)


def test_loopback_by_default_and_exposure_is_visible():
    assert parse_listen_url("tcp://:5514").host == "127.0.0.1"
    assert parse_listen_url("udp://localhost:5514").exposed is False
    assert parse_listen_url("tcp://[::1]:5514").exposed is False
    wide = open_listener("tcp://0.0.0.0:5514")  # not started: nothing is actually exposed by this test
    assert wide.status()["exposed"] is True
    assert parse_listen_url(f"tls://127.0.0.1?cert={os.devnull}&key={os.devnull}").port == 6514


def test_config_defaults_yield_to_url_options():
    cfg = parse_listen_url("tcp://127.0.0.1:5514?idle_timeout=5", {"idle_timeout": 60.0, "max_frame": 8192,
                                                                   "tls_cert": "/ignored/for/tcp"})
    assert (cfg.idle_timeout, cfg.max_frame, cfg.tls_cert) == (5.0, 8192, None)
