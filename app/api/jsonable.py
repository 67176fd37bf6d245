"""Values from DuckDB rows as JSON: times in ISO 8601 (UTC as the store keeps them), decimals as numbers,
bytes as hex."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


def record(columns: list[str] | tuple[str, ...], row: tuple[Any, ...]) -> dict[str, Any]:
    return {c: jsonable(v) for c, v in zip(columns, row, strict=True)}
