"""the season's meeting and public notice, objections, the office's contact person

Revision ID: 0012
Revises: 0011
Create Date: 2027-03-01 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('seasons') as batch:
        batch.add_column(sa.Column('notice_days', sa.Integer(), nullable=False, server_default='5'))
    op.create_table(
        'office',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('contact_name', sa.String(length=50), nullable=True),
        sa.Column('contact_phone', sa.String(length=40), nullable=True),
        sa.Column('contact_email', sa.String(length=120), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_office')),
    )
    op.create_table(
        'meetings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('season_year', sa.Integer(), nullable=False),
        sa.Column('held_on', sa.Date(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('minute_no', sa.String(length=40), nullable=False),
        sa.Column('recorded_by', sa.BigInteger(), nullable=True),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('notice_from', sa.Date(), nullable=True),
        sa.Column('notice_until', sa.Date(), nullable=True),
        sa.Column('named_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['season_year'], ['seasons.year'], name=op.f('fk_meetings_season_year_seasons')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_meetings')),
    )
    op.create_index(op.f('ix_meetings_season_year'), 'meetings', ['season_year'], unique=False)
    op.create_table(
        'objections',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('application_id', sa.Integer(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('recorded_by', sa.BigInteger(), nullable=True),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('decision', sa.String(length=16), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('decided_by', sa.BigInteger(), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['application_id'], ['applications.id'],
                                name=op.f('fk_objections_application_id_applications')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_objections')),
    )
    op.create_index(op.f('ix_objections_application_id'), 'objections', ['application_id'], unique=False)
    # added in place, without a foreign key: SQLite would copy the table, which other tables reference
    op.add_column('applications', sa.Column('meeting_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('applications') as batch:
        batch.drop_column('meeting_id')
    op.drop_index(op.f('ix_objections_application_id'), table_name='objections')
    op.drop_table('objections')
    op.drop_index(op.f('ix_meetings_season_year'), table_name='meetings')
    op.drop_table('meetings')
    op.drop_table('office')
    with op.batch_alter_table('seasons') as batch:
        batch.drop_column('notice_days')
