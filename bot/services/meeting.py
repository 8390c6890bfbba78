"""The season's meeting, public notice and naming (附件2 三: "拿出初步考核意见，经市总主席办公会或常委会讨论
通过后，确定认定名单", then "集中命名授牌"). No Telegram here: the bot and the web pages call the same.

- `candidates`: the applications with a preliminary opinion, the meeting's list (with what the papers show);
- `record`: the meeting (date, kind, minute number) and each candidate's outcome, recorded at once: the
  approved go to the public notice (`Status.NOTICE`) with the proposed name, the others are rejected with
  the reason, the deferred stay on the list; each decision carries the meeting's reference in the trail
  and in the city's box of the printed form;
- `object_to` / `decide_objection`: an objection received during the notice, and the office's decision
  (upheld: the entry is not named);
- `advance`: run daily; ends the notices whose period is over and names the rest together on the naming
  date, each with the plaque date (the naming date unless set for the studio with `set_plaque`).

Every final outcome returns an `Outcome` for the caller to tell everyone concerned (`concerned`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import calendar, workflow
from bot.domain.workflow import Action, Box, NotAllowed, Role, Status
from bot.services import Refused
from bot.services.records import (
    KIND_ZH,
    KINDS,
    MINUTE_MAX,
    OBJECTION_MAX,
    OUTCOMES,
    REASON_MAX,
    STUDIO_NAME_MAX,
    STUDIO_NAME_MIN,
    Candidate,
    Decisions,
    Entry,
    Notice,
)
from storage import repo
from storage.models import Application, Meeting, Objection, OpinionRecord, Studio, User


def reference(m: Meeting) -> str:
    """The meeting as the printed form and the trail name it (Chinese, as filed): "经2026年12月18日市总工会
    主席办公会讨论"."""
    return f"经{calendar.zh_date(m.held_on)}市总工会{KIND_ZH.get(m.kind, m.kind)}讨论"


def _minute(m: Meeting) -> str:
    return f"（纪要{m.minute_no}）" if m.minute_no else ""


def meeting_details(m: Meeting) -> dict[str, Any]:
    return {"id": m.id, "held_on": m.held_on.isoformat(), "kind": m.kind, "minute_no": m.minute_no}


# --------------------------------------------------------------------------- the list



def proposed_name(app: Application) -> str:
    """R-W3: studios are named after the lead model worker (unless a name was already given)."""
    return app.studio_name or f"{(app.answers or {}).get('leader_name', '')}劳模创新工作室"


async def _candidate(s: AsyncSession, app: Application, lang: str) -> Candidate:
    union = await repo.union_of(s, app.union_id)
    opinions = await repo.opinions(s, app.id)
    district = next((o.text for o in reversed(opinions) if o.box == Box.DISTRICT.value), "")
    found = workflow.assessment(await repo.audit_trail(s, app.id))
    on, findings, preliminary = found.on or "", found.findings or "", found.preliminary or ""
    answers = app.answers or {}
    return Candidate(app, union.name(lang) if union else "", str(answers.get("leader_name") or ""),
                     str(answers.get("applying_unit") or ""), proposed_name(app), district, findings, on,
                     preliminary)


async def candidates(s: AsyncSession, year: int, lang: str = "zh") -> list[Candidate]:
    """The season's applications with a preliminary opinion, waiting for the meeting, by number."""
    apps = (await s.scalars(select(Application).where(
        Application.season_year == year, Application.status.in_([x.value for x in workflow.MEETING]))
        .order_by(Application.number, Application.id))).all()
    return [await _candidate(s, a, lang) for a in apps]


# --------------------------------------------------------------------------- the meeting



@dataclass
class Outcome:
    """A final outcome everyone concerned is to hear of."""

    app: Application
    action: Action
    reason: str | None = None



def notice_for(held_on: date, today: date, days: int, naming_by: date,
               cal: calendar.WorkDays = calendar.WorkDays()) -> Notice:  # noqa: B008 - frozen
    """The notice begins on the working day after the meeting is recorded (not before the meeting) and
    lasts `days` working days (none with 0); the naming is on the season's naming date, or the working
    day after the notice when that is later."""
    if days <= 0:
        return Notice(None, None, max(naming_by, today))
    first = calendar.next_working_day(max(held_on, today), cal)
    last = calendar.add_working_days(first, days, cal)
    return Notice(first, last, max(naming_by, calendar.next_working_day(last, cal)))


