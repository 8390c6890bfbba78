"""The workflow table on its own: every allowed and every forbidden transition, per role."""

from __future__ import annotations

import itertools

import pytest

from bot.domain import workflow
from bot.domain.workflow import Action, NotAllowed, Role, Status

ALLOWED = {
    # (action, from, role): to
    (Action.SUBMIT, Status.DRAFT, Role.APPLICANT): Status.SUBMITTED,
    (Action.RESUBMIT, Status.RETURNED_L1, Role.APPLICANT): Status.SUBMITTED,
    (Action.RESUBMIT, Status.RETURNED_L2, Role.APPLICANT): Status.FORWARDED,
    (Action.L1_APPROVE, Status.SUBMITTED, Role.DISTRICT): Status.FORWARDED,
    (Action.L1_RETURN, Status.SUBMITTED, Role.DISTRICT): Status.RETURNED_L1,
    (Action.L1_REJECT, Status.SUBMITTED, Role.DISTRICT): Status.REJECTED,
    (Action.SCHEDULE, Status.FORWARDED, Role.CITY): Status.INSPECTION_SCHEDULED,
    (Action.SCHEDULE, Status.INSPECTION_SCHEDULED, Role.CITY): Status.INSPECTION_SCHEDULED,
    (Action.INSPECT, Status.INSPECTION_SCHEDULED, Role.CITY): Status.INSPECTED,
    (Action.PRELIMINARY, Status.INSPECTED, Role.CITY): Status.PRELIMINARY,
    (Action.APPROVE, Status.PRELIMINARY, Role.CITY): Status.APPROVED,
    **{(Action.REJECT, s, Role.CITY): Status.REJECTED for s in workflow.LEVEL2_WAITING},
    **{(Action.RETURN, s, Role.CITY): Status.RETURNED_L2 for s in workflow.LEVEL2_WAITING},
}


@pytest.mark.parametrize("action,status,role", list(itertools.product(Action, Status, Role)))
def test_every_transition(action, status, role):
    """R-W1, R-W2: exactly the listed moves are allowed, for exactly those roles."""
    expected = ALLOWED.get((action, status, role))
    if expected is None:
        with pytest.raises(NotAllowed):
            workflow.find(action, status, role)
    else:
        assert workflow.find(action, status, role).target is expected


def test_first_year_skips_inspection():
    """R-D4: in the first year the preliminary opinion may follow forwarding directly."""
    with pytest.raises(NotAllowed) as exc:
        workflow.find(Action.PRELIMINARY, Status.FORWARDED, Role.CITY)
    assert exc.value.reason == "inspection_required"
    t = workflow.find(Action.PRELIMINARY, Status.FORWARDED, Role.CITY, first_year=True)
    assert t.target is Status.PRELIMINARY
    assert Action.PRELIMINARY in workflow.actions_for(Status.FORWARDED, Role.CITY, first_year=True)
    assert Action.PRELIMINARY not in workflow.actions_for(Status.FORWARDED, Role.CITY)


def test_opinions_required_for_return_and_reject_and_boxes():
    """R-F8: decisions fill the district and city opinion boxes; return and reject need an opinion."""
    for t in workflow.TABLE:
        if t.target in (Status.REJECTED, Status.RETURNED_L1, Status.RETURNED_L2) and t.role is not Role.APPLICANT:
            assert t.opinion is workflow.Opinion.REQUIRED
    assert workflow.find(Action.L1_APPROVE, Status.SUBMITTED, Role.DISTRICT).box is workflow.Box.DISTRICT
    assert workflow.find(Action.APPROVE, Status.PRELIMINARY, Role.CITY).box is workflow.Box.CITY


def test_reasons():
    with pytest.raises(NotAllowed) as by_role:
        workflow.find(Action.APPROVE, Status.PRELIMINARY, Role.DISTRICT)
    with pytest.raises(NotAllowed) as by_status:
        workflow.find(Action.APPROVE, Status.SUBMITTED, Role.CITY)
    assert (by_role.value.reason, by_status.value.reason) == ("role", "status")


def test_final_statuses_have_no_way_out():
    for status in workflow.FINAL:
        for role in Role:
            assert workflow.actions_for(status, role) == []


def test_domain_has_no_telegram_imports():
    """The domain (form, workflow, calendar, values, render) and services never import Telegram."""
    import pathlib

    root = pathlib.Path(__file__).resolve().parent.parent / "bot"
    for path in [*(root / "domain").glob("*.py"), *(root / "services").glob("*.py")]:
        text = path.read_text()
        assert "import telegram" not in text and "from telegram" not in text, path
