"""A Sigma detection (pySigma's parsed condition tree) compiled to array expressions over an Arrow batch.

Each leaf becomes one pyarrow compute kernel over a whole column (substring, LIKE, RE2 regex, is_in, numeric
comparison); values OR-ed on one field share one kernel call (an RE2 alternation, an is_in set). CIDR ranges and
regexes RE2 cannot run are decided once per distinct value in the batch, not per row. Strings match
case-insensitively unless the rule says `|cased`, as Sigma specifies. A construct we do not implement raises
`UnsupportedSigma` with the reason, and the rule is reported instead of loaded.
"""

from __future__ import annotations

import abc
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

from detectors.rules.fields import KEYWORDS, BatchFields, FieldRef, resolve

MAX_PY_REGEX_INPUT = 4096  # a Python-regex fallback never sees more of a value than this (catastrophic patterns)


class UnsupportedSigma(Exception):
    """A Sigma construct this evaluator does not implement; the rule is skipped with this reason."""


def _clean(mask: Any, n: int) -> pa.BooleanArray:
    if isinstance(mask, pa.ChunkedArray):
        mask = mask.combine_chunks()
    if isinstance(mask, pa.Scalar):
        return pc.equal(pa.nulls(n, pa.int8()).fill_null(1 if mask.as_py() else 0), 1)
    return pc.fill_null(mask, False) if mask.null_count else mask


class Matcher(abc.ABC):
    """A boolean array expression over BatchFields. `needles()` are literals one of which must occur in the raw
    line (case-insensitively) for any row to match, or None when that cannot be said."""

    @abc.abstractmethod
    def mask(self, bf: BatchFields) -> pa.BooleanArray: ...

    def needles(self) -> set[str] | None:
        return None

    def fields(self) -> set[FieldRef]:
        return set()


@dataclass
class AllOf(Matcher):
    parts: list[Matcher]

    def mask(self, bf: BatchFields) -> pa.BooleanArray:
        out = self.parts[0].mask(bf)
        for p in self.parts[1:]:
            if not pc.any(out).as_py():
                return out
            out = pc.and_(out, p.mask(bf))
        return out

    def needles(self) -> set[str] | None:
        best: set[str] | None = None
        for p in self.parts:
            n = p.needles()
            if n is not None and (best is None or len(n) < len(best)):
                best = n
        return best

    def fields(self) -> set[FieldRef]:
        return set().union(*(p.fields() for p in self.parts))


@dataclass
class AnyOf(Matcher):
    parts: list[Matcher]

    def mask(self, bf: BatchFields) -> pa.BooleanArray:
        out = self.parts[0].mask(bf)
        for p in self.parts[1:]:
            out = pc.or_(out, p.mask(bf))
        return out

    def needles(self) -> set[str] | None:
        out: set[str] = set()
        for p in self.parts:
            n = p.needles()
            if n is None:
                return None
            out |= n
        return out

    def fields(self) -> set[FieldRef]:
        return set().union(*(p.fields() for p in self.parts))


@dataclass
class Not(Matcher):
    part: Matcher

    def mask(self, bf: BatchFields) -> pa.BooleanArray:
        return pc.invert(self.part.mask(bf))

    def fields(self) -> set[FieldRef]:
        return self.part.fields()


@dataclass
class Const(Matcher):
    value: bool

    def mask(self, bf: BatchFields) -> pa.BooleanArray:
        return _clean(pa.scalar(self.value), bf.n)


def _re2_escape(text: str) -> str:
    return re.sub(r"([\\.^$|?*+()\[\]{}])", r"\\\1", text)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass
class StrMatch(Matcher):
    """One field against one or more string values of one kind, OR-ed, in one kernel where possible."""

    ref: FieldRef
    kind: str  # eq | contains | startswith | endswith | like
    values: list[str]
    cased: bool = False
    _regex: str | None = field(default=None, init=False, repr=False)

    def mask(self, bf: BatchFields) -> pa.BooleanArray:
        ci = not self.cased
        if self.kind == "eq":
            col = bf.lower(self.ref) if ci else bf.text(self.ref)
            vals = [v.lower() for v in self.values] if ci else list(self.values)
            return _clean(pc.is_in(col, value_set=pa.array(vals, pa.string())), bf.n)
        text = bf.text(self.ref)
        if self.kind == "like":
            out = None
            for v in self.values:
                m = pc.match_like(text, v, ignore_case=ci)
                out = m if out is None else pc.or_(out, m)
            return _clean(out, bf.n)
        if len(self.values) == 1:
            fn = {"contains": pc.match_substring, "startswith": pc.starts_with, "endswith": pc.ends_with}[self.kind]
            return _clean(fn(text, self.values[0], ignore_case=ci), bf.n)
        if self._regex is None:
            alt = "|".join(_re2_escape(v) for v in self.values)
            self._regex = {"contains": f"(?:{alt})", "startswith": f"^(?:{alt})", "endswith": f"(?:{alt})$"}[self.kind]
        return _clean(pc.match_substring_regex(text, self._regex, ignore_case=ci), bf.n)

    def needles(self) -> set[str] | None:
        if not self.ref.in_raw:
            return None
        out: set[str] = set()
        for v in self.values:
            lit = max(re.split(r"(?<!\\)[%_]", v), key=len) if self.kind == "like" else v
            lit = lit.replace("\\%", "%").replace("\\_", "_").replace("\\\\", "\\")
            if len(lit) < 3 or not lit.isascii() or '"' in lit or "\\" in lit:
                return None
            out.add(lit.lower())
        return out

    def fields(self) -> set[FieldRef]:
        return {self.ref}