def naming_date(m: Meeting, naming_by: date, tz: Any,
                cal: calendar.WorkDays = calendar.WorkDays()) -> date:  # noqa: B008 - frozen
    """When the meeting's approved list is named: the season's naming date, or the working day after the
    notice (after the meeting's record, without a notice) when that is later."""
    if m.notice_until is not None:
        return max(naming_by, calendar.next_working_day(m.notice_until, cal))
    return max(naming_by, m.recorded_at.astimezone(tz).date())


def check(d: Decisions, today: date) -> None:
    """The meeting as typed: a past (or today's) date, a known kind, a minute number, a reason per rejection."""
    check_held(d.held_on, today)
    if d.kind not in KINDS:
        raise Refused("meeting.error.kind")
    check_minute(d.minute_no)
    if any(o not in OUTCOMES for o in d.outcomes.values()):
        raise Refused("meeting.error.outcome")
    for app_id, o in d.outcomes.items():
        if o == "reject":
            check_reason(d.reasons.get(app_id) or "")
        if o == "approve" and app_id in d.names:
            check_name(d.names[app_id])


def check_held(held_on: date, today: date) -> date:
    """The meeting's date: today or before."""
    if held_on > today:
        raise Refused("meeting.error.future", today=today.isoformat())
    return held_on


def check_minute(minute: str) -> str:
    """The minute number as typed, its spaces folded; refused empty or too long."""
    minute = " ".join(minute.split())
    if not minute or len(minute) > MINUTE_MAX:
        raise Refused("meeting.error.minute", max=MINUTE_MAX)
    return minute


def check_reason(reason: str) -> str:
    """A rejection's reason as typed, its spaces folded; refused empty or too long."""
    reason = " ".join(reason.split())
    if not reason or len(reason) > REASON_MAX:
        raise Refused("meeting.error.reason", max=REASON_MAX)
    return reason


def check_name(name: str) -> str:
    """An approved studio's name as typed, its spaces folded; refused outside its length."""
    name = " ".join(name.split())
    if not STUDIO_NAME_MIN <= len(name) <= STUDIO_NAME_MAX:
        raise Refused("meeting.error.name", min=STUDIO_NAME_MIN, max=STUDIO_NAME_MAX)
    return name


def may_decide(roles: set[Role] | frozenset[Role]) -> bool:
    """The city federation's reviewers record the meeting and the notice."""
    return Role.CITY in roles


def _move(s: AsyncSession, app: Application, action: Action, actor_id: int | None, now: datetime,
          opinion: str | None, details: dict[str, Any]) -> None:
    """One batch transition of the table (re-checked here), with its opinion in the city's box and its trail."""
    t = workflow.find(action, Status(app.status), Role.CITY, batch=True)
    before = app.status
    if t.box is not None and opinion:
        s.add(OpinionRecord(application_id=app.id, box=t.box.value, action=action.value, text=opinion,
                            reviewer_id=actor_id, decided_at=now))
    if t.target is Status.REJECTED:
        app.materials = "returned"  # R-W4: returned to the applying unit
    app.status = t.target.value
    app.status_since = now
    app.updated_at = now
    repo.audit(s, now, action.value, application_id=app.id, actor_id=actor_id, from_status=before,
               to_status=t.target.value, opinion=opinion, details={"role": Role.CITY.value, **details})


