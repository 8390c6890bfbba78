"""The workflow table on its own: every allowed and every forbidden transition, per role."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from bot.domain import workflow
from bot.domain.workflow import Action, NotAllowed, Role, Status, Step


def _rows_of(action: Action, role: Role) -> list[workflow.Transition]:
    return [t for t in workflow.TABLE if t.action is action and t.role is role]


@pytest.mark.parametrize("action,status,role", list(itertools.product(Action, Status, Role)))
def test_find_allows_exactly_the_declared_moves(action, status, role):
    """R-W1, R-W2: `find` allows a move only where a row of the table has it, for that row's role, and says
    why it refuses every other (the role, or the status)."""
    rows = [t for t in _rows_of(action, role) if status in t.sources]
    batch = any(t.batch for t in workflow.TABLE if t.action is action)
    if batch:  # the meeting's list moves these, never a card
        with pytest.raises(NotAllowed) as exc:
            workflow.find(action, status, role, first_year=True)
        assert exc.value.reason == "meeting"
    if rows:
        assert workflow.find(action, status, role, first_year=True, batch=batch) is rows[0]
        return
    with pytest.raises(NotAllowed) as exc:
        workflow.find(action, status, role, first_year=True, batch=batch)
    assert exc.value.reason == ("status" if _rows_of(action, role) else "role")


def test_every_status_is_reached_and_every_open_one_has_a_way_out():
    """R-W1…R-W4: from a draft every status can be reached; every status but the final ones is left by
    someone's action, and the final ones (named, not passed) by nobody's."""
    reached, todo = {Status.DRAFT}, [Status.DRAFT]
    while todo:
        here = todo.pop()
        for t in workflow.TABLE:
            if here in t.sources and t.target not in reached:
                reached.add(t.target)
                todo.append(t.target)
    assert reached == set(Status)
    assert workflow.FINAL == {Status.APPROVED, Status.REJECTED}
    for status in set(Status) - workflow.FINAL:
        assert any(status in t.sources for t in workflow.TABLE), status


def test_what_a_reopening_row_implies():
    """R-W1: every action that reopens sections needs its remark and is confirmed on one screen; the status it
    leads to is one the applicant edits and resubmits from, back to a reviewer; nothing else is editable."""
    assert workflow.REOPENING >= {Action.L1_RETURN, Action.RETURN, Action.SUPPLEMENT}
    for t in workflow.TABLE:
        if t.reopens:
            assert t.opinion is workflow.Opinion.REQUIRED and t.confirm
            back = [r for r in workflow.TABLE if r.role is Role.APPLICANT and t.target in r.sources]
            assert back and all(workflow.level_of(r.target) for r in back), t
    assert workflow.EDITABLE == {Status.DRAFT} | workflow.REOPENED
    assert workflow.UNSUBMITTED == {Status.DRAFT, Status.RETURNED_L1}  # R-D1: bound by the deadline


def test_rows_of_one_action_ask_the_same():
    """A decision's prompts and confirmation are the action's, whatever the status it is taken from."""
    for t in workflow.TABLE:
        first = workflow.of_action(t.action)
        assert (t.steps, t.confirm, t.opinion, t.box, t.role) == (first.steps, first.confirm, first.opinion,
                                                                  first.box, first.role), t.action


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
    assert workflow.find(Action.REJECT, Status.PRELIMINARY, Role.CITY).box is workflow.Box.CITY


def test_reasons():
    with pytest.raises(NotAllowed) as by_role:
        workflow.find(Action.REJECT, Status.PRELIMINARY, Role.DISTRICT)
    with pytest.raises(NotAllowed) as by_status:
        workflow.find(Action.REJECT, Status.SUBMITTED, Role.CITY)
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


RAW_KEY = re.compile(r"\b(?:action|news|status|review|box|section|workflow)\.[a-z_.]+\b")


async def _walk(bot, row: workflow.Transition, app_id: int, reviewer: int) -> None:
    """Take `row` as its reviewer would: the card's button, then each declared step, then the confirmation."""
    from bot.callbacks import ReviewAux, ReviewOp, ReviewSection
    from bot.domain import form
    from tests.test_review_flow import press_action, who

    user = who(bot, reviewer)
    mark = await press_action(bot, reviewer, row.action, app_id)
    for step in row.steps:
        shown = bot.request.texts(reviewer, since=mark)
        assert shown and not RAW_KEY.search(shown[-1]), (row.action, step, shown[-1:])
        if step is Step.OPINION:
            mark = await bot.text(user, f"{row.action.value} 的意见。")
        elif step is Step.DATE:
            mark = await bot.text(user, "2026-10-20")
        else:
            mark = await bot.press(user, ReviewSection(app_id, form.SECTIONS[-1]).encode())
    if row.confirm:
        op = ReviewOp.DEFAULT if row.reopens else ReviewOp.CONFIRM
        shown = bot.request.texts(reviewer, since=mark)
        assert shown and not RAW_KEY.search(shown[-1]), (row.action, shown[-1:])
        await bot.press(user, ReviewAux(op, app_id).encode())


