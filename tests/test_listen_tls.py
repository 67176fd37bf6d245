"""Syslog over TLS (RFC 5425) on real loopback sockets with a certificate made by `openssl req -x509`:
framing detection inside TLS, client-certificate verification, handshake timeouts, TLS ≥ 1.2."""

from __future__ import annotations

import shutil
import socket
import ssl
from pathlib import Path

import pytest

from store.sources.listeners import ListenerConfigError, open_listener
from tests.listen_support import CollectingSink, make_self_signed, wait_until

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl binary not installed")


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_self_signed(tmp_path_factory.mktemp("tls"))


def client_context(cert: Path, client: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(cert))
    if client:
        ctx.load_cert_chain(str(client[0]), str(client[1]))
    return ctx


def tls_connect(port: int, ctx: ssl.SSLContext) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return ctx.wrap_socket(raw, server_hostname="127.0.0.1")


def test_octet_and_lf_framing_both_work_inside_tls(cert):
    sink = CollectingSink()
    lst = open_listener(f"tls://127.0.0.1:0?cert={cert[0]}&key={cert[1]}")
    lst.start(sink.submit)
    try:
        ctx = client_context(cert[0])
        a, b = tls_connect(lst.port, ctx), tls_connect(lst.port, ctx)
        n = 20000  # enough to span many TLS records and leave decrypted bytes pending inside the ssl object
        a.sendall(b"".join(b"%d %s" % (len(m), m) for m in (b"<13>tls octet %d\n" % i for i in range(n))))
        b.sendall(b"<13>tls lf\n")  # rsyslog's default over TLS (not RFC 5425, but it is what it sends)
        wait_until(lambda: sink.count() == n + 1, 20, "all TLS frames")
        lines = sink.lines
        assert [ln for ln in lines if b"octet" in ln] == [b"<13>tls octet %d" % i for i in range(n)]
        assert b"<13>tls lf" in lines
        assert {bt.source for bt in sink.batches} == {f"tls://127.0.0.1:{lst.port}"}
        assert a.version() in ("TLSv1.2", "TLSv1.3")
        a.close()
        b.close()
    finally:
        lst.stop()
    assert lst.status()["handshake_failures"] == 0


def test_client_certificate_is_required_when_a_ca_is_configured(cert, tmp_path):
    sink = CollectingSink()
    lst = open_listener(f"tls://127.0.0.1:0?cert={cert[0]}&key={cert[1]}&ca={cert[0]}")
    lst.start(sink.submit)
    try:
        anonymous = tls_connect(lst.port, client_context(cert[0]))
        # TLS 1.3 reports a missing client certificate after the client's handshake returns.
        try:
            anonymous.sendall(b"<13>from anonymous\n")
            anonymous.recv(10)
        except (ssl.SSLError, OSError):
            pass
        anonymous.close()
        wait_until(lambda: lst.status()["handshake_failures"] == 1, what="anonymous client refused")
        stranger = make_self_signed(tmp_path)  # a certificate the CA did not sign
        with pytest.raises((ssl.SSLError, OSError)):
            s = tls_connect(lst.port, client_context(cert[0], stranger))
            s.sendall(b"<13>from stranger\n")
            s.recv(10)
        wait_until(lambda: lst.status()["handshake_failures"] == 2, what="unknown client refused")
        trusted = tls_connect(lst.port, client_context(cert[0], cert))
        trusted.sendall(b"<13>from trusted\n")
        wait_until(lambda: sink.lines == [b"<13>from trusted"], what="trusted client's frame")
        trusted.close()
        assert lst.status()["tls_client_auth"] is True
    finally:
        lst.stop()


def test_stalled_handshake_is_closed_after_the_handshake_timeout(cert):
    sink = CollectingSink()
    lst = open_listener(f"tls://127.0.0.1:0?cert={cert[0]}&key={cert[1]}&handshake_timeout=0.3")
    lst.start(sink.submit)
    try:
        raw = socket.create_connection(("127.0.0.1", lst.port), timeout=5)  # never says hello
        wait_until(lambda: lst.status()["closed"].get("handshake timeout") == 1, what="handshake timeout")
        assert raw.recv(10) == b""
        raw.close()
        good = tls_connect(lst.port, client_context(cert[0]))
        good.sendall(b"<13>after the staller\n")
        wait_until(lambda: sink.lines == [b"<13>after the staller"], what="frame after the staller")
        good.close()
    finally:
        lst.stop()


def test_plaintext_to_the_tls_port_is_refused_not_stored(cert):
    sink = CollectingSink()
    lst = open_listener(f"tls://127.0.0.1:0?cert={cert[0]}&key={cert[1]}")
    lst.start(sink.submit)
    try:
        raw = socket.create_connection(("127.0.0.1", lst.port), timeout=5)
        raw.sendall(b"<13>plaintext\n" * 10)
        wait_until(lambda: lst.status()["handshake_failures"] == 1, what="plaintext refused")
        raw.close()
        assert sink.count() == 0
    finally:
        lst.stop()


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_tls_below_1_2_is_refused(cert):
    sink = CollectingSink()
    lst = open_listener(f"tls://127.0.0.1:0?cert={cert[0]}&key={cert[1]}")
    lst.start(sink.submit)
    try:
        ctx = client_context(cert[0])
        try:
            ctx.minimum_version = ssl.TLSVersion.TLSv1_1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        except (ValueError, ssl.SSLError):
            pytest.skip("this OpenSSL cannot even offer TLS 1.1")
        with pytest.raises((ssl.SSLError, OSError)):
            tls_connect(lst.port, ctx)
        wait_until(lambda: lst.status()["handshake_failures"] == 1, what="TLS 1.1 refused")
    finally:
        lst.stop()


def test_unreadable_key_material_is_a_clear_config_error(tmp_path, cert):
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("not a certificate\n")
    with pytest.raises(ListenerConfigError, match="cannot load TLS certificate/key/CA"):
        open_listener(f"tls://127.0.0.1:0?cert={bogus}&key={cert[1]}")
