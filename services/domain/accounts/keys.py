"""The app's secret key and secrets kept encrypted at rest with a key derived from it.

Apart from security.py (passwords need argon2) so that the worker, which reads stored tokens but never
hashes a password, does not need argon2."""

from __future__ import annotations

import base64
import secrets
from functools import lru_cache
from pathlib import Path

from services.common.settings import get_settings


def _secret_key_file(data_dir: Path) -> Path:
    return data_dir / "secret_key"


@lru_cache
def secret_key() -> str:
    """SECRET_KEY, else a random key generated once and kept in DATA_DIR (0600)."""
    settings = get_settings()
    if settings.secret_key:
        return settings.secret_key.get_secret_value()
    path = _secret_key_file(settings.data_dir)
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # O_EXCL: two processes starting together must not write two different keys.
    try:
        fd = path.open("x")
    except FileExistsError:
        return path.read_text().strip()
    with fd:
        path.chmod(0o600)
        fd.write(key)
    return key


def fernet(purpose: bytes):
    """A Fernet box keyed by HKDF(SECRET_KEY) for one purpose: one purpose's ciphertext never opens another's."""
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"djp " + purpose,
               info=b"fernet key v1").derive(secret_key().encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_secret(value: str, *, purpose: bytes = b"user secret") -> str:
    return fernet(purpose).encrypt(value.encode()).decode()


def decrypt_secret(value: str, *, purpose: bytes = b"user secret") -> str | None:
    """The plain value, or None when it cannot be read (SECRET_KEY changed, or a damaged value)."""
    from cryptography.fernet import InvalidToken

    try:
        return fernet(purpose).decrypt(value.encode()).decode()
    except (InvalidToken, ValueError):
        return None
