"""The API's bearer token: 32 random bytes created on first start in a file only its owner can read.

A token file that others can read (or that belongs to someone else) is refused rather than used: anyone who
read it could query the store, so the engine says how to fix it instead of serving with a leaked secret.
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
from pathlib import Path

from store.db import default_data_dir


class TokenFileError(Exception):
    """The token file cannot be created or is unsafe; the message names the file and the fix."""


def default_token_path(name: str = "api-token") -> Path:
    return default_data_dir() / name


def load_or_create_token(path: Path) -> tuple[str, bool]:
    """(token, created). Creates the file 0600 (in a 0700 directory) when missing; refuses an unsafe one."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return _read(path), False
    except OSError as exc:
        raise TokenFileError(f"cannot create the API token file {path}: {exc.strerror or exc}") from None
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(token + "\n")
    return token, True


def _read(path: Path) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise TokenFileError(f"cannot read the API token file {path}: {exc.strerror or exc} "
                             "(it must be a regular file, not a link)") from None
    with os.fdopen(fd, "r", encoding="ascii", errors="replace") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise TokenFileError(f"the API token file {path} is not a regular file")
        if st.st_uid != os.getuid():
            raise TokenFileError(f"the API token file {path} belongs to another user (uid {st.st_uid}); "
                                 "remove it and start again to create a new one")
        if st.st_mode & 0o077:
            raise TokenFileError(f"the API token file {path} can be read by others (mode "
                                 f"{stat.S_IMODE(st.st_mode):o}); run `chmod 600 {path}` or remove it to create "
                                 "a new token")
        token = fh.read(4096).strip()
    if len(token) < 32:
        raise TokenFileError(f"the API token file {path} holds no usable token (under 32 characters); "
                             "remove it to create a new one")
    return token


def token_matches(expected: str, authorization: str | None) -> bool:
    """True for `Authorization: Bearer <expected>`; compared in constant time."""
    if not authorization:
        return False
    scheme, _, given = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())