@dataclass
class RegexMatch(Matcher):
    ref: FieldRef
    pattern: str
    ignore_case: bool
    multiline: bool = False
    dotall: bool = False
    re2: bool = True

    def __post_init__(self) -> None:
        flags = ("s" if self.dotall else "") + ("m" if self.multiline else "")
        self._re2_pattern = f"(?{flags}){self.pattern}" if flags else self.pattern
        try:
            pc.match_substring_regex(pa.array(["probe"]), self._re2_pattern, ignore_case=self.ignore_case)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            self.re2 = False  # lookarounds, backreferences: Python's re, once per distinct value
            pyflags = (re.I if self.ignore_case else 0) | (re.M if self.multiline else 0) | (re.S if self.dotall else 0)
            try:
                self._py = re.compile(self.pattern, pyflags)
            except re.error as exc:
                raise UnsupportedSigma(f"invalid regular expression {self.pattern!r}: {exc}") from exc

    def mask(self, bf: BatchFields) -> pa.BooleanArray:
        text = bf.text(self.ref)
        if self.re2:
            return _clean(pc.match_substring_regex(text, self._re2_pattern, ignore_case=self.ignore_case), bf.n)
        return _per_distinct(text, lambda v: self._py.search(v[:MAX_PY_REGEX_INPUT]) is not None)

    def fields(self) -> set[FieldRef]:
        return {self.ref}


def _per_distinct(text: pa.Array, test: Any) -> pa.BooleanArray:
    """Decide a Python predicate once per distinct value and spread the answers back over the rows."""
    enc = pc.dictionary_encode(text)
    answers = [v is not None and bool(test(v)) for v in enc.dictionary.to_pylist()]
    out = pa.array(answers, pa.bool_()).take(enc.indices)
    return _clean(out, len(text))


@dataclass
class CidrMatch(Matcher):
    ref: FieldRef
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]

    def mask(self, bf: BatchFields) -> pa.BooleanArray:
        nets = self.networks

        def inside(v: str) -> bool:
            try:
                addr = ipaddress.ip_address(v.strip().split("%", 1)[0])
            except ValueError:
                return False
            if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
                addr = addr.ipv4_mapped
            return any(addr.version == n.version and addr in n for n in nets)

        return _per_distinct(bf.text(self.ref), inside)

    def fields(self) -> set[FieldRef]:
        return {self.ref}


_CMP = {CompareOperators.LT: pc.less, CompareOperators.LTE: pc.less_equal, CompareOperators.GT: pc.greater,
        CompareOperators.GTE: pc.greater_equal}


@dataclass
class NumCompare(Matcher):
    ref: FieldRef
    op: Any
    number: float

    def mask(self, bf: BatchFields) -> pa.BooleanArray:
        num = bf.number(self.ref)
        if self.op == CompareOperators.NEQ:
            return _clean(pc.not_equal(num, self.number), bf.n)
        return _clean(_CMP[self.op](num, self.number), bf.n)

    def fields(self) -> set[FieldRef]:
        return {self.ref}


@dataclass
class NumEquals(Matcher):
    ref: FieldRef
    numbers: list[float]

    def mask(self, bf: BatchFields) -> pa.BooleanArray:
        return _clean(pc.is_in(bf.number(self.ref), value_set=pa.array(self.numbers, pa.float64())), bf.n)

    def needles(self) -> set[str] | None:
        if not self.ref.in_raw:
            return None
        texts = {(str(int(n)) if float(n).is_integer() else str(n)) for n in self.numbers}
        return texts if all(len(t) >= 3 for t in texts) else None

    def fields(self) -> set[FieldRef]:
        return {self.ref}


@dataclass
class IsNull(Matcher):
    ref: FieldRef

    def mask(self, bf: BatchFields) -> pa.BooleanArray:
        text = bf.text(self.ref)
        return _clean(pc.or_(pc.is_null(text), pc.fill_null(pc.equal(text, ""), False)), bf.n)

    def fields(self) -> set[FieldRef]:
        return {self.ref}


@dataclass
class FieldEquals(Matcher):
    """`field|fieldref: other`: two fields of the same event are equal (case-insensitively)."""

    ref: FieldRef
    other: FieldRef

    def mask(self, bf: BatchFields) -> pa.BooleanArray:
        return _clean(pc.equal(bf.lower(self.ref), bf.lower(self.other)), bf.n)

    def fields(self) -> set[FieldRef]:
        return {self.ref, self.other}


