"""A hostile Ollama cannot make Vigil read without end: the real client against the in-test wire-protocol server
streaming for ever (well-formed chunks, one line that never ends, a slow trickle) stops at the byte or time cap,
hangs up, and says "model output exceeded …"; the session falls back to offline proposals."""

from __future__ import annotations

from pathlib import Path

import pytest

from playbooks.chat import ChatEvent, PlaybookSession
from playbooks.llm import LlmError, OllamaChat

from .ollama_server import OllamaTestServer, Reply, wait_for
from .playbook_support import bruteforce_alert, make_config, open_db, unprivileged_catalog

CAP = 1024 * 1024


@pytest.fixture()
def server():
    srv = OllamaTestServer().start()
    yield srv
    srv.stop()


def capped_chat(server: OllamaTestServer, *, max_bytes: int = CAP, max_s: float = 600.0) -> OllamaChat:
    return OllamaChat(server.url, "llama3.2", connect_timeout_s=2.0, read_timeout_s=30.0,
                      max_output_bytes=max_bytes, max_answer_s=max_s)


@pytest.mark.parametrize("kind", ["flood", "flood_line"])
def test_an_endless_stream_is_cut_off_at_the_byte_cap(server, kind) -> None:
    server.replies.append(Reply(kind, text="spam " * 20))
    tokens: list[str] = []
    llm = capped_chat(server)
    try:
        with pytest.raises(LlmError) as err:
            llm.stream([{"role": "user", "content": "x"}], on_token=tokens.append)
    finally:
        llm.close()
    assert err.value.kind == "too_long"
    assert f"model output exceeded {CAP:,} bytes" in str(err.value) and "stopped reading" in str(err.value)
    assert sum(len(t) for t in tokens) <= CAP
    # The client hung up: the server's next writes fail instead of filling our memory.
    assert wait_for(server.client_went_away.is_set, timeout=60), "the client kept the endless stream open"


def test_a_trickle_is_cut_off_at_the_time_cap(server) -> None:
    server.replies.append(Reply("trickle", text="drip ", delay_s=0.05))
    llm = capped_chat(server, max_s=1.0)
    try:
        with pytest.raises(LlmError) as err:
            llm.stream([{"role": "user", "content": "x"}])
    finally:
        llm.close()
    assert err.value.kind == "too_long" and "model output exceeded 1 s" in str(err.value)
    assert server.streamed_bytes < CAP  # the time cap, not the byte cap, ended it
    assert wait_for(server.client_went_away.is_set, timeout=60), "the client kept the trickle open"


def test_the_session_reports_the_cap_and_falls_back_offline(tmp_path: Path, server) -> None:
    con, db = open_db(tmp_path / "s.duckdb")
    bruteforce_alert(con, 1, "high")
    cfg = make_config(tmp_path, ollama_host=server.url, llm_max_output_bytes=CAP)
    session = PlaybookSession(cfg, db, catalog=unprivileged_catalog())
    server.replies.append(Reply("flood"))
    events: list[ChatEvent] = []
    try:
        result = session.ask("What happened?", alert_id=1, emit=events.append)
    finally:
        session.close()
        con.close()
    errors = [e.text for e in events if e.kind == "error"]
    assert any(f"model output exceeded {CAP:,} bytes" in e and "offline proposals" in e for e in errors), errors
    assert result.outcomes and all(o.source == "offline_rules" for o in result.outcomes)


def test_the_caps_must_be_positive() -> None:
    from app.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match=r"llm\.max_answer_s: must be > 0"):
        parse_config("[llm]\nmax_answer_s = 0\n")
