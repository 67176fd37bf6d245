"""Incidents: the alerts of one attacker folded into one row the analyst acts on, with its story in order
("203.0.113.45: 30 failed passwords → spraying 8 users → login as root → sudo"), the highest severity, the ATT&CK
techniques from the rules' tags, and one proposed response.

An alert joins an open incident (last activity within `window`, event time) that holds one of its keys:
its own entity (`src_ip=…`, `user=…`, `host=…`), or the address its evidence came from when all of it came from
one address (a `host=` or `user=` alert that is really one attacker's). A login that *succeeded* from that address
adds `user=<name>` to the incident, so what the same account does next (sudo) joins it. Failed logins never link
users (every brute force tries root). A host alert whose evidence spans several addresses (sshd's per-host twin of
per-address alerts) joins the open incident of the address it cites most, adding no keys, and stays its own
incident when none is open: two attackers are never merged through a shared host or target. An incident, once
made, is never merged into another: its id stays stable for the analyst.

Fed with the alerts the scorer has just committed (the detection consumer's `on_alerts`), folded on a thread of
its own so detection never waits for it; written through the store's single writer; handed to the console as
typed `IncidentSummary` rows.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from store.schema import severity_rank

log = logging.getLogger(__name__)

INCIDENT_MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        "CREATE TABLE IF NOT EXISTS incidents ("
        " incident_id BIGINT PRIMARY KEY, entity VARCHAR, first_seen TIMESTAMPTZ, last_seen TIMESTAMPTZ,"
        " severity VARCHAR, status VARCHAR, alert_count INTEGER, event_count BIGINT, story VARCHAR,"
        " techniques VARCHAR[], response VARCHAR, lead_alert_id BIGINT, alert_ids BIGINT[], link_keys VARCHAR[],"
        " hosts VARCHAR[], updated_at TIMESTAMPTZ);\n"
        # One row per alert: which incident it belongs to and the step of the story it tells.
        "CREATE TABLE IF NOT EXISTS incident_alerts ("
        " alert_id BIGINT PRIMARY KEY, incident_id BIGINT, stage VARCHAR, phrase VARCHAR, amount BIGINT,"
        " first_seen TIMESTAMPTZ, last_seen TIMESTAMPTZ, severity VARCHAR, status VARCHAR, rule_id VARCHAR,"
        " detector VARCHAR, event_count BIGINT)",
    ),
]

EVIDENCE_READ_CAP = 50  # latest evidence ids read per new alert to find its address and users
MAX_OPEN = 20_000  # incidents kept in memory; beyond it the stalest are forgotten (they stay in the store)
_DISTINCT = re.compile(r"(\d+)\+? distinct")
SESSION_LOOKUPS = 5000  # evidence events per batch whose address is taken from their connection's other lines
SESSION_SPAN = 500  # how many event ids back a connection's earlier line is looked for
USERS_CAP = 1000  # distinct accounts remembered per step (the story's "spraying N users")
CLOSED = frozenset({"resolved", "false_positive"})


@dataclass(frozen=True, slots=True)
class IncidentSummary:
    """An incident as the console lists it."""

    incident_id: int
    entity: str
    first_seen: datetime | None
    last_seen: datetime | None
    severity: str
    status: str
    alert_count: int
    event_count: int
    story: str
    techniques: tuple[str, ...]
    response: str | None
    lead_alert_id: int
    alert_ids: tuple[int, ...]
    hosts: tuple[str, ...]

    COLUMNS = ("incident_id", "entity", "first_seen", "last_seen", "severity", "status", "alert_count",
               "event_count", "story", "techniques", "response", "lead_alert_id", "alert_ids", "hosts")

    @classmethod
    def from_record(cls, rec: Sequence[Any]) -> IncidentSummary:
        d = dict(zip(cls.COLUMNS, rec, strict=True))
        return cls(
            incident_id=int(d["incident_id"]), entity=str(d["entity"] or ""), first_seen=d["first_seen"],
            last_seen=d["last_seen"], severity=str(d["severity"] or "low"), status=str(d["status"] or "new"),
            alert_count=int(d["alert_count"] or 0), event_count=int(d["event_count"] or 0),
            story=str(d["story"] or ""), techniques=tuple(d["techniques"] or ()), response=d["response"],
            lead_alert_id=int(d["lead_alert_id"] or 0), alert_ids=tuple(int(a) for a in d["alert_ids"] or ()),
            hosts=tuple(d["hosts"] or ()),
        )

    # The console's tables key rows on `alert_id`-like ids and sort on these names.
    @property
    def row_id(self) -> int:
        return self.incident_id

    @property
    def count(self) -> int:
        return self.alert_count


# -- the story ---------------------------------------------------------------------------------------------------
# rule id (or prefix) → (stage, phrase). A stage is one step of the story: several rules that see the same events
# (brute force, slow guessing, failed root passwords) tell one step, with the largest number among them.
# In a phrase, {n} is the step's number and {user} the account a login or sudo was for.
_STAGES: tuple[tuple[str, str, str], ...] = (
    ("auth.password_spray", "spray", "spraying {n} users"),
    ("auth.invalid_users", "unknown_users", "{n} unknown users"),
    ("auth.max_attempts_exceeded", "cut_off", "cut off after too many tries"),
    ("auth.success_after_failures", "login", "login as {user}"),
    ("auth.login_succeeded", "login", "login as {user}"),
    ("auth.device_login_failure", "failures", "{n} failed device logins"),
    ("auth.", "failures", "{n} failed passwords"),
    ("priv.sudo_root_shell", "sudo", "sudo to root"),
    ("priv.sudo", "sudo", "sudo refused"),
    ("priv.su", "su", "su to root"),
    ("priv.unexpected_root", "sudo", "service account became root"),
    ("priv.account_created", "account", "account created"),
    ("web.sql_injection", "web_attack", "SQL injection"),
    ("web.log4shell", "web_attack", "Log4Shell probe"),
    ("web.attack", "web_attack", "attack requests"),
    ("web.sensitive_file", "web_probe", "probing for sensitive files"),
    ("web.scanner", "web_scan", "web scanner"),
    ("web.error_burst", "web_scan", "{n} error responses"),
    ("web.scripted", "web_scan", "scripted client"),
)
_STAGE_ORDER = ("failures", "cut_off", "unknown_users", "spray", "web_scan", "web_probe", "web_attack", "login",
                "su", "sudo", "account")


_STAGE_CACHE: dict[tuple[str | None, str, str | None], tuple[str, str]] = {}


def stage_of(rule_id: str | None, detector: str, title: str | None) -> tuple[str, str]:
    key = (rule_id, detector, title)
    found = _STAGE_CACHE.get(key)
    if found is None:
        found = _STAGE_CACHE[key] = _stage_of(rule_id, detector, title) if len(_STAGE_CACHE) < 10_000 else \
            _stage_of(rule_id, detector, title)
    return found


def _stage_of(rule_id: str | None, detector: str, title: str | None) -> tuple[str, str]:
    rid = rule_id or ""
    for prefix, stage, phrase in _STAGES:
        if rid.startswith(prefix):
            return stage, phrase
    if detector.startswith("model:") or detector == "template":
        return f"other:{detector}", (title or detector).lower()
    return f"other:{rid or detector}", title or rid or detector


@dataclass(slots=True)
class Step:
    """One alert's part in an incident."""

    alert_id: int
    stage: str
    phrase: str
    amount: int  # the number in the phrase: events, distinct users
    first_seen: datetime
    last_seen: datetime
    severity: str
    status: str
    rule_id: str
    detector: str
    event_count: int
    user: str | None = None
    users: set[str] = field(default_factory=set)  # accounts seen in the evidence (spray, unknown users)


