"""what a flow waits for: one list per person in user_data (`conversations.inputs`)

The wizard, a reviewer's decision and an admin's edit kept "waiting for text" in their conversation
state and their data under keys of their own; the year report and the inspection had flags. Each is
now a slot in `user_data["awaiting"]`, the newest last: the wizard first, then a decision, then the
flows that end when the person turns elsewhere.

Revision ID: 0007
Revises: 0006
Create Date: 2027-02-10 10:00:00
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

state = sa.table('ptb_state', sa.column('kind', sa.String), sa.column('name', sa.String),
                 sa.column('key', sa.String), sa.column('data', sa.JSON))
WAITING = {"apply": "form", "review": "opinion", "admin": "input"}  # conversation → its typing state


def _user_rows(bind: Any) -> dict[int, Any]:
    rows = bind.execute(sa.select(state.c.key, state.c.data).where(state.c.kind == 'user')).all()
    return {int(k): d or {} for k, d in rows}


def upgrade() -> None:
    bind = op.get_bind()
    users = _user_rows(bind)
    waiting: dict[int, set[str]] = {}
    for name, key, data in bind.execute(sa.select(state.c.name, state.c.key, state.c.data)
                                        .where(state.c.kind == 'conv')).all():
        if WAITING.get(name) == data:
            waiting.setdefault(int(json.loads(key)[-1]), set()).add(name)
    changed = set()
    for uid in set(users) | set(waiting):
        data = dict(users.get(uid) or {})
        open_ = waiting.get(uid, set())
        slots: list[list[Any]] = []
        if "apply" in open_:
            slots.append(["apply", {}])
        review = data.pop("review", None)
        if "review" in open_ and isinstance(review, dict):
            slots.append(["review", review])
        admin = data.pop("admin_input", None)
        if "admin" in open_ and isinstance(admin, dict):
            slots.append(["admin", admin])
        report = data.pop("report_input", None)
        if isinstance(report, int):
            slots.append(["report", {"report": report}])
        inspection = data.pop("inspect_input", None)
        if isinstance(inspection, dict):
            slots.append(["inspect", inspection])
        if slots:
            data["awaiting"] = slots
        if data != (users.get(uid) or {}):
            changed.add(uid)
            users[uid] = data
    for uid in changed:
        where = (state.c.kind == 'user') & (state.c.name == '') & (state.c.key == str(uid))
        if uid in waiting and not bind.execute(sa.select(state.c.key).where(where)).first():
            bind.execute(state.insert().values(kind='user', name='', key=str(uid), data=users[uid]))
        else:
            bind.execute(state.update().where(where).values(data=users[uid]))


def downgrade() -> None:
    bind = op.get_bind()
    for uid, data in _user_rows(bind).items():
        slots = dict((n, s) for n, s in data.pop("awaiting", None) or [])
        if "review" in slots:
            data["review"] = slots["review"]
        if "admin" in slots:
            data["admin_input"] = slots["admin"]
        if "report" in slots:
            data["report_input"] = slots["report"].get("report")
        if "inspect" in slots:
            data["inspect_input"] = slots["inspect"]
        where = (state.c.kind == 'user') & (state.c.name == '') & (state.c.key == str(uid))
        bind.execute(state.update().where(where).values(data=data))
