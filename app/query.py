"""`vigil query SQL`: one read-only SELECT over the store (the same gate as the console's SQL prompt), printed as
an aligned table, CSV or JSON."""

from __future__ import annotations

import csv
import json
import sys
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from app.config import Config
from app.storage import open_store
from store import analyst_sql


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, bytes):
        return v.hex()
    return str(v)


def _json_value(v: Any) -> Any:
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, list):
        return [_json_value(x) for x in v]
    if isinstance(v, dict):
        return {k: _json_value(x) for k, x in v.items()}
    return v


def _sanitize(text: str) -> str:
    # Log text is attacker-controlled: never let it drive the terminal.
    return "".join(ch if ch.isprintable() or ch == "\t" else "\ufffd" for ch in text)


def render_table(columns: list[str], rows: list[tuple[Any, ...]], max_width: int = 60) -> str:
    cells = [[_sanitize(_cell(v))[:max_width] for v in row] for row in rows]
    widths = [len(c) for c in columns]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))
    out = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(out)


def run_query(cfg: Config, db: str | None, sql: str, fmt: str, limit: int = 0) -> int:
    """One SELECT through the analyst gate (store.analyst_sql) on the store opened read-only and sealed."""
    store = open_store(db, cfg, read_only=True, sealed=True)
    try:
        with analyst_sql.analyst_cursor(store.con) as cur:
            return _print_result(cur, sql, fmt, limit)
    except analyst_sql.AnalystSqlError as exc:
        print(f"vigil query: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()


def _print_result(cur: Any, sql: str, fmt: str, limit: int) -> int:
    analyst_sql.execute(cur, sql)
    if cur.description is None:
        return 0
    columns = [d[0] for d in cur.description]
    with analyst_sql.translated():
        if fmt == "csv":
            w = csv.writer(sys.stdout, lineterminator="\n")
            w.writerow(columns)
            while chunk := cur.fetchmany(10000):
                w.writerows([[_cell(v) for v in row] for row in chunk])
        elif fmt == "json":
            rows = cur.fetchall()
            json.dump([{c: _json_value(v) for c, v in zip(columns, r, strict=True)} for r in rows], sys.stdout,
                      ensure_ascii=False, indent=1)
            print()
        else:
            rows = cur.fetchmany(limit + 1) if limit else cur.fetchall()
            more = bool(limit) and len(rows) > limit
            rows = rows[:limit] if limit else rows
            print(render_table(columns, rows))
            print(f"({len(rows)} of >{len(rows)} rows)" if more else f"({len(rows)} rows)")
    return 0
