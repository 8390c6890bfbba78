"""Storage on SQLite and PostgreSQL: migrations equal the models, persistence round-trips."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from storage.db import Database
from storage.models import Base, User
from storage.persistence import SqlPersistence


async def test_migrations_match_models(pg_clean):
    """The Alembic migrations create exactly the schema the models declare."""
    db = Database(pg_clean)
    await db.migrate()

    def diff(conn):
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


@contextmanager
def first_words(db: Database) -> Iterator[list[str]]:
    """The first word of every statement run meanwhile (BEGIN, INSERT …)."""
    from sqlalchemy import event

    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement.split()[0].upper())

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)


async def test_one_updates_states_are_written_in_one_transaction(pg_clean):
    """R-M2: what PTB hands over after one update (several conversations, the user data) is written
    together in one transaction when the batch ends, nothing before; unchanged values are not written."""
    db = Database(pg_clean)
    await db.migrate()
    p = SqlPersistence(db)
    await p.update_conversation("review", (2, 2), "opinion")
    with first_words(db) as seen:
        async with p.batch():
            await p.update_conversation("apply", (1, 1), "form")
            await p.update_conversation("review", (2, 2), "opinion")  # unchanged
            await p.update_conversation("meeting", (1, 1), "date")
            await p.update_user_data(1, {"lang": "zh"})
            assert seen == []  # nothing before the batch ends
    assert seen.count("INSERT") + seen.count("UPDATE") == 3 and seen.count("BEGIN") <= 1, seen
    fresh = SqlPersistence(db)
    assert await fresh.get_conversations("apply") == {(1, 1): "form"}
    assert await fresh.get_conversations("meeting") == {(1, 1): "date"}
    assert (await fresh.get_user_data())[1] == {"lang": "zh"}
    await db.dispose()


async def test_states_staged_in_an_updates_transaction_are_not_written_again(pg_clean):
    """R-M2: a conversation's next state and the user data staged in the update's own session are stored
    with its commit; handed over by PTB afterwards, unchanged, they cost no statement; rolled back, they
    are not taken for stored."""
    db = Database(pg_clean)
    await db.migrate()
    p = SqlPersistence(db)
    rows = [p.conversation_row("apply", (1, 1), "form"), p.user_row(1, {"awaiting": [["apply", {}]]})]
    async with db.session() as s:
        await p.stage(s, rows)
        await s.rollback()  # the update failed: nothing stored, nothing remembered
    async with db.session() as s:
        stored = await p.stage(s, rows)
        await s.commit()
    stored()
    with first_words(db) as seen:
        async with p.batch():
            await p.update_conversation("apply", (1, 1), "form")
            await p.update_user_data(1, {"awaiting": [["apply", {}]]})
    assert seen == []
    fresh = SqlPersistence(db)
    assert await fresh.get_conversations("apply") == {(1, 1): "form"}
    assert (await fresh.get_user_data())[1] == {"awaiting": [["apply", {}]]}
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


async def test_sqlite_write_lock_of_another_process_is_waited_out_without_stopping_the_bot(tmp_path):
    """R-F1 (nothing entered is lost): while another connection (a second process, a backup) holds SQLite's
    write lock, a write waits for it in aiosqlite's thread — the event loop keeps serving other updates
    meanwhile — and succeeds once the lock is released."""
    import asyncio
    import sqlite3
    from datetime import UTC, datetime

    from storage.models import User

    path = tmp_path / "bot.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    await db.migrate()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # holds the write lock
    ticks = 0

    async def other_updates() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async def release_later() -> None:
        await asyncio.sleep(0.4)
        other.execute("COMMIT")

    ticker = asyncio.create_task(other_updates())
    releaser = asyncio.create_task(release_later())
    async with db.session() as s:
        s.add(User(id=7, first_name="王", created_at=datetime.now(UTC)))
        await s.commit()
    await releaser
    assert ticks >= 20  # the event loop went on while the write waited (0.4 s / 10 ms)
    async with db.session() as s:
        assert (await s.get(User, 7)) is not None
    await db.dispose()

    ticker.cancel()
    other.close()


async def test_wizard_writes_of_an_application_keep_its_version_check(pg_clean):
    """R-F1: a write of a changed application stores every changed answer and moves the version on; a copy
    loaded before someone else's change is refused, and leaves the other change in place."""
    from sqlalchemy.orm.exc import StaleDataError

    from storage.models import Application, Season

    db = Database(pg_clean)
    await db.migrate()
    now = datetime(2026, 7, 10, 2, 0, tzinfo=UTC)
    async with db.session() as s:
        s.add(User(id=1, first_name="王", created_at=now))
        s.add(Season(year=2026, opens_on=now.date(), deadline=now.date(), review_starts=now.date(),
                     naming_by=now.date(), first_year=False, last_number=0))
        await s.flush()
        app = Application(season_year=2026, applicant_id=1, status="draft", answers={}, wizard={},
                          created_at=now, updated_at=now)
        s.add(app)
        await s.commit()
        app_id = app.id
    # two sessions of their own connections, one after the other (the bot's take turns on SQLite)
    async with db.sessions() as s2:
        theirs = await s2.get(Application, app_id)  # loaded before the other change
        await s2.commit()
        async with db.sessions() as s1:
            mine = await s1.get(Application, app_id)
            assert mine is not None and theirs is not None
            mine.answers = {"leader_name": "王建国"}
            mine.wizard = {"step": "leader_gender"}
            await s1.flush()
            assert mine not in s1.dirty and mine.version == 2
            await s1.commit()
        theirs.answers = {"leader_name": "李明"}
        try:
            await s2.flush()
        except StaleDataError:
            pass
        else:
            raise AssertionError("a stale copy was written over a newer one")
        await s2.rollback()
    async with db.session() as s:
        stored = await s.get(Application, app_id)
        assert stored is not None
        assert (stored.answers, stored.wizard, stored.version) == ({"leader_name": "王建国"},
                                                                  {"step": "leader_gender"}, 2)
    await db.dispose()


