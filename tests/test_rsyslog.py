"""A real rsyslogd (Debian `rsyslog`, `rsyslog-gnutls`), run in the foreground as a forwarder, reads a file
with imfile and sends it to a running engine with omfwd: TCP octet-counted, TLS (gtls) with octet counting,
and TLS with rsyslog's default LF framing. Every line arrives intact in the events table."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from app.config import Config
from app.engine import Engine
from tests.listen_support import make_self_signed, wait_until

RSYSLOGD = shutil.which("rsyslogd") or ("/usr/sbin/rsyslogd" if Path("/usr/sbin/rsyslogd").exists() else None)
GTLS = any(Path(p).exists() for p in (
    "/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so", "/usr/lib/aarch64-linux-gnu/rsyslog/lmnsd_gtls.so",
))
pytestmark = pytest.mark.skipif(RSYSLOGD is None, reason="rsyslogd not installed (apt-get install rsyslog)")
needs_gtls = pytest.mark.skipif(not GTLS, reason="rsyslog gtls driver not installed (apt-get install rsyslog-gnutls)")

N_LINES = 500


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_self_signed(tmp_path_factory.mktemp("rsyslog-tls"))


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, tls_files: tuple[Path, Path]):
    cert, key = tls_files
    cfg = Config()
    cfg.sources.listen = [
        "tcp://127.0.0.1:0",
        f"tls://127.0.0.1:0?cert={cert}&key={key}",
        f"tls://127.0.0.1:0?cert={cert}&key={key}&ca={cert}",  # client certificate required
    ]
    eng = Engine(cfg, db_path=tmp_path_factory.mktemp("rsyslog") / "vigil.duckdb").start()
    yield eng
    eng.stop()


def run_forwarder(tmp_path: Path, action: str, global_extra: str = "") -> tuple[subprocess.Popen, str, list]:
    """Write N_LINES lines, start rsyslogd reading them with imfile and forwarding with `action`."""
    token = f"r{uuid.uuid4().hex[:12]}"
    lines = [f"{token} line {i:04d} ünïcode ok" for i in range(N_LINES)]
    (tmp_path / "in.log").write_text("".join(f"{ln}\n" for ln in lines), encoding="utf-8")
    conf = tmp_path / "rsyslog.conf"
    conf.write_text(f"""
global(workDirectory="{tmp_path}" {global_extra})
module(load="imfile" PollingInterval="1")
input(type="imfile" File="{tmp_path}/in.log" Tag="fwdtest" Severity="info" Facility="local0")
{action}
""")
    proc = subprocess.Popen(
        [str(RSYSLOGD), "-n", "-f", str(conf), "-i", str(tmp_path / "rsyslogd.pid")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    return proc, token, lines


def messages_with(engine: Engine, token: str) -> list[tuple]:
    cur = engine.store.cursor()
    try:
        return cur.execute(
            "SELECT message, app, facility, severity, parse_error, source FROM events WHERE message LIKE ? "
            "ORDER BY event_id", [f"{token}%"],
        ).fetchall()
    finally:
        cur.close()


def assert_all_arrive(engine: Engine, proc: subprocess.Popen, token: str, lines: list[str], source: str):
    """Every line arrives, in order, byte-exact (UTF-8 included), from the listener it was sent to."""
    try:
        wait_until(lambda: len(messages_with(engine, token)) >= N_LINES or proc.poll() is not None, 25,
                   f"{N_LINES} forwarded lines")
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0].decode(errors="replace")
    rows = messages_with(engine, token)
    assert [r[0] for r in rows] == lines, f"rsyslogd said:\n{out}"
    assert all(r[1:] == ("fwdtest", 16, 6, None, source) for r in rows), rows[:3]


def listener(engine: Engine, index: int):
    return engine.sources[index]


def test_rsyslog_tcp_octet_counted_lines_arrive_intact(engine, tmp_path):
    lst = listener(engine, 0)
    octet_before = lst.status()["framing"].get("octet", 0)
    proc, token, lines = run_forwarder(tmp_path, f"""
action(type="omfwd" target="127.0.0.1" port="{lst.port}" protocol="tcp" TCP_Framing="octet-counted"
       template="RSYSLOG_SyslogProtocol23Format")
""")
    assert_all_arrive(engine, proc, token, lines, lst.name)
    assert lst.status()["framing"]["octet"] > octet_before


@needs_gtls
@pytest.mark.parametrize("framing", ["octet-counted", "traditional"])
def test_rsyslog_tls_lines_arrive_intact(engine, tmp_path, tls_files, framing):
    lst = listener(engine, 1)
    cert, _ = tls_files
    mode = "octet" if framing == "octet-counted" else "lf"
    before = lst.status()["framing"].get(mode, 0)
    proc, token, lines = run_forwarder(tmp_path, f"""
action(type="omfwd" target="127.0.0.1" port="{lst.port}" protocol="tcp" TCP_Framing="{framing}"
       StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/certvalid"
       template="RSYSLOG_SyslogProtocol23Format")
""", f'DefaultNetstreamDriverCAFile="{cert}"')
    assert_all_arrive(engine, proc, token, lines, lst.name)
    assert lst.status()["framing"][mode] > before  # the framing really was detected per connection


@needs_gtls
def test_rsyslog_with_a_client_certificate_passes_mutual_tls(engine, tmp_path, tls_files):
    lst = listener(engine, 2)
    cert, key = tls_files
    proc, token, lines = run_forwarder(tmp_path, f"""
action(type="omfwd" target="127.0.0.1" port="{lst.port}" protocol="tcp" TCP_Framing="octet-counted"
       StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/certvalid"
       template="RSYSLOG_SyslogProtocol23Format")
""", f'DefaultNetstreamDriverCAFile="{cert}" DefaultNetstreamDriverCertFile="{cert}" '
     f'DefaultNetstreamDriverKeyFile="{key}"')
    assert_all_arrive(engine, proc, token, lines, lst.name)
    assert lst.status()["handshake_failures"] == 0
