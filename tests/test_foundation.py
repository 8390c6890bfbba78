"""/start, /help, /language, /cancel, the command menu, the error handler, escaping."""

from __future__ import annotations

import json

from sqlalchemy import select

from bot.callbacks import Lang
from storage.models import User


async def test_start_by_role_and_language_from_telegram(bot):
    """A zh* client gets Chinese, others English; the welcome names what the role can do."""
    await bot.text(bot.user(1, lang="zh-hans"), "/start")
    assert "劳模创新工作室" in bot.request.texts(1)[-1] and "/apply" in bot.request.texts(1)[-1]
    await bot.text(bot.user(2, lang="de"), "/start")
    assert "Model Worker Innovation Studio" in bot.request.texts(2)[-1]
    await bot.text(bot.user(900, lang="en"), "/start")  # an admin from ADMIN_IDS
    assert "/admin" in bot.request.texts(900)[-1]


async def test_unknown_language_code_gets_default(bot):
    u = {"id": 3, "is_bot": False, "first_name": "X"}
    await bot.text(u, "/help")
    assert "使用帮助" in bot.request.texts(3)[-1]


async def test_language_choice_is_stored_and_wins(bot):
    """/language: the stored choice wins over Telegram's language_code."""
    u = bot.user(4, lang="zh-hans")
    await bot.text(u, "/language")
    labels = [label for label, _ in bot.last_buttons(4)]
    assert labels == ["中文", "English"]
    await bot.press(u, Lang("en").encode())
    async with bot.db.session() as s:
        assert (await s.get(User, 4)).locale == "en"
    await bot.text(u, "/help")
    assert bot.request.texts(4)[-1].startswith("<b>Help</b>")


async def test_forged_language_button(bot):
    mark = await bot.press(bot.user(5), "lang:xx")
    assert bot.request.alerts(since=mark)[-1]["show_alert"]


async def test_cancel_outside_and_inside_a_flow(bot):
    u = bot.user(6)
    await bot.text(u, "/cancel")
    assert "没有进行中" in bot.request.texts(6)[-1]
    await bot.text(u, "/apply")
    await bot.text(u, "/cancel")
    assert "已保存" in bot.request.texts(6)[-1]
    # outside the flow, text gets a hint instead of being taken as an answer
    await bot.text(u, "大连港")
    assert "/apply" in bot.request.texts(6)[-1]


async def test_command_menu_in_both_languages(bot):
    """setMyCommands for zh clients and the default with start/help/language/cancel and the flows;
    people with roles get their own fuller menu in their chat."""
    calls = [p for n, p in bot.request.calls if n == "setMyCommands"]

    def names(p):
        cmds = p["commands"]
        cmds = json.loads(cmds) if isinstance(cmds, str) else cmds
        return [c["command"] if isinstance(c, dict) else c.command for c in cmds]

    by_lang = {p.get("language_code"): p for p in calls if not p.get("scope")}
    assert set(by_lang) == {None, "zh"}
    for p in by_lang.values():
        assert {"start", "help", "language", "cancel", "apply", "my", "status"} <= set(names(p))
        assert "admin" not in names(p) and "pending" not in names(p)
    zh = by_lang["zh"]["commands"]
    assert "帮助" in json.dumps(zh, ensure_ascii=False, default=lambda o: o.to_dict())
    # admin 900 (ADMIN_IDS) gets the admin commands once known to the bot
    from bot import commands

    await bot.text(bot.user(900), "/start")
    mark = len(bot.request.calls)
    await commands.refresh(bot.app)
    scoped = [p for n, p in bot.request.calls[mark:] if n == "setMyCommands" and p.get("scope")]
    assert len(scoped) == 1 and {"admin", "pending", "export"} <= set(names(scoped[0]))
    scope = scoped[0]["scope"]
    scope = json.loads(scope) if isinstance(scope, str) else scope
    assert (scope.to_dict() if hasattr(scope, "to_dict") else scope)["chat_id"] == 900


async def test_error_handler_apologises_in_users_language(bot, monkeypatch, caplog):
    """A crash in a handler: the user is told to send it again, that earlier answers are safe; no internals leak."""
    from conversations import common

    monkeypatch.setattr(common, "start_text", lambda rq: (_ for _ in ()).throw(RuntimeError("secret internals")))
    await bot.text(bot.user(7, lang="en"), "/start")
    last = bot.request.texts(7)[-1]
    assert "send it again" in last and "not affected" in last and "secret" not in last
    assert any("error while handling update" in r.message for r in caplog.records)


async def test_user_names_are_escaped(bot):
    """Texts that include user input are escaped for HTML."""
    await bot.text(bot.user(8, name="<b>Bob</b> & co"), "/start")
    assert "&lt;b&gt;Bob&lt;/b&gt; &amp; co" in bot.request.texts(8)[-1]


async def test_user_row_is_kept_up_to_date(bot):
    await bot.text(bot.user(9, name="A"), "/start")
    await bot.text(bot.user(9, name="B"), "/start")
    async with bot.db.session() as s:
        users = (await s.scalars(select(User).where(User.id == 9))).all()
    assert [u.first_name for u in users] == ["B"]


def test_long_messages_are_split_at_paragraphs():
    """A summary longer than Telegram's 4096 characters goes out in parts, never cut inside a tag."""
    from bot.effects import split_message

    paras = [f"<b>第{i}段</b>\n" + "字" * 900 for i in range(10)]
    parts = split_message("\n\n".join(paras))
    assert len(parts) > 1 and all(len(p) <= 4096 for p in parts)
    assert "\n\n".join(parts) == "\n\n".join(paras)
    assert all(p.count("<b>") == p.count("</b>") for p in parts)


def test_the_diagrams_in_docs_are_those_of_the_declarations():
    """The wizard and workflow pictures (docs/diagrams.md) are generated from bot/domain/form.py and
    bot/domain/workflow.py; regenerate with `python -m bot.diagrams > docs/diagrams.md`."""
    from pathlib import Path

    from bot import diagrams

    path = Path(__file__).resolve().parent.parent / "docs" / "diagrams.md"
    assert path.read_text(encoding="utf-8") == diagrams.document(), "run: python -m bot.diagrams > docs/diagrams.md"


def test_every_list_pages_the_same_way():
    """R-C1: one pager for every list: a page is clamped to the pages there are, numbered from its first
    item, and gets the previous/next buttons only where there is a page to go to, in the reader's
    language."""
    from bot.i18n import I18n
    from bot.views.common import page_of, pager

    t = I18n("zh").get("zh")
    items = list(range(23))
    last = page_of(items, 9, 10)
    assert (last.items, last.number, last.count, last.first) == ([20, 21, 22], 2, 3, 21)
    assert page_of([], 3, 10).items == [] and page_of([], 3, 10).count == 1
    first, middle = page_of(items, -1, 10), page_of(items, 1, 10)
    assert [b.text for b in pager(t, first, str)] == ["下一页 ›"]
    assert [(b.text, b.callback_data) for b in pager(t, middle, lambda n: f"p{n}")] == [
        ("‹ 上一页", "p0"), ("下一页 ›", "p2")]
    assert pager(t, page_of(items[:5], 0, 10), str) == []
