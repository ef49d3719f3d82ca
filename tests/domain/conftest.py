"""Fixtures shared by the domain tests (tests/conftest.py holds the servers and the web clients)."""

from __future__ import annotations

import pytest

from services.common.db import session_scope
from services.common.models import Library, User


@pytest.fixture
def committed_library(clean_db) -> tuple[int, int]:
    """A user "dj" and their library "crate", committed (seen by jobs, workers and other sessions):
    (user_id, library_id). `owner_library` (tests/conftest.py) is the flushed, in-session variant."""
    with session_scope() as s:
        user = User(username="dj", password_hash="x")
        s.add(user)
        s.flush()
        library = Library(owner_id=user.id, name="crate")
        s.add(library)
        s.flush()
        return user.id, library.id
