"""The CLI as people and scripts use it: ingest with a summary, query formats, a clear line when the engine
holds the store, export, doctor and --help."""

from __future__ import annotations

import csv
import io
import json
import re
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import vigil_cmd

SAMPLE = [
    "Nov 21 10:00:01 jump1 sshd[411]: Failed password for invalid user admin from 203.0.113.7 port 52114 ssh2",
    '198.51.100.9 - - [21/Nov/2026:10:00:02 +0000] "GET /login HTTP/1.1" 200 512 "-" "curl/8.5.0"',
    "<34>1 2026-11-21T10:00:03.123Z plc-gw1 modbusd 77 - - register 12 write value=3",
    "\x00\x01 garbage that no parser knows \x1b[31m",
]


def run(*args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess[str]:  # noqa: ANN003
    return subprocess.run([*vigil_cmd(), *args], capture_output=True, text=True, timeout=timeout, **kw)


def test_ingest_stores_every_line_and_prints_a_summary(tmp_path: Path) -> None:
    log = tmp_path / "in.log"
    log.write_text("\n".join(SAMPLE) + "\n")
    db = tmp_path / "v.duckdb"
    out = run("ingest", "--db", str(db), str(log))
    assert out.returncode == 0, out.stderr
    assert "4 lines, 4 events" in out.stderr and "parse errors" in out.stderr and " s (" in out.stderr
    q = run("query", "--db", str(db), "--format", "json",
            "SELECT event_id, src_ip, host, app, parse_error IS NOT NULL AS bad FROM events ORDER BY event_id")
    rows = json.loads(q.stdout)
    assert [r["event_id"] for r in rows] == [1, 2, 3, 4]
    assert rows[0]["src_ip"] == "203.0.113.7" and rows[1]["src_ip"] == "198.51.100.9"
    assert rows[2]["host"] == "plc-gw1" and rows[2]["app"] == "modbusd"
    assert rows[3]["bad"] is True  # unknown line kept, flagged


def test_ingest_reads_stdin(tmp_path: Path) -> None:
    db = tmp_path / "v.duckdb"
    out = run("ingest", "--db", str(db), "-", input="\n".join(SAMPLE[:2]) + "\n")
    assert out.returncode == 0, out.stderr
    q = run("query", "--db", str(db), "--format", "csv", "SELECT count(*) AS n, min(source) AS s FROM events")
    assert list(csv.reader(io.StringIO(q.stdout)))[1] == ["2", "stdin"]


def test_query_table_format_and_sql_errors(tmp_path: Path) -> None:
    db = tmp_path / "v.duckdb"
    (tmp_path / "a.log").write_text("\n".join(SAMPLE) + "\n")
    assert run("ingest", "--db", str(db), str(tmp_path / "a.log")).returncode == 0
    out = run("query", "--db", str(db), "--limit", "2", "SELECT event_id, raw FROM events ORDER BY 1")
    assert out.returncode == 0
    assert "(2 of >2 rows)" in out.stdout
    assert "\x1b" not in out.stdout  # terminal escapes from log text never reach the terminal
    bad = run("query", "--db", str(db), "SELECT nope FROM events")
    assert bad.returncode == 1 and "nope" in bad.stderr


def test_query_says_clearly_when_the_engine_holds_the_store(tmp_path: Path) -> None:
    db = tmp_path / "demo.duckdb"
    err_path = tmp_path / "demo.err"
    with open(err_path, "w") as err_file:
        eng = subprocess.Popen([*vigil_cmd(), "demo", "--headless", "--db", str(db), "--status-every", "0.2"],
                               stdout=subprocess.DEVNULL, stderr=err_file, text=True)
    try:
        # Wait for the engine to say it stored something (a busy machine may take a while to start it).
        deadline = time.monotonic() + 120
        while not re.search(r"(?m)^events=[1-9]", err_path.read_text()) and time.monotonic() < deadline:
            assert eng.poll() is None, err_path.read_text()
            time.sleep(0.1)
        out = run("query", "--db", str(db), "SELECT count(*) FROM events")
        assert out.returncode == 3
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and "another Vigil process" in lines[0], out.stderr
    finally:
        eng.send_signal(signal.SIGTERM)
        eng.wait(60)
    err = err_path.read_text()
    assert eng.returncode == 0, err
    n = run("query", "--db", str(db), "--format", "csv", "SELECT count(*) FROM events")
    assert int(n.stdout.splitlines()[-1]) > 0


def test_help_lists_the_commands() -> None:
    out = run("--help")
    for word in ("run", "demo", "ingest", "query", "export", "doctor", "eval"):
        assert word in out.stdout
    assert "examples:" in out.stdout


def test_export_command_writes_parquet(tmp_path: Path) -> None:
    db = tmp_path / "v.duckdb"
    (tmp_path / "a.log").write_text("\n".join(SAMPLE) + "\n")
    assert run("ingest", "--db", str(db), str(tmp_path / "a.log")).returncode == 0
    out = run("export", "--db", str(db), "--format", "parquet", "--out", str(tmp_path / "pq"))
    assert out.returncode == 0, out.stderr
    assert "4 rows" in out.stderr
    assert list((tmp_path / "pq").rglob("*.parquet"))


def test_doctor_reports_store_listeners_models_and_ollama(tmp_path: Path) -> None:
    db = tmp_path / "v.duckdb"
    (tmp_path / "a.log").write_text("\n".join(SAMPLE) + "\n")
    assert run("ingest", "--db", str(db), str(tmp_path / "a.log")).returncode == 0
    cfg = tmp_path / "c.toml"
    cfg.write_text('[sources]\nlisten = ["udp://0.0.0.0:5514", "tcp://127.0.0.1:5514"]\n'
                   '[llm]\nhost = "http://127.0.0.1:9"\n')
    out = run("doctor", "--db", str(db), "--config", str(cfg))
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    assert "4 events" in text and "mode 600" in text
    assert "EXPOSED" in text and "loopback only" in text  # a non-loopback bind is called out
    assert "unreachable" in text and "offline" in text  # no Ollama: said in one line, not an error
    assert "learning mode" in text


def test_eval_takes_each_datasets_own_options() -> None:
    # The dataset's options are parsed once it is known (its module is imported only then).
    out = run("eval", "crowdsec-hub", "--help")
    assert out.returncode == 0 and "--family" in out.stdout and "--show-missed" in out.stdout
    out = run("eval", "crowdsec-hub", "--no-such-option")
    assert out.returncode == 2
    assert "vigil eval crowdsec-hub: error: unrecognized arguments: --no-such-option" in out.stderr
    assert "Traceback" not in out.stderr
