"""Syslog over UDP on real loopback sockets: one message per datagram, trailer stripping, and loss that is
always accounted for by the app's or the kernel's own counters."""

from __future__ import annotations

import socket

from store.sources.listeners import open_listener
from tests.listen_support import CollectingSink, wait_until


def send(port: int, datagrams: list[bytes]) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for d in datagrams:
        s.sendto(d, ("127.0.0.1", port))
    return s


def test_datagrams_arrive_one_message_each_with_one_trailer_stripped():
    sink = CollectingSink()
    lst = open_listener("udp://127.0.0.1:0")
    lst.start(sink.submit)
    try:
        # rsyslog's SyslogProtocol23 template puts a LF inside the datagram (ingest notes §1.2).
        s = send(lst.port, [b"<38>1 2026-11-21T05:48:22+00:00 vm sshd 999 - -  Accepted\n", b"<13>crlf\r\n",
                            b"<13>nul\x00", b"<13>two lines\nin one datagram", b"<13>bad \xff utf8", b""])
        wait_until(lambda: sink.count() == 5, what="5 datagrams")
        port = s.getsockname()[1]
        assert sink.pairs() == [
            (b"<38>1 2026-11-21T05:48:22+00:00 vm sshd 999 - -  Accepted", f"127.0.0.1:{port}"),
            (b"<13>crlf", f"127.0.0.1:{port}"),
            (b"<13>nul", f"127.0.0.1:{port}"),
            (b"<13>two lines\nin one datagram", f"127.0.0.1:{port}"),
            (b"<13>bad \xff utf8", f"127.0.0.1:{port}"),
        ]
        assert {b.source for b in sink.batches} == {f"udp://127.0.0.1:{lst.port}"}
        wait_until(lambda: lst.status()["empty"] == 1, what="empty datagram counted")
        s.close()
    finally:
        lst.stop()
    st = lst.status()
    assert st["messages"] == 6 and st["exposed"] is False
    assert st["rcvbuf_requested"] == 8 * 1024 * 1024 and isinstance(st["rcvbuf_granted"], int)
    assert st["rcvbuf_granted"] > 0


def test_oversized_datagram_is_cut_and_flagged():
    sink = CollectingSink()
    lst = open_listener("udp://127.0.0.1:0?max_frame=1024")
    lst.start(sink.submit)
    try:
        s = send(lst.port, [b"<13>" + b"x" * 60000])
        wait_until(lambda: sink.count() == 1, what="cut datagram")
        (line, note), = sink.notes()
        assert len(line) == 1024 and note == "cut at 1024 bytes (datagram was 60004 bytes)"
        assert lst.status()["cut_frames"] == 1
        s.close()
    finally:
        lst.stop()


def test_every_udp_loss_is_counted_by_the_app_or_the_kernel():
    """A stalled pipeline overflows the app queue, a tiny socket buffer overflows in the kernel; the sum of
    what was delivered and what both counters say was dropped is exactly what was sent."""
    sink = CollectingSink()
    sink.gate.clear()  # the pipeline is full
    lst = open_listener("udp://127.0.0.1:0?rcvbuf=4096&flush_lines=50&queue_batches=2&flush_interval=0.01")
    lst.start(sink.submit)
    n = 30000
    try:
        s = send(lst.port, [b"<13>udp loss %06d" % i for i in range(n)])
        wait_until(lambda: lst.status()["app_drops"] > 0, what="app queue overflow")
        sink.gate.set()

        def accounted() -> bool:
            st = lst.status()
            return sink.count() + st["app_drops"] + (st["kernel_drops"] or 0) == n

        wait_until(accounted, 15, "delivered + app drops + kernel drops == sent")
        st = lst.status()
        assert st["kernel_drops"] is not None  # in practice a few hundred here: the 8 KiB buffer overflows
        assert st["drops"] == st["app_drops"] + st["kernel_drops"]
        # What did arrive, arrived in order and intact.
        got = sink.lines
        assert got == sorted(got) and all(ln.startswith(b"<13>udp loss ") for ln in got)
        s.close()
    finally:
        sink.gate.set()
        lst.stop()


def test_stop_is_prompt_and_flushes_what_was_received():
    sink = CollectingSink()
    lst = open_listener("udp://127.0.0.1:0?flush_interval=5")  # only stop() can flush this batch
    lst.start(sink.submit)
    s = send(lst.port, [b"<13>before stop"])
    wait_until(lambda: lst.status()["messages"] == 1, what="datagram received")
    lst.stop()
    assert sink.lines == [b"<13>before stop"]
    assert not lst.status()["running"]
    s.close()
