"""The applicant's draft: answers, wizard cursor, files and submission. No Telegram here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import calendar, form, workflow
from bot.domain.form import Kind
from bot.domain.workflow import Action, Role, Status
from bot.services import StoredFile, patched
from storage import repo
from storage.models import Application, Attachment, OpinionRecord, Season


class Refused(Exception):
    """Submission refused; `key` is a locale key, `params` its placeholders."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


async def season_for(s: AsyncSession, now: datetime, tz: Any) -> Season:
    """The season drafts belong to now: this year's until its deadline has passed, then next year's."""
    year = now.astimezone(tz).year
    season = await repo.ensure_season(s, year)
    if calendar.is_late(season.deadline, now, tz):
        season = await repo.ensure_season(s, year + 1)
    return season


async def find_or_create(s: AsyncSession, user_id: int, now: datetime, tz: Any) -> tuple[Application, bool]:
    """The user's application of the current season; a new draft when there is none."""
    season = await season_for(s, now, tz)
    app = await repo.application_of(s, user_id, season.year)
    if app is not None:
        return app, False
    app = Application(season_year=season.year, applicant_id=user_id, status=Status.DRAFT.value, answers={},
                      wizard={}, created_at=now, updated_at=now, status_since=now)
    s.add(app)
    await s.flush()
    repo.audit(s, now, "draft_created", application_id=app.id, actor_id=user_id, to_status=Status.DRAFT.value)
    return app, True


def editable(app: Application) -> bool:
    return Status(app.status) in workflow.EDITABLE


def set_answer(app: Application, key: str, value: Any, now: datetime) -> None:
    answers = dict(app.answers or {})
    answers[key] = value
    app.answers = answers
    app.updated_at = now
    if form.BY_KEY[key].kind is Kind.UNION:
        app.union_id = int(value)  # decides who reviews it (R-W1)


def set_wizard(app: Application, **changes: Any) -> None:
    app.wizard = patched(app.wizard, **changes)


def next_step(app: Application, files: dict[str, int], after: str) -> str:
    """Where the wizard goes after `after`: the next unanswered step, or the section's next field
    while editing; `summary` when nothing is left."""
    keys = [f.key for f in form.STEPS]
    idx = keys.index(after)
    if (app.wizard or {}).get("mode") == "edit":
        section = form.BY_KEY[after].section
        nxt = keys[idx + 1] if idx + 1 < len(keys) else None
        if nxt and form.BY_KEY[nxt].section == section and _reopened(app, nxt):
            return nxt
        return "summary"
    for f in form.STEPS[idx + 1 :]:
        if not form.is_answered(f, app.answers or {}, files) and _reopened(app, f.key):
            return f.key
    return "summary"


def previous_step(app: Application, current: str) -> str | None:
    keys = [f.key for f in form.STEPS]
    if current == "summary":
        return keys[-1]
    idx = keys.index(current)
    return keys[idx - 1] if idx > 0 else None


def _reopened(app: Application, key: str) -> bool:
    """In a returned application only the fields a reviewer named may change (all when none named)."""
    if not app.reopened:
        return True
    return key in app.reopened or form.BY_KEY[key].section in app.reopened


def may_edit(app: Application, key: str) -> bool:
    return editable(app) and _reopened(app, key)


def missing(app: Application, files: dict[str, int]) -> list[str]:
    """Keys of required steps not answered yet, in form order."""
    answers = app.answers or {}
    gaps = [f.key for f in form.STEPS if f.required and not form.is_answered(f, answers, files)]
    invalid = [k for k in form.validate_complete(answers) if k not in gaps]
    return gaps + invalid


async def submit(
    s: AsyncSession, app: Application, actor_id: int, season: Season, now: datetime, tz: Any
) -> workflow.Transition:
    """Check and submit (or resubmit) the application; raises `Refused` with the reason."""
    status = Status(app.status)
    action = Action.SUBMIT if status is Status.DRAFT else Action.RESUBMIT
    try:
        transition = workflow.find(action, status, Role.APPLICANT)
    except workflow.NotAllowed:
        raise Refused("submit.not_editable") from None
    gaps = missing(app, app.files or {})
    if gaps:
        raise Refused("submit.incomplete", fields=gaps)
    failed = form.failed_conditions(app.answers)
    if failed:
        raise Refused("submit.ineligible", conditions=failed)
    # The deadline binds everything not yet past level 1 (R-D1).
    if transition.target is Status.SUBMITTED:
        if calendar.is_late(season.deadline, now, tz):
            raise Refused("submit.late", deadline=season.deadline)
        if not calendar.is_open(season.opens_on, season.deadline, now, tz):
            raise Refused("submit.not_open", opens=season.opens_on, deadline=season.deadline)
    if app.number is None:
        app.number = await repo.next_number(s, season.year)
    if action is Action.SUBMIT:
        app.application_date = now.astimezone(tz).date()
        app.submitted_at = now
        for box, key in ((workflow.Box.UNIT, "unit_opinion"), (workflow.Box.UNION, "union_opinion")):
            s.add(OpinionRecord(application_id=app.id, box=box.value, action=action.value,
                                text=app.answers.get(key, ""), reviewer_id=actor_id, decided_at=now))
    app.status = transition.target.value
    app.status_since = now
    app.updated_at = now
    app.reopened = None
    set_wizard(app, step=None, mode=None, buf=None, m=None)
    repo.audit(s, now, action.value, application_id=app.id, actor_id=actor_id, from_status=status.value,
               to_status=transition.target.value)
    return transition


def add_attachment(s: AsyncSession, app: Application, field: str, meta: StoredFile, now: datetime) -> Attachment:
    att = Attachment(application_id=app.id, field=field, created_at=now, **meta.__dict__)
    s.add(att)
    app.updated_at = now
    count_file(app, field, +1)
    return att


def count_file(app: Application, field: str, change: int) -> None:
    """Keep `app.files` equal to the attachments of each field (written in the same transaction)."""
    files = dict(app.files or {})
    files[field] = max(0, files.get(field, 0) + change)
    if not files[field]:
        del files[field]
    app.files = files


def field_kind(key: str) -> Kind:
    return form.BY_KEY[key].kind
