"""event_count over a whole batch at once, in array operations: the same fold as `CorrelationState._count`
(the per-event reference, used for small batches), for every group together.

Within a group, events are the group's carried times followed by the batch's, in order. With every time turned
into a rank among the batch's distinct times, a group's running maximum (time never runs backwards within a
group), "how many events in the window before this one" (a binary search on (group, time)) and "the next firing
at or after this event" (a reversed running minimum) all become whole-array operations that never cross from one
group into the next. Python runs once per group, to read and write its carried state.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from detectors.rules.correlations import CorrelationState, Fired, Stream


def count_groups(state: CorrelationState, s: Stream, groups: dict[tuple[str, ...], list[int]], window_us: int,
                 keep: bool, out: Fired) -> None:
    from detectors.rules.correlations import MAX_UNCITED, SEVERITY_RANK, Firing, Run

    rule = state.rule
    span, need = rule.timespan_us, rule.threshold
    k_max = max(1, rule.max_count - 1)
    keys = list(groups)
    # Carried state first in each group, then the batch's events in stream order.
    p_t: list[int] = []
    p_code: list[int] = []
    p_unc: list[int] = []  # event id of a carried entry still waiting to be cited, -1 when it was cited
    n_idx: list[int] = []
    n_code: list[int] = []
    wms: list[int] = []
    for c, key in enumerate(keys):
        g = state.group(key)
        times = list(g.times)
        u = len(g.uncited)
        p_t.extend(times)
        p_code.extend([c] * len(times))
        p_unc.extend([-1] * (len(times) - u))
        p_unc.extend(e for _, e in g.uncited)
        idxs = groups[key]
        n_idx.extend(idxs)
        n_code.extend([c] * len(idxs))
        wms.append(g.wm)
    rows_all = np.asarray(s.rows, dtype=np.int64)
    t_all = np.asarray(s.t, dtype=np.int64)
    e_all = np.asarray(s.eids, dtype=np.int64)
    idx = np.asarray(n_idx, dtype=np.int64)
    n_p, n_n = len(p_t), len(idx)
    code = np.concatenate([np.asarray(p_code, np.int64), np.asarray(n_code, np.int64)])
    is_new = np.concatenate([np.zeros(n_p, bool), np.ones(n_n, bool)])
    order = np.argsort(code * 2 + is_new, kind="stable")  # per group: carried entries, then new in stream order
    code, is_new = code[order], is_new[order]
    t = np.concatenate([np.asarray(p_t, np.int64), t_all[idx]])[order]
    # A group's time never runs backwards: a new event is not behind its group's carried watermark either.
    t = np.where(is_new, np.maximum(t, np.asarray(wms, np.int64)[code]), t)
    uniq, rank = np.unique(t, return_inverse=True)
    width = len(uniq) + 1
    eff_rank = np.maximum.accumulate(rank + code * width) - code * width
    eff = uniq[eff_rank]
    n = len(eff)
    pos = np.arange(n)
    starts = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
    ends = np.r_[starts[1:], n] - 1  # last position of each group
    group_end = np.repeat(ends, np.diff(np.r_[starts, n]))
    # Events strictly inside the window before each event: a binary search on (group, time rank).
    lo_rank = np.searchsorted(uniq, eff - span, side="right")  # ranks of times > eff - span start here
    ck = code * width + eff_rank
    first_in = np.searchsorted(ck, code * width + lo_rank, side="left")
    count = np.minimum(pos - first_in, k_max) + 1
    fires = is_new & (count >= need)
    # The next firing at or after each entry, within its group (one past the group's end when there is none).
    nxt = np.where(fires, pos, group_end + 1)
    nxt = np.minimum.accumulate(nxt[::-1])[::-1]
    has = nxt <= group_end
    eid = np.concatenate([np.asarray(p_unc, np.int64), e_all[idx]])[order]
    citable = is_new | (eid >= 0)
    cited = citable & has & (eff > eff[np.minimum(nxt, n - 1)] - span)
    row = np.concatenate([np.full(n_p, -1, np.int64), rows_all[idx]])[order]
    steps = [need, *(need_ for need_, _ in rule.escalation)]
    ranks = [SEVERITY_RANK[rule.severity], *(SEVERITY_RANK[sev] for _, sev in rule.escalation)]
    fire_pos = np.flatnonzero(fires)
    level = np.asarray(ranks)[np.searchsorted(np.asarray(steps), count[fire_pos], side="right") - 1]
    # Cited entries grouped by the firing that cites them (positions ascend, and so does their next firing).
    cpos = np.flatnonzero(cited)
    cnext = nxt[cpos]
    split = np.searchsorted(cnext, fire_pos, side="right")
    bounds = np.r_[0, split]
    eids_cited = eid[cpos].tolist()
    t_cited = eff[cpos]
    # Runs: consecutive firings of a group no further apart than the alert window.
    fcode = code[fire_pos]
    ft = eff[fire_pos]
    new_run = np.r_[True, (fcode[1:] != fcode[:-1]) | (np.diff(ft) > window_us)] if len(fire_pos) else np.zeros(0, bool)
    run_starts = np.flatnonzero(new_run)
    run_ends = np.r_[run_starts[1:], len(fire_pos)] if len(fire_pos) else run_starts
    frow, fcount = row[fire_pos], count[fire_pos]
    if len(fire_pos):
        run_rank = np.maximum.reduceat(level, run_starts).tolist()
        rs_l, re_l = run_starts.tolist(), run_ends.tolist()
        frow_l, ft_l, fcode_l = frow.tolist(), ft.tolist(), fcode.tolist()
        fcount_l, b_l = fcount.tolist(), bounds.tolist()
        t_cited_l = t_cited.tolist()
        for a, b, rank in zip(rs_l, re_l, run_rank, strict=True):
            lo_c, hi_c = b_l[a], b_l[b]
            first_t = t_cited_l[lo_c] if hi_c > lo_c else ft_l[a]  # cited entries ascend in time
            out.runs.append(Run(keys[fcode_l[a]], frow_l[a], frow_l[b - 1], ft_l[a], ft_l[b - 1], first_t,
                                eids_cited[lo_c:hi_c], rank, fcount_l[b - 1]))
    if keep and len(fire_pos):
        from store.schema import SEVERITIES

        b_lo, b_hi = bounds[:-1], bounds[1:]
        ffirst = np.where(b_hi > b_lo, t_cited[np.minimum(b_lo, max(0, len(t_cited) - 1))] if len(t_cited)
                          else ft, ft).tolist()
        b_lo_l, b_hi_l = b_lo.tolist(), b_hi.tolist()
        out.firings.extend(
            Firing(r, tt, f, tuple(eids_cited[lo_c:hi_c]), keys[c], n, SEVERITIES[lv])
            for r, tt, f, lo_c, hi_c, c, n, lv in zip(frow.tolist(), ft.tolist(), ffirst, b_lo_l, b_hi_l,
                                                      fcode.tolist(), fcount.tolist(), level.tolist(), strict=True))
    # Carried state: the last times, and the entries since the group's last firing still inside its window.
    last_fire = np.full(len(keys), -1, np.int64)
    if len(fire_pos):
        np.maximum.at(last_fire, fcode, fire_pos)
    eff_last = eff[ends]
    waiting = citable & (pos > last_fire[code]) & (eff > eff_last[code] - span)
    eff_l, eid_l, wait_l = eff.tolist(), eid.tolist(), waiting.tolist()
    groups_state = state.groups
    for c, (a, z) in enumerate(zip(starts.tolist(), (ends + 1).tolist(), strict=True)):
        g = groups_state[keys[c]]
        g.wm = eff_l[z - 1]
        g.times = deque(eff_l[max(a, z - k_max):z], maxlen=k_max)
        g.uncited = deque((eff_l[i], eid_l[i]) for i in range(a, z) if wait_l[i])
        while len(g.uncited) > MAX_UNCITED:
            g.uncited.popleft()
