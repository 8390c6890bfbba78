"""Every step of the wizard against wrong input, plus photos, albums, edits and the deadline."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bot.callbacks import WizardOp
from bot.domain import form
from storage.models import Application, Attachment
from tests.apply_steps import answer, fill_until_summary, png, tap_op

SH = ZoneInfo("Asia/Shanghai")


async def app_of(bot, uid: int) -> Application:
    async with bot.db.session() as s:
        return (await s.scalars(select(Application).where(Application.applicant_id == uid))).one()


async def goto_step(bot, u, key: str) -> None:
    """Fill in valid answers up to `key` (the step is then on screen)."""
    await bot.text(u, "/apply")
    for f in form.STEPS:
        if f.key == key:
            return
        await answer_validly(bot, u, f)


WRONG_KINDS = {
    "sticker": {"sticker": {"file_id": "s1", "file_unique_id": "su1", "width": 512, "height": 512,
                            "is_animated": False, "is_video": False, "type": "regular"}},
    "voice": {"voice": {"file_id": "v1", "file_unique_id": "vu1", "duration": 2}},
    "location": {"location": {"latitude": 38.9, "longitude": 121.6}},
    "contact": {"contact": {"phone_number": "82610410", "first_name": "梁"}},
}


async def test_every_step_answers_wrong_kinds_and_keeps_the_draft(bot):
    """A sticker, voice, location or contact at every step: a hint for the step; nothing changes."""
    u = bot.user(50)
    await bot.text(u, "/apply")
    seen = 0
    for f in form.STEPS:
        await assert_on_step(bot, u, f)
        before = await app_of(bot, 50)
        for kind, content in WRONG_KINDS.items():
            mark = await bot.send(u, **content)
            reply = bot.request.texts(50, since=mark)
            assert len(reply) == 1, (f.key, kind)
            assert reply[0].startswith("⚠️"), (f.key, kind, reply)
        after = await app_of(bot, 50)
        assert after.answers == before.answers and after.wizard.get("step") == f.key, f.key
        seen += 1
        await answer_validly(bot, u, f)
    assert seen == len(form.STEPS)
    app = await app_of(bot, 50)
    assert app.wizard.get("step") == "summary"


async def assert_on_step(bot, u, f) -> None:
    app = await app_of(bot, 50)
    assert app.wizard.get("step") == f.key, (app.wizard, f.key)


async def answer_validly(bot, u, f) -> None:
    """A valid answer for step `f`: its declared sample, given the way its kind is answered."""
    await answer(bot, u, f, seed=200)


async def test_invalid_values_get_reason_and_example(bot):
    """Wrong values are refused with what is wrong and an example; the step stays."""
    u = bot.user(51)
    await goto_step(bot, u, "leader_birth")
    mark = await bot.text(u, "三月")
    text = bot.request.texts(51, since=mark)[-1]
    assert "1975-03" in text
    mark = await bot.text(u, "2020-01")
    assert "18" in bot.request.texts(51, since=mark)[-1]
    assert (await app_of(bot, 51)).wizard["step"] == "leader_birth"
    await bot.text(u, "1975.3")
    app = await app_of(bot, 51)
    assert app.answers["leader_birth"] == "1975-03" and app.wizard["step"] == "leader_education"


async def test_too_long_name_and_text_where_buttons_are_wanted(bot):
    u = bot.user(52)
    await goto_step(bot, u, "leader_name")
    mark = await bot.text(u, "王" * 31)
    assert "30" in bot.request.texts(52, since=mark)[-1]
    await bot.text(u, "王建国")
    mark = await bot.text(u, "未知")  # gender is a button choice: a word that is none of them is refused
    assert (await app_of(bot, 52)).wizard["step"] == "leader_gender"
    assert "⚠️" in bot.request.texts(52, since=mark)[-1]
    await bot.text(u, "Male")  # a button's label typed counts as the button, in either language
    app = await app_of(bot, 52)
    assert app.answers["leader_gender"] == "male" and app.wizard["step"] == "leader_birth"


async def test_other_honour_is_typed(bot):
    """Highest honour: buttons, or free text via “other”."""
    u = bot.user(53)
    await goto_step(bot, u, "leader_honour")
    await tap_op(bot, u, WizardOp.OTHER)
    await bot.text(u, "辽宁省特等劳动模范")
    assert (await app_of(bot, 53)).answers["leader_honour"] == "辽宁省特等劳动模范"


async def test_photos_counter_sixth_refused_duplicate_refused_remove(bot):
    """R-M4: 3 to 5 photos, a counter, a sixth refused, the same picture refused, remove one."""
    u = bot.user(54)
    await goto_step(bot, u, "photos")
    mark = await bot.photo(u, png(1))
    assert "1/5" in bot.request.texts(54, since=mark)[-1]
    mark = await bot.photo(u, png(1))
    assert "⚠️" in bot.request.texts(54, since=mark)[-1]
    # fewer than three cannot continue: no Done button yet
    assert not any(d.split(":")[2] == "d" for _, d in bot.last_buttons(54) if d.startswith("f:"))
    await bot.document(u, png(2), "scan.png", "image/png")  # an image sent as a file counts
    for i in range(3, 6):
        await bot.photo(u, png(i))
    mark = await bot.photo(u, png(6))
    assert "5" in bot.request.texts(54, since=mark)[-1] and "⚠️" in bot.request.texts(54, since=mark)[-1]
    async with bot.db.session() as s:
        atts = (await s.scalars(select(Attachment).where(Attachment.field == "photos"))).all()
    assert len(atts) == 5 and len({a.sha256 for a in atts}) == 5
    mark = await tap_op(bot, u, WizardOp.FILE_DEL, str(atts[0].id))
    app = await app_of(bot, 54)
    async with bot.db.session() as s:
        assert len((await s.scalars(select(Attachment))).all()) == 4
        # the counts the wizard reads agree with the files stored
        stored = dict((await s.execute(select(Attachment.field, func.count()).where(
            Attachment.application_id == app.id).group_by(Attachment.field))).all())
        assert app.files == stored == {"photos": 4}
    assert "4/5" in bot.request.texts(54, since=mark)[-1]
    assert not (bot.settings.data_dir / atts[0].stored_path).exists()


async def test_album_is_one_upload_with_one_answer(bot):
    """R-M4: an album is collected and answered once."""
    u = bot.user(55)
    await goto_step(bot, u, "photos")
    mark = len(bot.request.calls)
    for i in range(4):
        await bot.photo(u, png(30 + i), media_group_id="album1")
    assert bot.request.texts(55, since=mark) == []
    await asyncio.sleep(0.6)
    texts = bot.request.texts(55, since=mark)
    assert len(texts) == 1 and "4/5" in texts[0]


async def test_album_over_the_limit_keeps_five_and_says_why(bot):
    u = bot.user(56)
    await goto_step(bot, u, "photos")
    mark = len(bot.request.calls)
    for i in range(7):
        await bot.photo(u, png(40 + i), media_group_id="album2")
    await asyncio.sleep(0.6)
    texts = bot.request.texts(56, since=mark)
    assert len(texts) == 1 and "5/5" in texts[0] and "⚠️" in texts[0]


async def test_document_of_wrong_type_refused(bot):
    """R-M2: PDF, DOC, DOCX or image; other files refused with the allowed types."""
    u = bot.user(57)
    await goto_step(bot, u, "recommendation")
    mark = await bot.document(u, b"MZ...", "virus.exe", "application/x-msdownload")
    assert "PDF" in bot.request.texts(57, since=mark)[-1]
    await bot.document(u, b"%PDF-1.4", "../../etc/passwd.pdf", "application/pdf")
    async with bot.db.session() as s:
        att = (await s.scalars(select(Attachment).where(Attachment.field == "recommendation"))).one()
    assert ".." not in att.stored_path and att.original_name == "passwd.pdf"
    assert (bot.settings.data_dir / att.stored_path).resolve().is_relative_to(bot.settings.data_dir.resolve())


async def test_too_big_file_gets_clear_message(bot):
    u = bot.user(58)
    await goto_step(bot, u, "recommendation")
    mark = await bot.send(u, document={"file_id": "big", "file_unique_id": "bigu", "file_name": "a.pdf",
                                       "mime_type": "application/pdf", "file_size": 30 * 1024 * 1024})
    assert "20" in bot.request.texts(58, since=mark)[-1]


async def test_back_keep_and_resume_after_cancel(bot):
    """Back goes to the previous step, Keep moves on without retyping, /apply resumes after /cancel."""
    u = bot.user(59)
    await goto_step(bot, u, "leader_gender")
    await tap_op(bot, u, WizardOp.BACK)
    assert (await app_of(bot, 59)).wizard["step"] == "leader_name"
    assert "王建国" in bot.request.last(59)["text"]
    await tap_op(bot, u, WizardOp.KEEP)
    assert (await app_of(bot, 59)).wizard["step"] == "leader_gender"
    await bot.text(u, "/cancel")
    mark = await bot.text(u, "/apply")
    assert (await app_of(bot, 59)).wizard["step"] == "leader_gender"
    assert "第" in bot.request.texts(59, since=mark)[-1]


async def test_progress_bar_is_shown(bot):
    u = bot.user(60)
    await bot.text(u, "/apply")
    assert f"第 1/{len(form.STEPS)} 步" in bot.request.texts(60)[-1]


async def test_ineligible_draft_cannot_be_submitted(bot):
    """R-E: a “no” explains the condition and R-W4's way forward; submission is refused."""
    u = bot.user(61)
    await bot.text(u, "/apply")
    await tap_op(bot, u, WizardOp.UNION)
    mark = await tap_op(bot, u, WizardOp.NO)
    assert "企事业级" in bot.request.texts(61, since=mark)[-1]
    app = await app_of(bot, 61)
    assert app.answers["elig_1"] is False and app.wizard["step"] == "elig_2"


