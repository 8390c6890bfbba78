"""The applicant's journey through the wizard (R-F1…R-F7, R-M1…R-M5, R-E, R-D1)."""

from __future__ import annotations

from sqlalchemy import select

from bot.callbacks import WizardOp
from storage.models import Application, Attachment
from tests.apply_steps import fill_until_summary, tap_op


async def _app(bot, user_id: int) -> Application:
    async with bot.db.session() as s:
        return (await s.scalars(select(Application).where(Application.applicant_id == user_id))).one()


async def test_whole_application_is_stored_and_submitted(any_bot):
    """R-F1…R-F7, R-M1…R-M4: every field of the form is asked, stored, and the application submitted."""
    bot = any_bot
    u = bot.user(10)
    await fill_until_summary(bot, u)
    summary = bot.request.last(10)["text"]
    assert "王建国" in summary and "李明" in summary
    await tap_op(bot, u, WizardOp.SUBMIT)
    await tap_op(bot, u, WizardOp.CONFIRM)
    app = await _app(bot, 10)
    assert app.status == "submitted", bot.request.texts(10)[-3:]
    assert app.number == "2026-0001"
    assert app.application_date.isoformat() == "2026-07-10"
    a = app.answers
    assert a["leader_birth"] == "1975-03"
    assert a["area"] == 120.0
    assert a["funds"] == 500000
    assert a["equipment"] == ["数控机床", "三维扫描仪", "检测平台"]
    # sent in two messages: kept as two paragraphs
    assert a["achievements"] == "主持完成集装箱装卸工\n艺改造12项，获国家专利5项。"
    assert a["members"][0]["name"] == "李明" and a["members"][0]["gender"] == "female"
    async with bot.db.session() as s:
        atts = (await s.scalars(select(Attachment).where(Attachment.application_id == app.id))).all()
    assert sorted(x.field for x in atts) == ["photos", "photos", "photos", "recommendation"]
    for att in atts:
        assert (bot.settings.data_dir / att.stored_path).is_file()
        assert len(att.sha256) == 64
    assert any("2026-0001" in t for t in bot.request.texts(10)[-3:])
    # R-F9: the printable form comes with the receipt
    assert "sendDocument" in [n for n, _ in bot.request.sent(10)][-3:]