async def record(s: AsyncSession, year: int, d: Decisions, actor_id: int, roles: set[Role], now: datetime,
                 tz: Any, cal: calendar.WorkDays = calendar.WorkDays()  # noqa: B008 - frozen
                 ) -> tuple[Meeting, list[Outcome]]:
    """Record the meeting and every outcome at once; the final ones (rejections) to tell everyone of."""
    if not may_decide(roles):
        raise NotAllowed("role")
    today = now.astimezone(tz).date()
    check(d, today)
    if not any(o != "defer" for o in d.outcomes.values()):
        raise Refused("meeting.error.nothing")
    apps = {a.id: a for a in (await s.scalars(select(Application).where(
        Application.id.in_(list(d.outcomes)), Application.season_year == year))).all()}
    stale = [i for i in d.outcomes if i not in apps or Status(apps[i].status) not in workflow.MEETING]
    if stale:
        raise Refused("meeting.error.stale", n=len(stale))
    season = await repo.ensure_season(s, year)
    notice = notice_for(d.held_on, today, season.notice_days, season.naming_by, cal)
    m = Meeting(season_year=year, held_on=d.held_on, kind=d.kind, minute_no=d.minute_no.strip(),
                recorded_by=actor_id, recorded_at=now, notice_from=notice.first, notice_until=notice.last)
    s.add(m)
    await s.flush()
    ref = reference(m)
    ref_details = {"meeting": meeting_details(m)}
    out: list[Outcome] = []
    for app_id, outcome in d.outcomes.items():
        app = apps[app_id]
        if outcome == "approve":
            name = (d.names.get(app_id) or "").strip() or proposed_name(app)
            app.studio_name, app.plaque_on, app.meeting_id = name, notice.naming, m.id
            _move(s, app, Action.MEETING_APPROVE, actor_id, now, f"{ref}通过{_minute(m)}，同意命名。",
                  {**ref_details, "studio_name": name, "notice": [notice.first.isoformat() if notice.first else None,
                                                                  notice.last.isoformat() if notice.last else None]})
            if notice.first is None:  # no notice this season: waiting for the naming date at once
                _move(s, app, Action.NOTICE_END, actor_id, now, None, ref_details)
        elif outcome == "reject":
            reason = check_reason(d.reasons[app_id])
            app.meeting_id = m.id
            _move(s, app, Action.MEETING_REJECT, actor_id, now, f"{ref}{_minute(m)}，未予通过：{reason}",
                  ref_details)
            out.append(Outcome(app, Action.MEETING_REJECT, reason))
        else:
            repo.audit(s, now, "meeting_deferred", application_id=app.id, actor_id=actor_id,
                       details=ref_details)
    repo.audit(s, now, "meeting_recorded", actor_id=actor_id,
               details={**meeting_details(m), "year": year,
                        "outcomes": {str(k): v for k, v in d.outcomes.items()}})
    await s.flush()
    return m, out


# --------------------------------------------------------------------------- the notice


async def approved_by(s: AsyncSession, m: Meeting) -> list[Application]:
    """What meeting `m` approved and is not yet named: under notice, or waiting for the naming date."""
    return list((await s.scalars(select(Application).where(
        Application.meeting_id == m.id, Application.status.in_([x.value for x in workflow.NOTICED]))
        .order_by(Application.number, Application.id))).all())


async def meetings(s: AsyncSession, year: int) -> list[Meeting]:
    return list((await s.scalars(select(Meeting).where(Meeting.season_year == year)
                                 .order_by(Meeting.held_on, Meeting.id))).all())



async def entries(s: AsyncSession, year: int) -> list[Entry]:
    """The season's approved list not yet named (under notice, or waiting for the naming date)."""
    apps = (await s.scalars(select(Application).where(
        Application.season_year == year, Application.status.in_([x.value for x in workflow.NOTICED]))
        .order_by(Application.number, Application.id))).all()
    out = []
    for app in apps:
        m = await s.get(Meeting, app.meeting_id) if app.meeting_id else None
        if m is None:
            continue
        objs = list((await s.scalars(select(Objection).where(Objection.application_id == app.id)
                                     .order_by(Objection.id))).all())
        out.append(Entry(app, m, objs))
    return out


async def listed(s: AsyncSession, app_id: int) -> Application:
    """An application on the approved list not yet named, or `Refused`."""
    app = await repo.get_application(s, app_id)
    if app is None or Status(app.status) not in workflow.NOTICED:
        raise Refused("meeting.error.not_listed")
    return app


async def object_to(s: AsyncSession, app_id: int, text: str, actor_id: int, roles: set[Role],
                    now: datetime) -> Objection:
    """Record an objection received against an entry under notice."""
    if not may_decide(roles):
        raise NotAllowed("role")
    app = await listed(s, app_id)
    if app.status != Status.NOTICE.value:
        raise Refused("meeting.error.notice_over")
    text = " ".join((text or "").split())
    if not text or len(text) > OBJECTION_MAX:
        raise Refused("meeting.error.objection", max=OBJECTION_MAX)
    row = Objection(application_id=app.id, text=text, recorded_by=actor_id, recorded_at=now)
    s.add(row)
    await s.flush()
    repo.audit(s, now, "objection_recorded", application_id=app.id, actor_id=actor_id,
               details={"objection": row.id, "text": text})
    return row


async def decide_objection(s: AsyncSession, objection_id: int, upheld: bool, actor_id: int, roles: set[Role],
                           now: datetime) -> tuple[Objection, Outcome | None]:
    """Decide an objection: upheld, the entry is taken off the list and not named (its outcome to tell);
    dismissed, it stays."""
    if not may_decide(roles):
        raise NotAllowed("role")
    row = await s.get(Objection, objection_id)
    if row is None or row.decision is not None:
        raise Refused("meeting.error.objection_gone")
    app = await listed(s, row.application_id)
    row.decision, row.decided_by, row.decided_at = ("upheld" if upheld else "dismissed"), actor_id, now
    repo.audit(s, now, "objection_decided", application_id=app.id, actor_id=actor_id,
               details={"objection": row.id, "decision": row.decision})
    if not upheld:
        return row, None
    _move(s, app, Action.OBJECTION_UPHELD, actor_id, now, f"公示期间收到异议，经核实成立：{row.text}",
          {"objection": row.id})
    return row, Outcome(app, Action.OBJECTION_UPHELD, row.text)


