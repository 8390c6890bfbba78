"""screens: the newest message of a flow in a chat, whose buttons are live

Revision ID: 0006
Revises: 0005
Create Date: 2027-02-01 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'screens',
        sa.Column('chat_id', sa.BigInteger(), nullable=False),
        sa.Column('name', sa.String(length=16), nullable=False),
        sa.Column('message_id', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('chat_id', 'name'),
    )


def downgrade() -> None:
    op.drop_table('screens')
