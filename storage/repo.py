"""Repositories: queries and writes on a session the caller opened. They never commit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import bindparam, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from bot.domain.workflow import Role
from storage.db import RefCache
from storage.models import (
    Application,
    Attachment,
    AuditEvent,
    OpinionRecord,
    ReviewMessage,
    RoleGrant,
    Season,
    Union,
    User,
)

# The statements every update runs, built once (building one costs more than SQLite running it).
# the user, each current role and each application of theirs (rows: roles × applications, both few)
_USER_ROLES_APPLICATIONS = (
    select(User, RoleGrant.role, Application)
    .outerjoin(RoleGrant, (RoleGrant.user_id == User.id) & RoleGrant.revoked_at.is_(None))
    .outerjoin(Application, Application.applicant_id == User.id)
    .where(User.id == bindparam("uid"))
)
_APPLICATIONS_OF = (select(Application).where(Application.applicant_id == bindparam("uid"))
                    .order_by(Application.id.desc()))

T = TypeVar("T")


_ATTACHMENTS = select(Attachment).where(Attachment.application_id == bindparam("app")).order_by(Attachment.id)
_ATTACHMENTS_OF_FIELD = (select(Attachment).where(Attachment.application_id == bindparam("app"),
                                                  Attachment.field == bindparam("field")).order_by(Attachment.id))
_OPINIONS = select(OpinionRecord).where(OpinionRecord.application_id == bindparam("app")).order_by(OpinionRecord.id)
_OPEN_CARDS = (select(ReviewMessage).where(ReviewMessage.application_id == bindparam("app"),
                                           ReviewMessage.closed_at.is_(None)).order_by(ReviewMessage.id))
_HOLDERS = (select(User).join(RoleGrant, RoleGrant.user_id == User.id)
            .where(RoleGrant.role == bindparam("role"), RoleGrant.revoked_at.is_(None)))
_HOLDERS_ANY_UNION = _HOLDERS.order_by(User.id).distinct()
_HOLDERS_OF_UNION = _HOLDERS.where(RoleGrant.union_id == bindparam("union")).order_by(User.id).distinct()

async def upsert_user(
    s: AsyncSession,
    user_id: int,
    first_name: str,
    last_name: str | None,
    username: str | None,
    language_code: str | None,
    now: datetime,
) -> User:
    user = await s.get(User, user_id)
    if user is None:
        return await _new_user(s, user_id, first_name, last_name, username, language_code, now)
    _refresh(user, first_name, last_name, username, language_code)
    return user


async def _new_user(s: AsyncSession, user_id: int, first_name: str, last_name: str | None, username: str | None,
                    language_code: str | None, now: datetime) -> User:
    user = User(id=user_id, first_name=first_name or "", last_name=last_name, username=username,
                language_code=language_code, created_at=now)
    s.add(user)
    await s.flush()
    return user


def _refresh(user: User, first_name: str, last_name: str | None, username: str | None,
             language_code: str | None) -> None:
    """Telegram's current name and language; a message from the user also means they are reachable."""
    if (user.first_name, user.last_name, user.username, user.language_code) != (
        first_name or "", last_name, username, language_code
    ):
        user.first_name, user.last_name = first_name or "", last_name
        user.username, user.language_code = username, language_code
    if user.blocked_at is not None:
        user.blocked_at = None


