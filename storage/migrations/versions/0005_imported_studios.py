"""studios named before the bot: no application, maybe no leader account yet; roster fields

Revision ID: 0005
Revises: 0004
Create Date: 2027-01-10 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('studios') as batch:
        batch.alter_column('application_id', existing_type=sa.Integer(), nullable=True)
        batch.alter_column('leader_id', existing_type=sa.BigInteger(), nullable=True)
        batch.add_column(sa.Column('leader_name', sa.String(length=100), nullable=True))
        batch.add_column(sa.Column('unit', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('basic_union', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('named_year', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('imported_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('studios') as batch:
        batch.drop_column('imported_at')
        batch.drop_column('named_year')
        batch.drop_column('basic_union')
        batch.drop_column('unit')
        batch.drop_column('leader_name')
        batch.alter_column('leader_id', existing_type=sa.BigInteger(), nullable=False)
        batch.alter_column('application_id', existing_type=sa.Integer(), nullable=False)
