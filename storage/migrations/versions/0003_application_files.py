"""files held per field, on the application

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 10:00:00
"""

from __future__ import annotations



import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('applications') as batch:
        batch.add_column(sa.Column('files', sa.JSON(), server_default='{}', nullable=False))
    # the counts of the attachments already stored
    conn = op.get_bind()
    counts: dict[int, dict[str, int]] = {}
    for app_id, field, n in conn.execute(sa.text(
            "SELECT application_id, field, count(*) FROM attachments WHERE application_id IS NOT NULL "
            "GROUP BY application_id, field")):
        counts.setdefault(app_id, {})[field] = n
    applications = sa.table('applications', sa.column('id', sa.Integer), sa.column('files', sa.JSON))
    for app_id, files in counts.items():
        conn.execute(applications.update().where(applications.c.id == app_id).values(files=files))


def downgrade() -> None:
    with op.batch_alter_table('applications') as batch:
        batch.drop_column('files')



