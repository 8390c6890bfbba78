"""Storage on SQLite and PostgreSQL: migrations equal the models, persistence round-trips."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from storage.db import Database
from storage.models import Base, User
from storage.persistence import SqlPersistence


async def test_migrations_match_models(pg_clean):
    """The Alembic migrations create exactly the schema the models declare."""
    db = Database(pg_clean)
    await db.migrate()

    def diff(conn):  # type: ignore[no-untyped-def]
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(ctx, Base.metadata)

    async with db.engine.connect() as conn:
        changes = await conn.run_sync(diff)
    await db.dispose()
    assert changes == []


def test_head_constant_is_the_newest_migration():
    """`storage.db.HEAD` (which lets a current database skip Alembic at start-up) names the newest migration."""
    from alembic.script import ScriptDirectory

    from storage.db import HEAD, alembic_config

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD


async def test_migrate_twice_is_harmless(pg_clean):
    db = Database(pg_clean)
    await db.migrate()
    await db.migrate()
    await db.dispose()


async def test_persistence_round_trip(pg_clean):
    """Conversation states and user data survive a new process (a new persistence object)."""
    db = Database(pg_clean)
    await db.migrate()
    p = SqlPersistence(db)
    await p.update_conversation("apply", (1, 1), "form")
    await p.update_user_data(1, {"review": {"app": 3, "step": "opinion"}})
    p2 = SqlPersistence(db)
    assert await p2.get_conversations("apply") == {(1, 1): "form"}
    assert (await p2.get_user_data())[1] == {"review": {"app": 3, "step": "opinion"}}
    await p2.update_conversation("apply", (1, 1), None)
    assert await SqlPersistence(db).get_conversations("apply") == {}
    await db.dispose()


async def test_timestamps_come_back_aware(pg_clean):
    db = Database(pg_clean)
    await db.migrate()
    when = datetime(2026, 7, 31, 15, 59, 59, tzinfo=UTC)
    async with db.session() as s:
        s.add(User(id=5, first_name="A", created_at=when))
        await s.commit()
    async with db.session() as s:
        user = await s.get(User, 5)
    assert user is not None and user.created_at == when and user.created_at.tzinfo is not None
    await db.dispose()
