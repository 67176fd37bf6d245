"""The local integration API against a running engine: a real uvicorn socket on 127.0.0.1, a real httpx client,
real files tailed into a real DuckDB store, and the `vigil run --headless --api` binary."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.api.token import TokenFileError, load_or_create_token
from app.config import Config
from app.engine import Engine
from tests.conftest import vigil_cmd


def wait_for(pred: Callable[[], Any], timeout: float = 60.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(interval)
    return pred()


def failed_logins(ip: str, n: int = 15, user: str = "root") -> str:
    now = datetime.now().strftime("%b %e %H:%M:%S")
    return "".join(f"{now} jump1 sshd[7{i}]: Failed password for {user} from {ip} port 5{i:03d} ssh2\n"
                   for i in range(n))


def append(path: Path, text: str) -> None:
    with path.open("a") as fh:
        fh.write(text)


class Api:
    def __init__(self, engine: Engine) -> None:
        assert engine.api is not None
        self.engine = engine
        self.url = engine.api.url
        self.token = engine.api.token_path.read_text().strip()
        self.client = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"},
                                   timeout=30, trust_env=False)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(path, params=params or None)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Api, Path]]:
    log = tmp_path / "auth.log"
    log.write_text("")
    cfg = Config()
    cfg.sources.watch = [str(log)]
    cfg.sources.poll_interval = 0.2
    cfg.api.listen = "127.0.0.1:0"
    cfg.api.stream_queue = 50
    engine = Engine(cfg, db_path=tmp_path / "vigil.duckdb").start()
    api = Api(engine)
    try:
        yield api, log
    finally:
        api.client.close()
        engine.stop()


def alerts_for(api: Api, ip: str) -> list[dict[str, Any]]:
    body = api.get("/api/v1/alerts", entity=f"src_ip={ip}").json()
    return list(body["alerts"])


def test_every_route_refuses_a_missing_or_wrong_token(live: tuple[Api, Path]) -> None:
    api, _ = live
    with httpx.Client(base_url=api.url, timeout=30, trust_env=False) as anon:
        for path in ("/api/v1/alerts", "/api/v1/alerts/1", "/api/v1/incidents", "/api/v1/events?sql=SELECT+1",
                     "/api/v1/stats", "/api/v1/stream", "/", "/nothing"):
            r = anon.get(path)
            assert r.status_code == 401, path
            assert r.headers["www-authenticate"].startswith("Bearer")
            wrong = anon.get(path, headers={"Authorization": "Bearer " + "x" * len(api.token)})
            assert wrong.status_code == 401, path
            basic = anon.get(path, headers={"Authorization": f"Basic {api.token}"})
            assert basic.status_code == 401, path
    assert api.get("/api/v1/alerts").status_code == 200


def test_token_file_is_created_private_and_kept(live: tuple[Api, Path]) -> None:
    api, _ = live
    assert api.engine.api is not None
    path = api.engine.api.token_path
    assert path == Path(os.environ["XDG_DATA_HOME"]) / "vigil" / "api-token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_token(path) == (api.token, False)  # the next start reuses it


def test_a_token_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "api-token"
    token, created = load_or_create_token(path)
    assert created and len(token) >= 32
    path.chmod(0o644)
    with pytest.raises(TokenFileError, match="chmod 600"):
        load_or_create_token(path)
    link = tmp_path / "link-token"
    path.chmod(0o600)
    link.symlink_to(path)
    with pytest.raises(TokenFileError, match="link"):
        load_or_create_token(link)


def test_alerts_filters_detail_incidents_and_stats(live: tuple[Api, Path]) -> None:
    api, log = live
    append(log, failed_logins("198.18.7.7") + failed_logins("198.18.8.8", user="backup"))
    assert wait_for(lambda: len(alerts_for(api, "198.18.7.7")) >= 2 and alerts_for(api, "198.18.8.8"))
    everything = api.get("/api/v1/alerts").json()["alerts"]
    ids = [a["alert_id"] for a in everything]
    assert ids == sorted(ids, reverse=True)
    assert {a["entity"] for a in everything} >= {"src_ip=198.18.7.7", "src_ip=198.18.8.8"}

    medium = api.get("/api/v1/alerts", severity="medium").json()["alerts"]
    assert medium and all(a["severity"] == "medium" for a in medium)
    both = api.get("/api/v1/alerts", severity="low,medium").json()["alerts"]
    assert len(both) > len(medium)
    assert api.get("/api/v1/alerts", status="false_positive").json()["alerts"] == []
    assert len(api.get("/api/v1/alerts", status="new").json()["alerts"]) == len(everything)
    assert api.get("/api/v1/alerts", since="2999-01-01T00:00:00Z").json()["alerts"] == []
    assert len(api.get("/api/v1/alerts", since="2000-01-01").json()["alerts"]) == len(everything)
    page = api.get("/api/v1/alerts", limit=1).json()
    assert page["count"] == 1 and page["more"] and page["next_before"] == ids[0]
    assert api.get("/api/v1/alerts", before=ids[0]).json()["alerts"][0]["alert_id"] == ids[1]

    one = api.get(f"/api/v1/alerts/{ids[0]}").json()
    assert one["alert"]["alert_id"] == ids[0] and one["alert"]["why"]
    cited = set(one["alert"]["event_ids"])
    assert one["evidence"] and {e["event_id"] for e in one["evidence"]} <= cited
    assert all("Failed password" in e["raw"] for e in one["evidence"])

    # The engine keeps incidents (one per attacker): folded off the scorer's thread, so waited for.
    def seven() -> dict | None:
        listing = api.get("/api/v1/incidents").json()
        assert listing["source"] == "incidents"
        return next((i for i in listing["incidents"] if "198.18.7.7" in i["entity"]
                     and i["alert_count"] == len(alerts_for(api, "198.18.7.7"))), None)

    assert wait_for(lambda: seven() is not None)
    incident = seven()
    assert incident is not None and set(incident["alert_ids"]) <= set(ids) and incident["story"]
    assert incident["status"] not in ("resolved", "false_positive")

    stats = api.get("/api/v1/stats").json()
    assert stats["events_total"] == 30 and stats["alerts_total"] >= 3
    assert stats["sources"][0]["kind"] == "files" and "detect_lag_s" in stats


def test_bad_parameters_get_a_clear_400(live: tuple[Api, Path]) -> None:
    api, _ = live
    cases = {("/api/v1/alerts", "severity", "urgent"): "severity='urgent' is not one of",
             ("/api/v1/alerts", "status", "closed"): "status='closed' is not one of",
             ("/api/v1/alerts", "since", "yesterday"): "not an ISO 8601 time",
             ("/api/v1/alerts", "limit", "0"): "out of range",
             ("/api/v1/alerts", "limit", "ten"): "not an integer"}
    for (path, key, value), message in cases.items():
        r = api.get(path, **{key: value})
        assert r.status_code == 400 and message in r.json()["error"], (key, value, r.text)
    assert api.get("/api/v1/alerts/abc").status_code == 400
    assert api.get("/api/v1/alerts/999999").status_code == 404
    assert api.get("/api/v1/nothing").status_code == 404
    assert api.client.post("/api/v1/alerts").status_code == 405


def test_events_sql_goes_through_the_analyst_gate(live: tuple[Api, Path]) -> None:
    api, log = live
    append(log, failed_logins("198.18.6.6", n=5))
    assert wait_for(lambda: api.get("/api/v1/events", sql="SELECT count(*) AS n FROM events").json()["rows"]
                    == [[5]])
    body = api.get("/api/v1/events", sql="SELECT event_id, src_ip FROM events ORDER BY event_id", limit=2).json()
    assert body["columns"] == ["event_id", "src_ip"] and body["rows"] == [[1, "198.18.6.6"], [2, "198.18.6.6"]]
    assert body["truncated"] is True
    refused = {
        "DELETE FROM events": "not allowed",
        "WITH x AS (DELETE FROM alerts RETURNING *) SELECT * FROM x": "read-only",
        f"COPY events TO '{log.parent / 'out.csv'}'": "reaches files",
        f"SELECT * FROM read_text('{log}')": "files",
        "SELECT 1; SELECT 2": "one statement",
        "SET enable_external_access = true": "not allowed",
    }
    for sql, why in refused.items():
        r = api.get("/api/v1/events", sql=sql)
        assert r.status_code == 400 and why in r.json()["error"], (sql, r.text)
    assert not (log.parent / "out.csv").exists()
    assert api.get("/api/v1/events", sql="SELECT count(*) FROM events").json()["rows"] == [[5]]  # nothing deleted
    assert api.get("/api/v1/events").status_code == 400


def read_sse(response: httpx.Response, events: list[tuple[str, dict[str, Any]]], stop: threading.Event) -> None:
    kind = ""
    try:
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:])))
            if stop.is_set():
                return
    except (httpx.HTTPError, ValueError):  # the test closed the stream, or the server stopped
        return


def test_stream_delivers_new_alerts_and_status_changes(live: tuple[Api, Path]) -> None:
    api, log = live
    events: list[tuple[str, dict[str, Any]]] = []
    stop = threading.Event()
    with api.client.stream("GET", "/api/v1/stream") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = threading.Thread(target=read_sse, args=(response, events, stop), daemon=True)
        reader.start()
        assert wait_for(lambda: any(k == "hello" for k, _ in events))
        append(log, failed_logins("198.18.5.5"))
        assert wait_for(lambda: any(k == "alert" and d["alert"]["entity"] == "src_ip=198.18.5.5" for k, d in events))
        first = next(d for k, d in events if k == "alert")
        assert first["kind"] == "new" and first["alert"]["status"] == "new"

        aid = first["alert"]["alert_id"]
        engine = api.engine
        engine.writer.call(lambda con: engine.scorer.set_status(con, aid, "false_positive", "alice")).result(30)
        assert wait_for(lambda: any(k == "alert" and d["kind"] == "status" and d["alert"]["alert_id"] == aid
                                    for k, d in events))
        change = next(d for k, d in events if k == "alert" and d["kind"] == "status")
        assert change["alert"]["status"] == "false_positive" and change["alert"]["status_by"] == "alice"
        stop.set()


def test_a_slow_stream_client_loses_the_overflow_and_is_told(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text("")
    cfg = Config()
    cfg.sources.watch = [str(log)]
    cfg.api.listen = "127.0.0.1:0"
    cfg.api.stream_queue = 1
    engine = Engine(cfg, db_path=tmp_path / "vigil.duckdb").start()
    api = Api(engine)
    events: list[tuple[str, dict[str, Any]]] = []
    stop = threading.Event()
    try:
        with api.client.stream("GET", "/api/v1/stream") as response:
            threading.Thread(target=read_sse, args=(response, events, stop), daemon=True).start()
            assert wait_for(lambda: any(k == "hello" for k, _ in events))
            # One batch of 15 failures raises several alerts at once: the queue holds one, the rest are dropped.
            append(log, failed_logins("198.18.4.4"))
            assert wait_for(lambda: any(k == "dropped" for k, _ in events))
            dropped = sum(d["dropped"] for k, d in events if k == "dropped")
            delivered = sum(1 for k, _ in events if k == "alert")
            written = len(alerts_for(api, "198.18.4.4"))
            assert dropped >= 1 and delivered >= 1 and dropped + delivered >= written
            assert "too slowly" in next(d for k, d in events if k == "dropped")["reason"]
            stop.set()
    finally:
        api.client.close()
        engine.stop()


def test_the_engine_stops_cleanly_with_a_stream_open(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text("")
    cfg = Config()
    cfg.sources.watch = [str(log)]
    cfg.api.listen = "127.0.0.1:0"
    engine = Engine(cfg, db_path=tmp_path / "vigil.duckdb").start()
    api = Api(engine)
    events: list[tuple[str, dict[str, Any]]] = []
    with api.client.stream("GET", "/api/v1/stream") as response:
        reader = threading.Thread(target=read_sse, args=(response, events, threading.Event()), daemon=True)
        reader.start()
        assert wait_for(lambda: events)
        engine.stop()  # must not hang on the open stream
        reader.join(30)
        assert not reader.is_alive()
    assert engine.api is not None and not any(t.name == "vigil-api" and t.is_alive() for t in threading.enumerate())
    with pytest.raises(httpx.TransportError):
        httpx.get(api.url + "/api/v1/alerts", timeout=5)
    api.client.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_vigil_run_headless_api_end_to_end(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text("")
    port = free_port()
    proc = subprocess.Popen([*vigil_cmd(), "run", "--headless", "--watch", str(log), "--db", str(tmp_path / "v.db"),
                             "--api", f"127.0.0.1:{port}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    token_path = Path(os.environ["XDG_DATA_HOME"]) / "vigil" / "api-token"
    url = f"http://127.0.0.1:{port}"
    events: list[tuple[str, dict[str, Any]]] = []
    try:
        def up() -> bool:
            try:
                return token_path.exists() and httpx.get(url + "/api/v1/stats", timeout=2).status_code == 401
            except httpx.TransportError:
                return False

        assert wait_for(up, timeout=120), "the API did not come up"
        headers = {"Authorization": f"Bearer {token_path.read_text().strip()}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30, trust_env=False) as client, \
                client.stream("GET", "/api/v1/stream") as response:
            threading.Thread(target=read_sse, args=(response, events, threading.Event()), daemon=True).start()
            assert wait_for(lambda: events)
            append(log, failed_logins("198.18.9.9"))
            assert wait_for(lambda: any(k == "alert" and "198.18.9.9" in d["alert"]["entity"] for k, d in events))
            listed = client.get("/api/v1/alerts", params={"entity": "src_ip=198.18.9.9"}).json()["alerts"]
            assert listed
            proc.send_signal(signal.SIGTERM)  # with the stream still open
            out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = out.decode()
    assert proc.returncode == 0, text
    assert f"API on http://127.0.0.1:{port}/api/v1/" in text and "vigil: stopped" in text


def test_bad_api_address_and_taken_port_fail_in_one_line(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text("")
    base = [*vigil_cmd(), "run", "--headless", "--watch", str(log), "--db", str(tmp_path / "v.db")]
    bad = subprocess.run([*base, "--api", "localhost:http"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "invalid API address 'localhost:http'" in bad.stderr
    assert "Traceback" not in bad.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        busy = subprocess.run([*base, "--api", str(port)], capture_output=True, text=True, timeout=120)
    assert busy.returncode == 1 and f"cannot serve the API on http://127.0.0.1:{port}" in busy.stderr
    assert "Traceback" not in busy.stderr


def test_api_config_is_checked_by_key() -> None:
    from app.config import ConfigError, parse_config

    assert parse_config('[api]\nlisten = "8765"\n').api.listen == "8765"
    for text, key in (('[api]\nlisten = "example.org:80"\n', "api.listen"),
                      ('[api]\nlisten = "127.0.0.1:99999"\n', "api.listen"),
                      ("[api]\nstream_queue = 0\n", "api.stream_queue"),
                      ("[api]\nquery_timeout_s = 0\n", "api.query_timeout_s"),
                      ("[api]\nport = 1\n", "api.port")):
        with pytest.raises(ConfigError) as err:
            parse_config(text)
        assert err.value.key == key, text
