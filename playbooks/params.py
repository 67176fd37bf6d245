"""Typed playbook parameters: turn a raw value (from YAML, the model or the analyst) into a checked value.

Validation is strict and positive (allow-list shapes), because values end up in argv lists.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from playbooks.addresses import Network, canonical_ip, canonical_network

PARAM_TYPES = ("ip", "cidr", "user", "host", "service", "path", "duration", "int", "enum", "str")
ParamType = Literal["ip", "cidr", "user", "host", "service", "path", "duration", "int", "enum", "str"]

# Types that name a target: bound to evidence by default.
TARGET_TYPES = frozenset({"ip", "cidr", "user", "host", "service", "path", "str"})

_USER = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}\$?$", re.IGNORECASE)
_HOST = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*\.?$")
_SERVICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:_.@-]{0,127}$")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_STR_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f]")
_ADDRESS_LIKE = re.compile(r"^[0-9.]+$|[:/]")


class ParamError(ValueError):
    """A parameter value that does not fit its declared type; the message says which and why."""


def network_or_host(text: str) -> Network | str:
    """A config entry that names either a network (address or CIDR) or a host name. Anything that looks
    like an address (digits and dots, a colon or a slash) must parse as one: `10.0.0.0/33` or `10.0.0/24`
    are mistakes, never host names. ValueError with the reason."""
    raw = text.strip()
    if not raw:
        raise ValueError("empty entry")
    if _ADDRESS_LIKE.search(raw):
        return canonical_network(raw)
    if not _HOST.match(raw):
        raise ValueError(f"{raw[:60]!r} is neither an address, a CIDR network nor a host name")
    return raw.rstrip(".").lower()


def check_user_name(text: str) -> str:
    if not _USER.match(text.strip()):
        raise ValueError(f"{text[:60]!r} is not a valid user name")
    return text.strip()


def parse_duration(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ParamError("duration must be seconds or a number with s/m/h/d")
    if isinstance(raw, int):
        return raw
    match = _DURATION.match(str(raw))
    if not match:
        raise ParamError(f"not a duration: {str(raw)[:40]!r} (use e.g. 3600, 30m, 1h, 1d)")
    return int(match.group(1)) * _UNITS[match.group(2)]


def coerce(ptype: str, raw: Any, *, choices: list[str] | None = None, minimum: int | None = None,
           maximum: int | None = None, max_len: int = 256) -> Any:
    """Validated, normalised value for `ptype`, or ParamError."""
    if raw is None:
        raise ParamError("missing value")
    if ptype in ("int", "duration"):
        if ptype == "int":
            if isinstance(raw, bool) or not isinstance(raw, int | str):
                raise ParamError("must be an integer")
            try:
                value = int(str(raw).strip())
            except ValueError:
                raise ParamError(f"not an integer: {str(raw)[:40]!r}") from None
        else:
            value = parse_duration(raw)
        if value <= 0 and ptype == "duration":
            raise ParamError("duration must be positive")
        if minimum is not None and value < minimum:
            raise ParamError(f"{value} is below the minimum {minimum}")
        if maximum is not None and value > maximum:
            raise ParamError(f"{value} is above the maximum {maximum}")
        return value
    if not isinstance(raw, str):
        raise ParamError(f"must be a string, got {type(raw).__name__}")
    text = raw.strip()
    if not text:
        raise ParamError("empty value")
    if len(text) > max_len:
        raise ParamError(f"longer than {max_len} characters")
    if ptype == "ip":
        try:
            return str(canonical_ip(text))
        except ValueError:
            raise ParamError(f"not an IP address: {text[:60]!r}") from None
    if ptype == "cidr":
        try:
            return str(canonical_network(text))
        except ValueError:
            raise ParamError(f"not a network (CIDR): {text[:60]!r}") from None
    if ptype == "user":
        if not _USER.match(text):
            raise ParamError(f"not a valid user name: {text[:60]!r}")
        return text
    if ptype == "host":
        if not _HOST.match(text):
            raise ParamError(f"not a valid host name: {text[:60]!r}")
        return text.rstrip(".").lower()
    if ptype == "service":
        if not _SERVICE.match(text):
            raise ParamError(f"not a valid service/unit name: {text[:60]!r}")
        return text
    if ptype == "path":
        if not text.startswith("/") or _STR_FORBIDDEN.search(text) or "/../" in text + "/":
            raise ParamError(f"not an absolute, plain path: {text[:60]!r}")
        return text
    if ptype == "enum":
        if not choices or text not in choices:
            raise ParamError(f"{text[:40]!r} is not one of {choices}")
        return text
    if ptype == "str":
        if _STR_FORBIDDEN.search(text):
            raise ParamError("control characters are not allowed")
        return text
    raise ParamError(f"unknown parameter type {ptype!r}")


def json_schema_for(ptype: str, choices: list[str] | None, minimum: int | None,
                    maximum: int | None) -> dict[str, Any]:
    """The JSON-schema fragment sent to the model for one parameter (validation is still ours)."""
    if ptype == "int":
        schema: dict[str, Any] = {"type": "integer"}
        if minimum is not None:
            schema["minimum"] = minimum
        if maximum is not None:
            schema["maximum"] = maximum
        return schema
    if ptype == "duration":
        return {"type": "integer", "description": "seconds", **({"minimum": minimum} if minimum else {}),
                **({"maximum": maximum} if maximum else {})}
    if ptype == "enum":
        return {"type": "string", "enum": list(choices or [])}
    return {"type": "string", "description": ptype}
