"""Sigma rules evaluated in Python on event batches: pySigma parses each file, we compile its condition tree
into a predicate over one event's mapped fields. A rule that cannot be loaded is reported (file and reason),
never fatal.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sigma.collection import SigmaCollection
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.rule import SigmaRule
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
)

from detectors.alerts import Hit
from detectors.rules.events import Ev, views

SHIPPED_RULES = Path(__file__).with_name("sigma_rules")

# Sigma level → our severity ("informational" is below our scale and is reported as low).
LEVELS = {"informational": "low", "low": "low", "medium": "medium", "high": "high", "critical": "critical"}


def default_sigma_dirs() -> list[Path]:
    return [SHIPPED_RULES]


def _query(ev: Ev) -> str | None:
    return ev.path.split("?", 1)[1] if ev.path and "?" in ev.path else None


def _stem(ev: Ev) -> str | None:
    return ev.path.split("?", 1)[0] if ev.path else None


_PATH_SQL = "json_extract_string(fields, '$.path')"
# Sigma field names (Windows/web/linux taxonomies) → how to read them from an event, and the same as SQL.
_FIELDS: list[tuple[tuple[str, ...], Callable[[Ev], Any], str]] = [
    (("user", "username", "targetusername", "subjectusername", "user.name", "accountname"),
     lambda e: e.user, '"user"'),
    (("sourceip", "src_ip", "c-ip", "clientip", "ipaddress", "source.ip", "src", "remote_addr"),
     lambda e: e.src_ip, "src_ip"),
    (("hostname", "computername", "host", "computer", "host.name"), lambda e: e.host, "host"),
    (("image", "app", "processname", "process", "program", "service"), lambda e: e.app, "app"),
    (("commandline", "command", "process.command_line"), lambda e: e.command,
     "json_extract_string(fields, '$.command')"),
    (("cs-method", "method", "http.request.method"), lambda e: e.method,
     "json_extract_string(fields, '$.method')"),
    (("cs-uri-query", "uri_query", "url.query"), _query, f"split_part({_PATH_SQL}, '?', 2)"),
    (("cs-uri-stem", "uri_path", "url.path"), _stem, f"split_part({_PATH_SQL}, '?', 1)"),
    (("c-uri", "cs-uri", "uri", "url", "request", "path", "url.original"), lambda e: e.path, _PATH_SQL),
    (("sc-status", "status", "http.response.status_code"), lambda e: e.status,
     "TRY_CAST(json_extract_string(fields, '$.status') AS BIGINT)"),
    (("c-useragent", "cs-user-agent", "useragent", "user_agent", "user_agent.original", "http_user_agent"),
     lambda e: e.user_agent, "json_extract_string(fields, '$.user_agent')"),
    (("message", "msg", "payload"), lambda e: e.message, "message"),
    (("category",), lambda e: e.category, "category"),
    (("outcome", "event.outcome"), lambda e: e.outcome, "outcome"),
    (("targetuser", "target_user", "runas"), lambda e: e.target_user,
     "json_extract_string(fields, '$.target_user')"),
]
FIELD_MAP: dict[str, Callable[[Ev], Any]] = {n: get for names, get, _ in _FIELDS for n in names}
SQL_FIELD_MAP: dict[str, str] = {n: sql for names, _, sql in _FIELDS for n in names}


def field_value(ev: Ev, name: str) -> Any:
    getter = FIELD_MAP.get(name.lower())
    if getter is not None:
        return getter(ev)
    f = ev.fields
    if name in f:
        return f[name]
    low = name.lower()
    for k, v in f.items():
        if k.lower() == low:
            return v
    return None


Pred = Callable[[Ev], bool]


class UnsupportedSigma(Exception):
    """A Sigma construct this evaluator does not implement; the rule is skipped with this reason."""


def _regex_of(value: SigmaString) -> re.Pattern[str]:
    flags = 0 if isinstance(value, SigmaCasedString) else re.IGNORECASE
    pattern = str(value.to_regex().regexp)
    return re.compile(pattern, flags | re.DOTALL)


def _compile_value(getter: Callable[[Ev], Any], value: Any) -> Pred:
    if isinstance(value, SigmaString):
        rx = _regex_of(value)

        def match_str(ev: Ev) -> bool:
            v = getter(ev)
            return v is not None and rx.fullmatch(str(v)[:8192]) is not None
        return match_str
    if isinstance(value, SigmaRegularExpression):
        flags = 0
        for fl in value.flags:
            flags |= {SigmaRegularExpressionFlag.IGNORECASE: re.I, SigmaRegularExpressionFlag.MULTILINE: re.M,
                      SigmaRegularExpressionFlag.DOTALL: re.S}.get(fl, 0)
        rx2 = re.compile(str(value.regexp), flags)

        def match_re(ev: Ev) -> bool:
            v = getter(ev)
            return v is not None and rx2.search(str(v)[:8192]) is not None
        return match_re
    if isinstance(value, SigmaNumber):
        num = value.number

        def match_num(ev: Ev) -> bool:
            v = getter(ev)
            try:
                return v is not None and float(v) == float(num)
            except (TypeError, ValueError):
                return False
        return match_num
    if isinstance(value, SigmaBool):
        return lambda ev: getter(ev) == value.boolean
    if isinstance(value, SigmaNull):
        return lambda ev: getter(ev) in (None, "")
    if isinstance(value, SigmaExists):
        want = bool(value.exists)
        return lambda ev: (getter(ev) not in (None, "")) == want
    if isinstance(value, SigmaCIDRExpression):
        net = value.network

        def match_cidr(ev: Ev) -> bool:
            v = getter(ev)
            try:
                return v is not None and ipaddress.ip_address(str(v)) in net
            except ValueError:
                return False
        return match_cidr
    if isinstance(value, SigmaCompareExpression):
        ops: dict[Any, Callable[[float, float], bool]] = {
            CompareOperators.LT: lambda a, b: a < b, CompareOperators.LTE: lambda a, b: a <= b,
            CompareOperators.GT: lambda a, b: a > b, CompareOperators.GTE: lambda a, b: a >= b,
            CompareOperators.NEQ: lambda a, b: a != b,
        }
        op, ref = ops[value.op], float(value.number.number)

        def match_cmp(ev: Ev) -> bool:
            v = getter(ev)
            try:
                return v is not None and op(float(v), ref)
            except (TypeError, ValueError):
                return False
        return match_cmp
    raise UnsupportedSigma(f"value type {type(value).__name__} is not supported")


def _keyword_getter(ev: Ev) -> str:
    return ev.message


def compile_condition(node: Any) -> Pred:
    """pySigma's parsed condition tree → one Python predicate."""
    if isinstance(node, ConditionAND):
        parts = [compile_condition(a) for a in node.args]
        return lambda ev: all(p(ev) for p in parts)
    if isinstance(node, ConditionOR):
        parts = [compile_condition(a) for a in node.args]
        return lambda ev: any(p(ev) for p in parts)
    if isinstance(node, ConditionNOT):
        inner = compile_condition(node.args[0])
        return lambda ev: not inner(ev)
    if isinstance(node, ConditionFieldEqualsValueExpression):
        name = node.field

        def getter(ev: Ev) -> Any:
            return field_value(ev, name)
        return _compile_value(getter, node.value)
    if isinstance(node, ConditionValueExpression):
        # Keywords match anywhere in the message (Sigma keyword semantics are "contains").
        value = node.value
        if isinstance(value, SigmaString) and not value.startswith("*"):
            value = SigmaString("*") + value + SigmaString("*")
        return _compile_value(_keyword_getter, value)
    raise UnsupportedSigma(f"condition element {type(node).__name__} is not supported")


