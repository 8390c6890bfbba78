"""The applicant's draft: answers, wizard cursor, files and submission. No Telegram here."""

from __future__ import annotations

import asyncio
import copy
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import calendar, form, workflow
from bot.domain.kinds import Ask
from bot.domain.wizard_state import WizardState
from bot.domain.workflow import UNSUBMITTED, Action, Role, Status
from bot.services import StoredFile
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
    return await add_draft(s, draft(user_id, season.year, now), now), True


def draft(user_id: int, season_year: int, now: datetime) -> Application:
    """A new, empty draft, not yet stored (its wizard may be set before `add_draft`)."""
    return Application(season_year=season_year, applicant_id=user_id, status=Status.DRAFT.value, answers={},
                       wizard={}, created_at=now, updated_at=now, status_since=now)


async def add_draft(s: AsyncSession, app: Application, now: datetime) -> Application:
    """Store a new draft and its first line in the trail."""
    s.add(app)
    await s.flush()
    repo.audit(s, now, "draft_created", application_id=app.id, actor_id=app.applicant_id,
               to_status=Status.DRAFT.value)
    return app


# --------------------------------------------------------------------------- seasons (R-D1, R-W4)

def closed(app: Application, season: Season, now: datetime, tz: Any) -> bool:
    """The application is a record of its season, no longer in progress: decided (R-W4); not
    submitted (or returned at level 1) by the deadline, which forfeits only that year's application
    (超过期限视为放弃当年申报, R-D1); or anything else left open once the season's naming has passed."""
    status = Status(app.status)
    if status in workflow.FINAL:
        return True
    if status in UNSUBMITTED:
        return calendar.is_late(season.deadline, now, tz)
    return calendar.is_late(season.naming_by, now, tz)


def forfeited(app: Application, season: Season, now: datetime, tz: Any) -> bool:
    """Not submitted by the season's deadline: that year's application is given up (R-D1)."""
    return Status(app.status) in UNSUBMITTED and calendar.is_late(season.deadline, now, tz)


@dataclass
class Standing:
    """Where a user stands with the seasons: the application in progress (None when there is none),
    the newest closed record to start a new season's draft from, and the season of `current` (with
    none in progress: the season drafts belong to now)."""

    current: Application | None
    previous: Application | None
    season: Season


async def standing(s: AsyncSession, apps: Sequence[Application], now: datetime, tz: Any) -> Standing:
    """`apps` newest first (as `repo.applications_of`). In progress: the newest not closed, else this
    season's own (e.g. decided this season). Otherwise the newest record of an earlier season is the
    one a new draft may start from (R-W4: not approved, or late, a unit may apply again).
    The wizard asks this at every update: a user's applications are few and their seasons are read
    by primary key (once per session)."""
    for app in apps:
        own = await repo.season(s, app.season_year)
        if own is not None and not closed(app, own, now, tz):
            return Standing(app, None, own)
    season = await season_for(s, now, tz)
    for app in apps:
        if app.season_year == season.year:
            return Standing(app, None, season)
    earlier = [a for a in apps if a.season_year < season.year]
    return Standing(None, earlier[0] if earlier else None, season)


async def start_season(s: AsyncSession, user_id: int, source: Application | None, now: datetime, tz: Any,
                       data_dir: Path) -> tuple[Application, list[str], int]:
    """The user's draft of the current season: empty, or starting from `source` (an earlier season's
    record, which is left as it was): its answers and a copy of each of its files. Returns the draft,
    the files written (relative paths, to remove should the transaction fail) and how many of the
    source's files were no longer on disk."""
    app, created = await find_or_create(s, user_id, now, tz)
    if not created or source is None:
        return app, [], 0
    answers = copy.deepcopy(dict(source.answers or {}))
    app.answers = answers
    app.union_id = source.union_id
    written: list[str] = []
    lost = 0
    for att in await repo.attachments(s, source.id):
        src = data_dir / att.stored_path
        rel = (PurePosixPath("materials") / str(app.id) / f"{uuid.uuid4().hex}{PurePosixPath(att.stored_path).suffix}")
        try:
            await asyncio.to_thread(_copy, src, data_dir / rel)
        except FileNotFoundError:
            lost += 1
            continue
        written.append(rel.as_posix())
        add_attachment(s, app, att.field, StoredFile(
            kind=att.kind, telegram_file_id=att.telegram_file_id, file_unique_id=att.file_unique_id,
            original_name=att.original_name, mime_type=att.mime_type, size=att.size, sha256=att.sha256,
            stored_path=rel.as_posix()), now)
    repo.audit(s, now, "draft_copied", application_id=app.id, actor_id=user_id,
               details={"from": source.id, "from_year": source.season_year, "files": len(written), "lost": lost})
    return app, written, lost


def _copy(src: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".part")
    shutil.copyfile(src, tmp)
    tmp.replace(target)


def editable(app: Application) -> bool:
    return Status(app.status) in workflow.EDITABLE


def set_answer(app: Application, key: str, value: Any, now: datetime) -> None:
    answers = dict(app.answers or {})
    answers[key] = value
    app.answers = answers
    app.updated_at = now
    if form.BY_KEY[key].ask is Ask.UNION:
        app.union_id = int(value)  # decides who reviews it (R-W1)


def state(app: Application) -> WizardState:
    """Where the wizard stands for `app` (read from its stored cursor)."""
    return WizardState.of(app.wizard)


