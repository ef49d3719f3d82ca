"""Server-side sessions, password changes revoking tokens and other sessions, a user's own Discogs token,
and the throttled login (real Postgres + Redis)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from services.common.db import get_redis
from services.common.models import ApiToken, User
from services.domain.accounts import service
from services.domain.accounts.security import hash_password
from services.domain.accounts.throttle import LoginThrottle, Policy
from services.domain.errors import Invalid, NotAuthenticated, RateLimited
from tests.fakes.clock import FakeClock


@pytest.fixture
def user(db_session) -> User:
    user = User(username="dj", password_hash=hash_password("old-password"))
    db_session.add(user)
    db_session.flush()
    return user


@pytest.fixture
def throttle(servers):
    for key in get_redis().scan_iter("djp:login:*"):
        get_redis().delete(key)
    return LoginThrottle(clock=FakeClock(), account=Policy(threshold=2), address=Policy(threshold=10))


def test_sessions_end_one_by_one_or_all_at_once(db_session, user):
    first = service.start_session(session=db_session, user=user)
    second = service.start_session(session=db_session, user=user)
    found = service.user_for_session(session=db_session, user_id=user.id, session_token=first)
    assert found is not None and found[0].id == user.id
    assert service.user_for_session(session=db_session, user_id=user.id + 1, session_token=first) is None
    service.end_session(session=db_session, session_token=first)
    assert service.user_for_session(session=db_session, user_id=user.id, session_token=first) is None
    assert service.user_for_session(session=db_session, user_id=user.id, session_token=second) is not None
    assert service.end_sessions(session=db_session, user=user) == 1
    assert service.user_for_session(session=db_session, user_id=user.id, session_token=second) is None


def test_inactive_user_session_is_refused(db_session, user):
    token = service.start_session(session=db_session, user=user)
    user.is_active = False
    db_session.flush()
    assert service.user_for_session(session=db_session, user_id=user.id, session_token=token) is None


def test_password_change_revokes_tokens_and_other_sessions(db_session, user):
    keep = service.start_session(session=db_session, user=user)
    other = service.start_session(session=db_session, user=user)
    _, api_token = service.create_api_token(session=db_session, user=user, name="laptop")
    service.create_api_token(session=db_session, user=user, name="phone")
    keep_id = service.user_for_session(session=db_session, user_id=user.id, session_token=keep)[1]
    changed = service.change_password(session=db_session, user=user, current_password="old-password",
                                      new_password="new-password", keep_session_id=keep_id)
    assert (changed.ended_sessions, changed.revoked_tokens) == (1, 2)
    assert service.user_for_session(session=db_session, user_id=user.id, session_token=keep) is not None
    assert service.user_for_session(session=db_session, user_id=user.id, session_token=other) is None
    assert service.user_for_token(session=db_session, token=api_token) is None
    assert db_session.scalars(select(ApiToken.revoked_at)).all() and all(
        t is not None for t in db_session.scalars(select(ApiToken.revoked_at)))
    assert service.sign_in(session=db_session, username="dj", password="new-password").id == user.id


def test_login_is_throttled_even_with_the_right_password(db_session, user, throttle):
    for _ in range(2):
        with pytest.raises(NotAuthenticated):
            service.login(session=db_session, username="dj", password="wrong", address="1.2.3.4", throttle=throttle)
    with pytest.raises(RateLimited) as exc:
        service.login(session=db_session, username="dj", password="old-password", address="5.6.7.8",
                      throttle=throttle)
    assert exc.value.retry_after == 1
    throttle.clock.now += 1
    signed = service.login(session=db_session, username="dj", password="old-password", address="5.6.7.8",
                           throttle=throttle)
    assert signed.user.id == user.id
    assert service.user_for_session(session=db_session, user_id=user.id, session_token=signed.session_token)
    assert throttle.failures(username="dj") == {"account": 0}  # success reset the account


def test_unknown_usernames_are_counted_like_known_ones(db_session, throttle):
    for _ in range(2):
        with pytest.raises(NotAuthenticated):
            service.login(session=db_session, username="ghost", password="x", address="1.2.3.4", throttle=throttle)
    with pytest.raises(RateLimited):
        service.login(session=db_session, username="ghost", password="x", address="1.2.3.4", throttle=throttle)


def test_own_discogs_token_is_encrypted_and_preferred(db_session, user, monkeypatch):
    from services.common.settings import get_settings

    monkeypatch.setenv("DISCOGS_USER_TOKEN", "server-token")
    get_settings.cache_clear()
    try:
        assert service.discogs_token_for(user) is None  # not an admin: the server's token is not theirs
        user.is_admin = True
        assert service.discogs_token_for(user) == "server-token"
        service.set_discogs_token(session=db_session, user=user, token="  my-own-token-1234 ")
        assert "my-own" not in user.discogs_token_encrypted  # stored encrypted
        assert service.discogs_token_for(user) == "my-own-token-1234"
        assert service.masked(service.own_discogs_token(user)) == "••••••••1234"
        user.is_admin = False
        assert service.discogs_token_for(user) == "my-own-token-1234"
        with pytest.raises(Invalid):
            service.set_discogs_token(session=db_session, user=user, token="two words")
        service.set_discogs_token(session=db_session, user=user, token=None)
        assert user.discogs_token_encrypted is None and service.discogs_token_for(user) is None
    finally:
        get_settings.cache_clear()