async def user_and_roles(s: AsyncSession, user_id: int, first_name: str, last_name: str | None,
                         username: str | None, language_code: str | None, now: datetime,
                         admin_ids: frozenset[int]) -> tuple[User, set[Role], list[Application]]:
    """The user's row (created or refreshed), current roles and applications (newest first, as
    `applications_of`), in one query for a known user: nearly every update needs all three. Where the
    database holds people (`RefCache`, see `keep_user`) a held entry is put into the session instead."""
    held = _held_person(s, user_id)
    if held is not None:
        user, roles, apps = held
        _refresh(user, first_name, last_name, username, language_code)
        if user_id in admin_ids:
            roles.add(Role.ADMIN)
        return user, roles, apps
    rows = (await s.execute(_USER_ROLES_APPLICATIONS, {"uid": user_id})).all()
    if not rows:  # someone new: the query's outer join found no row of theirs at all
        user = await _new_user(s, user_id, first_name, last_name, username, language_code, now)
        return user, ({Role.ADMIN} if user_id in admin_ids else set()), []
    user = rows[0][0]
    roles = {Role(r) for _, r, _ in rows if r is not None}
    apps = sorted({a.id: a for _, _, a in rows if a is not None}.values(), key=lambda a: -a.id)
    _refresh(user, first_name, last_name, username, language_code)
    if user_id in admin_ids:
        roles.add(Role.ADMIN)
    return user, roles, apps


def keep_user(s: AsyncSession, user: User, roles: set[Role], apps: Sequence[Application]) -> None:
    """After `s` committed: hold the person as committed (their row, roles, applications) for the next
    session, unless `s` added or removed one of their applications or changed their roles."""
    refs = _refs(s)
    if refs is None or not refs.holds("people"):
        return
    for row in (user, *apps):
        state = sa_inspect(row)
        if not state.persistent or state.expired_attributes:
            return
    refs.keep(user.id, (_values(user), frozenset(roles), tuple(_values(a) for a in apps)))


def _values(row: Any) -> dict[str, Any]:
    """A row's columns, its JSON values copied (nothing a session changes in place reaches the cache)."""
    return {a.key: _own(getattr(row, a.key)) for a in sa_inspect(type(row)).column_attrs}


def _own(value: Any) -> Any:
    """A copy of a JSON value, dicts and lists copied all the way down (a third of what a generic deep
    copy, with its memo of every object, costs for the answers every update carries)."""
    kind = type(value)
    if kind is dict:
        return {k: _own(v) if type(v) in _NESTED else v for k, v in value.items()}
    if kind is list:
        return [_own(v) if type(v) in _NESTED else v for v in value]
    return value


_NESTED = (dict, list)


def _held_person(s: AsyncSession, user_id: int) -> tuple[User, set[Role], list[Application]] | None:
    """The person held by the database's cache, put into `s` as rows loaded unchanged; None when not
    held (or when `s` has one of their rows already)."""
    refs = _refs(s)
    if refs is None or not refs.holds("people"):
        return None
    held = refs.get("people", user_id)
    if held is None:
        return None
    user_values, roles, app_values = held
    user = _detached(User, _own(user_values))
    apps = [_detached(Application, _own(v)) for v in app_values]
    if any(AsyncSession.identity_key(instance=row) in s.identity_map for row in (user, *apps)):
        return None
    s.add_all([user, *apps])
    return user, set(roles), apps


def _detached(model: type[T], values: dict[str, Any]) -> T:
    """A row of `model` with these column values (taken as they are), belonging to no session."""
    row = model(**values)
    make_transient_to_detached(row)
    return row


async def roles_of(s: AsyncSession, user_id: int, admin_ids: frozenset[int]) -> set[Role]:
    rows = await s.scalars(
        select(RoleGrant.role).where(RoleGrant.user_id == user_id, RoleGrant.revoked_at.is_(None))
    )
    roles = {Role(r) for r in rows}
    if user_id in admin_ids:
        roles.add(Role.ADMIN)
    return roles


async def reviewer_unions(s: AsyncSession, user_id: int) -> set[int]:
    rows = await s.scalars(
        select(RoleGrant.union_id).where(
            RoleGrant.user_id == user_id,
            RoleGrant.role == Role.DISTRICT.value,
            RoleGrant.revoked_at.is_(None),
        )
    )
    return {r for r in rows if r is not None}


async def users_with_role(s: AsyncSession, role: Role, union_id: int | None = None) -> Sequence[User]:
    """People holding `role`; district reviewers only of `union_id`."""
    if role is Role.DISTRICT:
        return (await s.scalars(_HOLDERS_OF_UNION, {"role": role.value, "union": union_id})).all()
    return (await s.scalars(_HOLDERS_ANY_UNION, {"role": role.value})).all()


