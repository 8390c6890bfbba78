"""effects outbox, handled updates, a reviewer card per round

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 19:00:00
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import storage.models

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('handled_updates',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('created_at', storage.models.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_handled_updates'))
    )
    op.create_index(op.f('ix_handled_updates_created_at'), 'handled_updates', ['created_at'], unique=False)
    op.create_table('effects',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('origin', sa.String(length=64), nullable=True),
    sa.Column('chat_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('stale_ok', sa.Boolean(), nullable=False),
    sa.Column('created_at', storage.models.UtcDateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('due_at', storage.models.UtcDateTime(timezone=True), nullable=True),
    sa.Column('sent_at', storage.models.UtcDateTime(timezone=True), nullable=True),
    sa.Column('result', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_effects'))
    )
    op.create_index('ix_effects_unsent', 'effects', ['sent_at', 'chat_id', 'id'], unique=False)
    # what the old reply outbox still owed becomes effects; its keys mark the updates handled
    conn = op.get_bind()
    outbox = sa.table('outbox', sa.column('key', sa.String), sa.column('chat_id', sa.BigInteger),
                      sa.column('payload', sa.JSON), sa.column('created_at', storage.models.UtcDateTime()),
                      sa.column('sent_at', storage.models.UtcDateTime()))
    handled = sa.table('handled_updates', sa.column('key', sa.String),
                       sa.column('created_at', storage.models.UtcDateTime()))
    effects = sa.table('effects', *(sa.column(n) for n in (
        'origin', 'chat_id', 'kind', 'payload', 'stale_ok', 'created_at', 'attempts')))
    for key, chat_id, payload, created_at, sent_at in conn.execute(sa.select(
            outbox.c.key, outbox.c.chat_id, outbox.c.payload, outbox.c.created_at, outbox.c.sent_at)
            .order_by(outbox.c.created_at)).all():
        created_at = created_at or datetime.now(UTC)
        conn.execute(handled.insert().values(key=key, created_at=created_at))
        if sent_at is not None or not payload:
            continue
        for m in payload.get('m') or []:
            kind = 'edit' if m.get('e') else 'message'
            body = {'text': m['t'], 'keyboard': m.get('k')}
            if m.get('e'):
                body['message_id'] = m['e'][1]
            conn.execute(effects.insert().values(origin=key, chat_id=int(m['c']), kind=kind, payload=body,
                                                 stale_ok=True, created_at=created_at, attempts=0))
    op.drop_index(op.f('ix_outbox_sent_at'), table_name='outbox')
    op.drop_index(op.f('ix_outbox_created_at'), table_name='outbox')
    op.drop_table('outbox')
    with op.batch_alter_table('review_messages') as batch:
        batch.drop_constraint('uq_review_messages_once', type_='unique')
        batch.add_column(sa.Column('event_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('closed_at', storage.models.UtcDateTime(timezone=True), nullable=True))
        batch.create_foreign_key(op.f('fk_review_messages_event_id_audit_events'), 'audit_events',
                                 ['event_id'], ['id'])
        batch.create_unique_constraint('uq_review_messages_round', ['event_id', 'chat_id'])
    # cards of earlier rounds that someone already decided on have no live buttons
    conn.execute(sa.text("UPDATE review_messages SET closed_at = sent_at WHERE status NOT IN "
                         "(SELECT a.status FROM applications a WHERE a.id = review_messages.application_id)"))


def downgrade() -> None:
    with op.batch_alter_table('review_messages') as batch:
        batch.drop_constraint('uq_review_messages_round', type_='unique')
        batch.drop_constraint(op.f('fk_review_messages_event_id_audit_events'), type_='foreignkey')
        batch.drop_column('closed_at')
        batch.drop_column('event_id')
        batch.create_unique_constraint('uq_review_messages_once', ['application_id', 'chat_id', 'status'])
    op.create_table('outbox',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('chat_id', sa.BigInteger(), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', storage.models.UtcDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', storage.models.UtcDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_outbox'))
    )
    op.create_index(op.f('ix_outbox_created_at'), 'outbox', ['created_at'], unique=False)
    op.create_index(op.f('ix_outbox_sent_at'), 'outbox', ['sent_at'], unique=False)
    op.drop_index('ix_effects_unsent', table_name='effects')
    op.drop_table('effects')
    op.drop_index(op.f('ix_handled_updates_created_at'), table_name='handled_updates')
    op.drop_table('handled_updates')
