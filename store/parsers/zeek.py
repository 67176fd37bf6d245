"""Zeek logs, TSV and JSON, including the ICSNPP industrial-protocol logs (what each record means is read in
store.parsers.zeek_logs).

TSV files carry their schema in header lines (`#separator`, `#set_separator`, `#empty_field`, `#unset_field`,
`#path`, `#fields`, `#types`, `#open`, `#close`); a file may hold several header blocks (two runs concatenated,
a rotated log appended to). The chain keeps one parser per source, so this parser keeps the current header
state of its source: header lines update it and are stored as metadata events (category `metadata`, action
`log_header`, never a parse error and never anything a rule matches), and each data line is read with the
schema in force. `-` (unset) leaves a value out, `(empty)` is an empty string or an empty set, sets and vectors
become lists.

Headerless TSV (the output of `zeek-cut -n`, which drops the header and some columns) is read with a column map:
a `columns.json` (or `zeek-columns.json`) next to the file or up to four directories above it, mapping a path
(relative, matched by its tail) or a file name to `{"columns": [...]}` or to the list itself. A headerless
line with no map but the conn-id layout every Zeek log starts with (ts, uid, id.orig_h, id.orig_p, id.resp_h,
id.resp_p) is read with those and `col7…` for the rest (`fields.zeek_schema = "guessed"`). When a file source
resumes in the middle of a file, the header block at the file's head is read once so its lines still parse.

The log's path (conn, modbus, dnp3_control, …) comes from `#path`, a JSON record's `_path`, or the file name.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from store.parsers.zeek_logs import KNOWN_LOGS, header_event, zeek_event

log = logging.getLogger(__name__)

_DIRECTIVES = frozenset({"separator", "set_separator", "empty_field", "unset_field", "path", "open", "fields",
                         "types", "close"})
_TS = re.compile(r"(?:\d{9,10}(?:\.\d{1,9})?|X{10}\.X{6}|\d+\.\d{6})")
_UID = re.compile(r"(?:C[A-Za-z0-9]{9,20}|-)")
_HEX_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")
_SIDECARS = ("columns.json", "zeek-columns.json")
MAX_SIDECAR_BYTES = 8 << 20
HEAD_BYTES = 64 << 10
GUESSED_COLUMNS = ("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p")
_SIDECAR_CACHE: dict[str, dict[str, list[str]]] = {}

Convert = Callable[[str], Any]


def _unescape(text: str) -> str:
    return _HEX_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def _int(v: str) -> Any:
    try:
        return int(v)
    except ValueError:
        return v


def _float(v: str) -> Any:
    try:
        f = float(v)
    except ValueError:
        return v
    return f if f - f == 0 else v


def _bool(v: str) -> Any:
    return True if v == "T" else False if v == "F" else v


_SCALAR: dict[str, Convert] = {"count": _int, "int": _int, "port": _int, "double": _float, "interval": _float,
                               "bool": _bool}


class _Schema:
    """The reading of one header block: column names and one converter per column."""

    __slots__ = ("converters", "names", "path", "set_sep", "source", "empty", "unset")

    def __init__(self, names: list[str], types: list[str] | None, path: str | None, set_sep: str, empty: str,
                 unset: str, source: str) -> None:
        self.names = names
        self.path = path
        self.set_sep, self.empty, self.unset = set_sep, empty, unset
        self.source = source  # header | map | guessed
        types = types if types and len(types) == len(names) else [""] * len(names)
        self.converters: list[tuple[bool, Convert | None]] = []
        for t in types:
            container = t.startswith(("set[", "vector[", "table["))
            inner = t[t.index("[") + 1: -1] if container else t
            self.converters.append((container, _SCALAR.get(inner)))

    def record(self, values: list[str]) -> dict[str, Any]:
        rec: dict[str, Any] = {}
        unset, empty, sep = self.unset, self.empty, self.set_sep
        for name, value, (container, conv) in zip(self.names, values, self.converters, strict=True):
            if value == unset:
                continue
            if container:
                if value == empty:
                    rec[name] = []
                else:
                    parts = value.split(sep)
                    rec[name] = [conv(p) for p in parts] if conv else parts
            elif value == empty:
                rec[name] = ""
            else:
                rec[name] = conv(value) if conv else value
        return rec


class ZeekParser:
    """Zeek TSV (with or without a header) and Zeek JSON; keeps its source's header state between lines."""

    name = "zeek"

    def __init__(self) -> None:
        self._sep = "\t"
        self._set_sep = ","
        self._empty = "(empty)"
        self._unset = "-"
        self._path: str | None = None
        self._names: list[str] | None = None
        self._types: list[str] | None = None
        self._schema: _Schema | None = None
        self._active = False  # a Zeek header or record was seen on this source
        self._source_path: str | None = None
        self._stem: str | None = None
        self._map: list[str] | None = None
        self._map_schema: _Schema | None = None
        self._guess: dict[int, _Schema] = {}

    # -- the source ---------------------------------------------------------------------------------------------
    def bind_source(self, source: str) -> None:
        """Called once by the chain with its source name (`file:/path`): the file name gives the log's path,
        a sidecar column map serves headerless files, and the file's head gives the header of a resumed file."""
        if not source.startswith("file:"):
            return
        path = source[5:]
        self._source_path = path
        self._stem = log_stem(path)
        self._map = find_column_map(path)
        if self._map:
            self._map_schema = _Schema(self._map, None, self._stem, ",", "(empty)", "-", "map")
        self._read_head(path)

    def _read_head(self, path: str) -> None:
        try:
            with open(path, "rb") as fh:
                head = fh.read(HEAD_BYTES)
        except OSError:
            return
        for raw in head.split(b"\n")[:64]:
            line = raw.decode("utf-8", "replace").rstrip("\r")
            if not line.startswith("#"):
                if self._names:
                    break
                continue
            self._directive(line)
        self._active = False  # the head primes the schema; the file's own lines still decide what this source is

    # -- lines --------------------------------------------------------------------------------------------------
    def parse(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        if not text:
            return None
        first = text[0]
        if first == "#":
            return self._header(text)
        if first == "{":
            return self._json(text, received_at)
        sep = self._sep
        if sep not in text:
            return None
        values = text.split(sep)
        schema = self._schema
        if schema is not None and len(values) == len(schema.names):
            return zeek_event(schema.path or self._stem, schema.record(values), received_at, schema.source)
        mapped = self._map_schema
        if mapped is not None and len(values) == len(mapped.names):
            self._active = True
            return zeek_event(self._stem, mapped.record(values), received_at, "map")
        if schema is not None and self._active:
            return {"format": "zeek", "service": "zeek", "app": schema.path or self._stem, "message": text,
                    "parse_error": f"Zeek line has {len(values)} columns; the #fields header in force has "
                                   f"{len(schema.names)}"}
        if len(values) >= 6 and _TS.fullmatch(values[0]) and _UID.fullmatch(values[1]):
            self._active = True
            return zeek_event(self._stem, self._guessed(len(values)).record(values), received_at, "guessed")
        return None

    def _guessed(self, n: int) -> _Schema:
        schema = self._guess.get(n)
        if schema is None:
            names = list(GUESSED_COLUMNS) + [f"col{i}" for i in range(7, n + 1)]
            types = ["time", "string", "addr", "port", "addr", "port"] + ["string"] * (n - 6)
            schema = self._guess[n] = _Schema(names, types, self._stem, self._set_sep, self._empty, self._unset,
                                              "guessed")
        return schema

    def _directive(self, text: str) -> str | None:
        body = text[1:]
        key, _, value = body.partition(self._sep if self._sep in body else " ")
        if not value and " " in body and key not in _DIRECTIVES:
            key, _, value = body.partition(" ")
        if key not in _DIRECTIVES:
            return None
        if key == "separator":
            self._sep = _unescape(value.strip()) or "\t"
        elif key == "set_separator":
            self._set_sep = value
        elif key == "empty_field":
            self._empty = value
        elif key == "unset_field":
            self._unset = value
        elif key == "path":
            self._path = value.strip() or None
        elif key == "fields":
            self._names = value.split(self._sep)
            self._types = None
            self._rebuild()
        elif key == "types":
            self._types = value.split(self._sep)
            self._rebuild()
        return key

    def _rebuild(self) -> None:
        if self._names:
            self._schema = _Schema(self._names, self._types, self._path or self._stem, self._set_sep, self._empty,
                                   self._unset, "header")

    def _header(self, text: str) -> dict[str, Any] | None:
        key = self._directive(text)
        if key is None:
            if not self._active:
                return None  # a comment before anything Zeek (a banner): not ours to claim
            return header_event(text, "comment", self._path or self._stem)
        if key == "separator":
            # A new header block starts: the previous one's schema no longer applies.
            self._names = self._types = None
            self._schema = None
            self._path = None
        self._active = True
        return header_event(text, key, self._path or self._stem)

    def _json(self, text: str, received_at: datetime) -> dict[str, Any] | None:
        if '"id.orig_h"' not in text and '"_path"' not in text and not (
                self._stem in KNOWN_LOGS and '"ts"' in text):
            return None
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError):
            return None
        if not isinstance(obj, dict):
            return None
        path = obj.pop("_path", None)
        path = path if isinstance(path, str) and path else self._stem
        if not path and "id.orig_h" not in obj:
            return None
        obj.pop("_write_ts", None)
        self._active = True
        return zeek_event(path, obj, received_at, "json")


