"""Tests of the fake Bot API itself, driven by python-telegram-bot's own ``Bot``."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    KeyboardButton,
    MenuButtonCommands,
    Message,
    ReplyKeyboardMarkup,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.request import HTTPXRequest

from .conftest import BotFactory
from .fake_api import FakeTelegramServer, UploadedFile, make_png

pytestmark = pytest.mark.e2e


def _bot(server: FakeTelegramServer, token: str | None = None, read_timeout: float = 5.0) -> Bot:
    return Bot(
        token or server.token,
        base_url=server.base_url,
        base_file_url=server.base_file_url,
        request=HTTPXRequest(read_timeout=read_timeout, connect_timeout=2.0),
    )


@pytest_asyncio.fixture
async def ptb(fake_api: FakeTelegramServer) -> AsyncIterator[Bot]:
    b = _bot(fake_api)
    await b.initialize()
    try:
        yield b
    finally:
        await b.shutdown()


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d)] for t, d in pairs])


# --------------------------------------------------------------------------- basics


@pytest.mark.asyncio
async def test_get_me_token_and_unknown_method(fake_api: FakeTelegramServer, ptb: Bot) -> None:
    me = await ptb.get_me()
    assert me.id == 123456 and me.is_bot and me.username == "test_union_bot"
    assert me.can_join_groups is True and me.supports_inline_queries is False
    assert me.api_kwargs == {}
    assert fake_api.calls[0].method == "getMe"
    method, params = fake_api.calls[0]
    assert (method, params) == ("getMe", {})

    with pytest.raises(InvalidToken, match="(?i)Unauthorized"):
        await _bot(fake_api, token="999:WRONG").get_me()
    with pytest.raises(EndPointNotFound):
        await ptb.do_api_request("fooBar")

    assert await ptb.delete_webhook() is True
    assert await ptb.set_webhook("https://example.org/hook") is True
    info = await ptb.get_webhook_info()
    assert info.url == "https://example.org/hook" and info.pending_update_count == 0
    await ptb.delete_webhook()
    assert await ptb.log_out() is True


@pytest.mark.asyncio
async def test_get_updates_long_poll_offset_limit(fake_api: FakeTelegramServer, ptb: Bot) -> None:
    user = fake_api.user(1001, first_name="张三", language_code="zh-hans")
    uid = fake_api.send_text(user, "/start")

    updates = await ptb.get_updates(timeout=5)
    assert [u.update_id for u in updates] == [uid]
    msg = updates[0].message
    assert msg is not None and msg.api_kwargs == {}
    assert msg.text == "/start" and msg.chat.id == 1001 and msg.chat.type == "private"
    assert msg.from_user is not None and msg.from_user.first_name == "张三"
    assert msg.from_user.language_code == "zh-hans"
    assert msg.entities[0].type == "bot_command" and msg.entities[0].length == 6
    assert abs(msg.date.timestamp() - time.time()) < 5  # seconds, not milliseconds
    assert fake_api.is_fetched(uid) and not fake_api.is_acked(uid)
    assert len(fake_api.pending_updates()) == 1

    # offset confirms; nothing left
    assert await ptb.get_updates(offset=uid + 1, timeout=0) == ()
    assert fake_api.is_acked(uid) and fake_api.acked_offset == uid + 1
    assert fake_api.pending_updates() == []

    # a long poll returns as soon as an update is queued
    started = time.monotonic()
    task = asyncio.create_task(ptb.get_updates(offset=uid + 1, timeout=5))
    await asyncio.sleep(0.2)
    uid2 = fake_api.send_text(user, "你好")
    got = await task
    assert [u.update_id for u in got] == [uid2]
    assert time.monotonic() - started < 2

    # an empty long poll waits for `timeout` seconds
    started = time.monotonic()
    assert await ptb.get_updates(offset=uid2 + 1, timeout=1) == ()
    assert 0.9 <= time.monotonic() - started < 3

    # limit
    ids = [fake_api.send_text(user, str(i)) for i in range(3)]
    got = await ptb.get_updates(offset=uid2 + 1, limit=2)
    assert [u.update_id for u in got] == ids[:2]
    # update ids are all known to the server
    assert [u["update_id"] for u in fake_api.updates][-3:] == ids


@pytest.mark.asyncio
async def test_concurrent_long_polls_conflict(fake_api: FakeTelegramServer, ptb: Bot) -> None:
    other = _bot(fake_api)  # a second "instance" (own connection pool)
    first = asyncio.create_task(ptb.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    second = asyncio.create_task(other.get_updates(timeout=1))
    with pytest.raises(Conflict, match="(?i)terminated by other getUpdates"):
        await first
    assert await second == ()
    await other.shutdown()


# -------------------------------------------------------------------------- messages


@pytest.mark.asyncio
async def test_send_message_markup_html_and_chat_view(fake_api: FakeTelegramServer, ptb: Bot) -> None:
    user = fake_api.user(1002)
    markup = keyboard(("提交", "submit"), ("取消", "cancel"))
    msg = await ptb.send_message(
        1002, "<b>你好</b> &amp; <i>world</i> 😀 <a href='https://x.org'>link</a>", parse_mode=ParseMode.HTML,
        reply_markup=markup,
    )  # fmt: skip
    assert msg.api_kwargs == {}
    assert msg.text == "你好 & world 😀 link"
    assert [(e.type, e.offset, e.length) for e in msg.entities] == [
        ("bold", 0, 2),
        ("italic", 5, 5),
        ("text_link", 14, 4),  # 😀 counts 2 UTF-16 units
    ]
    assert msg.reply_markup == markup
    assert msg.from_user is not None and msg.from_user.id == fake_api.bot_id
    assert msg.chat.id == 1002 and abs(msg.date.timestamp() - time.time()) < 5

    msg2 = await ptb.send_message(
        1002,
        "选择",
        reply_markup=ReplyKeyboardMarkup([[KeyboardButton("是"), KeyboardButton("否")]]),
    )
    assert msg2.message_id == msg.message_id + 1
    assert msg2.reply_markup is None  # Telegram only echoes inline keyboards

    view = fake_api.chat(user)
    assert [m.message_id for m in view] == [msg.message_id, msg2.message_id]
    assert view[0].kind == "text" and view[0].buttons == [["提交"], ["取消"]]
    assert view[0].callback_data("提交") == "submit"
    assert view[0].inline_keyboard[1][0]["callback_data"] == "cancel"
    assert view[1].keyboard == [["是", "否"]]
    method, params = fake_api.calls[-1]
    assert method == "sendMessage" and params["chat_id"] == 1002 and params["text"] == "选择"
    assert isinstance(params["reply_markup"], dict)

    with pytest.raises(BadRequest, match="(?i)can't parse entities"):
        await ptb.send_message(1002, "1 < 2 <br>", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match="(?i)Character '.' is reserved"):
        await ptb.send_message(1002, "*粗体* 1.5", parse_mode=ParseMode.MARKDOWN_V2)
    ok = await ptb.send_message(1002, r"*粗体* 1\.5", parse_mode=ParseMode.MARKDOWN_V2)
    assert ok.text == "粗体 1.5" and ok.entities[0].type == "bold"
    with pytest.raises(BadRequest, match="(?i)chat not found"):
        await ptb.send_message(424242, "hi")
    with pytest.raises(BadRequest, match="(?i)message text is empty"):
        await ptb.send_message(1002, "   ")
    with pytest.raises(BadRequest, match="(?i)BUTTON_DATA_INVALID"):
        await ptb.send_message(1002, "x", reply_markup=keyboard(("a", "x" * 65)))
    assert len(fake_api.failed_calls()) == 5


@pytest.mark.asyncio
async def test_edit_and_delete(fake_api: FakeTelegramServer, ptb: Bot) -> None:
    user = fake_api.user(1003)
    msg = await ptb.send_message(1003, "第一步", reply_markup=keyboard(("下一步", "next")))
    mark = fake_api.mark()

    edited = await ptb.edit_message_text(
        "第二步", chat_id=1003, message_id=msg.message_id, reply_markup=keyboard(("完成", "done"))
    )
    assert not isinstance(edited, bool)
    assert edited.text == "第二步" and edited.edit_date is not None
    assert edited.reply_markup == keyboard(("完成", "done"))
    events = await fake_api.wait_messages(user, since=mark)
    assert [(e.action, e.text, e.buttons) for e in events] == [("edited", "第二步", [["完成"]])]

    with pytest.raises(BadRequest, match="(?i)message is not modified"):
        await ptb.edit_message_text(
            "第二步", chat_id=1003, message_id=msg.message_id, reply_markup=keyboard(("完成", "done"))
        )
    with pytest.raises(BadRequest, match="(?i)message to edit not found"):
        await ptb.edit_message_text("x", chat_id=1003, message_id=999)

    # editing the text without reply_markup removes the keyboard (as in Telegram)
    await ptb.edit_message_text("第三步", chat_id=1003, message_id=msg.message_id)
    assert fake_api.chat(user)[0].inline_keyboard == []
    again = await ptb.edit_message_reply_markup(
        chat_id=1003, message_id=msg.message_id, reply_markup=keyboard(("好", "ok"))
    )
    assert not isinstance(again, bool) and again.text == "第三步"
    assert fake_api.chat(user)[0].edit_count == 3

    assert await ptb.delete_message(1003, msg.message_id) is True
    assert fake_api.chat(user) == []
    with pytest.raises(BadRequest, match="(?i)message to delete not found"):
        await ptb.delete_message(1003, msg.message_id)
    assert [e.action for e in fake_api.events(user)] == ["sent", "edited", "edited", "edited", "deleted"]


@pytest.mark.asyncio
async def test_callback_query_and_answer(fake_api: FakeTelegramServer, ptb: Bot) -> None:
    user = fake_api.user(1004, first_name="李四", language_code="en")
    msg = await ptb.send_message(1004, "确认？", reply_markup=keyboard(("是", "yes"), ("否", "no")))
    with pytest.raises(ValueError, match="(?i)no button"):
        fake_api.press(user, msg.message_id, "maybe")

    cq_id = fake_api.press(user, msg.message_id, "yes")
    [update] = await ptb.get_updates(timeout=2)
    cq = update.callback_query
    assert cq is not None and cq.api_kwargs == {}
    assert cq.id == cq_id and cq.data == "yes" and cq.from_user.id == 1004 and cq.chat_instance
    assert isinstance(cq.message, Message) and cq.message.message_id == msg.message_id
    assert cq.message.reply_markup == msg.reply_markup

    assert await ptb.answer_callback_query(cq_id, text="已提交", show_alert=True) is True
    assert fake_api.answered_callbacks[cq_id]["text"] == "已提交"
    assert fake_api.answered_callbacks[cq_id]["show_alert"] is True
    assert await fake_api.wait_answer(cq_id, timeout=1)
    with pytest.raises(BadRequest, match="(?i)query is too old"):
        await ptb.answer_callback_query(cq_id)

    fake_api.send_text(user, "回复", reply_to=msg.message_id)
    [reply_update] = await ptb.get_updates(offset=update.update_id + 1, timeout=1)
    assert reply_update.message is not None and reply_update.message.reply_to_message == msg

    cq2 = fake_api.press_button(user, "否")
    assert fake_api.pending_updates()[-1]["callback_query"]["data"] == "no"
    assert cq2 != cq_id


@pytest.mark.asyncio
async def test_commands_descriptions_menu(fake_api: FakeTelegramServer, ptb: Bot) -> None:
    zh_user = fake_api.user(1005, language_code="zh-hans")
    en_user = fake_api.user(1006, first_name="Bob", language_code="en")
    en = [BotCommand("start", "Start"), BotCommand("apply", "Apply")]
    zh = [BotCommand("start", "开始"), BotCommand("apply", "申请")]
    assert await ptb.set_my_commands(en) is True
    assert await ptb.set_my_commands(zh, language_code="zh") is True
    assert await ptb.set_my_commands([BotCommand("admin", "管理")], scope=BotCommandScopeChat(1006))

    assert await ptb.get_my_commands() == tuple(en)
    assert await ptb.get_my_commands(language_code="zh") == tuple(zh)
    assert await ptb.get_my_commands(language_code="de") == ()
    assert await ptb.get_my_commands(scope=BotCommandScopeChat(1006)) == (BotCommand("admin", "管理"),)
    assert fake_api.get_commands(language_code="zh")[1] == {"command": "apply", "description": "申请"}
    assert [c["command"] for c in fake_api.visible_commands(zh_user)] == ["start", "apply"]
    assert fake_api.visible_commands(zh_user)[0]["description"] == "开始"
    assert [c["command"] for c in fake_api.visible_commands(en_user)] == ["admin"]

    assert await ptb.delete_my_commands(language_code="zh") is True
    assert await ptb.get_my_commands(language_code="zh") == ()
    with pytest.raises(BadRequest, match="(?i)BOT_COMMAND_INVALID"):
        await ptb.set_my_commands([BotCommand("Bad-Name", "x")])

    assert await ptb.set_my_description("劳模创新工作室申请", language_code="zh")
    assert (await ptb.get_my_description("zh")).description == "劳模创新工作室申请"
    assert await ptb.set_my_short_description("申请助手")
    assert fake_api.short_descriptions[""] == "申请助手"
    assert await ptb.set_chat_menu_button(menu_button=MenuButtonCommands())
    assert await ptb.get_chat_menu_button() == MenuButtonCommands()
    assert await ptb.send_chat_action(1005, "typing") is True
    chat = await ptb.get_chat(1005)
    assert chat.first_name == "张三" and chat.api_kwargs == {}


@pytest.mark.parametrize(
    ("mode", "source", "text", "entities"),
    [
        ("HTML", "<b>粗<i>斜</i></b> a &lt; b", "粗斜 a < b", [("bold", 0, 2), ("italic", 1, 1)]),
        ("HTML", "<pre><code class='language-py'>x</code></pre>", "x", [("pre", 0, 1)]),
        ("HTML", "  <u>trimmed</u>\n", "trimmed", [("underline", 0, 7)]),
        (
            "MarkdownV2",
            "*a* _b_ __c__ \\.",
            "a b c .",
            [("bold", 0, 1), ("italic", 2, 1), ("underline", 4, 1)],
        ),
        ("Markdown", "*a* `b`", "a b", [("bold", 0, 1), ("code", 2, 1)]),
        ("HTML", "<br>", None, None),
        ("HTML", "<b>x</i>", None, None),
        ("HTML", "user input: <script>", None, None),
        ("MarkdownV2", "_open", None, None),
    ],
)
def test_formatting_rules(
    mode: str, source: str, text: str | None, entities: list[tuple[str, int, int]] | None
) -> None:
    from .fake_formatting import EntityParseError, render

    if text is None:
        with pytest.raises(EntityParseError, match="can't parse entities"):
            render(source, mode)
        return
    plain, ents = render(source, mode)
    assert plain == text
    assert [(e["type"], e["offset"], e["length"]) for e in ents] == entities


# ------------------------------------------------------------------------------ files


@pytest.mark.asyncio
async def test_get_file_and_download(fake_api: FakeTelegramServer, ptb: Bot) -> None:
    user = fake_api.user(1007)
    png = make_png(320, 200)
    uid = fake_api.send_photo(user, png, caption="工作室照片")
    fake_api.send_photo(user, png)
    doc_uid = fake_api.send_document(user, b"%PDF-1.4 fake", "申请表.pdf")
    big_uid = fake_api.send_document(user, b"big", "big.zip", file_size=25 * 1024 * 1024)
    updates = {u.update_id: u for u in await ptb.get_updates(timeout=1)}
    assert len(updates) == 4

    photo_msg = updates[uid].message
    assert photo_msg is not None and photo_msg.caption == "工作室照片"
    sizes = photo_msg.photo
    assert len(sizes) == 2 and (sizes[-1].width, sizes[-1].height) == (320, 200)
    assert sizes[0].width < sizes[-1].width and sizes[0].file_unique_id != sizes[-1].file_unique_id
    same = updates[uid + 1].message
    assert same is not None and same.photo[-1].file_unique_id == sizes[-1].file_unique_id
    assert same.photo[-1].file_id != sizes[-1].file_id

    file = await ptb.get_file(sizes[-1].file_id)
    assert file.file_size == len(png) and file.file_path
    assert bytes(await file.download_as_bytearray()) == png
    thumb = await (await ptb.get_file(sizes[0].file_id)).download_as_bytearray()
    assert bytes(thumb) != png

    doc = updates[doc_uid].message
    assert doc is not None and doc.document is not None
    assert doc.document.file_name == "申请表.pdf" and doc.document.mime_type == "application/pdf"
    data = await (await ptb.get_file(doc.document.file_id)).download_as_bytearray()
    assert bytes(data) == b"%PDF-1.4 fake"

    big = updates[big_uid].message
    assert big is not None and big.document is not None and big.document.file_size == 25 * 1024 * 1024
    with pytest.raises(BadRequest, match="(?i)file is too big"):
        await ptb.get_file(big.document.file_id)
    with pytest.raises(BadRequest, match="(?i)wrong file_id"):
        await ptb.get_file("nope")
    file_id, unique = fake_api.add_file(b"abc", file_name="a.txt", mime_type="text/plain")
    assert unique == fake_api.add_file(b"abc")[1]
    assert bytes(await (await ptb.get_file(file_id)).download_as_bytearray()) == b"abc"


@pytest.mark.asyncio
async def test_other_user_message_kinds(fake_api: FakeTelegramServer, ptb: Bot) -> None:
    user = fake_api.user(1008)
    fake_api.send_sticker(user)
    fake_api.send_voice(user)
    fake_api.send_location(user)
    fake_api.send_contact(user)
    fake_api.send_video(user)
    album = fake_api.send_album(user, [make_png(10, 10), make_png(20, 20, (0, 0, 255))], caption="相册")
    fake_api.block(user)
    updates = await ptb.get_updates(timeout=1)
    msgs = [u.message for u in updates if u.message]
    assert all(m.api_kwargs == {} for m in msgs)
    assert msgs[0].sticker is not None and msgs[1].voice is not None and msgs[2].location is not None
    assert msgs[3].contact is not None and msgs[3].contact.user_id == 1008
    assert msgs[4].video is not None and msgs[4].video.file_size is not None
    group = {m.media_group_id for m in msgs[5:7]}
    assert len(group) == 1 and None not in group and len(album) == 2
    assert msgs[5].caption == "相册" and msgs[6].caption is None
    member = updates[-1].my_chat_member
    assert member is not None and member.new_chat_member.status == "kicked"
    with pytest.raises(Exception, match="(?i)blocked by the user"):
        await ptb.send_message(1008, "hi")
    fake_api.unblock(user)
    await ptb.send_message(1008, "welcome back")


@pytest.mark.asyncio
async def test_send_media_upload_and_file_id(fake_api: FakeTelegramServer, ptb: Bot) -> None:
    user = fake_api.user(1009)
    png = make_png(100, 80)
    sent = await ptb.send_photo(
        1009, png, caption="<b>封面</b>", parse_mode="HTML", reply_markup=keyboard(("ok", "ok"))
    )
    assert sent.api_kwargs == {} and sent.photo[-1].width == 100
    assert sent.caption == "封面" and sent.caption_entities[0].type == "bold"
    assert sent.reply_markup == keyboard(("ok", "ok"))
    method, params = fake_api.calls[-1]
    assert method == "sendPhoto" and isinstance(params["photo"], UploadedFile)
    assert params["photo"].data == png and params["chat_id"] == 1009
    downloaded = await (await ptb.get_file(sent.photo[-1].file_id)).download_as_bytearray()
    assert bytes(downloaded) == png

    # re-send by file_id (e.g. forward a user's photo to an admin)
    user_uid = fake_api.send_photo(user, make_png(30, 30))
    [upd] = await ptb.get_updates(timeout=1)
    assert upd.update_id == user_uid and upd.message is not None
    again = await ptb.send_photo(1009, upd.message.photo[-1].file_id)
    assert again.photo[-1].file_unique_id == upd.message.photo[-1].file_unique_id

    doc = await ptb.send_document(1009, b"PK\x03\x04 docx", filename="申请书.docx", caption="申请书")
    assert doc.document is not None and doc.document.file_name == "申请书.docx"
    assert doc.caption == "申请书"
    fetched = await (await ptb.get_file(doc.document.file_id)).download_as_bytearray()
    assert bytes(fetched) == b"PK\x03\x04 docx"

    video = await ptb.send_video(1009, b"\x00\x00\x00\x18ftypmp42", filename="v.mp4")
    assert video.video is not None

    album = await ptb.send_media_group(
        1009,
        [
            InputMediaPhoto(make_png(40, 40), caption="第一张"),
            InputMediaPhoto(upd.message.photo[-1].file_id),
            InputMediaPhoto(make_png(50, 50)),
        ],
    )
    assert len(album) == 3 and len({m.media_group_id for m in album}) == 1
    assert album[0].caption == "第一张" and album[0].media_group_id is not None
    assert [m.message_id for m in album] == sorted(m.message_id for m in album)

    view = fake_api.chat(user)
    assert [m.kind for m in view] == ["photo", "photo", "document", "video", "media", "media", "media"]
    assert view[0].text == "封面" and view[0].buttons == [["ok"]]
    assert view[2].file_name == "申请书.docx"

    with pytest.raises(BadRequest, match="(?i)type of file mismatch"):
        await ptb.send_photo(1009, doc.document.file_id)
    with pytest.raises(BadRequest, match="(?i)IMAGE_PROCESS_FAILED"):
        await ptb.send_photo(1009, b"not an image")
    with pytest.raises(BadRequest, match="(?i)wrong file identifier"):
        await ptb.send_document(1009, "AAAA-unknown")


# ------------------------------------------------------------------------------ faults


@pytest.mark.asyncio
async def test_fault_injection(fake_api: FakeTelegramServer, ptb: Bot) -> None:
    user = fake_api.user(1010)
    fault = fake_api.inject("sendMessage", status=429, retry_after=2)
    with pytest.raises(RetryAfter, match="(?i)Retry in 2"):
        await ptb.send_message(1010, "a")
    assert fault.hits == 1 and fault.exhausted
    await ptb.send_message(1010, "a")  # consumed: next call succeeds
    assert [c.status for c in fake_api.calls_to("sendMessage")] == [429, 200]

    fake_api.inject("sendMessage", 500)
    with pytest.raises(NetworkError, match="(?i)Internal Server Error"):
        await ptb.send_message(1010, "b")
    fake_api.inject("sendMessage", 502)
    with pytest.raises(NetworkError, match="(?i)Bad Gateway"):
        await ptb.send_message(1010, "b")

    fake_api.inject("sendMessage", delay=1.0)
    with pytest.raises(TimedOut):
        await ptb.send_message(1010, "slow", read_timeout=0.3)
    await asyncio.sleep(0.1)
    assert "slow" not in [m.text for m in fake_api.chat(user)]  # cancelled with the connection

    fake_api.inject("sendMessage", drop=True, times=2)
    for _ in range(2):
        with pytest.raises(NetworkError):
            await ptb.send_message(1010, "dropped")
    assert [m.text for m in fake_api.chat(user)] == ["a"]

    # performed, then the response is lost: the user sees it, the bot got an error
    fake_api.inject("sendMessage", drop=True, perform=True)
    with pytest.raises(NetworkError):
        await ptb.send_message(1010, "sent anyway")
    assert [m.text for m in fake_api.chat(user)] == ["a", "sent anyway"]

    fake_api.inject("*", status=500, when=lambda p: p.get("text") == "only me")
    await ptb.send_message(1010, "not me")
    with pytest.raises(NetworkError):
        await ptb.send_message(1010, "only me")
    assert all(f.exhausted for f in fake_api.faults)
    assert [c.status for c in fake_api.failed_calls()] == [429, 500, 502, 499, 0, 0, 0, 500]


@pytest.mark.asyncio
async def test_wait_helpers(fake_api: FakeTelegramServer, ptb: Bot) -> None:
    user = fake_api.user(1011)
    fake_api.send_text(user, "/start")

    async def fake_bot_reply() -> None:
        await asyncio.sleep(0.1)
        first = await ptb.send_message(1011, "欢迎")
        await asyncio.sleep(0.05)
        await ptb.send_message(1011, "请选择", reply_markup=keyboard(("申请", "apply")))
        await ptb.edit_message_text("欢迎！", chat_id=1011, message_id=first.message_id)

    task = asyncio.create_task(fake_bot_reply())
    replies = await fake_api.wait_reply(user, timeout=5)
    await task
    assert [(r.action, r.text) for r in replies] == [
        ("sent", "欢迎"),
        ("sent", "请选择"),
        ("edited", "欢迎！"),
    ]
    assert [m.text for m in fake_api.chat(user)] == ["欢迎！", "请选择"]

    mark = fake_api.mark()
    with pytest.raises(TimeoutError, match="(?i)bot message"):
        await fake_api.wait_messages(user, since=mark, timeout=0.2)
    later = asyncio.create_task(ptb.send_message(1011, "later"))
    [event] = await fake_api.wait_messages(user, since=mark, count=1, timeout=2)
    assert event.text == "later"
    await later
    call = await fake_api.wait_call("sendMessage", since=mark, where=lambda p: p["text"] == "later")
    assert call.ok and call.result["text"] == "later"
    await fake_api.wait_idle(quiet=0.1, timeout=2)
    assert "欢迎！" in fake_api.transcript(user)


def test_threaded_server_from_sync_code() -> None:
    server = FakeTelegramServer("42:SYNC")
    server.start_in_thread()
    try:
        user = server.user(7, first_name="Sync")
        uid = server.send_text(user, "hello")

        def call(method: str, **params: Any) -> Any:
            req = urllib.request.Request(
                f"{server.base_url}{server.token}/{method}",
                data=json.dumps(params).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(req, timeout=5) as resp:
                return json.loads(resp.read())["result"]

        assert call("getMe")["id"] == 42
        assert call("getUpdates", timeout=1)[0]["message"]["text"] == "hello"
        server.run_sync(server.wait_fetched(uid, timeout=2))
        sent = call("sendMessage", chat_id=7, text="hi", reply_markup={"inline_keyboard": [[
            {"text": "x", "callback_data": "x"}]]})  # fmt: skip
        assert sent["reply_markup"]["inline_keyboard"][0][0]["text"] == "x"
        assert server.run_sync(server.wait_messages(user, count=1, timeout=2))[0].text == "hi"
    finally:
        server.stop_thread()


# ------------------------------------------------------------------- real subprocess

ECHO_BOT = textwrap.dedent(
    """
    import os

    from telegram import BotCommand, Update
    from telegram.ext import Application, MessageHandler, filters


    async def post_init(app):
        await app.bot.set_my_commands([BotCommand("start", "Start")])


    async def echo(update: Update, context) -> None:
        await update.message.reply_text(f"echo: {update.message.text}")


    app = (
        Application.builder()
        .token(os.environ["BOT_TOKEN"])
        .base_url(os.environ["BOT_API_URL"])
        .base_file_url(os.environ["BOT_FILE_URL"])
        .post_init(post_init)
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT, echo))
    print("echo bot starting, data dir", os.environ["DATA_DIR"], flush=True)
    app.run_polling(poll_interval=0)
    """
)


@pytest.mark.asyncio
async def test_echo_bot_subprocess_kill_and_restart(
    fake_api: FakeTelegramServer, bot_process_factory: BotFactory, tmp_path: Path
) -> None:
    script = tmp_path / "echo_bot.py"
    script.write_text(ECHO_BOT, encoding="utf-8")
    proc = await bot_process_factory(command=[sys.executable, str(script)])
    assert proc.is_running() and "echo bot starting" in proc.log_text()
    user = fake_api.user(2001)

    uid1 = fake_api.send_text(user, "one")
    replies = await fake_api.wait_reply(user)
    assert [r.text for r in replies] == ["echo: one"]
    await fake_api.wait_acked(uid1)

    assert await proc.kill() == -9
    mark = fake_api.mark()
    await proc.start()  # readiness: getUpdates after setMyCommands, since this start

    # the confirmed update is not delivered again; hold back the confirmation of the next one
    uid2 = fake_api.send_text(user, "two")
    hold = fake_api.inject(
        "getUpdates", delay=30, when=lambda p: isinstance(p.get("offset"), int) and p["offset"] > uid2
    )
    assert [r.text for r in await fake_api.wait_reply(user)] == ["echo: two"]
    delivered = [u["update_id"] for c in fake_api.calls_to("getUpdates", mark) if c.ok for u in c.result]
    assert uid1 not in delivered and uid2 in delivered
    await fake_api.wait_for(lambda: hold.hits == 1, timeout=5, description="held confirmation")
    assert fake_api.is_fetched(uid2) and not fake_api.is_acked(uid2)

    # killed before confirming: Telegram redelivers the update to the next process
    await proc.kill()
    mark = fake_api.mark()
    await proc.start()
    again = await fake_api.wait_reply(user, since=mark)
    assert [r.text for r in again] == ["echo: two"]
    await fake_api.wait_acked(uid2)
    assert [m.text for m in fake_api.chat(user)] == ["echo: one", "echo: two", "echo: two"]

    # graceful stop: SIGTERM, PTB confirms and exits 0
    assert await proc.stop() == 0
    assert not proc.is_running() and proc.log_text().count("echo bot starting") == 3