async def test_upgrade_counts_the_files_already_stored(pg_clean):
    """R-M2: a database from before `applications.files` existed gets the counts of the photos and
    documents it already holds, so drafts in progress keep their uploads when the bot is upgraded."""
    from alembic import command
    from sqlalchemy import column, insert, select, table

    from storage.db import alembic_config
    from storage.models import Application, Attachment

    db = Database(pg_clean)
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "0002"))
    now = datetime(2026, 7, 10, 2, 0, tzinfo=UTC)
    async with db.engine.begin() as conn:
        await conn.execute(insert(User.__table__), [{"id": 1, "first_name": "王", "created_at": now}])
        seasons = table("seasons", *(column(c) for c in ("year", "opens_on", "deadline", "review_starts",
                                                         "naming_by", "first_year", "last_number")))
        await conn.execute(insert(seasons), [{
            "year": 2026, "opens_on": now.date(), "deadline": now.date(), "review_starts": now.date(),
            "naming_by": now.date(), "first_year": False, "last_number": 0}])
        old = table("applications", *(column(c) for c in ("season_year", "applicant_id", "status", "answers",
                                                            "wizard", "created_at", "updated_at", "version")))
        await conn.execute(insert(old), [{"season_year": 2026, "applicant_id": 1, "status": "draft",
                                          "answers": "{}", "wizard": "{}", "created_at": now, "updated_at": now,
                                          "version": 1}])
        app_id = (await conn.execute(select(Application.__table__.c.id))).scalar_one()
        await conn.execute(insert(Attachment.__table__), [{
            "application_id": app_id, "field": field, "kind": "photo", "telegram_file_id": f"f{k}",
            "file_unique_id": f"u{k}", "stored_path": f"m/{k}", "size": 1, "sha256": f"{k:064x}", "created_at": now,
        } for k, field in enumerate(["photos", "photos", "photos", "recommendation"])])
    await db.migrate()
    async with db.session() as s:
        app = await s.get(Application, app_id)
        assert app is not None and app.files == {"photos": 3, "recommendation": 1}
    await db.dispose()


async def test_upgrade_moves_waiting_flows_into_one_list(pg_clean):
    """R-W1: whoever was in the middle of the wizard, a reviewer's decision, an admin's edit, a year report
    or an inspection when the bot is upgraded goes on typing where they were: the old conversation
    states and flags become the flows' slots in `user_data["awaiting"]`, the wizard oldest."""
    import json

    from alembic import command
    from sqlalchemy import insert, select

    from storage.db import alembic_config
    from storage.models import PersistedState

    db = Database(pg_clean)
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "0006"))
    decision = {"app": 3, "action": "approve", "step": "opinion"}
    async with db.engine.begin() as conn:
        await conn.execute(insert(PersistedState.__table__), [
            {"kind": "conv", "name": "apply", "key": json.dumps([7, 7]), "data": "form"},
            {"kind": "conv", "name": "review", "key": json.dumps([7, 7]), "data": "opinion"},
            {"kind": "user", "name": "", "key": "7", "data": {"review": decision, "review_drafts": {"x": 1}}},
            {"kind": "conv", "name": "apply", "key": json.dumps([8, 8]), "data": "form"},  # no user row yet
            {"kind": "user", "name": "", "key": "9", "data": {"report_input": 5}},
            {"kind": "conv", "name": "review", "key": json.dumps([10, 10]), "data": None},  # no longer open
            {"kind": "user", "name": "", "key": "10", "data": {"review": decision}},
        ])
    await db.migrate()
    async with db.session() as s:
        rows = {r.key: r.data for r in (await s.scalars(select(PersistedState)
                                                         .where(PersistedState.kind == "user"))).all()}
    assert rows["7"] == {"review_drafts": {"x": 1}, "awaiting": [["apply", {}], ["review", decision]]}
    assert rows["8"] == {"awaiting": [["apply", {}]]}
    assert rows["9"] == {"awaiting": [["report", {"report": 5}]]}
    assert rows["10"] == {}
    await db.dispose()
