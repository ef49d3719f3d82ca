"""The schema migrations (Alembic, `migrations/`): the configuration, the revisions this code knows and its
head, and upgrading a database to head. Used on start-up (`domain/startup.prepare`), by backup restores (in
the worker image, which has no argon2: nothing here imports the accounts code), tests and benchmarks."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

ROOT = Path(__file__).resolve().parents[2]
# Serialises concurrent migrations (several replicas, or make up racing a manual run).
MIGRATION_LOCK_ID = 0x444A504C  # "DJPL"


def alembic_config(database_url: str | None = None) -> Config:
    """The project's Alembic configuration; without a URL, migrations/env.py uses DATABASE_URL (or a
    connection passed in `attributes["connection"]`)."""
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    if database_url is not None:
        cfg.attributes["database_url"] = database_url
    return cfg


def known_revisions() -> tuple[set[str], str]:
    """Every revision of this code's migrations, and the head."""
    script = ScriptDirectory.from_config(alembic_config())
    return {rev.revision for rev in script.walk_revisions()}, str(script.get_current_head())


def upgrade(conn: Connection, *, database_url: str | None = None) -> None:
    """Migrate the database behind `conn` to head, in its transaction (no lock: see `migrate`)."""
    cfg = alembic_config(database_url)
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


def migrate(engine: Engine) -> None:
    """Migrate to head under an advisory lock, so concurrent starts take turns (safe on every start)."""
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        try:
            upgrade(conn, database_url=engine.url.render_as_string(hide_password=False))
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