async def test_late_submission_refused_with_rule(bot):
    """R-D1: after the deadline's day (local time) submission is refused with the date and the rule."""
    u = bot.user(62)
    await fill_until_summary(bot, u)
    bot.clock.set(datetime(2026, 8, 1, 0, 0, 1, tzinfo=SH))
    mark = await tap_op(bot, u, WizardOp.SUBMIT)
    text = bot.request.texts(62, since=mark)[-1]
    assert "2026-07-31" in text and "放弃" in text and "/apply" in text and "2027" in text
    assert (await app_of(bot, 62)).status == "draft"


async def test_last_minute_submission_accepted(bot):
    u = bot.user(63)
    await fill_until_summary(bot, u)
    bot.clock.set(datetime(2026, 7, 31, 23, 59, 0, tzinfo=SH))
    await tap_op(bot, u, WizardOp.SUBMIT)
    await tap_op(bot, u, WizardOp.CONFIRM)
    app = await app_of(bot, 63)
    assert app.status == "submitted" and app.application_date.isoformat() == "2026-07-31"


async def test_one_field_is_changed_from_the_summary_on_its_own(bot):
    """R-F4: from the summary a section offers its fields with their answers; the one picked is asked on
    its own and its answer leads straight back to the summary, the others untouched."""
    u = bot.user(64)
    await fill_until_summary(bot, u)
    before = (await app_of(bot, 64)).answers
    mark = await tap_op(bot, u, WizardOp.EDIT, "site")
    picker = bot.request.sent(64, since=mark)
    assert [n for n, _ in picker] == ["editMessageText"] and "面积" in picker[0][1]["text"]
    assert "120" in picker[0][1]["text"]
    await tap_op(bot, u, WizardOp.FIELD, "area")
    mark = await bot.text(u, "150")
    app = await app_of(bot, 64)
    assert app.wizard["step"] == "summary" and app.answers["area"] == 150.0
    assert {k: v for k, v in app.answers.items() if k != "area"} == {k: v for k, v in before.items() if k != "area"}
    assert "申报表" in bot.request.texts(64, since=mark)[-1]


