"""Sigma field names → event columns, read column-wise from an Arrow batch.

One taxonomy for every rule: SigmaHQ's names (`c-ip`, `cs-uri-query`, `CommandLine`, `TargetUserName`, …) and
Vigil's own (`src_ip`, `service`, `action`, …) resolve to a column of the events table, a key of its `fields`
JSON, or a value derived from one of those. `BatchFields` reads each resolved field once per batch and caches it,
so a hundred rules that test `message` cost one column read.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from store.schema import EVENT_SCHEMA

_COLUMNS = frozenset(EVENT_SCHEMA.names) - {"raw_bytes"}


@dataclass(frozen=True)
class FieldRef:
    """Where a Sigma field's value comes from: an event column, a `fields` JSON key, or a derivation."""

    name: str  # canonical name (shown in `vigil rules show`)
    column: str | None = None
    json_key: str | None = None
    derive: str | None = None  # "query" | "stem" | "decoded" of the `path` JSON key
    in_raw: bool = False  # the value appears verbatim in the raw line (so its literals can prefilter rows)

    @property
    def numeric(self) -> bool:
        return self.column is not None and pa.types.is_integer(EVENT_SCHEMA.field(self.column).type)


def _col(name: str, in_raw: bool = True) -> FieldRef:
    return FieldRef(name=name, column=name, in_raw=in_raw)


def _json(key: str, in_raw: bool = True) -> FieldRef:
    return FieldRef(name=key, json_key=key, in_raw=in_raw)


# Aliases are lower-case; lookups are case-insensitive like Sigma's field names in practice.
_TAXONOMY: list[tuple[tuple[str, ...], FieldRef]] = [
    (("user", "username", "targetusername", "subjectusername", "user.name", "accountname", "acct"), _col("user")),
    (("src_ip", "sourceip", "c-ip", "clientip", "client_ip", "ipaddress", "source.ip", "src", "srcip",
      "remote_addr", "source_ip", "addr"), _col("src_ip")),
    (("src_port", "sourceport", "source.port", "srcport", "spt"), _col("src_port")),
    (("dst_ip", "destinationip", "destination.ip", "dstip", "s-ip", "dest_ip"), _col("dst_ip")),
    (("dst_port", "destinationport", "destination.port", "dstport", "dpt", "s-port", "dest_port"),
     _json("dst_port")),
    (("host", "hostname", "computername", "computer", "host.name", "dvchost"), _col("host")),
    (("app", "program", "processname", "process.name", "syslog_program"), _col("app")),
    (("pid", "processid", "process.pid"), _col("pid")),
    (("message", "msg", "payload"), _col("message")),
    (("raw", "event.original"), _col("raw")),
    (("category", "event.category"), _col("category", in_raw=False)),
    (("outcome", "event.outcome"), _col("outcome", in_raw=False)),
    (("service", "service.name"), _col("service", in_raw=False)),
    (("action", "event.action"), _col("action", in_raw=False)),
    (("severity", "syslog_severity"), _col("severity", in_raw=False)),
    (("facility", "syslog_facility"), _col("facility", in_raw=False)),
    (("format",), _col("format", in_raw=False)),
    (("source", "log.file.path"), _col("source", in_raw=False)),
    (("site",), _col("site", in_raw=False)),
    (("device", "device.action"), _json("device", in_raw=False)),  # the device reader's conclusion (parsers.devices)
    (("image", "exe", "process.executable"), _json("exe")),
    (("commandline", "command", "process.command_line", "cmdline"), _json("command")),
    (("parentimage", "parent_exe"), _json("parent_exe")),
    (("parentcommandline", "parent_command"), _json("parent_command")),
    (("currentdirectory", "cwd", "pwd"), _json("cwd")),
    (("targetuser", "target_user", "runas"), _json("target_user")),
    (("cs-method", "method", "http.request.method", "http_method"), _json("method")),
    (("c-uri", "cs-uri", "uri", "url", "request", "path", "url.original", "request_uri"), _json("path")),
    (("cs-uri-query", "uri_query", "url.query", "query"), FieldRef(name="uri_query", json_key="path",
                                                                   derive="query", in_raw=True)),
    (("cs-uri-stem", "uri_path", "url.path", "uri_stem"), FieldRef(name="uri_stem", json_key="path",
                                                                   derive="stem", in_raw=True)),
    (("url_decoded", "path_decoded"), FieldRef(name="url_decoded", json_key="path", derive="decoded")),
    (("sc-status", "status", "http.response.status_code", "http_status"), _json("status", in_raw=False)),
    (("c-useragent", "cs-user-agent", "useragent", "user_agent", "user_agent.original", "http_user_agent"),
     _json("user_agent")),
    (("cs-referer", "referer", "referrer", "http.request.referrer"), _json("referer")),
    (("cs-host", "vhost", "server_name", "url.domain"), _json("vhost")),
    (("sc-bytes", "bytes", "http.response.bytes"), _json("bytes", in_raw=False)),
]
FIELD_ALIASES: dict[str, FieldRef] = {alias: ref for aliases, ref in _TAXONOMY for alias in aliases}
KEYWORDS = _col("message")  # Sigma keywords search the message (the line without its syslog header)


