"""the results registry (成果)

Revision ID: 0011
Revises: 0007
Create Date: 2027-01-20 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'results',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('studio_id', sa.Integer(), nullable=True),
        sa.Column('application_id', sa.Integer(), nullable=True),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('on', sa.Date(), nullable=False),
        sa.Column('level', sa.String(length=16), nullable=True),
        sa.Column('body', sa.String(length=200), nullable=True),
        sa.Column('number', sa.String(length=64), nullable=True),
        sa.Column('in_use', sa.Boolean(), nullable=False),
        sa.Column('benefit', sa.Float(), nullable=True),
        sa.Column('social', sa.Text(), nullable=True),
        sa.Column('members', sa.Text(), nullable=True),
        sa.Column('ownership', sa.Text(), nullable=True),
        sa.Column('certificate_id', sa.Integer(), nullable=True),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('created_by', sa.BigInteger(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['studio_id'], ['studios.id'], name=op.f('fk_results_studio_id_studios')),
        sa.ForeignKeyConstraint(['application_id'], ['applications.id'],
                                name=op.f('fk_results_application_id_applications')),
        sa.ForeignKeyConstraint(['certificate_id'], ['attachments.id'],
                                name=op.f('fk_results_certificate_id_attachments')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_results')),
    )
    op.create_index(op.f('ix_results_studio_id'), 'results', ['studio_id'])
    op.create_index(op.f('ix_results_application_id'), 'results', ['application_id'])
    op.create_index(op.f('ix_results_on'), 'results', ['on'])


def downgrade() -> None:
    op.drop_index(op.f('ix_results_on'), table_name='results')
    op.drop_index(op.f('ix_results_application_id'), table_name='results')
    op.drop_index(op.f('ix_results_studio_id'), table_name='results')
    op.drop_table('results')