# ---------------------------------------------------------------- seasons and unions (held between sessions)
# Nearly every update reads its season and the unions; an administrator changes them rarely. They are
# read through the database's `RefCache` (`storage.db`), which any write to their tables empties.


def _refs(s: AsyncSession) -> RefCache | None:
    refs = s.info.get("refs")
    return refs if isinstance(refs, RefCache) else None


def _detached_copy(row: T) -> T:
    """A copy of `row` belonging to no session (what the cache holds: a session's rows change with it)."""
    return _detached(type(row), _values(row))


async def _unions(s: AsyncSession) -> tuple[Union, ...]:
    refs = _refs(s)
    found = refs.get("unions", None) if refs is not None else None
    if found is None:
        found = tuple((await s.scalars(_UNIONS)).all())
        if refs is not None:
            found = tuple(_detached_copy(u) for u in found)
            refs.put("unions", None, found)
    return found


async def active_unions(s: AsyncSession) -> Sequence[Union]:
    """The unions applicants may choose, to show (rows of no session: to change one, `get_union`)."""
    return [u for u in await _unions(s) if u.active]


async def all_unions(s: AsyncSession) -> Sequence[Union]:
    """Every union (kind, sort order), to show (rows of no session: to change one, `get_union`)."""
    return await _unions(s)


_UNIONS = select(Union).order_by(Union.kind, Union.sort, Union.id)


async def union_of(s: AsyncSession, union_id: int | None) -> Union | None:
    """One union, to show (a row of no session; to change it, `get_union`)."""
    if union_id is None:
        return None
    return next((u for u in await _unions(s) if u.id == union_id), None)


async def unions_for_display(s: AsyncSession) -> tuple[Union, ...]:
    """All unions (kind, sort order), to show and to check a choice against."""
    return await _unions(s)


async def season(s: AsyncSession, year: int) -> Season | None:
    """The season of `year`, in this session (changes to it are written with the session)."""
    key = AsyncSession.identity_key(Season, year)
    own = s.identity_map.get(key)
    if own is not None:
        return own
    refs = _refs(s)
    held = refs.get("seasons", year) if refs is not None else None
    if held is not None:
        return await s.merge(held, load=False)
    found = await s.get(Season, year)
    if found is not None and refs is not None:
        refs.put("seasons", year, _detached_copy(found))
    return found


async def ensure_season(s: AsyncSession, year: int) -> Season:
    """The season of `year`, created with the federation's default dates when missing (R-D1…R-D3)."""
    found = await season(s, year)
    if found is None:
        found = Season(year=year, opens_on=date(year, 7, 1), deadline=date(year, 7, 31),
                       review_starts=date(year, 9, 15), naming_by=date(year, 12, 20), first_year=False,
                       last_number=0)
        s.add(found)
        await s.flush()
    return found


async def next_number(s: AsyncSession, year: int) -> str:
    """The next application number of the season, e.g. `2026-0007` (atomic increment)."""
    n = (await s.execute(update(Season).where(Season.year == year).values(last_number=Season.last_number + 1)
                         .returning(Season.last_number))).scalar_one()
    return f"{year}-{n:04d}"


async def application_of(s: AsyncSession, applicant_id: int, year: int) -> Application | None:
    return await s.scalar(
        select(Application).where(Application.applicant_id == applicant_id, Application.season_year == year)
    )


async def applications_of(s: AsyncSession, applicant_id: int) -> Sequence[Application]:
    return (await s.scalars(_APPLICATIONS_OF, {"uid": applicant_id})).all()


async def get_application(s: AsyncSession, app_id: int) -> Application | None:
    return await s.get(Application, app_id)


async def by_ids(s: AsyncSession, model: type[T], ids: Iterable[int]) -> dict[int, T]:
    """Rows of `model` by primary key, in one query."""
    wanted = set(ids)
    if not wanted:
        return {}
    rows = (await s.scalars(select(model).where(model.id.in_(wanted)))).all()  # type: ignore[attr-defined]
    return {r.id: r for r in rows}  # type: ignore[attr-defined]


