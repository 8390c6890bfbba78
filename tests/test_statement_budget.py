"""Statements per wizard answer: a budget counted, not timed, so a slower step cannot creep back in."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from telegram import Update

from tests.apply_steps import fill_until_summary
from tests.offline import Harness

# The most SQL statements the handling of one answer of the form (a typed answer or a press: its
# transaction, the conversation state) may run, counted with SQLAlchemy's before_cursor_execute, and the
# average over the whole form. The delivery of the reply afterwards (the sender's marks) is not counted
# here. Raise a figure only with the reason written next to it.
PER_ANSWER = 4  # BEGIN, the draft's UPDATE, the effects' INSERT, and the draft's files (a step showing
#                 them after one was added) or the conversation state when it moves
PER_ANSWER_TELLING_OTHERS = 12  # an answer that also tells other people (the chosen union's reviewers):
#                                 who they are, their language, the reminder it schedules
PER_ANSWER_AVERAGE = 3.4
# a new person's /apply, in one transaction: BEGIN; the person looked up once and inserted; the season;
# the draft and its first trail line; the unions offered; the conversation state and the waiting slot
# (written with the rest, not in a transaction of their own); the reply's effects
FIRST_APPLY = 10


async def test_form_answers_stay_within_the_statement_budget(bot: Harness) -> None:
    """R-F1…R-F9: each answer of the application form (typed or pressed) runs at most `PER_ANSWER`
    statements (`PER_ANSWER_TELLING_OTHERS` when it also tells other people), `PER_ANSWER_AVERAGE` on
    average over the whole form; the season and the unions, read by every step, and the applicant with
    their roles and applications, come from the cache held by the database rather than from a query per
    update."""
    seen: list[str] = []
    handled: list[tuple[str, list[str], bool]] = []
    applicant = bot.user(4242)

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(" ".join(statement.split()))

    async def counted(payload: dict[str, Any]) -> int:
        mark = len(bot.request.calls)
        payload = {"update_id": next(bot._uid), **payload}
        seen.clear()
        await bot.app.process_update(Update.de_json(payload, bot.app.bot))
        what = "press" if "callback_query" in payload else next(
            (k for k in ("photo", "document") if k in payload["message"]), "text")
        own = list(seen)
        await bot.app.bot_data["services"].drain()
        others = any(int(p.get("chat_id") or applicant["id"]) != applicant["id"] for _, p in bot.request.calls[mark:])
        handled.append((what, own, others))
        return mark

    bot.feed = counted  # type: ignore[method-assign]
    event.listen(bot.db.engine.sync_engine, "before_cursor_execute", count)
    try:
        await fill_until_summary(bot, applicant)
    finally:
        event.remove(bot.db.engine.sync_engine, "before_cursor_execute", count)

    # the first update (/apply) creates the user and the draft, and reads the season and the unions
    what, first, _ = handled[0]
    assert len(first) <= FIRST_APPLY and sum(s == "BEGIN IMMEDIATE" or s == "BEGIN" for s in first) <= 1, \
        "\n".join([f"/apply: {len(first)} statements", *first])
    assert sum(s.startswith("SELECT users.id") for s in first) == 1, first
    assert sum(s.startswith("INSERT INTO ptb_state") for s in first) == 2, first
    answers = [(what, stmts, others) for what, stmts, others in handled[1:] if what in ("text", "press")]
    assert len(answers) > 30
    for what, stmts, others in answers:
        budget = PER_ANSWER_TELLING_OTHERS if others else PER_ANSWER
        assert len(stmts) <= budget, "\n".join([f"{what}: {len(stmts)} statements", *stmts])
    average = sum(len(s) for _, s, _ in answers) / len(answers)
    assert average <= PER_ANSWER_AVERAGE, f"{average:.2f} statements per answer"
    cached = [s for _, stmts, _ in answers for s in stmts if "FROM seasons" in s or "SELECT unions" in s and
              "WHERE unions.id" not in s]
    assert cached == [], cached
    # the applicant is read once after /apply created them (a new row is not held), then held
    person = [what for what, stmts, _ in answers if any(s.startswith("SELECT users.id") for s in stmts)]
    assert len(person) <= 1, person
