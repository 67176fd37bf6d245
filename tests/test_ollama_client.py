"""The real `ollama` client against an in-test server speaking Ollama's wire protocol: streaming, structured
output, tool calls, and every failure mode (404, error mid-stream, no `done`, `length`, a hung server)
ending in a clear message — never a crash — and in the offline proposer where it matters."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import httpx
import pytest

from playbooks.chat import ChatEvent, PlaybookSession
from playbooks.llm import LlmCancelled, LlmError, OllamaChat, normalise_host, probe

from .ollama_server import OllamaTestServer, Reply
from .playbook_support import ATTACKER, bruteforce_alert, make_config, open_db, unprivileged_catalog


@pytest.fixture()
def server():
    srv = OllamaTestServer().start()
    yield srv
    srv.stop()


def chat(server: OllamaTestServer, model: str = "llama3.2", read_s: float = 5.0) -> OllamaChat:
    return OllamaChat(server.url, model, connect_timeout_s=1.0, read_timeout_s=read_s,
                      options={"temperature": 0, "seed": 42})


def test_streaming_chat_yields_tokens_and_sends_safe_requests(server, monkeypatch) -> None:
    monkeypatch.setenv("OLLAMA_API_KEY", "must-not-leak")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # would break loopback calls if honoured
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    server.replies.append(Reply("text", text="Five failed SSH logins from one address."))
    tokens: list[str] = []
    turn = chat(server).stream([{"role": "user", "content": "why?"}], on_token=tokens.append)
    assert turn.content == "Five failed SSH logins from one address."
    assert len(tokens) > 3 and "".join(tokens) == turn.content
    assert turn.done and turn.done_reason == "stop" and turn.eval_count
    req = server.requests[-1]
    assert req.body["stream"] is True and req.body["options"] == {"temperature": 0, "seed": 42}
    assert "authorization" not in req.headers
    assert "OLLAMA_API_KEY" not in __import__("os").environ


def test_structured_output_arrives_in_fragments_and_parses(server) -> None:
    schema = {"type": "object", "required": ["decision"], "properties": {"decision": {"enum": ["no_action"]}}}
    turn = chat(server).stream([{"role": "user", "content": "x"}], format=schema)
    assert json.loads(turn.content) == {"decision": "no_action"}
    assert server.chat_requests()[-1]["format"] == schema


def test_tool_call_is_returned_with_object_arguments(server) -> None:
    server.replies.append(Reply("tool", tool=("search_events", {"field": "src_ip", "value": ATTACKER})))
    tools = [{"type": "function", "function": {"name": "search_events", "description": "d",
                                               "parameters": {"type": "object", "properties": {}}}}]
    turn = chat(server).stream([{"role": "user", "content": "x"}], tools=tools)
    assert turn.tool_calls == [{"name": "search_events", "arguments": {"field": "src_ip", "value": ATTACKER}}]


@pytest.mark.parametrize(("model", "reply", "kind", "needle"), [
    ("missing-model", None, "model_missing", "not found"),
    ("llama3.2", Reply("midstream_error", text="one two three four", status=200), "server", "mid-answer"),
    ("llama3.2", Reply("no_done", text="a partial answer"), "incomplete", "without completing"),
    ("llama3.2", Reply("text", text='{"decision": "propose_pl', done_reason="length"), "truncated", "cut off"),
    ("llama3.2", Reply("error", text="model runner has crashed", status=500), "server", "500"),
])
def test_failures_become_one_clear_error(server, model, reply, kind, needle) -> None:
    if reply is not None:
        server.replies.append(reply)
    with pytest.raises(LlmError) as err:
        chat(server, model).stream([{"role": "user", "content": "x"}])
    assert err.value.kind == kind and needle in str(err.value)


def test_hung_server_times_out(server) -> None:
    server.replies.append(Reply("text", text="too late", delay_s=30))
    with pytest.raises(LlmError) as err:  # had it waited, the server's late answer would have come back
        chat(server, read_s=0.5).stream([{"role": "user", "content": "x"}])
    assert err.value.kind == "timeout" and "did not answer in time" in str(err.value)


def test_cancel_returns_at_once_even_while_the_server_hangs(server) -> None:
    server.replies.append(Reply("text", text="never", delay_s=30))
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    with pytest.raises(LlmCancelled):  # not cancelled, it would return the server's answer after 30 s
        chat(server, read_s=60).stream([{"role": "user", "content": "x"}], cancel=cancel)


def test_probe_reports_ready_missing_and_unreachable(server) -> None:
    ready = probe(server.url, "llama3.2")
    assert ready.ready and ready.digest and ready.digest.startswith("sha256:") and "tools" in ready.capabilities
    missing = probe(server.url, "qwen3")
    assert missing.state == "model_missing" and "ollama pull qwen3" in missing.message
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    gone = probe(dead, "llama3.2", timeout_s=0.5)
    assert gone.state == "unreachable"
    assert gone.message.startswith(f"Ollama unreachable at {dead} — offline proposals only")


def test_non_loopback_host_is_refused_unless_allowed() -> None:
    assert normalise_host("localhost:11434") == "http://localhost:11434"
    assert normalise_host("127.0.0.1") == "http://127.0.0.1:11434"
    with pytest.raises(ValueError, match="not loopback"):
        normalise_host("http://10.1.2.3:11434")
    assert normalise_host("http://10.1.2.3:11434", allow_remote=True) == "http://10.1.2.3:11434"


def test_server_is_faithful_on_edge_routes(server) -> None:
    with httpx.Client(trust_env=False) as c:
        assert c.get(server.url + "/").text == "Ollama is running"
        nf = c.get(server.url + "/api/nope")
        assert nf.status_code == 404 and nf.headers["content-type"].startswith("text/plain")
        load = c.post(server.url + "/api/chat", json={"model": "llama3.2", "messages": []}).json()
        assert load["done_reason"] == "load" and load["message"]["role"] == "assistant"
        unload = c.post(server.url + "/api/chat", json={"model": "llama3.2", "messages": [], "keep_alive": 0})
        assert unload.json()["done_reason"] == "unload"


# --- the session: answer, tools, proposals, retry and fallback -------------------------------------------

@pytest.fixture()
def session(tmp_path: Path, server):
    con, db = open_db(tmp_path / "s.duckdb")
    bruteforce_alert(con, 1, "medium")
    s = PlaybookSession(make_config(tmp_path, ollama_host=server.url), db, catalog=unprivileged_catalog())
    yield con, s
    s.close()
    con.close()


def proposal(ip: str, pid: str = "block_ip_hosts_deny", ids: list[int] | None = None) -> Reply:
    return Reply("json", obj={"decision": "propose_playbook", "playbook": {"playbook_id": pid, "params": {"ip": ip}},
                              "rationale": "Repeated failures from one source.", "evidence_ids": ids or [100, 101]})


def test_ask_streams_uses_a_tool_and_returns_an_accepted_audited_proposal(session, server) -> None:
    con, s = session
    server.replies.extend([Reply("tool", tool=("search_events", {"field": "src_ip", "value": ATTACKER})),
                           Reply("text", text="This looks like SSH password guessing."), proposal(ATTACKER)])
    events: list[ChatEvent] = []
    result = s.ask("What happened?", alert_id=1, emit=events.append)
    assert result.answer == "This looks like SSH password guessing."
    assert [o.accepted for o in result.outcomes] == [True]
    assert any(e.kind == "tool" for e in events) and any(e.kind == "token" for e in events)
    reqs = server.chat_requests()
    tool_msg = next(m for m in reqs[1]["messages"] if m["role"] == "tool")
    assert tool_msg["tool_name"] == "search_events" and "untrusted-" in tool_msg["content"]
    assert isinstance(reqs[2]["format"], dict) and reqs[2]["options"]["temperature"] == 0
    # The system prompt says the fenced block is data; the evidence sits inside a random boundary.
    system = reqs[0]["messages"][0]["content"]
    boundary = system.split("<<", 1)[1].split(">>", 1)[0]
    assert boundary.startswith("untrusted-") and f"<</{boundary}>>" in reqs[0]["messages"][1]["content"]
    row = con.execute("SELECT actor_type, actor_id, record FROM audit_log WHERE kind = 'proposal'").fetchone()
    assert row[0] == "llm" and row[1] == "llama3.2"
    assert json.loads(row[2])["data"]["llm"]["digest"].startswith("sha256:")


def test_invalid_proposal_gets_one_repair_retry(session, server) -> None:
    con, s = session
    server.replies.extend([Reply("text", text="Blocking is appropriate."), proposal("203.0.113.250"),
                           proposal(ATTACKER)])
    result = s.ask("Block it?", alert_id=1)
    assert [o.accepted for o in result.outcomes] == [False, True]
    assert "does not appear in the cited evidence" in result.outcomes[0].reasons[0]
    repair = server.chat_requests()[-1]["messages"][-1]["content"]
    assert "rejected by validation" in repair


def test_two_invalid_proposals_fall_back_to_the_offline_proposer(session, server) -> None:
    con, s = session
    server.replies.extend([Reply("text", text="ok"), proposal("203.0.113.250"), proposal("203.0.113.251")])
    result = s.ask("Block it?", alert_id=1)
    sources = [(o.source, o.accepted) for o in result.outcomes]
    assert sources[:2] == [("llm", False), ("llm", False)]
    assert ("offline_rules", True) in sources[2:]


def test_truncated_answer_falls_back_offline_with_a_clear_message(session, server) -> None:
    con, s = session
    server.replies.extend([Reply("text", text="half an ans", done_reason="length")])
    events: list[ChatEvent] = []
    result = s.ask("?", alert_id=1, emit=events.append)
    assert any(e.kind == "error" and "cut off" in e.text for e in events)
    assert result.outcomes and all(o.source == "offline_rules" for o in result.outcomes)


def test_unreachable_ollama_gives_one_status_line_and_offline_proposals(tmp_path: Path) -> None:
    con, db = open_db(tmp_path / "o.duckdb")
    bruteforce_alert(con, 1, "medium")
    s = PlaybookSession(make_config(tmp_path), db, catalog=unprivileged_catalog())
    events: list[ChatEvent] = []
    result = s.ask("What now?", alert_id=1, emit=events.append)
    status = [e.text for e in events if e.kind == "status"]
    assert status == ["Ollama unreachable at http://127.0.0.1:9 — offline proposals only (ConnectError)"]
    assert result.outcomes and result.outcomes[0].source == "offline_rules" and result.outcomes[0].accepted
    row = con.execute("SELECT actor_type, actor_id FROM audit_log WHERE kind = 'proposal' LIMIT 1").fetchone()
    assert row == ("system", "offline_rules")


def test_model_without_tools_capability_is_asked_again_without_tools(tmp_path: Path) -> None:
    srv = OllamaTestServer(models=["notools-mini"]).start()
    srv.capabilities = ["completion"]
    try:
        con, db = open_db(tmp_path / "n.duckdb")
        bruteforce_alert(con, 1, "medium")
        s = PlaybookSession(make_config(tmp_path, ollama_host=srv.url, ollama_model="notools-mini"), db,
                            catalog=unprivileged_catalog())
        srv.replies.extend([Reply("text", text="Looks like guessing."), proposal(ATTACKER)])
        result = s.ask("?", alert_id=1)
        assert result.answer == "Looks like guessing." and result.outcomes[0].accepted
        assert "tools" not in srv.chat_requests()[0] or not srv.chat_requests()[0]["tools"]
    finally:
        srv.stop()


def test_tools_refused_with_400_are_dropped_and_the_question_retried(tmp_path: Path) -> None:
    srv = OllamaTestServer(models=["notools-mini"]).start()  # advertises tools, then refuses them (400)
    try:
        con, db = open_db(tmp_path / "n4.duckdb")
        bruteforce_alert(con, 1, "medium")
        s = PlaybookSession(make_config(tmp_path, ollama_host=srv.url, ollama_model="notools-mini"), db,
                            catalog=unprivileged_catalog())
        srv.replies.extend([Reply("text", text="Guessing."), proposal(ATTACKER)])
        result = s.ask("?", alert_id=1)
        assert result.answer == "Guessing." and result.outcomes[0].accepted
        first, second = srv.chat_requests()[:2]
        assert first["tools"] and not second.get("tools")
    finally:
        srv.stop()


def test_unknown_alert_is_reported_not_raised(session) -> None:
    con, s = session
    events: list[ChatEvent] = []
    result = s.ask("?", alert_id=424242, emit=events.append)
    assert "alert 424242 not found" in result.errors[0]
    assert any(e.kind == "error" and "424242" in e.text for e in events)
