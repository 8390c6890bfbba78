"""Operating the bot safely: the token redacted (and only the token), start-up retries, the instance lock,
permissions, uploaded files checked by content, the pledge enforced and recorded, unreadable updates
skipped, R-W4 materials returned and removed, and `doctor`."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import stat
import zipfile
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from telegram.error import NetworkError

from bot import doctor, files, ingress, lock, logs, returns, startup
from bot.callbacks import Wiz, WizardOp
from bot.config import Settings
from bot.services import retention
from storage.models import Application, Attachment, AuditEvent
from tests.apply_steps import fill_until_summary, png, tap_op
from tests.conftest import JULY_10, SH
from tests.databases import databases
from tests.offline import TOKEN, Harness

# --------------------------------------------------------------------------- the token


def test_redaction_matches_the_whole_token_only():
    """A short token does not eat letters of other words; the token is found in URLs, percent-encoded, and in
    tracebacks of third-party exceptions."""
    short = logs.Redactor("1:nv")
    assert short("alembic.env 1:nvx 21:nv") == "alembic.env 1:nvx 21:nv"
    assert short("token 1:nv here") == f"token {logs.REDACTED} here"
    r = logs.Redactor("123456:ABC-def_xyz")
    assert r("GET https://api/bot123456:ABC-def_xyz/getMe") == f"GET https://api/bot{logs.REDACTED}/getMe"
    assert r("url bot123456%3AABC-def_xyz/x") == f"url bot{logs.REDACTED}/x"
    handler_out = io.StringIO()
    handler = logging.StreamHandler(handler_out)
    handler.setFormatter(logs.RedactingFormatter(r))
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    try:
        try:
            raise RuntimeError("The token `123456:ABC-def_xyz` was rejected by the server.")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    text = handler_out.getvalue()
    assert "Traceback" in text and "ABC-def_xyz" not in text and logs.REDACTED in text


def test_a_token_of_the_wrong_shape_is_refused_without_echoing_it(tmp_path):
    from bot.config import ConfigError, load_settings

    with pytest.raises(ConfigError) as err:
        load_settings(bot_token="nv", data_dir=tmp_path)
    assert "BOT_TOKEN" in err.value.lines[0] and "nv" not in err.value.lines[0].split(":", 1)[1].replace(
        "does not look", "")


# --------------------------------------------------------------------------- start-up


async def test_unreachable_bot_api_is_retried_with_back_off_one_line_each(tmp_path, caplog):
    """A network that is down at start is retried (1, 2, 4 … s), one line per attempt; with
    STARTUP_RETRY_SECONDS the bot gives up with its own exit code."""
    settings = Settings(bot_token=TOKEN, data_dir=tmp_path)
    calls, slept = [], []

    async def init() -> None:
        calls.append(1)
        if len(calls) < 4:
            raise NetworkError("connection refused")

    async def sleep(s: float) -> None:
        slept.append(s)

    with caplog.at_level(logging.WARNING, logger="bot.startup"):
        await startup.connect_bot(init, settings, sleep=sleep)
    assert len(calls) == 4 and slept == [1, 2, 4]
    assert len([r for r in caplog.records if "retrying" in r.getMessage()]) == 3

    limited = Settings(bot_token=TOKEN, data_dir=tmp_path, startup_retry_seconds=5)

    async def never() -> None:
        raise NetworkError("down")

    with pytest.raises(startup.StartupFault) as fault:
        await startup.connect_bot(never, limited, sleep=sleep)
    assert fault.value.code == startup.EXIT_NETWORK and "BOT_API_URL" in fault.value.line


def test_data_dir_and_database_files_are_closed_to_others(tmp_path):
    """DATA_DIR 0700, the database file 0600, even when they were made open before."""
    d = tmp_path / "data"
    d.mkdir(mode=0o755)
    d.chmod(0o755)
    db = d / "studio.db"
    db.write_bytes(b"")
    db.chmod(0o644)
    startup.prepare_data_dir(d)
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


# --------------------------------------------------------------------------- the instance lock


async def test_one_instance_per_data_dir_and_standby_takes_over(tmp_path):
    """The lock file in DATA_DIR: a second holder is refused at once; a standby gets it when it is freed."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'studio.db'}"
    first = await lock.acquire(tmp_path, url)
    with pytest.raises(lock.LockHeld, match=str(os.getpid())):
        await lock.acquire(tmp_path, url)
    waiting = asyncio.create_task(lock.acquire(tmp_path, url, standby=True))
    await asyncio.sleep(0.4)
    assert not waiting.done()
    await first.release()
    second = await asyncio.wait_for(waiting, 5)
    await second.release()