def needles(node: Any) -> set[str] | None:
    """Literal strings one of which must appear in the raw line for `node` to match, or None if unknown.

    Lets a vectorised RE2 pass skip rows no rule can match; a rule without needles sees every row.
    """
    if isinstance(node, ConditionAND):
        best: set[str] | None = None
        for a in node.args:
            n = needles(a)
            if n is not None and (best is None or len(n) < len(best)):
                best = n
        return best
    if isinstance(node, ConditionOR):
        out: set[str] = set()
        for a in node.args:
            n = needles(a)
            if n is None:
                return None
            out |= n
        return out
    if isinstance(node, ConditionFieldEqualsValueExpression | ConditionValueExpression):
        value = node.value
        if isinstance(value, SigmaString):
            parts = [p for p in value.s if isinstance(p, str)]
            longest = max(parts, key=len, default="")
            return {longest} if len(longest) >= 3 else None
        if isinstance(value, SigmaNumber):
            return {str(value.number)}
    return None


@dataclass
class CompiledSigma:
    rule_id: str
    title: str
    severity: str
    level: str
    path: str
    predicate: Pred
    web_only: bool
    entity: str  # src_ip | user | host
    tags: list[str] = field(default_factory=list)
    needles: set[str] | None = None  # prefilter literals (case-insensitive), None = every row


