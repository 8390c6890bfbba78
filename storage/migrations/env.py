"""Alembic environment: runs on the connection handed over by `storage.db.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from storage.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # command-line use with a sync URL, e.g. for `alembic revision --autogenerate`
    url = config.get_main_option("sqlalchemy.url") or "sqlite:///./data/studio.db"
    with create_engine(url).connect() as conn:
        _run(conn)
        conn.commit()