async def test_every_reviewer_row_works_from_the_card_to_the_applicants_news(bot):
    """R-W1…R-W4: every row of the table a reviewer takes — from each status it leaves — is offered on the
    card, asks its steps in its own words, moves the application where the row says, and the applicant
    hears of it with the edit button when sections were reopened; no text shows a raw key."""
    from sqlalchemy import update

    from bot import notify
    from bot.callbacks import Review, Wiz, WizardOp
    from bot.views import review as views
    from storage.models import Application, Season
    from tests.offline import buttons
    from tests.test_review_flow import APPLICANT, CITY, DISTRICT, load, submitted

    app = await submitted(bot)
    t = bot.app.bot_data["services"].i18n.get("zh")
    only = os.environ.get("WALK_ONLY")  # the recipe's check below walks its new row alone
    rows = [r for r in workflow.TABLE if r.role is not Role.APPLICANT and not r.batch  # batch: test_meeting
            and only in (None, r.action.value)]
    for row in rows:
        if row.action is Action.INSPECT:  # the findings are recorded on or after the inspection's day
            bot.clock.advance(timedelta(days=120))
        for source in sorted(row.sources, reverse=True):  # offered in each status; taken from the last one
            async with bot.db.session() as s:
                await s.execute(update(Application).where(Application.id == app.id).values(status=source.value))
                await s.execute(update(Season).values(first_year=row.first_year_only_skip))
                await s.commit()
                data = await notify.card_data(s, await s.get(Application, app.id))
            _, markup = views.card(t, data, row.role)
            offered = [b.callback_data for line in markup.inline_keyboard for b in line]
            assert Review(row.action, app.id).encode() in offered, (row.action, source)
        mark = len(bot.request.calls)
        await _walk(bot, row, app.id, DISTRICT if row.role is Role.DISTRICT else CITY)
        assert (await load(bot)).status == row.target.value, row.action
        news = [p for n, p in bot.request.sent(APPLICANT, since=mark) if n == "sendMessage"]
        if row.internal:  # stays with the reviewers and the meeting
            assert not news, (row.action, news)
            continue
        assert news and not RAW_KEY.search(news[-1]["text"]), (row.action, news[-1:])
        edit = Wiz(app.id, WizardOp.RESUME).encode() in [d for _, d in buttons(news[-1])]
        assert edit is row.reopens, row.action


PROBE_ROW = """    Transition(Action.PROBE, frozenset({S.INSPECTED}), S.INSPECTED, Role.CITY, Opinion.REQUIRED,
               steps=_O, confirm=True),
)
"""
PROBE_LINES = {
    "zh": '[action]\nprobe = "补充核查"\n[news]\nprobe = "市总工会对申报 {number} 进行了补充核查。"\n'
          '[review]\nask_probe = "申报 {number}：{action}。\\n请输入核查情况："\n',
    "en": '[action]\nprobe = "extra check"\n[news]\nprobe = "The city federation checked application {number} again."\n'
          '[review]\nask_probe = "Application {number}: {action}.\\nType what the check found:"\n',
}


def _pytest(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                           "-o", "timeout=600", *args], cwd=root, capture_output=True, text=True, timeout=900,
                          env={**os.environ, **env})


@pytest.mark.timeout(900)
def test_a_review_action_added_by_the_recipe_is_taken_up_or_its_missing_lines_named(tmp_path):
    """R-W1, R-W2: the README's recipe on a copy of the code: a throwaway action declared in the table alone
    fails the locale test naming each missing line; with its lines, the card offers it, it prompts in its own
    words and the applicant is told (the walk over the table), and the attack suite tries it for every role."""
    root = Path(__file__).resolve().parent.parent
    for part in ("bot", "conversations", "storage", "locales", "tests"):
        shutil.copytree(root / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "alembic.ini"):
        if (root / name).exists():
            shutil.copy(root / name, tmp_path / name)
    declared = tmp_path / "bot" / "domain" / "workflow.py"
    text = declared.read_text()
    text = text.replace('    SUPPLEMENT = "supplement"', '    SUPPLEMENT = "supplement"\n    PROBE = "probe"', 1)
    head, tail = text.split("\n)\n\n\ndef waits_for", 1)
    declared.write_text(head + "\n" + PROBE_ROW + "\n\ndef waits_for" + tail)

    bare = _pytest(tmp_path, "tests/test_locales.py", "-k", "referenced_key_exists")
    assert bare.returncode != 0, bare.stdout[-2000:]
    for key in ("action.probe", "news.probe", "review.ask_probe"):
        assert key in bare.stdout, (key, bare.stdout[-2000:])

    for lang, lines in PROBE_LINES.items():
        (tmp_path / "locales" / lang / "probe.toml").write_text(lines)
    done = _pytest(tmp_path, "tests/test_locales.py", "tests/test_workflow.py", "tests/test_attacks.py", "-k",
                   "referenced_key_exists or reviewer_row or (every_review_action and sqlite)", WALK_ONLY="probe")
    assert done.returncode == 0, done.stdout[-3000:]
    assert "4 passed" in done.stdout, done.stdout[-1000:]


def test_the_assessment_is_the_last_rounds():
    """R-W2: the inspection's day, its findings and the preliminary opinion shown on the card, the meeting's
    list and the printed city box are those of the last round: any reopening (a return, a request for
    supplementary materials) starts a new one."""
    from types import SimpleNamespace as E

    trail = [E(action="schedule", details={"date": "2026-09-20"}, opinion=None, at=1),
             E(action="inspect", details=None, opinion="场地不足。", at=2),
             E(action="preliminary", details=None, opinion="暂缓。", at=3)]
    first = workflow.assessment(trail)
    assert first == workflow.Assessment("2026-09-20", "场地不足。", "暂缓。", 3)
    for reopening in workflow.REOPENING:
        again = [*trail, E(action=reopening.value, details=None, opinion="请补充。", at=4),
                 E(action="schedule", details={"date": "2026-11-02"}, opinion=None, at=5)]
        assert workflow.assessment(again) == workflow.Assessment(on="2026-11-02"), reopening