def _logsource_filter(rule: SigmaRule) -> tuple[bool, str]:
    """(web_only, entity) from the logsource: web rules are per client address, the rest per host/user."""
    ls = rule.logsource
    cat = (ls.category or "").lower()
    service = (ls.service or "").lower()
    web = cat in ("webserver", "proxy", "web") or service in ("apache", "nginx", "iis", "apache2")
    if web:
        return True, "src_ip"
    if service in ("sshd", "auth", "vsftpd"):
        return False, "src_ip"
    if service in ("sudo", "su"):
        return False, "user"
    return False, "host"


@dataclass
class SigmaEngine:
    rules: list[CompiledSigma] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)

    @classmethod
    def from_dirs(cls, dirs: Iterable[Path | str]) -> SigmaEngine:
        engine = cls()
        for d in dirs:
            p = Path(d)
            if p.is_file():
                engine.load_file(p)
            elif p.is_dir():
                for f in sorted([*p.rglob("*.yml"), *p.rglob("*.yaml")]):
                    engine.load_file(f)
            else:
                engine.problems.append((str(p), "no such file or directory"))
        return engine

    def load_file(self, path: Path) -> int:
        """Load every rule in one YAML file; returns how many loaded; problems are recorded, never raised."""
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.problems.append((str(path), f"cannot read: {exc}"))
            return 0
        return self.load_text(text, str(path))

    def load_text(self, text: str, origin: str = "<text>") -> int:
        try:
            coll = SigmaCollection.from_yaml(text, collect_errors=True)
        except Exception as exc:  # malformed YAML and similar: pySigma raises even with collect_errors
            self.problems.append((origin, f"{type(exc).__name__}: {exc}"))
            return 0
        for err in coll.errors:
            self.problems.append((origin, str(err)))
        loaded = 0
        for rule in coll.rules:
            if not isinstance(rule, SigmaRule):
                kind = type(rule).__name__
                self.problems.append((origin, f"{kind} (correlation/filter rules) not supported"))
                continue
            if rule.errors:
                self.problems.append((origin, "; ".join(str(e) for e in rule.errors)))
                continue
            try:
                trees = [c.parsed for c in rule.detection.parsed_condition]
                preds = [compile_condition(t) for t in trees]
                found = [needles(t) for t in trees]
                rule_needles: set[str] | None = (
                    None if any(n is None for n in found) else set().union(*[n for n in found if n]))
            except UnsupportedSigma as exc:
                self.problems.append((origin, f"rule {rule.title!r}: {exc}"))
                continue
            except Exception as exc:  # pySigma condition errors surface lazily on .parsed
                self.problems.append((origin, f"rule {rule.title!r}: {type(exc).__name__}: {exc}"))
                continue
            pred = preds[0] if len(preds) == 1 else (lambda ev, ps=preds: any(p(ev) for p in ps))
            level = rule.level.name.lower() if rule.level else "medium"
            web_only, entity = _logsource_filter(rule)
            self.rules.append(CompiledSigma(
                rule_id=str(rule.id or rule.title), title=rule.title or "Sigma rule", level=level,
                severity=LEVELS.get(level, "medium"), path=origin, predicate=pred, web_only=web_only,
                entity=entity, tags=[str(t) for t in (rule.tags or [])], needles=rule_needles,
            ))
            loaded += 1
        return loaded

    def evaluate(self, batch: pa.RecordBatch) -> list[Hit]:
        """Match every rule on the batch: one RE2 pass per rule over the raw lines picks candidate rows,
        then the rule's Python predicate runs on those rows only."""
        if not self.rules or batch.num_rows == 0:
            return []
        text = _text_column(batch)
        per_rule: list[tuple[CompiledSigma, pa.Array | None]] = []
        any_mask: pa.Array | None = None
        everyone = False
        for r in self.rules:
            if r.needles is None or text is None:
                per_rule.append((r, None))
                everyone = True
                continue
            pattern = "|".join(re.escape(n) for n in sorted(r.needles))
            m = pc.fill_null(pc.match_substring_regex(text, pattern, ignore_case=True), False)
            per_rule.append((r, m))
            any_mask = m if any_mask is None else pc.or_(any_mask, m)
        if everyone:
            rows = None
        elif any_mask is None or not pc.any(any_mask).as_py():
            return []
        else:
            rows = pc.indices_nonzero(any_mask).to_pylist()
        evs = views(batch, None if rows is None else any_mask)
        index = list(range(batch.num_rows)) if rows is None else rows
        out: list[Hit] = []
        for r, m in per_rule:
            flags = None if m is None else m.to_pylist()
            selected = [ev for ev, i in zip(evs, index, strict=True) if flags is None or flags[i]]
            if selected:
                out.extend(self._match(r, selected))
        return out

    def evaluate_views(self, evs: Sequence[Ev]) -> list[Hit]:
        """Match every rule on already-built event views (no prefilter)."""
        out: list[Hit] = []
        for r in self.rules:
            out.extend(self._match(r, evs))
        return out

    @staticmethod
    def _match(r: CompiledSigma, evs: Sequence[Ev]) -> list[Hit]:
        out: list[Hit] = []
        for ev in evs:
            if r.web_only and ev.kind != "web":
                continue
            try:
                matched = r.predicate(ev)
            except Exception:  # hostile values must not break detection of the rest
                matched = False
            if not matched:
                continue
            value = getattr(ev, r.entity, None)
            ent, val = (r.entity, value) if value else ("host", ev.host or "unknown")
            out.append(Hit(
                detector="sigma", rule_id=r.rule_id, entity=f"{ent}={val}", severity=r.severity,
                title=r.title, why=f"Sigma rule {r.title!r} ({r.level}, {Path(r.path).name}) matched: "
                                   f"{ev.message[:160]}",
                event_ids=(ev.event_id,), ts=ev.ts, host=ev.host, category=ev.category,
            ))
        return out


