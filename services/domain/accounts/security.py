"""Passwords (argon2), personal API tokens, and the app's secret key."""

from __future__ import annotations

import hashlib
import secrets
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.common.settings import get_settings

TOKEN_PREFIX = "djp_"

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# A fixed hash to verify against when the user does not exist, so timing does not reveal usernames.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def verify_dummy(password: str) -> None:
    verify_password(_DUMMY_HASH, password)


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


def new_api_token() -> tuple[str, str]:
    """Return (token shown once to the user, its SHA-256 hex digest to store)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, hash_api_token(token)


def hash_api_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def generate_password() -> str:
    return secrets.token_urlsafe(12)
