"""What the office's screens are drawn from: the plain records and limits the services hand over (no
database access here, so views and web pages may import them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.domain.workflow import Role
from storage.models import Application, RoleGrant, Union, User

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