def json_record_event(obj: dict[str, Any], received_at: datetime) -> dict[str, Any] | None:
    """A Zeek JSON record met by the generic JSON parser (no file name to go by): `_path` or the field set says
    which log it is."""
    path = obj.pop("_path", None)
    if not isinstance(path, str) or not path:
        path = infer_path(obj)
    obj.pop("_write_ts", None)
    return zeek_event(path, obj, received_at, "json")


_SIGNATURES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("dnp3_control", ("block_type", "trip_control_code")),
    ("dnp3", ("fc_request",)),
    ("modbus_detailed", ("modbus_detailed_link_id",)),
    ("modbus", ("func", "exception")),
    ("s7comm_plus", ("opcode_name",)),
    ("s7comm_upload_download", ("blocklength",)),
    ("s7comm", ("rosctr_name",)),
    ("cip_identity", ("product_name", "vendor_name")),
    ("cip", ("cip_service",)),
    ("enip", ("enip_command",)),
    ("bacnet", ("bvlc_function",)),
    ("bacnet_property", ("property", "object_type")),
    ("opcua_binary", ("msg_type", "req_identifier_str")),
    ("conn", ("conn_state",)),
    ("weird", ("name", "addl")),
)


def infer_path(obj: dict[str, Any]) -> str | None:
    for path, keys in _SIGNATURES:
        if all(k in obj for k in keys):
            return path
    return None


