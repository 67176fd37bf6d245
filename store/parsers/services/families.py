"""Imports every service family module so their extractors register (one line per family)."""
import store.parsers.services.auditd  # noqa: F401
import store.parsers.services.database  # noqa: F401
import store.parsers.services.dns  # noqa: F401
import store.parsers.services.firewall  # noqa: F401
import store.parsers.services.ftp  # noqa: F401
import store.parsers.services.honeypot  # noqa: F401
import store.parsers.services.mail  # noqa: F401
import store.parsers.services.remote_access  # noqa: F401
import store.parsers.services.voip  # noqa: F401
import store.parsers.services.vpn  # noqa: F401
from store.parsers.services import (
    web,  # noqa: F401
    webapps,  # noqa: F401
)
