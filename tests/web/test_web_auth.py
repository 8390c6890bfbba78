"""Who is who in the web view: Telegram's initData checked on every request (HMAC-SHA256 keyed by the bot
token, at most an hour old), roles and unions re-read from the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.web import auth
from storage.models import Attachment
from tests.web.helpers import client, headers
from tests.web.scenario import ADMIN, DISTRICT, OTHER_UNION_REVIEWER, STRANGER, ready

# Telegram's documented algorithm on a published vector (aiogram's test suite): token "42:TEST"
VECTOR = ("auth_date=1650385342&user=%7B%22id%22%3A42%2C%22first_name%22%3A%22Test%22%7D&query_id=test"
          "&hash=46d2ea5e32911ec8d30999b56247654460c0d20949b6277af519e76271182803")
SIGNED_AT = datetime.fromtimestamp(1650385342, UTC)


def test_init_data_checks_out_on_a_known_good_vector():
    """Web sign-in: the published vector is accepted with its token and names its user."""
    who = auth.verify(VECTOR, "42:TEST", SIGNED_AT + timedelta(minutes=5))
    assert who.id == 42 and who.first_name == "Test"


@pytest.mark.parametrize("token, data, later, reason", [
    ("42:INVALID", VECTOR, 5, "forged"),  # another bot's token
    ("42:TEST", VECTOR.replace("%22Test%22", "%22Tost%22"), 5, "forged"),  # a changed field
    ("42:TEST", VECTOR.replace("hash=46", "hash=47"), 5, "forged"),
    ("42:TEST", VECTOR.split("&hash=")[0], 5, "forged"),  # no hash
    ("42:TEST", VECTOR, 61, "expired"),  # auth_date more than an hour ago
    ("42:TEST", "", 5, "missing"),
])
def test_forged_expired_or_missing_init_data_is_refused(token, data, later, reason):
    with pytest.raises(auth.Unauthorized) as exc:
        auth.verify(data, token, SIGNED_AT + timedelta(minutes=later))
    assert exc.value.reason == reason


async def test_every_api_answers_401_without_good_init_data(web_bot):
    """Web sign-in: a forged, expired or missing initData gets 401 on every page, file and decision."""
    app = await ready(web_bot)
    async with web_bot.db.session() as s:
        file_id = (await s.get(Attachment, 1)).id
    paths = ["/api/home", "/api/queue", "/api/overview", f"/api/app/{app.id}", f"/api/file/{file_id}"]
    bad = {
        "missing": {},
        "expired": headers(web_bot, DISTRICT, age=3601),
        "forged": headers(web_bot, DISTRICT, token="123456:OTHER-TOKEN"),
    }
    async with client(web_bot) as c:
        for why, h in bad.items():
            for path in paths:
                assert (await c.get(path, headers=h)).status_code == 401, (why, path)
            r = await c.post(f"/api/app/{app.id}/decide", headers=h, json={"action": "l1_approve",
                                                                            "status": app.status})
            assert r.status_code == 401, why
        for path in paths:  # the same requests, signed and fresh (the overview is the office's)
            who = ADMIN if path == "/api/overview" else DISTRICT
            assert (await c.get(path, headers=headers(web_bot, who))).status_code == 200, path


async def test_another_unions_reviewer_gets_403_on_the_page_and_every_file(web_bot):
    """R-W1 in the web view: a reviewer of another union, or anyone without a role, gets 403 on the
    application and on each of its photos and documents; its own union's reviewer gets them all."""
    app = await ready(web_bot)
    async with web_bot.db.session() as s:
        from sqlalchemy import select

        files = (await s.scalars(select(Attachment).where(Attachment.application_id == app.id))).all()
    assert {f.kind for f in files} >= {"photo", "document"} and len(files) >= 4
    async with client(web_bot) as c:
        for outsider in (OTHER_UNION_REVIEWER, STRANGER):
            h = headers(web_bot, outsider)
            assert (await c.get(f"/api/app/{app.id}", headers=h)).status_code == 403
            for f in files:
                assert (await c.get(f"/api/file/{f.id}", headers=h)).status_code == 403, (outsider, f.id)
            r = await c.post(f"/api/app/{app.id}/decide", headers=h, json={"action": "l1_approve",
                                                                            "status": app.status})
            assert r.status_code == 403
        own = headers(web_bot, DISTRICT)
        assert (await c.get(f"/api/app/{app.id}", headers=own)).status_code == 200
        for f in files:
            r = await c.get(f"/api/file/{f.id}", headers=own)
            assert r.status_code == 200 and len(r.content) == f.size


async def test_a_revoked_role_is_seen_at_the_next_request(web_bot):
    """Roles are re-read from the database on every request, not taken from a session."""
    from sqlalchemy import update

    from storage.models import RoleGrant

    app = await ready(web_bot)
    async with client(web_bot) as c:
        h = headers(web_bot, DISTRICT)
        assert (await c.get(f"/api/app/{app.id}", headers=h)).status_code == 200
        async with web_bot.db.session() as s:
            await s.execute(update(RoleGrant).where(RoleGrant.user_id == DISTRICT).values(
                revoked_at=web_bot.clock.now()))
            await s.commit()
        assert (await c.get(f"/api/app/{app.id}", headers=h)).status_code == 403
