"""Archive signing with a per-site key: HMAC-SHA256 over the exact bytes of manifest.json, which names every
partition with its sha256, so one tag vouches for the whole archive. The site keeps its key (0600, created by
`vigil export --sign`); the central site holds a copy per site (`[archive] trusted_keys`) and imports an archive
as verified only when the tag checks out with the key configured for the site the manifest names.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SIGNATURE = "manifest.sig"
SIGNATURE_FORMAT = "vigil-archive-signature"
ALGORITHM = "HMAC-SHA256"
_MIN_KEY_BYTES = 16
_MAX_SIGNATURE_BYTES = 4096


class SigningKeyError(Exception):
    """A key file that cannot be used (missing, unreadable, too open, not a key); the message names the file."""


@dataclass(frozen=True)
class SiteKey:
    path: Path
    secret: bytes

    @property
    def key_id(self) -> str:
        """Names the key without revealing it: both sides can compare it."""
        return hashlib.sha256(b"vigil-archive-key:" + self.secret).hexdigest()[:16]


@dataclass
class ArchiveTrust:
    """The central site's view: which key vouches for which site, and whether unvouched archives may load."""

    keys: dict[str, Path] = field(default_factory=dict)  # site id -> key file
    require_signed: bool = False


@dataclass(frozen=True)
class Verdict:
    verified: bool
    site: str | None
    key_id: str | None
    note: str  # one line for the person importing


def load_key(path: Path, what: str = "key file") -> SiteKey:
    """Read a hex key; refuses a file group or others may read (the key is a shared secret)."""
    try:
        st = path.stat()
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError as exc:
        raise SigningKeyError(f"{what} {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SigningKeyError(f"{what} {path} cannot be read: {exc}") from exc
    if st.st_mode & 0o077:
        raise SigningKeyError(f"{what} {path} is readable by others (mode {stat.S_IMODE(st.st_mode):04o}): "
                        f"chmod 600 {path}")
    try:
        secret = bytes.fromhex(text)
    except ValueError as exc:
        raise SigningKeyError(f"{what} {path} is not a Vigil archive key (expected hex)") from exc
    if len(secret) < _MIN_KEY_BYTES:
        raise SigningKeyError(f"{what} {path} is too short ({len(secret)} bytes; at least {_MIN_KEY_BYTES})")
    return SiteKey(path, secret)


def load_or_create_key(path: Path) -> tuple[SiteKey, bool]:
    """(key, created): a new 256-bit key is written 0600 with O_EXCL, so an existing file is never replaced."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return load_key(path, "signing key"), False
        except OSError as exc:
            raise SigningKeyError(f"cannot create signing key {path}: {exc.strerror or exc}") from exc
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(32) + "\n")
        return load_key(path, "signing key"), True
    return load_key(path, "signing key"), False


def tag(key: SiteKey, manifest_bytes: bytes) -> str:
    return hmac.new(key.secret, manifest_bytes, hashlib.sha256).hexdigest()


def signature_document(key: SiteKey, site: str, manifest_bytes: bytes) -> bytes:
    doc = {"format": SIGNATURE_FORMAT, "alg": ALGORITHM, "site": site, "key_id": key.key_id,
           "mac": tag(key, manifest_bytes)}
    return (json.dumps(doc, indent=1) + "\n").encode()


def _read_signature(path: Path) -> dict[str, Any]:
    if path.stat().st_size > _MAX_SIGNATURE_BYTES:
        raise ValueError("too large to be a signature")
    doc = json.loads(path.read_bytes())
    if not isinstance(doc, dict) or doc.get("format") != SIGNATURE_FORMAT or doc.get("alg") != ALGORITHM:
        raise ValueError(f"not a {ALGORITHM} Vigil archive signature")
    if not isinstance(doc.get("mac"), str):
        raise ValueError("no mac")
    return doc


def verify(src: Path, manifest_bytes: bytes, site: str | None, trust: ArchiveTrust) -> Verdict:
    """Verified, or unverified with the reason. Raises ValueError when a signature is present and a trusted
    key for the site exists but the tag does not match: the archive was changed, or forged."""
    sig_path = src / SIGNATURE
    if not sig_path.exists():
        return Verdict(False, site, None, "unsigned")
    try:
        doc = _read_signature(sig_path)
    except (OSError, ValueError, RecursionError) as exc:
        raise ValueError(f"{sig_path}: unreadable signature ({exc})") from exc
    claimed_id = str(doc.get("key_id"))[:64]
    if site is None or doc.get("site") != site:
        raise ValueError(f"{sig_path}: signed for site {str(doc.get('site'))[:128]!r}, but the manifest names "
                         f"site {site!r}")
    key_path = trust.keys.get(site)
    if key_path is None:
        return Verdict(False, site, claimed_id, f"signed (key id {claimed_id}) but no [archive] trusted_keys "
                                                f"entry for site {site!r}")
    try:
        key = load_key(key_path, f"trusted key for site {site!r}")
    except SigningKeyError as exc:
        raise ValueError(str(exc)) from exc
    if not hmac.compare_digest(tag(key, manifest_bytes), str(doc["mac"])):
        raise ValueError(f"signature does not verify with the trusted key for site {site!r} (key id "
                         f"{key.key_id}; the archive names key id {claimed_id}): the manifest was changed "
                         "after signing, or the archive is forged")
    return Verdict(True, site, key.key_id, f"signed by site {site!r}, key id {key.key_id}: verified")
