"""What the office's screens are drawn from: the plain records and limits the services hand over (no
database access here, so views and web pages may import them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from bot.domain.workflow import Role
from storage.models import Application, Meeting, Objection, RoleGrant, Union, User

# administration
NAME_MAX = 50
NOTICE_MAX = 30  # working days of the public notice
INVITABLE: tuple[Role, ...] = (Role.DISTRICT, Role.CITY, Role.CONTACT)
UNION_KINDS: tuple[str, ...] = ("district", "industry")
SEASON_FIELDS: tuple[str, ...] = ("opens_on", "deadline", "review_starts", "naming_by")
CONTACT_FIELDS: tuple[str, ...] = ("name", "phone", "email")


@dataclass(frozen=True)
class Person:
    grant: RoleGrant
    user: User
    union: Union | None


@dataclass(frozen=True)
class Contact:
    """The person applicants are told to ask (附件2 五 2): any part may be unset."""

    name: str | None = None
    phone: str | None = None
    email: str | None = None

    @property
    def known(self) -> bool:
        return bool(self.name or self.phone or self.email)


# the overview


@dataclass(frozen=True)
class Filter:
    """Which applications a list shows: of a status, of a union (None: any)."""

    status: str | None = None
    union_id: int | None = None


@dataclass
class Counts:
    """A season's applications counted by status and union (drafts included: they are the season's too)."""

    year: int
    total: int = 0
    by_status: list[tuple[str, int]] = field(default_factory=list)  # in the workflow's order
    by_union: list[tuple[Union | None, int]] = field(default_factory=list)  # the unions' order; None: not chosen
    cells: dict[tuple[int | None, str], int] = field(default_factory=dict)  # (union id, status) → n


@dataclass
class Listing:
    """One page of a filtered list."""

    items: list[Application]
    total: int
    page: int
    pages: int
    first: int  # the list's number of the page's first item


# the meeting and the notice

KINDS: tuple[str, ...] = ("president", "standing")  # 主席办公会, 常委会
KIND_ZH = {"president": "主席办公会", "standing": "常委会"}
OUTCOMES: tuple[str, ...] = ("approve", "reject", "defer")
MINUTE_MAX = 40
REASON_MAX = 500
STUDIO_NAME_MIN, STUDIO_NAME_MAX = 2, 100  # an approved studio's name
OBJECTION_MAX = 1000


@dataclass
class Candidate:
    """One entry of the meeting's list, with what the meeting papers show."""

    app: Application
    union: str
    leader: str
    unit: str
    name: str  # the proposed studio name
    district: str  # the district/industry union's opinion
    findings: str
    inspected_on: str
    preliminary: str

@dataclass
class Decisions:
    """What the meeting decided: its date, kind and minute number, each candidate's outcome (by application
    id: approve, reject or defer), the reason of each rejection, the name of each approved studio."""

    held_on: date
    kind: str
    minute_no: str
    outcomes: Mapping[int, str]
    reasons: Mapping[int, str] = field(default_factory=dict)
    names: Mapping[int, str] = field(default_factory=dict)

@dataclass
class Notice:
    """The notice period that follows a meeting: its first and last day, and the naming date."""

    first: date | None
    last: date | None
    naming: date

@dataclass
class Entry:
    """An entry of the approved list: the application, its meeting and its objections."""

    app: Application
    meeting: Meeting
    objections: list[Objection]

    @property
    def open_objections(self) -> list[Objection]:
        return [o for o in self.objections if o.decision is None]
