"""Imports every service family module so their extractors register (one line per family)."""
from store.parsers.services import database  # noqa: F401
from store.parsers.services import ftp  # noqa: F401
from store.parsers.services import mail  # noqa: F401
from store.parsers.services import voip  # noqa: F401