async def test_members_edit_and_remove(bot):
    """R-F6: members can be listed, edited and removed; at least one is required."""
    u = bot.user(65)
    await goto_step(bot, u, "members")
    mark = await tap_op(bot, u, WizardOp.DONE) if any(
        d.startswith("f:") and ":d" in d for _, d in bot.last_buttons(65)) else None
    await tap_op(bot, u, WizardOp.MEMBER_ADD)
    for value in ("李明", None, "1985-06", None, None, "大连港", "设计"):
        if value is None:
            await tap_op(bot, u, WizardOp.CHOICE)
        else:
            await bot.text(u, value)
    await tap_op(bot, u, WizardOp.MEMBER_EDIT, "0")
    await tap_op(bot, u, WizardOp.MEMBER_FIELD, "name")
    await bot.text(u, "李明明")
    app = await app_of(bot, 65)
    assert app.answers["members"][0]["name"] == "李明明"
    await tap_op(bot, u, WizardOp.MEMBER_DEL, "0")
    app = await app_of(bot, 65)
    assert app.answers["members"] == []
    assert mark is None


async def test_one_application_per_season(bot):
    """R-W1: /apply after submitting names the application and says each unit applies once a season."""
    u = bot.user(66)
    await fill_until_summary(bot, u)
    await tap_op(bot, u, WizardOp.SUBMIT)
    await tap_op(bot, u, WizardOp.CONFIRM)
    mark = await bot.text(u, "/apply")
    assert "2026-0001" in bot.request.texts(66, since=mark)[-1]
    assert "每个年度只能申报一次" in bot.request.texts(66, since=mark)[-1]
    async with bot.db.session() as s:
        assert len((await s.scalars(select(Application))).all()) == 1
    mark = await bot.text(u, "/my")
    assert "2026-0001" in bot.request.texts(66, since=mark)[-1]