def log_stem(path: str) -> str | None:
    """`/x/modbus_detailed.log` → modbus_detailed; rotated `conn.00:00:00-01:00:00.log.gz` → conn."""
    name = os.path.basename(path)
    stem = name.split(".", 1)[0]
    return stem or None


def find_column_map(path: str) -> list[str] | None:
    """The columns a sidecar map gives this file (see the module docstring), or None."""
    p = Path(path)
    for depth, d in enumerate(p.parents):
        if depth > 4:
            break
        for sidecar in _SIDECARS:
            f = d / sidecar
            if not f.is_file():
                continue
            columns = _sidecar(f)
            try:
                rel = p.relative_to(d).as_posix()
            except ValueError:
                continue
            best: tuple[int, list[str]] | None = None
            for key, cols in columns.items():
                k = key.strip("/")
                fits = k == rel or k.endswith("/" + rel) or rel.endswith("/" + k) or k == p.name
                if fits and (best is None or len(k) > best[0]):
                    best = (len(k), cols)
            if best is not None:
                return best[1]
    return None


def _sidecar(f: Path) -> dict[str, list[str]]:
    key = str(f)
    got = _SIDECAR_CACHE.get(key)
    if got is not None:
        return got
    out: dict[str, list[str]] = {}
    try:
        if f.stat().st_size > MAX_SIDECAR_BYTES:
            raise ValueError(f"larger than {MAX_SIDECAR_BYTES} bytes")
        data = json.loads(f.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        for k, v in data.items():
            cols = v.get("columns") if isinstance(v, dict) else v
            if isinstance(k, str) and isinstance(cols, list) and cols and all(isinstance(c, str) for c in cols):
                out[k] = list(cols)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        log.warning("Zeek column map %s ignored: %s", f, exc)
    if len(_SIDECAR_CACHE) > 64:
        _SIDECAR_CACHE.clear()
    _SIDECAR_CACHE[key] = out
    return out