async def attachments(s: AsyncSession, app_id: int, field: str | None = None) -> Sequence[Attachment]:
    """The files of an application (of one field: rows of this session, to remove one); all of them
    may be rows of no session, held by the database's `RefCache` where it holds files (to show)."""
    if field:
        return (await s.scalars(_ATTACHMENTS_OF_FIELD, {"app": app_id, "field": field})).all()
    refs = _refs(s)
    if refs is None or not refs.holds("attachments") or _changing(s, Attachment):
        return (await s.scalars(_ATTACHMENTS, {"app": app_id})).all()
    held = refs.get("attachments", app_id)
    if held is None:
        rows = (await s.scalars(_ATTACHMENTS, {"app": app_id})).all()
        held = tuple(_detached_copy(a) for a in rows)
        refs.put("attachments", app_id, held)
    return held


def _changing(s: AsyncSession, model: type) -> bool:
    """Whether the session holds changes to rows of `model` not yet flushed (a read must see them)."""
    return any(isinstance(o, model) for o in (*s.new, *s.deleted, *s.dirty))


def audit(
    s: AsyncSession,
    at: datetime,
    action: str,
    *,
    application_id: int | None = None,
    actor_id: int | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    opinion: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    s.add(AuditEvent(application_id=application_id, actor_id=actor_id, action=action, from_status=from_status,
                     to_status=to_status, opinion=opinion, details=details, at=at))


async def audit_trail(s: AsyncSession, app_id: int) -> Sequence[AuditEvent]:
    return (
        await s.scalars(select(AuditEvent).where(AuditEvent.application_id == app_id).order_by(AuditEvent.id))
    ).all()


async def opinions(s: AsyncSession, app_id: int) -> Sequence[OpinionRecord]:
    return (await s.scalars(_OPINIONS, {"app": app_id})).all()


async def last_transition(s: AsyncSession, app_id: int) -> AuditEvent | None:
    """The latest move of the application (an audit event that changed its status)."""
    return await s.scalar(select(AuditEvent).where(AuditEvent.application_id == app_id,
                                                   AuditEvent.to_status.is_not(None))
                          .order_by(AuditEvent.id.desc()).limit(1))


async def open_cards(s: AsyncSession, app_id: int) -> Sequence[ReviewMessage]:
    """The reviewers' cards of an application whose buttons are still live."""
    return (await s.scalars(_OPEN_CARDS, {"app": app_id})).all()


async def get_user(s: AsyncSession, user_id: int) -> User | None:
    return await s.get(User, user_id)


# --------------------------------------------------------------------------- administration (/admin)


async def get_union(s: AsyncSession, union_id: int) -> Union | None:
    return await s.get(Union, union_id)


async def claim_invitation(s: AsyncSession, code: str, user_id: int, now: datetime) -> bool:
    """Mark an unused invitation used by `user_id`; False when someone else got there first.

    A conditional UPDATE, so of two concurrent claims only one changes the row.
    """
    from storage.models import Invitation

    result = await s.execute(
        update(Invitation)
        .where(Invitation.code == code, Invitation.used_by.is_(None))
        .values(used_by=user_id, used_at=now)
        .execution_options(synchronize_session=False)
    )
    return (result.rowcount or 0) == 1  # type: ignore[attr-defined]


async def active_grants(
    s: AsyncSession, role: Role | None = None, user_id: int | None = None
) -> Sequence[RoleGrant]:
    """Role grants not revoked, oldest first; optionally of one role and/or one user."""
    q = select(RoleGrant).where(RoleGrant.revoked_at.is_(None))
    if role is not None:
        q = q.where(RoleGrant.role == role.value)
    if user_id is not None:
        q = q.where(RoleGrant.user_id == user_id)
    return (await s.scalars(q.order_by(RoleGrant.id))).all()


async def get_grant(s: AsyncSession, grant_id: int) -> RoleGrant | None:
    return await s.get(RoleGrant, grant_id)
