"""A bot whose web view is on (WEBAPP_URL set), with a submitted application in front of its reviewers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.conftest import JULY_10
from tests.offline import Harness, close_harness, make_harness
from tests.web.helpers import WEBAPP_URL


@pytest_asyncio.fixture
async def web_bot(tmp_path) -> AsyncIterator[Harness]:
    (tmp_path / "web").mkdir()
    h = await make_harness(tmp_path / "web", now=JULY_10, admin_ids="900", webapp_url=WEBAPP_URL)
    yield h
    await close_harness(h)