async def test_one_instance_per_postgres_database(tmp_path):
    """The advisory lock: per database, refused for a second holder, handed to a standby when released."""
    async with databases("postgresql") as dbs:
        url, other = await dbs.new(), await dbs.new()
        assert url and other
        first = await lock.acquire(tmp_path / "a", url)
        with pytest.raises(lock.LockHeld, match="another instance"):
            await lock.acquire(tmp_path / "b", url)
        elsewhere = await lock.acquire(tmp_path / "a", other)  # another database: its own lock
        await elsewhere.release()
        waiting = asyncio.create_task(lock.acquire(tmp_path / "b", url, standby=True))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        await first.release()
        second = await asyncio.wait_for(waiting, 10)
        await second.release()


async def test_restore_refused_while_the_lock_is_held(tmp_path):
    from bot import backup

    settings = Settings(bot_token=TOKEN, data_dir=tmp_path)
    held = await lock.acquire(settings.data_dir, settings.database_url)
    try:
        with pytest.raises(backup.BackupError, match="running"):
            await backup.restore_backup(settings, tmp_path / "any.tar.gz", force=True)
    finally:
        await held.release()


# --------------------------------------------------------------------------- file content


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _docx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", "<w:document/>")
    return buf.getvalue()


def _jpeg() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 200, 30)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.mark.parametrize(("mime", "data", "real"), [
    ("image/jpeg", _jpeg(), "image/jpeg"),
    ("image/png", _jpeg(), "image/jpeg"),  # a JPEG named .png is stored as what it is
    ("image/jpeg", png(3), "image/png"),
    ("application/pdf", PDF, "application/pdf"),
    (files.DOCX, _docx(), files.DOCX),
    ("application/msword", files.OLE + b"\0" * 64, "application/msword"),
    ("video/mp4", b"\0\0\0\x18ftypmp42rest", "video/mp4"),
    ("video/webm", files.EBML + b"webm", "video/webm"),
])
def test_files_that_are_what_they_claim_are_accepted(mime, data, real):
    assert files.checked_type(mime, data) == real


@pytest.mark.parametrize(("mime", "data"), [
    ("image/jpeg", b"MZ\x90\x00" + b"\0" * 200),  # an executable sent as fake.jpg
    ("application/pdf", b"MZ\x90\x00" + b"\0" * 200),  # evil.exe declared application/pdf
    ("image/png", png(4)[:40]),  # a truncated image
    (files.DOCX, b"PK\x03\x04not really a zip"),
    (files.DOCX, _docx().replace(b"word/document.xml", b"word/other000.xml")),
    ("application/msword", PDF),
    ("video/mp4", b"MZ" + b"\0" * 30),
    ("image/heic", b"\0" * 30),
])
def test_files_whose_content_is_not_their_type_are_refused(mime, data):
    with pytest.raises(files.FileRefused) as err:
        files.checked_type(mime, data)
    assert err.value.key == "file.bad_content" and err.value.params["kind"]


async def test_wizard_refuses_an_executable_sent_as_a_photo_with_a_clear_message(bot: Harness):
    """R-M: an `MZ` file sent as fake.jpg is not counted as a photo; the user reads why."""
    u = bot.user(10)
    await fill_until_summary(bot, u, photos=3)
    async with bot.db.session() as s:
        before = len((await s.scalars(select(Attachment))).all())
    await tap_op(bot, u, WizardOp.EDIT, "photos")  # back at the photos step, from the summary
    await tap_op(bot, u, WizardOp.FIELD, "photos")
    mark = await bot.document(u, b"MZ\x90\x00" + b"\0" * 300, "fake.jpg", "image/jpeg")
    texts = bot.request.texts(u["id"], since=mark)
    assert any("内容与它的类型不符" in t for t in texts), texts
    async with bot.db.session() as s:
        assert len((await s.scalars(select(Attachment))).all()) == before


