"""Imports every service family module so their extractors register (one line per family)."""
import store.parsers.services.database  # noqa: F401
import store.parsers.services.ftp  # noqa: F401
import store.parsers.services.mail  # noqa: F401
import store.parsers.services.voip  # noqa: F401
from store.parsers.services import webapps  # noqa: F401
