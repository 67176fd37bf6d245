"""Detection is a function of the event stream, not of how it was cut: scoring the same events in one batch, in
many small batches, or across a restart from the store (checkpoint, correlation windows and open alerts reloaded)
gives the same alerts — same ids, rules, entities, severities, counts and evidence."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.storage import open_store
from detectors.replay import parsed_batches
from detectors.rules.ruleset import RuleSet, default_rule_dirs, load_rules
from detectors.scorer import Scorer, ScorerConfig

ATTACKERS = ["203.0.113.5", "203.0.113.6", "198.51.100.7"]
USERS = ["root", "admin", "oracle", "alice", "bob", "deploy"]
START = datetime(2026, 11, 21, 6, 0, 0)


def _line(t: datetime, kind: int, ip: str, user: str, n: int) -> str:
    ts = t.strftime("%b %d %H:%M:%S")
    body = [
        f"Failed password for {user} from {ip} port {1000 + n} ssh2",
        f"Failed password for invalid user {user} from {ip} port {1000 + n} ssh2",
        f"Invalid user {user} from {ip} port {1000 + n}",
        f"Accepted password for {user} from {ip} port {1000 + n} ssh2",
        f"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}  user={user}",
    ][kind]
    return f"{ts} jump1 sshd[{4000 + n}]: {body}"


events = st.lists(
    st.tuples(st.integers(0, 240), st.integers(0, 4), st.sampled_from(ATTACKERS), st.sampled_from(USERS)),
    min_size=1, max_size=160,
)


def _lines(evs: list[tuple[int, int, str, str]]) -> list[str]:
    t, out = START, []
    for n, (gap, kind, ip, user) in enumerate(evs):
        t += timedelta(seconds=gap)
        out.append(_line(t, kind, ip, user, n))
    return out


@functools.cache
def shipped_rules() -> RuleSet:
    return load_rules(default_rule_dirs())


def _scorer() -> Scorer:
    # The shipped rules are loaded once (pySigma's YAML parse is the slow part): three scorers per example, forty
    # examples. Each scorer still has its own rule engine and correlation state.
    return Scorer(ScorerConfig(novelty_warmup_events=10**9), ruleset=shipped_rules())


def _final(updates) -> dict[int, tuple]:
    out: dict[int, tuple] = {}
    for u in updates:
        out[u.alert_id] = (u.rule_id, u.entity, u.severity, u.count, tuple(u.event_ids), u.first_seen, u.last_seen)
    return out


def _batches(lines: list[str], cuts: list[int]) -> list:
    """The lines cut at `cuts` (positions), event ids continuing across the pieces."""
    out, lo = [], 0
    for hi in sorted({c for c in cuts if 0 < c < len(lines)}) + [len(lines)]:
        out.extend(parsed_batches(lines[lo:hi], first_id=lo + 1, received_at=START))
        lo = hi
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(evs=events, cuts=st.lists(st.integers(0, 160), max_size=12), restart_at=st.integers(0, 160))
def test_one_batch_many_batches_and_a_restart_give_the_same_alerts(tmp_path_factory, evs, cuts, restart_at):
    lines = _lines(evs)
    whole = _scorer()
    expected = _final(u for b in _batches(lines, []) for u in whole.process(b))

    pieces = _scorer()
    assert _final(u for b in _batches(lines, cuts) for u in pieces.process(b)) == expected

    store = open_store(tmp_path_factory.mktemp("restart") / "v.duckdb")
    try:
        batches = _batches(lines, [*cuts, restart_at])
        first = _scorer()
        first.resume(store.con)
        got = []
        split = next((i for i, b in enumerate(batches) if b.column(0)[0].as_py() > restart_at), len(batches))
        for b in batches[:split]:
            scored = first.score(b)
            got.extend(first.commit(store.con, scored))
        second = _scorer()  # a new process: everything it knows comes from the store
        second.resume(store.con)
        for b in batches[split:]:
            got.extend(second.commit(store.con, second.score(b)))
        assert _final(got) == expected
    finally:
        store.close()