def resolve(name: str) -> FieldRef:
    """The FieldRef for a Sigma field name; unknown names are keys of the event's `fields` JSON (as written)."""
    known = FIELD_ALIASES.get(name.lower())
    if known is not None:
        return known
    if name in _COLUMNS:
        return _col(name, in_raw=False)
    # A key we do not know may be one a parser or enricher derives (ot_protocol, device, new_talker): its value need
    # not appear in the raw line, so it never prefilters rows on the raw text. Only the taxonomy's verbatim keys do.
    return FieldRef(name=name, json_key=name, in_raw=False)


class JsonReader:
    """Pulls keys out of the `fields` JSON column with DuckDB's JSON functions over the Arrow array (one
    in-memory connection per thread; the engine's store is never touched)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def _con(self) -> Any:
        con = getattr(self._local, "con", None)
        if con is None:
            import duckdb

            con = duckdb.connect(config={"threads": 1, "autoinstall_known_extensions": False,
                                         "enable_external_access": False})
            self._local.con = con
        return con

    def extract(self, fields: pa.Array, keys: list[str]) -> dict[str, pa.Array]:
        if not keys:
            return {}
        # A service writes few distinct `fields` objects (sshd's PAM lines: a handful in 300,000 events): parse
        # each distinct one once and spread the values back.
        text = fields.cast(pa.string())
        enc = text.dictionary_encode()
        if len(enc.dictionary) * 2 < len(text):
            got = self._extract(enc.dictionary, keys)
            return {key: arr.take(enc.indices) for key, arr in got.items()}
        return self._extract(text, keys)

    def _extract(self, fields: pa.Array, keys: list[str]) -> dict[str, pa.Array]:
        con = self._con()
        exprs = []
        for i, key in enumerate(keys):
            exact = _sql_str("$." + '"' + key.replace('"', '\\"') + '"')
            low = _sql_str("$." + '"' + key.lower().replace('"', '\\"') + '"')
            expr = f"json_extract_string(j, {exact})"
            if low != exact:
                expr = f"coalesce({expr}, json_extract_string(j, {low}))"
            exprs.append(f"{expr} AS k{i}")
        table = pa.table({"f": fields})  # already text
        con.register("vigil_fields", table)
        try:
            # TRY_CAST: a value that is not JSON (a hostile or broken line) reads as NULL, never fails the batch.
            out = con.sql(f"SELECT {', '.join(exprs)} FROM (SELECT TRY_CAST(f AS JSON) AS j FROM vigil_fields)"
                          ).to_arrow_table()
        finally:
            con.unregister("vigil_fields")
        return {key: out.column(i).combine_chunks() for i, key in enumerate(keys)}


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


JSON = JsonReader()


class BatchFields:
    """Column-wise access to the fields of a batch — or of some of its rows (`rows`: positions), taking only the
    columns a rule actually reads — each computed at most once."""

    def __init__(self, batch: pa.RecordBatch, rows: pa.Array | None = None, json_reader: JsonReader = JSON) -> None:
        self.batch = batch
        self.rows = rows
        self.n = batch.num_rows if rows is None else len(rows)
        self._json = json_reader
        self._values: dict[FieldRef | str, pa.Array] = {}
        self._lower: dict[FieldRef | str, pa.Array] = {}
        self._texts: dict[FieldRef | str, pa.Array] = {}

    def value(self, ref: FieldRef) -> pa.Array:
        got = self._values.get(ref)
        if got is None:
            got = self._values[ref] = self._read(ref)
        return got

    def text(self, ref: FieldRef) -> pa.Array:
        """The field as strings (numbers as their decimal text), for string matching."""
        got = self._texts.get(ref)
        if got is None:
            value = self.value(ref)
            got = value if pa.types.is_string(value.type) else pc.cast(value, pa.string())
            self._texts[ref] = got
        return got

    def lower(self, ref: FieldRef) -> pa.Array:
        got = self._lower.get(ref)
        if got is None:
            got = self._lower[ref] = pc.utf8_lower(self.text(ref))
        return got

    def number(self, ref: FieldRef) -> pa.Array:
        """The field as float64; values that are not numbers are null."""
        value = self.value(ref)
        if pa.types.is_integer(value.type) or pa.types.is_floating(value.type):
            return pc.cast(value, pa.float64())
        text = pc.utf8_trim_whitespace(self.text(ref))
        ok = pc.fill_null(pc.match_substring_regex(text, r"^-?\d{1,15}(\.\d{1,15})?$"), False)
        cleaned = pc.if_else(ok, text, pa.scalar(None, pa.string()))
        return pc.cast(cleaned, pa.float64())

    def _column(self, name: str) -> pa.Array | None:
        idx = self.batch.schema.get_field_index(name)
        if idx < 0:
            return None
        col = self.batch.column(idx)
        return col if self.rows is None else col.take(self.rows)

    def _read(self, ref: FieldRef) -> pa.Array:
        if ref.column is not None:
            col = self._column(ref.column)
            return col if col is not None else pa.nulls(self.n, pa.string())
        assert ref.json_key is not None
        raw = self._json_value(ref.json_key)
        if ref.derive is None:
            return raw
        return _DERIVE[ref.derive](raw)

    def _json_value(self, key: str) -> pa.Array:
        cache_key = "json:" + key
        got = self._values.get(cache_key)
        if got is None:
            col = self._column("fields")
            if col is None or self.n == 0:
                got = pa.nulls(self.n, pa.string())
            else:
                got = self._json.extract(col, [key])[key]
            self._values[cache_key] = got
        return got

    def prefetch_json(self, keys: list[str]) -> None:
        """Read several JSON keys in one pass (cheaper than one pass each)."""
        missing = [k for k in dict.fromkeys(keys) if "json:" + k not in self._values]
        if not missing or self.n == 0:
            return
        col = self._column("fields")
        if col is None:
            return
        for key, arr in self._json.extract(col, missing).items():
            self._values["json:" + key] = arr


def _query(path: pa.Array) -> pa.Array:
    parts = pc.split_pattern(path, "?", max_splits=1)
    has = pc.fill_null(pc.greater(pc.list_value_length(parts), 1), False)
    second = pc.list_element(pc.if_else(has, parts, pa.scalar(["", ""], pa.list_(pa.string()))), 1)
    return pc.if_else(has, second, pa.scalar(None, pa.string()))


def _stem(path: pa.Array) -> pa.Array:
    parts = pc.split_pattern(path, "?", max_splits=1)
    first = pc.list_element(pc.fill_null(parts, pa.scalar([""], pa.list_(pa.string()))), 0)
    return pc.if_else(pc.is_null(path), pa.scalar(None, pa.string()), first)


def _decoded(path: pa.Array) -> pa.Array:
    """URL-decoded twice (attackers double-encode), computed per distinct encoded value only."""
    needs = pc.fill_null(pc.match_substring_regex(path, r"[%+]"), False)
    if not pc.any(needs).as_py():
        return path
    enc = pc.dictionary_encode(path)
    values = enc.dictionary.to_pylist()
    decoded = [_unquote_twice(v) for v in values]
    out = pa.array(decoded, pa.string()).take(enc.indices)
    return out


def _unquote_twice(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return unquote_plus(unquote_plus(value[:8192]))
    except Exception:  # hostile encodings: keep the text as it came
        return value


_DERIVE: dict[str, Callable[[pa.Array], pa.Array]] = {"query": _query, "stem": _stem, "decoded": _decoded}


def event_times_us(batch: pa.RecordBatch) -> np.ndarray:
    """Event time (ts, else received_at) of every row, as int64 microseconds since the epoch."""
    names = batch.schema.names
    cols = [batch.column(names.index(n)) for n in ("ts", "received_at") if n in names]
    if not cols:
        return np.zeros(batch.num_rows, dtype=np.int64)
    times = cols[0] if len(cols) == 1 else pc.coalesce(*cols)
    us = pc.cast(times.cast(pa.timestamp("us", tz="UTC")), pa.int64())
    return np.asarray(us.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
