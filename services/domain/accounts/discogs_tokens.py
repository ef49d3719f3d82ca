"""A user's own Discogs token, kept encrypted at rest, and which token a sync runs with.

No argon2 here (keys.py, not security.py): the worker's syncs use these."""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.common.models import User
from services.common.settings import get_settings
from services.domain.accounts.keys import decrypt_secret, encrypt_secret
from services.domain.errors import Invalid

DISCOGS_TOKEN_MAX = 200
_PURPOSE = b"discogs token"


def set_discogs_token(*, session: Session, user: User, token: str | None) -> None:
    """Store (encrypted) or clear (None / blank) the user's personal Discogs access token."""
    token = (token or "").strip()
    if len(token) > DISCOGS_TOKEN_MAX or any(c.isspace() or not c.isprintable() for c in token):
        raise Invalid("a Discogs token is one word of at most 200 printable characters", code="bad_discogs_token")
    user.discogs_token_encrypted = encrypt_secret(token, purpose=_PURPOSE) if token else None
    session.flush()


def own_discogs_token(user: User) -> str | None:
    """The user's own Discogs token (None when unset or unreadable under the current SECRET_KEY)."""
    if not user.discogs_token_encrypted:
        return None
    return decrypt_secret(user.discogs_token_encrypted, purpose=_PURPOSE)


def discogs_token_for(user: User) -> str | None:
    """The Discogs token syncs for this user run with: their own, else the server's DISCOGS_USER_TOKEN
    for an admin (the server's owner). Other users without a token of their own get None."""
    own = own_discogs_token(user)
    if own:
        return own
    server = get_settings().discogs_user_token
    if user.is_admin and server is not None and server.get_secret_value().strip():
        return server.get_secret_value().strip()
    return None
