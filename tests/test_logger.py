"""The real util-linux `logger` sends to a running engine (listeners → pipeline → DuckDB); every message lands
in the events table with the host, app, pid, msgid and structured data it was sent with."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import uuid
from pathlib import Path

import pytest

from app.config import Config
from app.engine import Engine
from tests.listen_support import wait_until

pytestmark = pytest.mark.skipif(shutil.which("logger") is None, reason="util-linux logger not installed")

HOST = socket.gethostname().split(".")[0]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory):
    cfg = Config()
    cfg.sources.listen = ["udp://127.0.0.1:0", "tcp://127.0.0.1:0"]
    eng = Engine(cfg, db_path=Path(tmp_path_factory.mktemp("logger")) / "vigil.duckdb").start()
    yield eng
    eng.stop()


def ports(engine: Engine) -> dict[str, int]:
    return {s.name.split(":")[0]: s.port for s in engine.sources}  # type: ignore[attr-defined]


def rows_with(engine: Engine, token: str, expected: int = 1, timeout: float = 15.0) -> list[dict]:
    cols = ["source", "host", "app", "pid", "facility", "severity", "message", "fields", "format", "peer",
            "parse_error", "has_ts", "raw"]
    # TIMESTAMPTZ values need pytz to become Python objects; whether the event time was read is enough here.
    select = ", ".join("ts IS NOT NULL" if c == "has_ts" else f'"{c}"' for c in cols)
    query = f"SELECT {select} FROM events WHERE message LIKE ? ORDER BY event_id"
    found: list[dict] = []

    def landed() -> bool:
        nonlocal found
        cur = engine.store.cursor()
        try:
            found = [dict(zip(cols, r, strict=True)) for r in cur.execute(query, [f"%{token}%"]).fetchall()]
        finally:
            cur.close()
        return len(found) >= expected

    wait_until(landed, timeout, f"{expected} event(s) containing {token}")
    return found


def logger(port: int, transport: list[str], *args: str, stdin: bytes | None = None) -> None:
    subprocess.run(["logger", "-n", "127.0.0.1", "-P", str(port), *transport, *args],
                   input=stdin, check=True, timeout=20, capture_output=True)


TRANSPORTS = {
    "udp": ("udp", ["-d"]),
    "tcp-lf": ("tcp", ["-T"]),
    "tcp-octet": ("tcp", ["-T", "--octet-count"]),
}


@pytest.mark.parametrize("transport", list(TRANSPORTS))
def test_rfc5424_with_structured_data_lands_field_exact(engine, transport):
    scheme, flags = TRANSPORTS[transport]
    token = f"t{uuid.uuid4().hex[:12]}"
    logger(ports(engine)[scheme], flags, "--rfc5424", "--msgid", "ID47", "--sd-id", "exampleSDID@32473",
           "--sd-param", 'iut="3"', "--sd-param", 'eventSource="Application"', "-p", "auth.warning",
           "-t", "myapp", "--id=4242", f"login attempt {token}")
    (ev,) = rows_with(engine, token)
    assert ev["source"] == f"{scheme}://127.0.0.1:{ports(engine)[scheme]}"
    assert ev["peer"].startswith("127.0.0.1:")
    assert (ev["host"], ev["app"], ev["pid"], ev["facility"], ev["severity"]) == (HOST, "myapp", 4242, 4, 4)
    assert ev["format"] == "rfc5424" and ev["parse_error"] is None and ev["has_ts"]
    assert ev["message"] == f"login attempt {token}"
    fields = json.loads(ev["fields"])
    assert fields["msgid"] == "ID47"
    assert fields["sd"]["exampleSDID@32473"] == {"iut": "3", "eventSource": "Application"}
    assert ev["raw"].startswith("<36>1 ") and not ev["raw"].endswith("\n")


@pytest.mark.parametrize("transport", list(TRANSPORTS))
def test_rfc3164_lands_with_host_app_and_pid(engine, transport):
    scheme, flags = TRANSPORTS[transport]
    token = f"t{uuid.uuid4().hex[:12]}"
    logger(ports(engine)[scheme], flags, "--rfc3164", "-p", "user.notice", "-t", "sshd", "--id=999",
           f"hello from 3164 {token}")
    (ev,) = rows_with(engine, token)
    assert (ev["host"], ev["app"], ev["pid"], ev["facility"], ev["severity"]) == (HOST, "sshd", 999, 1, 5)
    assert ev["format"] == "rfc3164" and ev["parse_error"] is None and ev["has_ts"]
    assert ev["message"] == f"hello from 3164 {token}"


@pytest.mark.parametrize("transport", list(TRANSPORTS))
def test_a_thousand_lines_from_one_logger_all_land_in_order(engine, transport):
    scheme, flags = TRANSPORTS[transport]
    token = f"t{uuid.uuid4().hex[:12]}"
    lines = b"".join(b"%s seq %04d\n" % (token.encode(), i) for i in range(1000))
    logger(ports(engine)[scheme], flags, "--rfc5424", "-t", "bulk", stdin=lines)
    evs = rows_with(engine, token, expected=1000)
    assert [e["message"] for e in evs] == [f"{token} seq {i:04d}" for i in range(1000)]
    assert all(e["app"] == "bulk" and e["parse_error"] is None for e in evs)
