"""Reviewers' decisions: permission checks against the workflow table, and what is recorded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import workflow
from bot.domain.workflow import Action, NotAllowed, Role, Status, Transition
from storage import repo
from storage.models import Application, OpinionRecord

ACTION_ROLE: dict[Action, Role] = {t.action: t.role for t in workflow.TABLE}


@dataclass
class Decision:
    opinion: str | None = None
    on: date | None = None  # inspection date or plaque date
    reopen: list[str] | None = None


async def acting_role(s: AsyncSession, app: Application, user_id: int, roles: set[Role], action: Action) -> Role:
    """The role `user_id` acts in for `action` on `app`, or `NotAllowed`."""
    role = ACTION_ROLE.get(action)
    if role is None or role is Role.APPLICANT:
        raise NotAllowed("unknown_action")
    if role not in roles:
        raise NotAllowed("role")
    if role is Role.DISTRICT and app.union_id not in await repo.reviewer_unions(s, user_id):
        raise NotAllowed("union")
    return role


async def may_view(s: AsyncSession, app: Application, user_id: int, roles: set[Role]) -> bool:
    """Applicants see their own; district reviewers their union's; city reviewers and admins all."""
    if app.applicant_id == user_id or roles & {Role.CITY, Role.ADMIN, Role.CONTACT}:
        return True
    return Role.DISTRICT in roles and app.union_id in await repo.reviewer_unions(s, user_id)


async def check(s: AsyncSession, app: Application, user_id: int, roles: set[Role], action: Action,
                first_year: bool, *, today: date | None = None) -> Transition:
    """The transition `user_id` may take now, or `NotAllowed`; the findings of an inspection are recorded
    on or after its day (`today`)."""
    role = await acting_role(s, app, user_id, roles, action)
    t = workflow.find(action, Status(app.status), role, first_year=first_year)
    if action is Action.INSPECT and today is not None and app.inspection_on is not None and today < app.inspection_on:
        raise NotAllowed("inspection_ahead")
    return t


async def decide(s: AsyncSession, app: Application, user_id: int, roles: set[Role], action: Action,
                 d: Decision, now: datetime, *, first_year: bool, tz: Any) -> Transition:
    """Apply one decision; everything is re-checked here, whatever the caller checked before."""
    t = await check(s, app, user_id, roles, action, first_year, today=now.astimezone(tz).date())
    opinion = (d.opinion or "").strip() or None
    if t.opinion is workflow.Opinion.REQUIRED and not opinion:
        raise NotAllowed("opinion_required")
    if t.needs_date and d.on is None:
        raise NotAllowed("date_required")
    before = Status(app.status)
    union_id = app.union_id if t.role is Role.DISTRICT else None
    if t.box is not None and opinion:
        s.add(OpinionRecord(application_id=app.id, box=t.box.value, action=action.value, text=opinion,
                            reviewer_id=user_id, union_id=union_id, decided_at=now))
    if action is Action.SCHEDULE:
        app.inspection_on = d.on
    if t.target is Status.REJECTED:
        app.materials = "returned"  # R-W4: returned to the applying unit
    if t.reopens:
        app.reopened = list(d.reopen) if d.reopen else None
        app.wizard = {"step": "summary", "seen_summary": True}
    app.status = t.target.value
    app.status_since = now
    app.updated_at = now
    details: dict[str, Any] = {"role": t.role.value}
    if d.on:
        details["date"] = d.on.isoformat()
    if d.reopen:
        details["reopen"] = d.reopen
    if t.reopens:  # what the applicant is asked to change: the next round's card shows the difference
        details["answers"] = dict(app.answers or {})
        details["files"] = dict(app.files or {})
        details["attachments"] = [[a.id, a.field, a.sha256, a.original_name or ""]
                                  for a in await repo.attachments(s, app.id)]
    repo.audit(s, now, action.value, application_id=app.id, actor_id=user_id, from_status=before.value,
               to_status=t.target.value, opinion=opinion, details=details)
    return t


async def waiting_for(s: AsyncSession, user_id: int, roles: set[Role]) -> list[Application]:
    """The applications waiting for `user_id`'s decision, the longest waiting first."""
    conds: list[Any] = []
    if Role.DISTRICT in roles:
        unions = await repo.reviewer_unions(s, user_id)
        if unions:
            conds.append(Application.status.in_([x.value for x in workflow.LEVEL1_WAITING])
                         & Application.union_id.in_(unions))
    if Role.CITY in roles:
        conds.append(Application.status.in_([x.value for x in workflow.LEVEL2_WAITING]))
    if not conds:
        return []
    since = func.coalesce(Application.status_since, Application.submitted_at)
    q = select(Application).where(or_(*conds)).order_by(since, Application.id)
    return list((await s.scalars(q)).all())
