"""Passwords (argon2), personal API tokens and session tokens. The secret key and encryption at rest
live in keys.py (re-exported here)."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.domain.accounts.keys import decrypt_secret, encrypt_secret, secret_key  # noqa: F401 (re-exported)

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


def new_api_token() -> tuple[str, str]:
    """Return (token shown once to the user, its SHA-256 hex digest to store)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, hash_api_token(token)


def new_session_token() -> tuple[str, str]:
    """Return (the browser session's token for the cookie, its SHA-256 hex digest to store)."""
    token = secrets.token_urlsafe(32)
    return token, hash_api_token(token)


def hash_api_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def generate_password() -> str:
    return secrets.token_urlsafe(12)