def _text_column(batch: pa.RecordBatch) -> pa.Array | None:
    names = batch.schema.names
    cols = [batch.column(names.index(n)) for n in ("raw", "message") if n in names]
    if not cols:
        return None
    return cols[0] if len(cols) == 1 else pc.coalesce(*cols)


# -- measuring the alternative: the same rules as DuckDB SQL over the Arrow batch ----------------------------
def _sql_field(name: str) -> str:
    known = SQL_FIELD_MAP.get(name.lower())
    if known is not None:
        return known
    return "json_extract_string(fields, " + _sql_literal("$." + name) + ")"


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def to_duckdb_sql(node: Any) -> str:
    """A Sigma condition tree as a DuckDB WHERE clause over the events columns (benchmark only)."""
    if isinstance(node, ConditionAND | ConditionOR):
        op = " AND " if isinstance(node, ConditionAND) else " OR "
        return "(" + op.join(to_duckdb_sql(a) for a in node.args) + ")"
    if isinstance(node, ConditionNOT):
        return f"(NOT coalesce({to_duckdb_sql(node.args[0])}, false))"
    if isinstance(node, ConditionFieldEqualsValueExpression | ConditionValueExpression):
        expr = _sql_field(node.field) if isinstance(node, ConditionFieldEqualsValueExpression) else "message"
        value = node.value
        if isinstance(value, SigmaString):
            if isinstance(node, ConditionValueExpression) and not value.startswith("*"):
                value = SigmaString("*") + value + SigmaString("*")
            pattern = value.convert(escape_char="\\", wildcard_multi="%", wildcard_single="_",
                                    add_escaped="%_")
            return f"({expr} ILIKE {_sql_literal(pattern)} ESCAPE '\\')"
        if isinstance(value, SigmaRegularExpression):
            return f"regexp_matches({expr}, {_sql_literal(str(value.regexp))})"
        if isinstance(value, SigmaNumber):
            return f"(TRY_CAST({expr} AS DOUBLE) = {float(value.number)})"
        if isinstance(value, SigmaNull):
            return f"({expr} IS NULL)"
    raise UnsupportedSigma(f"no SQL for {type(node).__name__}")