async def set_plaque(s: AsyncSession, app_id: int, on: date, actor_id: int, roles: set[Role], now: datetime
                     ) -> Application:
    """The plaque date of one studio on the list (the naming date unless set here)."""
    if not may_decide(roles):
        raise NotAllowed("role")
    app = await listed(s, app_id)
    before = app.plaque_on
    app.plaque_on = on
    repo.audit(s, now, "plaque_date_set", application_id=app.id, actor_id=actor_id,
               details={"before": before.isoformat() if before else None, "after": on.isoformat()})
    return app


async def advance(s: AsyncSession, now: datetime, tz: Any,
                  cal: calendar.WorkDays = calendar.WorkDays()) -> list[Outcome]:  # noqa: B008 - frozen
    """What the days bring: a notice whose last day has passed ends (an entry with an objection not yet
    decided stays under notice); on the naming date the entries waiting are named together. The named."""
    today = now.astimezone(tz).date()
    apps = (await s.scalars(select(Application).where(
        Application.status.in_([x.value for x in workflow.NOTICED]), Application.meeting_id.is_not(None))
        .order_by(Application.number, Application.id))).all()
    out: list[Outcome] = []
    for app in apps:
        m = await s.get(Meeting, app.meeting_id)
        if m is None:
            continue
        if app.status == Status.NOTICE.value:
            if m.notice_until is not None and today <= m.notice_until:
                continue
            if await s.scalar(select(Objection.id).where(Objection.application_id == app.id,
                                                         Objection.decision.is_(None)).limit(1)) is not None:
                continue
            _move(s, app, Action.NOTICE_END, None, now, None, {"meeting": meeting_details(m)})
        season = await repo.ensure_season(s, app.season_year)
        if today < naming_date(m, season.naming_by, tz, cal):
            continue
        _name(s, app, m, today, now)
        out.append(Outcome(app, Action.NAME))
    if out:
        names = {m_id for m_id in (o.app.meeting_id for o in out) if m_id is not None}
        for m_id in names:
            m = await s.get(Meeting, m_id)
            if m is not None and m.named_at is None:
                m.named_at = now
    await s.flush()
    return out


def _name(s: AsyncSession, app: Application, m: Meeting, today: date, now: datetime) -> None:
    """R-W3, R-W4: named, the plaque date set, the materials archived by the federation."""
    name = app.studio_name or proposed_name(app)
    app.studio_name = name
    app.plaque_on = app.plaque_on or today
    app.materials = "archived"
    s.add(Studio(application_id=app.id, name=name, leader_id=app.applicant_id, union_id=app.union_id,
                 named_on=today, plaque_on=app.plaque_on, status="active"))
    _move(s, app, Action.NAME, None, now, None,
          {"meeting": meeting_details(m), "studio_name": name, "date": app.plaque_on.isoformat()})


# --------------------------------------------------------------------------- who is told


async def concerned(s: AsyncSession, apps: Sequence[Application], admin_ids: frozenset[int] | set[int],
                    actor_id: int | None = None) -> dict[int, list[User]]:
    """Everyone concerned by each application's final outcome (by application id), each once: the applicant,
    the district/industry union's reviewers, the contact persons and the admins (not the person who recorded
    it: they see it on screen). The office's people and each union's reviewers are read once."""
    office_ids = [u.id for u in await repo.users_with_role(s, Role.CONTACT)] + sorted(admin_ids)
    reviewers: dict[int, list[int]] = {}
    people: dict[int, User | None] = {}
    out: dict[int, list[User]] = {}
    for app in apps:
        ids = [app.applicant_id]
        if app.union_id is not None:
            if app.union_id not in reviewers:
                reviewers[app.union_id] = [u.id for u in await repo.users_with_role(s, Role.DISTRICT, app.union_id)]
            ids += reviewers[app.union_id]
        found = []
        for uid in dict.fromkeys([*ids, *office_ids]):
            if uid == actor_id:
                continue
            if uid not in people:
                people[uid] = await s.get(User, uid)
            user = people[uid]
            if user is not None and user.blocked_at is None:
                found.append(user)
        out[app.id] = found
    return out