async def test_materials_are_written_readable_by_the_owner_only(tmp_path):
    target = tmp_path / "materials" / "7" / "x.png"
    files._write(target, png(1))
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700


# --------------------------------------------------------------------------- the pledge


async def _at_summary(bot: Harness, uid: int = 10) -> tuple[dict, int]:
    u = bot.user(uid)
    await fill_until_summary(bot, u)
    async with bot.db.session() as s:
        app = (await s.scalars(select(Application).where(Application.applicant_id == uid))).one()
    return u, app.id


async def _status(bot: Harness, app_id: int) -> str:
    async with bot.db.session() as s:
        app = await s.get(Application, app_id)
        assert app is not None
        return app.status


async def test_forged_confirm_from_another_step_does_not_submit(bot: Harness):
    """R-F: a confirm press forged for the current step (never offered there) is refused; so is a submit press
    from a step other than the summary: the application stays a draft until the pledge screen is confirmed."""
    u, app_id = await _at_summary(bot)
    await tap_op(bot, u, WizardOp.EDIT, "leader")  # now at a step in the middle of the form
    async with bot.db.session() as s:
        app = await s.get(Application, app_id)
        assert app is not None
        step = (app.wizard or {}).get("step")
    for op in (WizardOp.CONFIRM, WizardOp.SUBMIT):
        for at in (step, None):
            mark = await bot.press(u, Wiz(app_id, op, None, at).encode())
            assert bot.request.alerts(since=mark), (op, at)
            assert await _status(bot, app_id) == "draft", (op, at)
    async with bot.db.session() as s:
        events = (await s.scalars(select(AuditEvent).where(AuditEvent.application_id == app_id))).all()
    assert not [e for e in events if e.action in ("pledge_accepted", "submit")]


async def test_pledge_acceptance_is_recorded_in_the_audit_trail_and_the_archive(bot: Harness):
    """R-F: who accepted the truthfulness pledge, when, and which text (words, language, version) — in the
    audit trail and so in the application's archive."""
    from bot.exports import data, service

    u, app_id = await _at_summary(bot)
    await tap_op(bot, u, WizardOp.SUBMIT)
    await tap_op(bot, u, WizardOp.CONFIRM)
    assert await _status(bot, app_id) == "submitted"
    async with bot.db.session() as s:
        events = (await s.scalars(select(AuditEvent).where(AuditEvent.application_id == app_id,
                                                           AuditEvent.action == "pledge_accepted"))).all()
        assert len(events) == 1
        e = events[0]
        assert e.actor_id == 10 and e.at is not None
        assert e.details and e.details["lang"] == "zh" and "真实" in e.details["text"]
        assert len(e.details["version"]) == 16
        b = await data.load_bundle(s, app_id)
    assert b is not None
    f = await service.archive_file(b, bot.app.bot_data["services"].i18n, bot.settings.tz, bot.settings.data_dir,
                                   bot.clock.now(), forms=[])
    with zipfile.ZipFile(io.BytesIO(f.data)) as zf:
        trail = json.loads(zf.read("application.json"))["audit_trail"]
    assert [x for x in trail if x["action"] == "pledge_accepted" and x["actor_id"] == 10]


# --------------------------------------------------------------------------- unreadable updates


def test_an_unreadable_update_is_replaced_by_its_bare_id(caplog):
    good = {"update_id": 5, "message": {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"},
                                        "text": "hi"}}
    bad = {"update_id": 6, "callback_query": {"id": "1"}}
    body = json.dumps({"ok": True, "result": [good, bad]}).encode()
    with caplog.at_level(logging.WARNING, logger="bot.ingress"):
        out = json.loads(ingress.skip_unreadable(body))
    assert out["result"] == [good, {"update_id": 6}]
    assert len(caplog.records) == 1 and "update 6" in caplog.records[0].getMessage()


# --------------------------------------------------------------------------- R-W4


async def _decided(bot: Harness, status: str, uid: int) -> int:
    u = bot.user(uid)
    await fill_until_summary(bot, u)
    await tap_op(bot, u, WizardOp.SUBMIT)
    await tap_op(bot, u, WizardOp.CONFIRM)
    async with bot.db.session() as s:
        app = (await s.scalars(select(Application).where(Application.applicant_id == uid))).one()
        app.status = status
        app.materials = "returned" if status == "rejected" else "archived"
        app.status_since = bot.clock.now()
        await s.commit()
        return app.id