def save_state(app: Application, st: WizardState) -> None:
    app.wizard = st.stored()


def set_wizard(app: Application, **changes: Any) -> None:
    """Change named fields of the wizard's state (`WizardState`)."""
    unknown = set(changes) - set(WizardState.model_fields)
    if unknown:
        raise TypeError(f"not a field of the wizard's state: {sorted(unknown)}")
    save_state(app, state(app).model_copy(update=changes))


async def albums_pending(s: AsyncSession) -> list[int]:
    """Applicants whose album's one answer was still owed (its timer is lost with a restart)."""
    rows = await s.scalars(select(Application.applicant_id).where(
        Application.status.in_([x.value for x in workflow.EDITABLE]),
        Application.wizard[("album", "g")].as_string().is_not(None)))
    return list(rows.all())


def next_step(app: Application, files: dict[str, int], after: str) -> str:
    """Where the wizard goes after `after`: the next unanswered step, or back to the summary after one
    field changed from there; `summary` when nothing is left."""
    keys = [f.key for f in form.STEPS]
    idx = keys.index(after)
    if state(app).edit == "edit":
        return "summary"
    for f in form.STEPS[idx + 1 :]:
        if not form.is_answered(f, app.answers or {}, files) and _reopened(app, f.key):
            return f.key
    return "summary"


def _reopened(app: Application, key: str) -> bool:
    """In a returned application only the fields a reviewer named may change (all when none named)."""
    if not app.reopened:
        return True
    return key in app.reopened or form.BY_KEY[key].section in app.reopened


def may_edit(app: Application, key: str) -> bool:
    return editable(app) and _reopened(app, key)


def editable_keys(app: Application) -> frozenset[str]:
    """The keys of the form's fields that may change now (`may_edit` of each)."""
    if not editable(app):
        return frozenset()
    return frozenset(f.key for f in form.STEPS if _reopened(app, f.key))


def missing(app: Application, files: dict[str, int]) -> list[str]:
    """Keys of required steps not answered yet, in form order."""
    answers = app.answers or {}
    gaps = [f.key for f in form.STEPS if f.required and not form.is_answered(f, answers, files)]
    invalid = [k for k in form.validate_complete(answers) if k not in gaps]
    return gaps + invalid


def obstacles(app: Application, season: Season | None, now: datetime, tz: Any) -> list[Refused]:
    """Everything that stands in the way of submitting now, in the order the applicant can act on it
    (empty: submission will succeed). The summary shows these instead of the submit button."""
    status = Status(app.status)
    action = Action.SUBMIT if status is Status.DRAFT else Action.RESUBMIT
    try:
        transition = workflow.find(action, status, Role.APPLICANT)
    except workflow.NotAllowed:
        return [Refused("submit.not_editable")]
    out: list[Refused] = []
    gaps = missing(app, app.files or {})
    if gaps:
        out.append(Refused("submit.incomplete", fields=gaps))
    failed = form.failed_conditions(app.answers or {})
    if failed:
        out.append(Refused("submit.ineligible", conditions=failed))
    # The deadline binds everything not yet past level 1 (R-D1).
    if transition.target is Status.SUBMITTED and season is not None:
        if calendar.is_late(season.deadline, now, tz):
            out.append(Refused("submit.late", deadline=season.deadline))
        elif not calendar.is_open(season.opens_on, season.deadline, now, tz):
            out.append(Refused("submit.not_open", opens=season.opens_on, deadline=season.deadline,
                               year=season.year))
    return out


async def submit(
    s: AsyncSession, app: Application, actor_id: int, season: Season, now: datetime, tz: Any
) -> workflow.Transition:
    """Check and submit (or resubmit) the application; raises `Refused` with the first reason."""
    status = Status(app.status)
    action = Action.SUBMIT if status is Status.DRAFT else Action.RESUBMIT
    found = obstacles(app, season, now, tz)
    if found:
        raise found[0]
    transition = workflow.find(action, status, Role.APPLICANT)
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
    set_wizard(app, step=None, edit=None, parts=None, member=None)
    repo.audit(s, now, action.value, application_id=app.id, actor_id=actor_id, from_status=status.value,
               to_status=transition.target.value)
    return transition


def add_attachment(s: AsyncSession, app: Application, field: str, meta: StoredFile, now: datetime) -> Attachment:
    att = Attachment(application_id=app.id, field=field, created_at=now, **meta.__dict__)
    s.add(att)
    app.updated_at = now
    count_file(app, field, +1)
    return att


async def remove_attachment(s: AsyncSession, app: Application, field: str, attachment_id: str | None,
                            actor_id: int, now: datetime) -> Attachment | None:
    """Remove one file of a field (recorded in the audit trail); the removed row, or None when the id is
    not one of that field's files. The stored file is the caller's to delete once this is committed."""
    atts = {str(a.id): a for a in await repo.attachments(s, app.id, field)}
    att = atts.get(attachment_id or "")
    if att is None:
        return None
    await s.delete(att)
    await s.flush()
    count_file(app, field, -1)
    app.updated_at = now
    repo.audit(s, now, "file_removed", application_id=app.id, actor_id=actor_id,
               details={"field": field, "sha256": att.sha256})
    return att


def count_file(app: Application, field: str, change: int) -> None:
    """Keep `app.files` equal to the attachments of each field (written in the same transaction)."""
    files = dict(app.files or {})
    files[field] = max(0, files.get(field, 0) + change)
    if not files[field]:
        del files[field]
    app.files = files
