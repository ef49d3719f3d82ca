"""Start-up, shared by the web app, the CLI and `make up`: migrate the schema, make sure an admin
exists, the DISCOGS_USERNAME library and the scheduled re-syncs."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.common.db import check_database, get_engine, session_scope
from services.common.migrations import migrate
from services.common.models import User
from services.common.settings import Settings, get_settings
from services.domain.accounts.security import generate_password, hash_password
from services.domain.collection.jobs import schedule_all_resyncs
from services.domain.libraries.service import ensure_discogs_library
from services.domain.search.service import prepare_search

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CreatedAdmin:
    username: str
    password: str | None  # set only when generated here: shown once, never logged again


def ensure_admin(session: Session, settings: Settings) -> CreatedAdmin | None:
    """Create the first admin when there are no users. Returns it if created now."""
    if session.scalar(select(func.count()).select_from(User)):
        return None
    username = settings.admin_username or "admin"
    given = settings.admin_password.get_secret_value() if settings.admin_password else None
    password = given or generate_password()
    session.add(User(username=username, password_hash=hash_password(password), is_admin=True))
    session.commit()
    return CreatedAdmin(username=username, password=None if given else password)


def admin_banner(created: CreatedAdmin, url: str) -> str:
    lines = [f"DJ Playlist is ready at {url}", f"First admin user: {created.username}"]
    if created.password:
        lines.append(f"Generated password (shown once, change it after login): {created.password}")
    else:
        lines.append("Password: the ADMIN_PASSWORD you set")
    width = max(len(line) for line in lines) + 4
    bar = "=" * width
    return "\n".join([bar, *(f"  {line}" for line in lines), bar])


def prepare() -> CreatedAdmin | None:
    """Everything a process needs before serving or importing; safe to run on every start.
    Returns the admin created now (its generated password is shown once by the caller)."""
    settings = get_settings()
    engine = get_engine()
    check_database(engine)
    migrate(engine)
    with session_scope() as session:
        created = ensure_admin(session, settings)
    with session_scope() as session:
        ensure_discogs_library(session=session, settings=settings)
    schedule_all_resyncs()
    try:
        with session_scope() as session:
            prepare_search(session=session)
    except Exception as exc:  # noqa: BLE001 - searches answer 503 until MeiliSearch is reachable
        log.warning("search index not prepared (searches answer 503 until it is): %s", exc)
    return created