STORY_TIE = timedelta(minutes=5)


def _rank(stage: str) -> int:
    return _STAGE_ORDER.index(stage) if stage in _STAGE_ORDER else len(_STAGE_ORDER)


def story_of(steps: Iterable[Step]) -> list[str]:
    """Steps folded by stage, in the order each stage first happened."""
    stages: dict[str, tuple[datetime, int, str, str | None]] = {}
    for s in steps:
        first, amount, phrase, user = stages.get(s.stage, (s.first_seen, 0, s.phrase, s.user))
        stages[s.stage] = (min(first, s.first_seen), max(amount, s.amount), phrase, user or s.user)
    ordered = sorted(stages.items(), key=lambda kv: kv[1][0])
    # Stages that began within moments of each other are told in attack order (failures before the spray they
    # belong to, the login before its sudo), however the rules' first matching events fell.
    for i in range(1, len(ordered)):
        j = i
        while j > 0 and ordered[j][1][0] - ordered[j - 1][1][0] <= STORY_TIE and \
                _rank(ordered[j][0]) < _rank(ordered[j - 1][0]):
            ordered[j - 1], ordered[j] = ordered[j], ordered[j - 1]
            j -= 1
    return [render_phrase(phrase, amount, user) for _stage, (_first, amount, phrase, user) in ordered]


