"""The workflow table: statuses, who may move an application where, and what is recorded.

Handlers never decide a transition themselves; they call `find(action, status, role)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"  # waiting for the district/county or industry union (level 1)
    RETURNED_L1 = "returned_l1"  # returned for revision by level 1
    FORWARDED = "forwarded"  # approved at level 1, waiting for the city federation (level 2)
    INSPECTION_SCHEDULED = "inspection_scheduled"
    INSPECTED = "inspected"
    PRELIMINARY = "preliminary"  # preliminary opinion drafted, waiting for the presidents' meeting
    RETURNED_L2 = "returned_l2"  # returned for revision by the city federation
    APPROVED = "approved"  # named, materials archived by the federation (R-W4)
    REJECTED = "rejected"  # materials returned to the applying unit (R-W4)


class Role(StrEnum):
    APPLICANT = "applicant"
    DISTRICT = "district_reviewer"
    CITY = "city_reviewer"
    CONTACT = "contact"
    ADMIN = "admin"


class Action(StrEnum):
    SUBMIT = "submit"
    RESUBMIT = "resubmit"
    L1_APPROVE = "l1_approve"
    L1_RETURN = "l1_return"
    L1_REJECT = "l1_reject"
    SCHEDULE = "schedule"
    INSPECT = "inspect"
    PRELIMINARY = "preliminary"
    APPROVE = "approve"
    REJECT = "reject"
    RETURN = "return"


class Box(StrEnum):
    """The opinion boxes of the printed form (R-F8)."""

    UNIT = "unit"  # 申报单位意见
    UNION = "union"  # 申报工会意见
    DISTRICT = "district"  # 区市县、产业工会意见
    CITY = "city"  # 市总工会审核意见


class Opinion(StrEnum):
    NONE = "none"
    OPTIONAL = "optional"
    REQUIRED = "required"


class Step(StrEnum):
    """What a reviewer gives for a decision, one prompt each."""

    OPINION = "opinion"
    NAME = "name"  # 审定的工作室名称 (R-F8, R-W3)
    DATE = "date"  # the inspection date, or the plaque date (R-W3)
    REOPEN = "reopen"  # the sections a return reopens for the applicant


@dataclass(frozen=True)
class Transition:
    action: Action
    sources: frozenset[Status]
    target: Status
    role: Role
    opinion: Opinion = Opinion.NONE
    box: Box | None = None  # where the opinion goes on the printed form
    needs_date: bool = False  # inspection date or plaque date
    first_year_only_skip: bool = False
    # What the reviewer gives, in this order; `confirm`: everything is shown on one screen and recorded
    # only when confirmed there (approvals, returns, rejections and the naming).
    steps: tuple[Step, ...] = ()
    confirm: bool = False


S = Status
_CITY_OPEN = frozenset({S.FORWARDED, S.INSPECTION_SCHEDULED, S.INSPECTED, S.PRELIMINARY})

_O, _R = (Step.OPINION,), (Step.OPINION, Step.REOPEN)

TABLE: tuple[Transition, ...] = (
    Transition(Action.SUBMIT, frozenset({S.DRAFT}), S.SUBMITTED, Role.APPLICANT, box=Box.UNIT),
    Transition(Action.RESUBMIT, frozenset({S.RETURNED_L1}), S.SUBMITTED, Role.APPLICANT),
    Transition(Action.RESUBMIT, frozenset({S.RETURNED_L2}), S.FORWARDED, Role.APPLICANT),
    Transition(Action.L1_APPROVE, frozenset({S.SUBMITTED}), S.FORWARDED, Role.DISTRICT, Opinion.OPTIONAL,
               Box.DISTRICT, steps=_O, confirm=True),
    Transition(Action.L1_RETURN, frozenset({S.SUBMITTED}), S.RETURNED_L1, Role.DISTRICT, Opinion.REQUIRED,
               Box.DISTRICT, steps=_R, confirm=True),
    Transition(Action.L1_REJECT, frozenset({S.SUBMITTED}), S.REJECTED, Role.DISTRICT, Opinion.REQUIRED,
               Box.DISTRICT, steps=_O, confirm=True),
    Transition(Action.SCHEDULE, frozenset({S.FORWARDED, S.INSPECTION_SCHEDULED}), S.INSPECTION_SCHEDULED,
               Role.CITY, needs_date=True, steps=(Step.DATE,)),
    # R-W2: the findings of the on-site inspection and the preliminary opinion are the department's
    # assessment; they are printed in the 市总工会审核意见 box (bot.exports.docx_form), not a box of their own.
    Transition(Action.INSPECT, frozenset({S.INSPECTION_SCHEDULED}), S.INSPECTED, Role.CITY,
               Opinion.REQUIRED, steps=_O),
    Transition(Action.PRELIMINARY, frozenset({S.INSPECTED}), S.PRELIMINARY, Role.CITY, Opinion.REQUIRED,
               steps=_O),
    # R-D4: in a first-year season there is no inspection, so the preliminary opinion follows forwarding.
    Transition(Action.PRELIMINARY, frozenset({S.FORWARDED}), S.PRELIMINARY, Role.CITY, Opinion.REQUIRED,
               first_year_only_skip=True, steps=_O),
    Transition(Action.APPROVE, frozenset({S.PRELIMINARY}), S.APPROVED, Role.CITY, Opinion.OPTIONAL, Box.CITY,
               needs_date=True, steps=(Step.OPINION, Step.NAME, Step.DATE), confirm=True),
    Transition(Action.REJECT, _CITY_OPEN, S.REJECTED, Role.CITY, Opinion.REQUIRED, Box.CITY, steps=_O,
               confirm=True),
    Transition(Action.RETURN, _CITY_OPEN, S.RETURNED_L2, Role.CITY, Opinion.REQUIRED, Box.CITY, steps=_R,
               confirm=True),
)

LEVEL1_WAITING = frozenset({S.SUBMITTED})
LEVEL2_WAITING = _CITY_OPEN
EDITABLE = frozenset({S.DRAFT, S.RETURNED_L1, S.RETURNED_L2})
UNSUBMITTED = frozenset({S.DRAFT, S.RETURNED_L1})  # bound by the season's deadline (R-D1)
FINAL = frozenset({S.APPROVED, S.REJECTED})


class NotAllowed(Exception):
    """The table has no such move; `reason` is a locale key under `workflow.denied.`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def find(action: Action, status: Status, role: Role, *, first_year: bool = False) -> Transition:
    """The transition for `action` from `status` by `role`, or `NotAllowed` with the reason."""
    by_action = [t for t in TABLE if t.action is action]
    if not by_action:
        raise NotAllowed("unknown_action")
    if not any(t.role is role for t in by_action):
        raise NotAllowed("role")
    for t in by_action:
        if t.role is role and status in t.sources:
            if t.first_year_only_skip and not first_year:
                raise NotAllowed("inspection_required")
            return t
    raise NotAllowed("status")


def actions_for(status: Status, role: Role, *, first_year: bool = False) -> list[Action]:
    """Actions `role` may take now, in table order (for buttons)."""
    out: list[Action] = []
    for t in TABLE:
        if t.role is role and status in t.sources and t.action not in out:
            if t.first_year_only_skip and not first_year:
                continue
            out.append(t.action)
    return out


def of_action(action: Action) -> Transition:
    """The first transition of `action` (its steps and confirmation are the same in every row)."""
    return next(t for t in TABLE if t.action is action)


def level_of(status: Status) -> int:
    """1 or 2 for statuses waiting for a reviewer; 0 otherwise."""
    if status in LEVEL1_WAITING:
        return 1
    if status in LEVEL2_WAITING:
        return 2
    return 0
