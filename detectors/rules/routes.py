"""Which events a Sigma `logsource` is about, as a predicate over the normalised columns.

A rule is only evaluated on the rows of its log source (computed once per batch for every distinct log
source), so a web rule costs nothing on an auth.log and 120 process_creation rules cost nothing where no
process events are logged. The mapping is Vigil's taxonomy: parsers set `category`, `service` and `app`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from detectors.rules.fields import BatchFields, resolve
from detectors.rules.matchers import AllOf, AnyOf, Const, Matcher, Not, StrMatch

# Products whose logs Vigil never receives as such (no parser produces them): their rules load but never run.
_ABSENT_PRODUCTS = frozenset({"windows", "macos"})
# Sigma category → Vigil's event category.
_CATEGORY = {
    "webserver": ("web",), "proxy": ("web", "proxy"), "firewall": ("network", "firewall"), "dns": ("dns",),
    "process_creation": ("process",), "file_event": ("file",), "file_change": ("file",),
    "file_access": ("file",), "network_connection": ("network",), "antivirus": ("antivirus",),
    "authentication": ("authentication",), "database": ("database",), "application": ("application",),
}
# Programs whose lines make up a Linux auth.log (Sigma `service: auth`).
_AUTH_APPS = ("sshd", "sudo", "su", "login", "passwd", "useradd", "userdel", "usermod", "groupadd", "groupdel",
              "chpasswd", "chage", "systemd-logind", "polkitd", "pkexec", "gdm-password", "sshd-session")
_NOT_LINUX_SERVICES = ("zeek", "suricata")


def _eq(field: str, *values: str) -> StrMatch:
    return StrMatch(resolve(field), "eq", list(values))


@dataclass(frozen=True)
class Route:
    """A named row predicate; rules with equal keys share one evaluation per batch."""

    key: str
    matcher: Matcher | None  # None: every row

    def mask(self, bf: BatchFields) -> pa.BooleanArray:
        if self.matcher is None:
            return pc.equal(pa.nulls(bf.n, pa.int8()).fill_null(1), 1)
        return self.matcher.mask(bf)

    @property
    def never(self) -> bool:
        return isinstance(self.matcher, Const) and not self.matcher.value


def _service(name: str) -> Matcher:
    return AnyOf([_eq("service", name), _eq("app", name)])


_LINUX = Not(AnyOf([_eq("category", "web", "proxy"), _eq("service", *_NOT_LINUX_SERVICES)]))


def route_for(logsource: dict[str, str]) -> Route:
    product, category, service = (logsource.get(k, "") for k in ("product", "category", "service"))
    key = f"{product}/{category}/{service}"
    if product in _ABSENT_PRODUCTS:
        return Route(key, Const(False))
    parts: list[Matcher] = []
    if category:
        parts.append(_eq("category", *_CATEGORY.get(category, (category,))))
    if product in ("zeek", "suricata"):  # sensors: `service` names the log (Zeek path, EVE event_type)
        parts.append(_eq("service", product))
        if service:
            parts.append(_eq("app", service))
    elif product == "linux":
        if service == "auth":
            parts.append(AnyOf([_eq("category", "authentication", "privilege", "iam"), _eq("app", *_AUTH_APPS)]))
        elif service in ("syslog", ""):
            if not category:
                parts.append(_LINUX)
        else:
            parts.append(_service(service))
    elif product:
        parts.append(AnyOf([_eq("service", product, *([service] if service else [])), _eq("app", product)]))
    elif service:
        parts.append(_service(service))
    if not parts:
        return Route(key, None)
    return Route(key, parts[0] if len(parts) == 1 else AllOf(parts))
