"""effects.once: the key of a scheduled notice, owed once; screens.keyboard: the newest message still has buttons

Revision ID: 0013
Revises: 0012
Create Date: 2027-02-20 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('effects', sa.Column('once', sa.String(length=200), nullable=True))
    op.create_index('ux_effects_once', 'effects', ['once'], unique=True)
    op.add_column('screens', sa.Column('keyboard', sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table('screens') as batch:
        batch.drop_column('keyboard')
    op.drop_index('ux_effects_once', table_name='effects')
    with op.batch_alter_table('effects') as batch:
        batch.drop_column('once')