def render_phrase(phrase: str, amount: int, user: str | None = None) -> str:
    """A stored step phrase with its number and account filled in ("{n} failed passwords" → "1 failed password")."""
    text = phrase.replace("{n}", f"{amount:,}").replace("{user}", user or "an account")
    if amount == 1 and "{n}" in phrase:
        words = text.split(" ")
        for i, w in enumerate(words[1:], 1):  # the counted noun is the first plural after the number
            if w.endswith("s") and len(w) > 2:
                words[i] = w[:-1]
                break
        text = " ".join(words)
    return text


def techniques_from_tags(tags: Iterable[str]) -> list[str]:
    """`attack.t1110.001` → `T1110.001` (tactic tags such as `attack.credential-access` are not techniques)."""
    out = []
    for tag in tags:
        t = str(tag).lower()
        if t.startswith("attack.t") and t[8:9].isdigit():
            out.append(t[7:].upper())
    return out


# -- state ---------------------------------------------------------------------------------------------------------
@dataclass(slots=True)
class Incident:
    incident_id: int
    entity: str
    first_seen: datetime
    last_seen: datetime
    steps: dict[int, Step] = field(default_factory=dict)
    keys: set[str] = field(default_factory=set)
    hosts: set[str] = field(default_factory=set)
    techniques: set[str] = field(default_factory=set)
    response: str | None = None
    response_rank: int = -1  # severity rank of the alert whose proposal is shown
    changed_steps: set[int] = field(default_factory=set)  # steps not yet written

    @property
    def severity(self) -> str:
        return max((s.severity for s in self.steps.values()), key=severity_rank, default="low")

    @property
    def status(self) -> str:
        statuses = [s.status for s in self.steps.values()]
        if not statuses or "new" in statuses:
            return "new"
        if all(s in CLOSED for s in statuses):
            return "false_positive" if all(s == "false_positive" for s in statuses) else "resolved"
        return "acknowledged"

    @property
    def lead_alert_id(self) -> int:
        """The alert the analyst acts through (chat, playbooks): the most severe, then the latest."""
        lead = max(self.steps.values(), key=lambda s: (s.status not in CLOSED, severity_rank(s.severity),
                                                       s.last_seen, s.alert_id))
        return lead.alert_id

    def summary(self) -> IncidentSummary:
        steps = sorted(self.steps.values(), key=lambda s: (s.first_seen, s.alert_id))
        name = self.entity.split("=", 1)[-1]
        return IncidentSummary(
            incident_id=self.incident_id, entity=self.entity, first_seen=self.first_seen, last_seen=self.last_seen,
            severity=self.severity, status=self.status, alert_count=len(steps),
            event_count=max((s.event_count for s in steps), default=0),
            story=f"{name}: " + " → ".join(story_of(steps)), techniques=tuple(sorted(self.techniques)),
            response=self.response, lead_alert_id=self.lead_alert_id, alert_ids=tuple(s.alert_id for s in steps),
            hosts=tuple(sorted(self.hosts)),
        )


@dataclass(frozen=True, slots=True)
class _Facts:
    """What an alert's evidence says about who did it."""

    addresses: tuple[str, ...]  # most cited first
    users: frozenset[str]
    success_users: tuple[str, ...]
    hosts: frozenset[str]


TechniquesOf = Callable[[str], Iterable[str]]


