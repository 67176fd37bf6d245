"""What a service wrote, normalised: per-program extractors for the syslog payloads of the services analysts run
(mail, FTP, databases, VPN, VoIP, DNS, firewalls, self-hosted apps, …), keyed by `service` (the program name
without path or sub-process: `postfix/smtpd` → postfix).

An extractor reads one message and fills the normalised columns — category, outcome, action (login_failed,
login, invalid_user, …), src_ip, user — and `fields`. Log text is attacker-controlled: every pattern is anchored
to the service's fixed wording, and an address is only ever taken from the position the service writes it in,
never from a user name, a path or any other field the sender chooses. Extractors never raise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from store.parsers.normalise import service_of

# (app as logged, message, event) → True when the extractor recognised the message.
Extractor = Callable[[str, str, dict[str, Any]], bool]
EXTRACTORS: dict[str, Extractor] = {}


def extractor(*services: str) -> Callable[[Extractor], Extractor]:
    """Register `fn` for these service names (lower case, as `service_of` gives them). Two families may claim one
    program name (`audit`, `core`, `php-fpm` are generic): both are then tried, in registration order."""

    def add(fn: Extractor) -> Extractor:
        for name in services:
            prior = EXTRACTORS.get(name)
            EXTRACTORS[name] = fn if prior is None else _either(prior, fn)
        return fn

    return add


def _either(first: Extractor, second: Extractor) -> Extractor:
    def both(app: str, msg: str, ev: dict[str, Any]) -> bool:
        return first(app, msg, ev) or second(app, msg, ev)

    return both


def extract_service(app: str | None, msg: str, ev: dict[str, Any]) -> bool:
    fn = EXTRACTORS.get(service_of(app) or "")
    if fn is None:
        return False
    try:
        return fn(app or "", msg, ev)
    except Exception as exc:  # a bug in one extractor must never lose the line
        ev["parse_error"] = f"{service_of(app)} extractor failed: {type(exc).__name__}"[:200]
        return False


def has_extractor(app: pa.Array) -> pa.Array:
    """Vectorised: rows whose program has an extractor (the bulk parser leaves those to the chain)."""
    if not EXTRACTORS:
        return pc.equal(pc.fill_null(pc.cast(app, pa.string()), ""), "\0never")
    enc = pc.dictionary_encode(pc.fill_null(pc.cast(app, pa.string()), ""))
    flags = [service_of(v) in EXTRACTORS for v in enc.dictionary.to_pylist()]
    return pa.array(flags, pa.bool_()).take(enc.indices)


# Each family module registers its extractors on import.
from store.parsers.services import families  # noqa: E402,F401
