"""A Bearer request records the token's last use at most once per interval: reads write nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, update

from services.common import db
from services.common.models import ApiToken
from services.domain.accounts.service import LAST_USED_EVERY


@pytest.fixture
def token_updates():
    """The UPDATE statements sent to api_tokens while the test runs."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE") and "api_tokens" in statement:
            seen.append(statement)

    engine = db.get_engine()
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def _last_used(token_id: int) -> datetime | None:
    with db.session_scope() as s:
        return s.get(ApiToken, token_id).last_used_at


def test_bearer_requests_write_last_used_once_per_interval(make_user, client, token_updates):
    alice = make_user("alice")
    created = alice.post("/api/auth/tokens", json={"name": "cli"})
    assert created.status_code == 201, created.text
    token_id, token = created.json()["id"], created.json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    client.cookies.clear()

    assert client.get("/api/auth/me", headers=bearer).status_code == 200
    first = _last_used(token_id)
    assert first is not None  # a never-used token: its first use is recorded
    assert client.get("/api/auth/me", headers=bearer).status_code == 200
    assert client.get("/api/libraries", headers=bearer).status_code == 200
    assert len(token_updates) == 1  # three requests, one write
    assert _last_used(token_id) == first

    # The stored value is older than the interval: the next request records the use again.
    stale = datetime.now(UTC) - LAST_USED_EVERY - timedelta(seconds=1)
    with db.session_scope() as s:
        s.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=stale))
    token_updates.clear()
    assert client.get("/api/auth/me", headers=bearer).status_code == 200
    assert len(token_updates) == 1
    refreshed = _last_used(token_id)
    assert refreshed > stale + LAST_USED_EVERY
    assert client.get("/api/auth/me", headers=bearer).status_code == 200
    assert len(token_updates) == 1 and _last_used(token_id) == refreshed