async def test_another_device_continues_the_same_draft(bot):
    """The draft lives in the database: a new chat session of the same account continues it."""
    u = bot.user(67)
    await goto_step(bot, u, "leader_gender")
    await bot.app.stop()
    await bot.app.shutdown()
    from tests.offline import make_harness

    h2 = await make_harness(bot.settings.data_dir, now=bot.clock.now())
    try:
        mark = await h2.text(h2.user(67), "/apply")
        assert "性别" in h2.request.texts(67, since=mark)[-1]
        await tap_op(h2, h2.user(67), WizardOp.CHOICE, "male")
        async with h2.db.session() as s:
            app = (await s.scalars(select(Application))).one()
        assert app.answers["leader_gender"] == "male" and app.answers["leader_name"] == "王建国"
    finally:
        await h2.app.stop()
        await h2.app.shutdown()
        await h2.db.dispose()
        await bot.app.initialize()
        await bot.app.start()
    _ = timedelta


async def test_album_answer_pending_at_a_crash_is_sent_after_restart(any_bot):
    """R-M4: an album whose single answer was still pending when the bot died is answered at start-up
    (the draft holding it is found by its JSON path, on SQLite and PostgreSQL)."""
    bot = any_bot
    from conversations.apply import recover_albums

    u = bot.user(68)
    await goto_step(bot, u, "photos")
    jq = bot.app.job_queue
    for i in range(3):
        await bot.photo(u, png(300 + i), media_group_id="album9")
    for job in jq.jobs():
        job.schedule_removal()  # as if the process had been killed before the job ran
    mark = len(bot.request.calls)
    assert await recover_albums(bot.app) == 1
    await bot.app.bot_data["services"].drain()
    texts = bot.request.texts(68, since=mark)
    assert len(texts) == 1 and "3/5" in texts[0]
    assert await recover_albums(bot.app) == 0


async def test_optional_video_is_accepted_and_stored(bot):
    """R-M4: a video where available; stored with size, type and SHA-256."""
    u = bot.user(69)
    await goto_step(bot, u, "video")
    data = b"\x00\x00\x00\x18ftypmp42video-bytes"
    fid = bot.add_file(data)
    await bot.send(u, video={"file_id": fid, "file_unique_id": "vid1", "width": 640, "height": 360,
                             "duration": 5, "mime_type": "video/mp4", "file_size": len(data)})
    async with bot.db.session() as s:
        att = (await s.scalars(select(Attachment).where(Attachment.field == "video"))).one()
    assert att.kind == "video" and att.size == len(data) and att.mime_type == "video/mp4"
    assert (bot.settings.data_dir / att.stored_path).read_bytes() == data
    assert (await app_of(bot, 69)).wizard["step"] == "recommendation"


async def test_complete_but_ineligible_application_is_refused(bot):
    """R-E, R-W4: a complete draft with a condition answered “no” cannot be submitted."""
    u = bot.user(70)
    await fill_until_summary(bot, u)
    await tap_op(bot, u, WizardOp.EDIT, "eligibility")
    await tap_op(bot, u, WizardOp.FIELD, "elig_2")
    mark = await tap_op(bot, u, WizardOp.NO)  # R-E2: no site and equipment
    # the summary says why at once, and offers neither the submit button nor the pledge
    text = bot.request.texts(70, since=mark)[-1]
    assert "⛔" in text and "企事业级" in text
    assert not [d for _, d in bot.last_buttons(70) if d.startswith("f:") and d.split(":")[2] in ("sub", "ok")]
    app = await app_of(bot, 70)
    from bot.callbacks import Wiz

    mark = await bot.press(u, Wiz(app.id, WizardOp.SUBMIT, None, "summary").encode())  # forged
    assert "企事业级" in bot.request.texts(70, since=mark)[-1]
    assert (await app_of(bot, 70)).wizard["step"] == "summary"
    assert (await app_of(bot, 70)).status == "draft"


async def test_incomplete_application_is_refused_with_missing_fields(bot):
    u = bot.user(71)
    await goto_step(bot, u, "achievements")
    await tap_op(bot, u, WizardOp.BACK)
    app = await app_of(bot, 71)
    assert app.status == "draft"
    from bot.callbacks import Wiz

    mark = await bot.press(u, Wiz(app.id, WizardOp.SUMMARY).encode())
    text = bot.request.texts(71, since=mark)[-1]
    assert "❗" in text and "主要工作成绩" in text  # what is missing, from the summary on
    assert not [d for _, d in bot.last_buttons(71) if d.startswith("f:") and d.split(":")[2] == "sub"]
    mark = await bot.press(u, Wiz(app.id, WizardOp.CONFIRM, None, "summary").encode())  # forged
    assert bot.request.alerts(since=mark)
    assert (await app_of(bot, 71)).status == "draft"
