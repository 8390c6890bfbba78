"""Telegram is told an update was received only once its answer is stored (crash at every step).

The real `python -m bot` against the fake Bot API: an update whose handling is cut short by SIGKILL is
delivered again after the restart and applied once; one handled but not yet confirmed is not applied twice.
"""

from __future__ import annotations

import asyncio

import pytest

from .fake_api import FakeTelegramServer
from .test_e2e_faults import answers, goto_photos, start_bot, stored

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]


def png(i: int) -> bytes:
    from ..apply_steps import png as make

    return make(i)


async def test_update_killed_before_its_commit_is_delivered_again_and_stored_once(
        fake_api: FakeTelegramServer, bot_process_factory, tmp_path):
    """Faults (crash at every step): the bot is killed while it handles a photo (its download
    is slow); Telegram was not yet told the update arrived, so after the restart it comes again, the
    photo is stored once and the user is answered once."""
    bot, _ = await start_bot(fake_api, bot_process_factory, tmp_path)
    u = fake_api.user(700, first_name="王建国")
    await goto_photos(fake_api, u)
    fake_api.inject("getFile", delay=8, times=1)
    since = fake_api.mark()
    uid = fake_api.send_photo(u, png(1))
    await fake_api.wait_fetched(uid, timeout=20)
    await asyncio.sleep(1.5)  # more than long enough for a getUpdates that confirms it, if one were made
    assert not fake_api.is_acked(uid), "the update was confirmed before it was handled"
    await bot.kill()
    fake_api.clear_faults()
    await bot.start()
    await fake_api.wait_reply(u, since=since, timeout=20, settle=1.0)
    replies = answers(fake_api, u, since)
    assert len(replies) == 1 and "1/5" in (replies[0].text or ""), fake_api.transcript(u)
    app, atts = await stored(bot, 700)
    assert app is not None and len(atts) == 1, atts
    assert fake_api.is_acked(uid)