def _string_leaf(ref: FieldRef, value: SigmaString) -> StrMatch:
    parts = list(value.s)
    if any(not isinstance(p, str | SpecialChars) for p in parts):
        raise UnsupportedSigma("placeholders (|expand) are not supported")
    cased = isinstance(value, SigmaCasedString)
    wm = SpecialChars.WILDCARD_MULTI
    inner = parts
    lead = bool(inner) and inner[0] == wm
    trail = len(inner) > (1 if lead else 0) and inner[-1] == wm
    core = inner[1 if lead else 0: len(inner) - (1 if trail else 0)]
    if all(isinstance(p, str) for p in core):
        text = "".join(core)  # type: ignore[arg-type]
        if not text:
            return StrMatch(ref, "like", ["%"], cased)
        kind = "contains" if lead and trail else "endswith" if lead else "startswith" if trail else "eq"
        return StrMatch(ref, kind, [text], cased)
    like = "".join(_like_escape(p) if isinstance(p, str) else ("%" if p == wm else "_") for p in inner)
    return StrMatch(ref, "like", [like], cased)


def _value_leaf(ref: FieldRef, value: Any) -> Matcher:
    if isinstance(value, SigmaExpansion):
        return _merge_or([_value_leaf(ref, v) for v in value.values])
    if isinstance(value, SigmaString):
        return _string_leaf(ref, value)
    if isinstance(value, SigmaRegularExpression):
        flags = set(value.flags or ())
        return RegexMatch(ref, str(value.regexp), SigmaRegularExpressionFlag.IGNORECASE in flags,
                          SigmaRegularExpressionFlag.MULTILINE in flags, SigmaRegularExpressionFlag.DOTALL in flags)
    if isinstance(value, SigmaNumber):
        return NumEquals(ref, [float(value.number)])
    if isinstance(value, SigmaBool):
        return StrMatch(ref, "eq", ["true" if value.boolean else "false"])
    if isinstance(value, SigmaNull):
        return IsNull(ref)
    if isinstance(value, SigmaExists):
        return Not(IsNull(ref)) if value.exists else IsNull(ref)
    if isinstance(value, SigmaCIDRExpression):
        return CidrMatch(ref, [value.network])
    if isinstance(value, SigmaCompareExpression):
        return NumCompare(ref, value.op, float(value.number.number))
    if isinstance(value, SigmaFieldReference):
        if value.starts_with or value.ends_with:
            raise UnsupportedSigma("fieldref with startswith/endswith is not supported")
        return FieldEquals(ref, resolve(value.field))
    raise UnsupportedSigma(f"value type {type(value).__name__} is not supported")


def _merge_or(parts: Sequence[Matcher]) -> Matcher:
    """OR-ed leaves on the same field and kind become one leaf (one kernel call instead of many)."""
    merged: list[Matcher] = []
    strs: dict[tuple[FieldRef, str, bool], StrMatch] = {}
    nums: dict[FieldRef, NumEquals] = {}
    cidrs: dict[FieldRef, CidrMatch] = {}
    for p in parts:
        if isinstance(p, AnyOf):
            inner = _merge_or(p.parts)
            sub = inner.parts if isinstance(inner, AnyOf) else [inner]
        else:
            sub = [p]
        for q in sub:
            if isinstance(q, StrMatch):
                key = (q.ref, q.kind, q.cased)
                have = strs.get(key)
                if have is None:
                    strs[key] = StrMatch(q.ref, q.kind, list(q.values), q.cased)
                    merged.append(strs[key])
                else:
                    have.values.extend(v for v in q.values if v not in have.values)
            elif isinstance(q, NumEquals):
                if q.ref in nums:
                    nums[q.ref].numbers.extend(q.numbers)
                else:
                    nums[q.ref] = NumEquals(q.ref, list(q.numbers))
                    merged.append(nums[q.ref])
            elif isinstance(q, CidrMatch):
                if q.ref in cidrs:
                    cidrs[q.ref].networks.extend(q.networks)
                else:
                    cidrs[q.ref] = CidrMatch(q.ref, list(q.networks))
                    merged.append(cidrs[q.ref])
            else:
                merged.append(q)
    return merged[0] if len(merged) == 1 else AnyOf(merged)


def compile_condition(node: Any) -> Matcher:
    """pySigma's parsed condition tree → one Matcher."""
    if isinstance(node, ConditionAND):
        return AllOf([compile_condition(a) for a in node.args])
    if isinstance(node, ConditionOR):
        return _merge_or([compile_condition(a) for a in node.args])
    if isinstance(node, ConditionNOT):
        return Not(compile_condition(node.args[0]))
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _value_leaf(resolve(node.field), node.value)
    if isinstance(node, ConditionValueExpression):
        value = node.value
        if isinstance(value, SigmaString):  # keywords match anywhere in the message
            if not value.startswith(SpecialChars.WILDCARD_MULTI):
                value = SigmaString("*") + value
            if not value.endswith(SpecialChars.WILDCARD_MULTI):
                value = value + SigmaString("*")
        return _value_leaf(KEYWORDS, value)
    raise UnsupportedSigma(f"condition element {type(node).__name__} is not supported")
