"""The array kernel for event_count folds a batch exactly as the per-event reference does: same firings, same
runs, same carried state — for any events, group mix, thresholds, escalation, window and carried-in state."""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.rules.correlations import CorrelationState, Fired, Stream
from detectors.rules.count_kernel import count_groups
from detectors.rules.ruleset import CorrelationRule


def _rule(threshold: int, escalation: list[tuple[int, str]], span_s: int) -> CorrelationRule:
    return CorrelationRule(
        id="c", uuid=None, title="c", level="medium", severity="medium", path="-", description="", tags=[],
        type="event_count", rules=["r"], group_by=["src_ip"], group_refs={"r": {}}, timespan_us=span_s * 10**6,
        threshold=threshold, value_field=None, escalation=escalation, entity="src_ip")


events = st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.integers(-30, 400)), min_size=1, max_size=120)


def _stream(evs: list[tuple[str, int]], first_id: int, t0: int) -> Stream:
    t, rows, ts, keys, eids = t0, [], [], [], []
    for i, (k, gap) in enumerate(evs):
        t += gap * 10**6  # negative gaps: events out of time order
        rows.append(i)
        ts.append(t)
        keys.append((k,))
        eids.append(first_id + i)
    return Stream(rows, ts, keys, [0] * len(rows), eids)


def _reference(state: CorrelationState, s: Stream, window: int, keep: bool) -> Fired:
    out = Fired()
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, k in enumerate(s.keys):
        groups.setdefault(k, []).append(i)
    for key, idxs in groups.items():
        state._count(state.group(key), key, idxs, s, out, window, keep)
    return out


def _snapshot(state: CorrelationState) -> dict:
    return {k: g.to_json() for k, g in state.groups.items()}


@settings(max_examples=300, deadline=None)
@given(first=events, second=events, threshold=st.integers(1, 8), esc=st.integers(0, 12), span=st.integers(1, 900),
       window=st.integers(1, 900), keep=st.booleans())
def test_kernel_matches_the_reference_fold(first, second, threshold, esc, span, window, keep):
    escalation = [(threshold + esc, "high")] if esc else []
    ref_state = CorrelationState(_rule(threshold, escalation, span))
    vec_state = CorrelationState(_rule(threshold, escalation, span))
    t0 = 1_795_000_000 * 10**6
    for n, evs in enumerate((first, second)):  # the second batch starts from the first one's carried state
        s = _stream(evs, 1 + n * 1000, t0 + n * 10**9)
        ref = _reference(ref_state, s, window * 10**6, keep)
        groups: dict[tuple[str, ...], list[int]] = {}
        for i, k in enumerate(s.keys):
            groups.setdefault(k, []).append(i)
        got = Fired()
        count_groups(vec_state, copy.deepcopy(s), groups, window * 10**6, keep, got)
        assert sorted(got.runs, key=lambda r: r.first_row) == sorted(ref.runs, key=lambda r: r.first_row)
        assert sorted(got.firings, key=lambda f: f.row) == sorted(ref.firings, key=lambda f: f.row)
        assert _snapshot(vec_state) == _snapshot(ref_state)