async def test_materials_of_a_rejected_application_are_returned_then_removed(bot: Harness):
    """R-W4: not approved → the applicant gets the archive of the materials; at the end of the season the
    federation's copy is removed (files and their rows), the audit trail kept. Approved → kept (备案保存)."""
    rejected = await _decided(bot, "rejected", 10)
    approved = await _decided(bot, "approved", 11)
    async with bot.db.session() as s:
        stored = {a.application_id: a.stored_path for a in (await s.scalars(select(Attachment))).all()}
        paths = [a.stored_path for a in (await s.scalars(select(Attachment).where(
            Attachment.application_id == rejected))).all()]
    assert paths and approved in stored
    mark = len(bot.request.calls)
    assert await returns.run_returns(bot.app) == (1, 0)
    await bot.app.bot_data["services"].drain()
    docs = [p for name, p in bot.request.sent(10, since=mark) if name == "sendDocument"]
    assert len(docs) == 1 and "退回" in docs[0].get("caption", "")
    assert not [p for name, p in bot.request.sent(11, since=mark) if name == "sendDocument"]
    assert await returns.run_returns(bot.app) == (0, 0)  # sent once; not removed before the season's end
    assert all((bot.settings.data_dir / p).exists() for p in paths)

    bot.clock.set(datetime(JULY_10.year, 12, 31, 23, 59, tzinfo=SH))
    assert await returns.run_returns(bot.app) == (0, 0)  # the last minute of the season: still kept
    bot.clock.set(datetime(JULY_10.year + 1, 1, 1, 0, 1, tzinfo=SH))
    assert await returns.run_returns(bot.app) == (0, 1)
    assert not any((bot.settings.data_dir / p).exists() for p in paths)
    async with bot.db.session() as s:
        left = (await s.scalars(select(Attachment).where(Attachment.application_id == rejected))).all()
        kept = (await s.scalars(select(Attachment).where(Attachment.application_id == approved))).all()
        trail = [e.action for e in (await s.scalars(select(AuditEvent).where(
            AuditEvent.application_id == rejected).order_by(AuditEvent.id))).all()]
    assert not left and kept
    assert all((bot.settings.data_dir / a.stored_path).exists() for a in kept)
    assert "submit" in trail and trail[-2:] == [retention.SENT, retention.REMOVED]


def test_the_removal_date_is_the_season_end_or_the_set_period():
    app = Application(season_year=2026, status_since=datetime(2026, 9, 1, tzinfo=SH))
    assert retention.remove_at(app, None, SH) == datetime(2027, 1, 1, tzinfo=SH)
    assert retention.remove_at(app, 30, SH) == datetime(2026, 9, 1, tzinfo=SH) + timedelta(days=30)


# --------------------------------------------------------------------------- doctor


def test_doctor_names_what_to_fix(tmp_path, capsys):
    """`doctor`: open permissions and an unreachable Bot API are reported with the command that fixes them."""
    d = tmp_path / "data"
    d.mkdir()
    d.chmod(0o755)
    (d / "note.txt").write_text("x")
    (d / "note.txt").chmod(0o644)
    settings = Settings(bot_token=TOKEN, data_dir=d, bot_api_url="http://127.0.0.1:9/bot")
    assert doctor.run(settings) == 1
    out = capsys.readouterr().out
    assert f"chmod 700 {d}" in out and "go-rwx" in out
    assert "✗ Bot API" in out and "BOT_API_URL" in out
    assert "LibreOffice" in out and "fonts" in out and "database" in out
    assert TOKEN not in out


def test_doctor_reports_bad_configuration(capsys):
    assert doctor.config_failed(["TIMEZONE: unknown IANA time zone: 'Mars'"]) == 1
    assert "TIMEZONE" in capsys.readouterr().out


def test_exit_codes_are_distinct():
    codes = [v for k, v in vars(startup).items() if k.startswith("EXIT_")]
    assert len(codes) == len(set(codes)) and 0 not in codes