def bench_sigma(batches: Sequence[pa.RecordBatch], dirs: Iterable[Path | str] = (SHIPPED_RULES,),
                repeat: int = 3) -> dict[str, float]:
    """Events/s (wall clock) of this module's evaluation (RE2 prefilter + Python predicates) against the
    same rules converted to DuckDB SQL and run over each Arrow batch; also checks both find the same
    events."""
    import time

    import duckdb

    engine = SigmaEngine.from_dirs(dirs)
    n = sum(b.num_rows for b in batches)
    best_py = float("inf")
    py_ids: set[tuple[str, int]] = set()
    for _ in range(repeat):
        t0 = time.perf_counter()
        found = [h for b in batches for h in engine.evaluate(b)]
        best_py = min(best_py, time.perf_counter() - t0)
        py_ids = {(h.rule_id, i) for h in found for i in h.event_ids}
    coll_sql = []
    for path in [Path(d) for d in dirs]:
        files = sorted(path.rglob("*.yml")) if path.is_dir() else [path]
        for f in files:
            for rule in SigmaCollection.from_yaml(f.read_text(), collect_errors=True).rules:
                if not isinstance(rule, SigmaRule) or rule.errors:
                    continue
                try:
                    where = " OR ".join(to_duckdb_sql(c.parsed) for c in rule.detection.parsed_condition)
                except UnsupportedSigma:
                    continue
                web_only, _ = _logsource_filter(rule)
                if web_only:
                    where = f"(category = 'web') AND ({where})"
                coll_sql.append((str(rule.id or rule.title), where))
    query = " UNION ALL ".join(f"SELECT {_sql_literal(rid)} AS rule_id, event_id FROM b WHERE {w}"
                               for rid, w in coll_sql)
    con = duckdb.connect()
    best_sql = float("inf")
    sql_ids: set[tuple[str, int]] = set()
    for _ in range(repeat):
        t0 = time.perf_counter()
        rows: list[tuple[str, int]] = []
        for batch in batches:
            con.register("b", batch)
            rows += con.execute(query).fetchall()
            con.unregister("b")
        best_sql = min(best_sql, time.perf_counter() - t0)
        sql_ids = {(r[0], int(r[1])) for r in rows}
    return {
        "events": float(n), "rules": float(len(engine.rules)),
        "python_events_per_s": n / best_py if best_py else 0.0,
        "duckdb_sql_events_per_s": n / best_sql if best_sql else 0.0,
        "python_matches": float(len(py_ids)), "sql_matches": float(len(sql_ids)),
        "same_matches": float(py_ids == sql_ids),
    }


def describe_problems(problems: Sequence[tuple[str, str]]) -> str:
    return json.dumps([{"file": f, "reason": r} for f, r in problems], indent=1)