class IncidentBook:
    """Folds committed alerts into incidents on its own thread (`start`); `on_alerts` only hands them over from the
    scorer's thread, `on_decision` comes from the playbook router's, `set_status` from the writer's. One lock guards
    the state they share."""

    def __init__(self, store: Any, writer: Any, *, window: timedelta = timedelta(hours=1),
                 techniques_of: TechniquesOf | None = None,
                 on_change: Sequence[Callable[[list[IncidentSummary]], None]] = ()) -> None:
        self.store = store
        self.writer = writer
        self.window = window
        self.techniques_of = techniques_of or (lambda _rid: ())
        self.on_change = list(on_change)
        self._lock = threading.Lock()
        self._incidents: dict[int, Incident] = {}  # open ones (and those touched since)
        self._by_key: dict[str, int] = {}
        self._of_alert: dict[int, int] = {}
        self._next_id = 1
        self._horizon: datetime | None = None  # newest event time seen: what "open" is measured against
        # Rows waiting for the writer: incident id → (incident row, alert id → step row); the latest wins.
        self._queued: dict[int, tuple[tuple[Any, ...], dict[int, tuple[Any, ...]]]] = {}
        self._queue_lock = threading.Lock()
        self._write_queued = False
        self._techniques: dict[str, frozenset[str]] = {}
        self._inbox: queue.Queue[list[Any] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._decisions: dict[int, tuple[str, str]] = {}  # alert id → (severity, response) awaiting placement
        self.errors = 0
        self.last_error: str | None = None

    # -- restart ------------------------------------------------------------------------------------------------
    def load(self, cur: Any) -> int:
        """Re-open the incidents still within the window of the newest one (after a restart)."""
        row = cur.execute("SELECT max(incident_id), max(last_seen) FROM incidents").fetchone()
        if not row or row[0] is None:
            return 0
        self._next_id = int(row[0]) + 1
        self._horizon = _utc(row[1])
        since = self._horizon - self.window if self._horizon else None
        recs = cur.execute(
            "SELECT incident_id, entity, first_seen, last_seen, techniques, response, link_keys, hosts "
            "FROM incidents WHERE last_seen >= ?", [since]).fetchall()
        for iid, entity, first, last, techs, response, keys, hosts in recs:
            inc = Incident(int(iid), entity, _utc(first), _utc(last), keys=set(keys or ()), hosts=set(hosts or ()),
                           techniques=set(techs or ()), response=response)
            self._incidents[inc.incident_id] = inc
            for k in inc.keys:
                self._by_key[k] = inc.incident_id
        if self._incidents:
            steps = cur.execute(
                "SELECT alert_id, incident_id, stage, phrase, amount, first_seen, last_seen, severity, status, "
                "rule_id, detector, event_count FROM incident_alerts "
                "WHERE incident_id IN (SELECT unnest(?::BIGINT[]))", [list(self._incidents)]).fetchall()
            for aid, iid, stage, phrase, amount, first, last, sev, status, rid, det, n in steps:
                self._incidents[int(iid)].steps[int(aid)] = Step(
                    int(aid), stage, phrase, int(amount or 0), _utc(first), _utc(last), sev, status, rid or "",
                    det or "", int(n or 0), _user_of(phrase))
                self._of_alert[int(aid)] = int(iid)
        return len(self._incidents)

    # -- alerts in ----------------------------------------------------------------------------------------------
    def start(self) -> IncidentBook:
        """Fold on a thread of its own: the detection consumer only hands alerts over (it never waits for this)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="vigil-incidents", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Fold what was handed over, then end the thread (call before the writer stops)."""
        if self._thread is not None:
            self._inbox.put(None)
            self._thread.join(timeout)
            self._thread = None

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """True once everything handed over so far is folded and its rows queued to the writer."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._inbox.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    def on_alerts(self, updates: Sequence[Any]) -> None:
        """The detection consumer's hook: alerts as just committed (AlertUpdate). Never blocks, never raises.
        Without a started thread (tests, tools) it folds at once."""
        if self._thread is None:
            self._fold_and_write(list(updates))
        else:
            self._inbox.put(list(updates))

    def _run(self) -> None:
        while True:
            item = self._inbox.get()
            batch: list[Any] = []
            stop = item is None
            taken = 1
            if item is not None:
                batch.extend(item)
            while not stop:  # a burst of batches is folded as one
                try:
                    more = self._inbox.get_nowait()
                except queue.Empty:
                    break
                taken += 1
                if more is None:
                    stop = True
                else:
                    batch.extend(more)
            try:
                if batch:
                    self._fold_and_write(batch)
            finally:
                for _ in range(taken):
                    self._inbox.task_done()
            if stop:
                return

    def _fold_and_write(self, updates: list[Any]) -> None:
        try:
            changed = self.fold(updates)
        except Exception as exc:  # incidents are a view on alerts: a failure here must not stop detection
            self._failed(f"grouping alerts into incidents failed: {type(exc).__name__}: {exc}")
            log.exception("incident grouping failed")
            return
        if changed:
            self._write(changed)
        pending = [(aid, d) for aid, d in list(self._decisions.items()) if aid in self._of_alert]
        for aid, (severity, response) in pending:  # decisions that arrived before their alert was placed
            self._decisions.pop(aid, None)
            self.on_decision(aid, severity, response)

    def fold(self, updates: Sequence[Any]) -> list[Incident]:
        if not updates:
            return []
        facts, known = self._read(updates)
        touched: dict[int, Incident] = {}
        with self._lock:
            # Alerts about an address first: the host and user alerts of the same batch can then find them.
            for u in sorted(updates, key=lambda u: (not str(u.entity or "").startswith("src_ip="),
                                                    _utc(u.first_seen), u.alert_id)):
                inc = self._place(u, facts.get(u.alert_id), known.get(u.alert_id))
                if inc is not None:
                    touched[inc.incident_id] = inc
            self._evict_idle()
        return list(touched.values())

    def _read(self, updates: Sequence[Any]) -> tuple[dict[int, _Facts], dict[int, int]]:
        """Evidence facts for each alert (all its evidence when new to the book, what this batch added otherwise),
        and the incident of alerts placed before a restart."""
        with self._lock:
            placed = {u.alert_id for u in updates if u.alert_id in self._of_alert}
        owners: dict[int, list[int]] = {}
        for u in updates:
            if u.alert_id in placed:
                continue  # a known alert that grew: its address and story step are settled (counts come with it)
            for eid in u.event_ids[-EVIDENCE_READ_CAP:]:
                owners.setdefault(int(eid), []).append(u.alert_id)
        unplaced = [u.alert_id for u in updates if u.alert_id not in placed]
        cur = self.store.cursor()
        try:
            known = {int(a): int(i) for a, i in cur.execute(
                "SELECT alert_id, incident_id FROM incident_alerts WHERE alert_id IN (SELECT unnest(?::BIGINT[]))",
                [unplaced]).fetchall()} if unplaced else {}
            rows = cur.execute(
                'SELECT event_id, src_ip, "user", outcome, host, pid FROM events '
                "WHERE event_id IN (SELECT unnest(?::BIGINT[])) ORDER BY event_id", [list(owners)]).fetchall() \
                if owners else []
            session_ip = self._session_addresses(cur, [(int(r[0]), r[4], r[5]) for r in rows if not r[1] and r[5]])
        finally:
            cur.close()
        acc: dict[int, tuple[dict[str, int], set[str], list[str], set[str]]] = {}
        for eid, ip, user, outcome, host, _pid in rows:
            ip = ip or session_ip.get(int(eid))
            for aid in owners[int(eid)]:
                a = acc.setdefault(aid, ({}, set(), [], set()))
                if ip:
                    a[0][str(ip)] = a[0].get(str(ip), 0) + 1
                if user:
                    a[1].add(str(user))
                    if outcome == "success" and str(user) not in a[2]:
                        a[2].append(str(user))
                if host:
                    a[3].add(str(host))
        facts = {aid: _Facts(tuple(sorted(a[0], key=lambda ip: (-a[0][ip], ip))), frozenset(a[1]), tuple(a[2]),
                             frozenset(a[3])) for aid, a in acc.items()}
        return facts, known

    @staticmethod
    def _session_addresses(cur: Any, rows: list[tuple[int, Any, Any]]) -> dict[int, str]:
        """An event without an address ("Disconnecting: Too many authentication failures for root") takes the
        address of its connection: the nearest earlier event of the same host and process id that has one."""
        ids = [eid for eid, _host, _pid in rows[:SESSION_LOOKUPS]]
        if not ids:
            return {}
        # One ASOF join over the id range (not a lookup per event): the latest earlier line of the same host and
        # process that has an address, no more than SESSION_SPAN ids back.
        found = cur.execute(
            "WITH want AS (SELECT event_id, coalesce(host, '') AS h, pid FROM events "
            "              WHERE event_id IN (SELECT unnest($ids::BIGINT[]))), "
            "     known AS (SELECT event_id AS pid_event, coalesce(host, '') AS h, pid, src_ip FROM events "
            "               WHERE event_id BETWEEN $lo AND $hi AND src_ip IS NOT NULL AND pid IS NOT NULL) "
            "SELECT want.event_id, known.src_ip FROM want ASOF JOIN known "
            "  ON want.h = known.h AND want.pid = known.pid AND want.event_id >= known.pid_event "
            "WHERE want.event_id - known.pid_event <= $span",
            {"ids": ids, "lo": min(ids) - SESSION_SPAN, "hi": max(ids), "span": SESSION_SPAN}).fetchall()
        return {int(eid): str(ip) for eid, ip in found if ip}

    def _place(self, u: Any, facts: _Facts | None, known: int | None) -> Incident | None:
        first, last = _utc(u.first_seen), _utc(u.last_seen)
        if self._horizon is None or last > self._horizon:
            self._horizon = last
        iid = self._of_alert.get(u.alert_id, known)
        if iid is not None:
            inc = self._incidents.get(iid)
            if inc is None:  # an alert of an incident no longer open grew: re-open it from the store
                inc = self._reopen(iid)
            if inc is not None:
                self._update_step(inc, u, facts)
                return inc
        facts = facts or _Facts((), frozenset(), (), frozenset())
        single_ip = facts.addresses[0] if len(facts.addresses) == 1 else None
        # The address the evidence came from decides first: a host or user alert that is one attacker's joins
        # that attacker's incident rather than another alert about the same host or account.
        candidates = [f"src_ip={single_ip}"] if single_ip else []
        if u.entity and str(u.entity) not in candidates:
            candidates.append(str(u.entity))
        candidates = [c for c in candidates if c and not c.endswith("=")]
        inc = self._open_for(candidates, first)
        if inc is None and len(facts.addresses) > 1 and not str(u.entity or "").startswith("src_ip="):
            inc = self._open_for([f"src_ip={ip}" for ip in facts.addresses], first)
            if inc is not None:  # a twin of per-address alerts: told there, linking nothing
                self._add_to(inc, u, facts, set())
                return inc
        if inc is None:
            entity = f"src_ip={single_ip}" if single_ip else (candidates[0] if candidates else f"alert={u.alert_id}")
            inc = Incident(self._next_id, entity, first, last)
            self._next_id += 1
            self._incidents[inc.incident_id] = inc
        new_keys = set(candidates)
        if single_ip or str(u.entity or "").startswith("src_ip="):
            new_keys |= {f"user={name}" for name in facts.success_users}  # the account the attacker now holds
        self._add_to(inc, u, facts, new_keys)
        return inc

    def _open_for(self, keys: Iterable[str], first: datetime) -> Incident | None:
        for key in keys:
            found = self._incidents.get(self._by_key.get(key, -1))
            if found is not None and first - found.last_seen <= self.window:
                return found
        return None

    def _add_to(self, inc: Incident, u: Any, facts: _Facts, new_keys: set[str]) -> None:
        for key in new_keys:
            self._by_key[key] = inc.incident_id
        inc.keys |= new_keys
        if u.host:
            inc.hosts.add(str(u.host))
        inc.hosts |= set(sorted(facts.hosts)[:5])
        self._update_step(inc, u, facts)
        self._of_alert[u.alert_id] = inc.incident_id

    def _update_step(self, inc: Incident, u: Any, facts: _Facts | None) -> None:
        first, last = _utc(u.first_seen), _utc(u.last_seen)
        old = inc.steps.get(u.alert_id)
        stage, phrase = stage_of(u.rule_id, str(u.detector or ""), u.title)
        amount = int(u.count or 0)
        user = old.user if old else None
        users = set(old.users) if old else set()
        if facts is not None:
            if len(users) < USERS_CAP:
                users |= set(sorted(facts.users)[: USERS_CAP - len(users)])
            if stage == "login" and facts.success_users:
                user = facts.success_users[-1]
            if stage in ("sudo", "su") and facts.users and not user:
                user = sorted(facts.users)[0]
        if stage in ("spray", "unknown_users"):
            # A value_count rule says how many distinct accounts it counted ("… 8 distinct user …").
            said = _DISTINCT.search(str(getattr(u, "why", "") or ""))
            amount = max(int(said.group(1)) if said else 0, len(users), old.amount if old else 0) or amount
        if stage in ("sudo", "su") and user and str(u.entity or "") != f"user={user}":
            phrase = phrase + f" by {user}" if "{user}" not in phrase else phrase
        inc.changed_steps.add(u.alert_id)
        inc.steps[u.alert_id] = Step(u.alert_id, stage, phrase, amount, first, last, str(u.severity or "low"),
                                     str(getattr(u, "status", None) or (old.status if old else "new")),
                                     str(u.rule_id or ""), str(u.detector or ""), int(u.count or 0), user, users)
        inc.first_seen = min(inc.first_seen, first)
        inc.last_seen = max(inc.last_seen, last)
        if u.rule_id:
            rid = str(u.rule_id)
            techs = self._techniques.get(rid)
            if techs is None:
                techs = self._techniques[rid] = frozenset(techniques_from_tags(self.techniques_of(rid)))
            inc.techniques |= techs

    def _reopen(self, iid: int) -> Incident | None:
        cur = self.store.cursor()
        try:
            row = cur.execute("SELECT incident_id, entity, first_seen, last_seen, techniques, response, link_keys, "
                              "hosts FROM incidents WHERE incident_id = ?", [iid]).fetchone()
            if row is None:
                return None
            inc = Incident(int(row[0]), row[1], _utc(row[2]), _utc(row[3]), keys=set(row[6] or ()),
                           hosts=set(row[7] or ()), techniques=set(row[4] or ()), response=row[5])
            for aid, stage, phrase, amount, first, last, sev, status, rid, det, n in cur.execute(
                    "SELECT alert_id, stage, phrase, amount, first_seen, last_seen, severity, status, rule_id, "
                    "detector, event_count FROM incident_alerts WHERE incident_id = ?", [iid]).fetchall():
                inc.steps[int(aid)] = Step(int(aid), stage, phrase, int(amount or 0), _utc(first), _utc(last), sev,
                                           status, rid or "", det or "", int(n or 0), _user_of(phrase))
                self._of_alert[int(aid)] = iid
        finally:
            cur.close()
        self._incidents[iid] = inc
        return inc

    def _evict_idle(self) -> None:
        """Bound memory: beyond MAX_OPEN incidents, forget the stalest half (event time); they stay in the store,
        and an alert of theirs that grows re-opens its incident from there. Whether an incident is still open to
        new alerts is decided by the window at placement, not by being in memory."""
        if len(self._incidents) <= MAX_OPEN:
            return
        by_age = sorted(self._incidents.values(), key=lambda inc: inc.last_seen)
        stale = [inc.incident_id for inc in by_age[: len(by_age) // 2]]
        for iid in stale:
            inc = self._incidents.pop(iid)
            for k in inc.keys:
                if self._by_key.get(k) == iid:
                    del self._by_key[k]
            for aid in inc.steps:
                self._of_alert.pop(aid, None)

    # -- responses and status -----------------------------------------------------------------------------------
    def incident_of(self, alert_id: int) -> int | None:
        with self._lock:
            return self._of_alert.get(alert_id)

    def on_decision(self, alert_id: int, severity: str, response: str | None) -> None:
        """The playbook router decided on an alert: its accepted proposal becomes the incident's one response
        when that alert is the most severe one that has a proposal."""
        if not response:
            return
        with self._lock:
            iid = self._of_alert.get(alert_id)
            if iid is None:  # not folded yet (the router can be quicker): applied once it is
                if len(self._decisions) < 10_000:
                    self._decisions[alert_id] = (severity, response)
                return
            inc = self._incidents.get(iid)
            if inc is None or severity_rank(severity) <= inc.response_rank and inc.response:
                return
            inc.response, inc.response_rank = response, severity_rank(severity)
        self._write([inc])

    def set_status(self, con: Any, alert_ids: Iterable[int], status: str) -> list[IncidentSummary]:
        """Inside the writer's transaction that changed these alerts: their incidents' status follows."""
        with self._lock:
            touched: dict[int, Incident] = {}
            for aid in alert_ids:
                iid = self._of_alert.get(int(aid))
                inc = self._incidents.get(iid) if iid is not None else None
                if inc is not None and int(aid) in inc.steps:
                    inc.steps[int(aid)].status = status
                    inc.changed_steps.add(int(aid))
                    touched[inc.incident_id] = inc
            summaries = [inc.summary() for inc in touched.values()]
            rows = [self._rows(inc) for inc in touched.values()]
        _upsert_many(con, rows)
        for cb in self.on_change:
            cb(summaries)
        return summaries

    # -- out ----------------------------------------------------------------------------------------------------
    def _rows(self, inc: Incident, s: IncidentSummary | None = None) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
        s = s or inc.summary()
        incident_row = (s.incident_id, s.entity, s.first_seen, s.last_seen, s.severity, s.status, s.alert_count,
                        s.event_count, s.story, list(s.techniques), s.response, s.lead_alert_id, list(s.alert_ids),
                        sorted(inc.keys), list(s.hosts), datetime.now(UTC))
        changed, inc.changed_steps = inc.changed_steps, set()
        step_rows = [(st.alert_id, inc.incident_id, st.stage,
                      st.phrase.replace("{user}", st.user) if st.user else st.phrase, st.amount, st.first_seen,
                      st.last_seen, st.severity, st.status, st.rule_id, st.detector, st.event_count)
                     for aid, st in inc.steps.items() if aid in changed]
        return incident_row, step_rows

    def _write(self, incidents: Sequence[Incident]) -> None:
        """Hand the console their summaries now and queue their rows; one writer call writes every row queued by
        the time it runs (a burst of alerts costs one transaction), without waiting for the grouping lock."""
        with self._lock:
            summaries = [inc.summary() for inc in incidents]
            rows = [self._rows(inc, summary) for inc, summary in zip(incidents, summaries, strict=True)]
        with self._queue_lock:
            for incident_row, step_rows in rows:
                _, steps = self._queued.get(incident_row[0], (incident_row, {}))
                steps.update((r[0], r) for r in step_rows)
                self._queued[incident_row[0]] = (incident_row, steps)
            submit = not self._write_queued
            self._write_queued = True
        if submit:
            fut = self.writer.call(self._flush_queued)
            fut.add_done_callback(self._written)
        for cb in self.on_change:
            try:
                cb(summaries)
            except Exception:
                log.exception("incident consumer failed")

    def _flush_queued(self, con: Any) -> int:
        with self._queue_lock:
            queued, self._queued = self._queued, {}
            self._write_queued = False
        _upsert_many(con, [(row, list(steps.values())) for row, steps in queued.values()])
        return len(queued)

    def _written(self, fut: Any) -> None:
        exc = fut.exception()
        if exc is not None:
            self._failed(f"storing incidents failed: {exc}")

    def _failed(self, text: str) -> None:
        self.errors += 1
        self.last_error = text
        log.warning("%s", text)


_INCIDENT_COLUMNS = ("incident_id", "entity", "first_seen", "last_seen", "severity", "status", "alert_count",
                     "event_count", "story", "techniques", "response", "lead_alert_id", "alert_ids", "link_keys",
                     "hosts", "updated_at")
_STEP_COLUMNS = ("alert_id", "incident_id", "stage", "phrase", "amount", "first_seen", "last_seen", "severity",
                 "status", "rule_id", "detector", "event_count")


def _upsert_many(con: Any, rows: Sequence[tuple[tuple[Any, ...], list[tuple[Any, ...]]]]) -> None:
    """Every changed incident and its steps in two statements, through Arrow (row-by-row inserts cost ms each)."""
    import pyarrow as pa

    if not rows:
        return
    incidents = [r[0] for r in rows]
    steps = [s for r in rows for s in r[1]]
    tables = (("incidents", _INCIDENT_COLUMNS, incidents), ("incident_alerts", _STEP_COLUMNS, steps))
    for name, columns, data in tables:
        if not data:
            continue
        table = pa.table({c: [row[i] for row in data] for i, c in enumerate(columns)})
        con.register("_incident_rows", table)
        try:
            con.execute(f"INSERT OR REPLACE INTO {name} ({', '.join(columns)}) "
                        f"SELECT {', '.join(columns)} FROM _incident_rows")
        finally:
            con.unregister("_incident_rows")


def _utc(value: datetime | None) -> datetime:
    if value is None:
        return datetime.fromtimestamp(0, UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _user_of(phrase: str | None) -> str | None:
    """The account named in a stored phrase ("login as root", "sudo to root by ubuntu"), if any."""
    if not phrase:
        return None
    for marker in (" by ", "login as "):
        if marker in phrase:
            return phrase.rsplit(marker, 1)[1] or None
    return None


INCIDENT_SELECT = ", ".join(IncidentSummary.COLUMNS)


def fetch_incidents(cur: Any, ids: Sequence[int]) -> list[IncidentSummary]:
    if not ids:
        return []
    recs = cur.execute(f"SELECT {INCIDENT_SELECT} FROM incidents WHERE incident_id IN (SELECT unnest(?::BIGINT[])) "
                       "ORDER BY incident_id", [[int(i) for i in ids]]).fetchall()
    return [IncidentSummary.from_record(r) for r in recs]


def recent_incidents(cur: Any, limit: int) -> list[IncidentSummary]:
    recs = cur.execute(f"SELECT * FROM (SELECT {INCIDENT_SELECT} FROM incidents ORDER BY last_seen DESC, "
                       "incident_id DESC LIMIT ?) ORDER BY incident_id", [int(limit)]).fetchall()
    return [IncidentSummary.from_record(r) for r in recs]


