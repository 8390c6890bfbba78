"""Offline harness: real Update objects through Application.process_update, a recording request."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.request import BaseRequest, RequestData

from bot.app import build_application, prepare_database, set_commands
from bot.clock import MovableClock
from bot.config import Settings
from storage.db import Database

BOT_ID = 123456
TOKEN = f"{BOT_ID}:TEST-TOKEN"


class RecordingRequest(BaseRequest):
    """Answers every Bot API call like Telegram would, and records it."""

    def __init__(self, files: dict[str, bytes] | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.files = files if files is not None else {}
        self._mid = itertools.count(1000)
        self.fail: dict[str, list[Exception]] = {}

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    @property
    def read_timeout(self) -> float | None:
        return 5

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: Any = None, write_timeout: Any = None, connect_timeout: Any = None,
                         pool_timeout: Any = None) -> tuple[int, bytes]:
        if "/file/bot" in url:
            path = url.split("/file/bot", 1)[1].split("/", 1)[1]
            data = self.files.get(path)
            return (200, data) if data is not None else (404, b"")
        name = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data else {}
        if request_data is not None and request_data.multipart_data:  # uploads: keep their file names
            params["_files"] = [v[0] for v in request_data.multipart_data.values()]
        self.record(name, params)
        result = self._result(name, params)
        if isinstance(result, dict) and "message_id" in result:
            params["_message_id"] = result["message_id"]  # the id Telegram gave it, for tests to press
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def record(self, name: str, params: dict[str, Any]) -> None:
        """Keep the call (or raise the fault a test queued for it)."""
        if self.fail.get(name):
            self.calls.append((f"failed:{name}", params))  # not delivered
            raise self.fail[name].pop(0)
        self.calls.append((name, params))

    def _message(self, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
        chat_id = int(params.get("chat_id", 1))
        msg = {"message_id": next(self._mid), "date": int(datetime.now(UTC).timestamp()),
               "chat": {"id": chat_id, "type": "private", "first_name": "U"},
               "from": {"id": BOT_ID, "is_bot": True, "first_name": "Studio", "username": "studio_bot"}}
        if "text" in params:
            msg["text"] = params["text"]
        if params.get("reply_markup"):
            rm = params["reply_markup"]
            msg["reply_markup"] = json.loads(rm) if isinstance(rm, str) else rm
        msg.update(extra)
        return msg

    def _result(self, name: str, params: dict[str, Any]) -> Any:
        if name == "getMe":
            return {"id": BOT_ID, "is_bot": True, "first_name": "Studio", "username": "studio_bot",
                    "can_join_groups": False, "can_read_all_group_messages": False,
                    "supports_inline_queries": False}
        if name in ("sendMessage", "editMessageText"):
            if name == "editMessageText":
                return self._message(params, message_id=int(params.get("message_id", 1)))
            return self._message(params)
        if name == "getFile":
            fid = params["file_id"]
            return {"file_id": fid, "file_unique_id": "u" + fid, "file_size": len(self.files.get(fid, b"")),
                    "file_path": fid}
        if name in ("sendPhoto", "sendDocument", "sendVideo"):
            return self._message(params)
        if name == "sendMediaGroup":
            media = params.get("media")
            media = json.loads(media) if isinstance(media, str) else (media or [])
            return [self._message(params, media_group_id="g1") for _ in media]
        return True

    # --- what a user would see
    def sent(self, chat_id: int | None = None, *, since: int = 0) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for name, p in self.calls[since:]:
            if name in ("sendMessage", "editMessageText", "sendDocument", "sendPhoto", "sendMediaGroup"):
                if chat_id is None or int(p.get("chat_id", 0) or 0) == chat_id:
                    out.append((name, p))
        return out

    def texts(self, chat_id: int | None = None, *, since: int = 0) -> list[str]:
        return [p.get("text", p.get("caption", "")) or "" for _, p in self.sent(chat_id, since=since)]

    def last(self, chat_id: int) -> dict[str, Any]:
        sent = self.sent(chat_id)
        assert sent, f"nothing sent to {chat_id}"
        return sent[-1][1]

    def alerts(self, *, since: int = 0) -> list[dict[str, Any]]:
        return [p for n, p in self.calls[since:] if n == "answerCallbackQuery"]


def buttons(params: dict[str, Any]) -> list[tuple[str, str]]:
    rm = params.get("reply_markup")
    if not rm:
        return []
    rm = json.loads(rm) if isinstance(rm, str) else rm
    return [(b["text"], b.get("callback_data", "")) for row in rm.get("inline_keyboard", []) for b in row]


UPDATE_IDS = itertools.count(1)


@dataclass
class Harness:
    """A bot in-process with its own SQLite file, clock and recording request."""

    app: Any
    request: RecordingRequest
    clock: MovableClock
    db: Database
    settings: Settings
    # one sequence for every harness of the process, as Telegram's: a bot restarted on the same
    # database must not meet an update id it has already handled
    _uid: itertools.count = field(default_factory=lambda: UPDATE_IDS)
    _mid: itertools.count = field(default_factory=lambda: itertools.count(1))

    def user(self, user_id: int, lang: str = "zh-hans", name: str = "张三") -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": name, "language_code": lang}

    def _chat(self, user: dict[str, Any]) -> dict[str, Any]:
        return {"id": user["id"], "type": "private", "first_name": user["first_name"]}

    def _msg(self, user: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {"message_id": next(self._mid), "date": int(self.clock.now().timestamp()),
                "chat": self._chat(user), "from": user, **extra}

    async def feed(self, payload: dict[str, Any]) -> int:
        mark = len(self.request.calls)
        payload = {"update_id": next(self._uid), **payload}
        await self.app.process_update(Update.de_json(payload, self.app.bot))
        await self.app.bot_data["services"].drain()  # notifications sent in the background
        return mark

    async def text(self, user: dict[str, Any], text: str) -> int:
        extra: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            extra["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return await self.feed({"message": self._msg(user, **extra)})

    async def send(self, user: dict[str, Any], **content: Any) -> int:
        return await self.feed({"message": self._msg(user, **content)})

    def add_file(self, data: bytes, name: str | None = None) -> str:
        import hashlib

        fid = "F" + hashlib.sha256(data).hexdigest()[:20] + str(len(self.request.files))
        self.request.files[fid] = data
        return fid

    async def photo(self, user: dict[str, Any], data: bytes, media_group_id: str | None = None) -> int:
        import hashlib

        fid = self.add_file(data)
        uid = hashlib.sha256(data).hexdigest()[:16]
        content: dict[str, Any] = {"photo": [{"file_id": fid, "file_unique_id": uid, "width": 800, "height": 600,
                                              "file_size": len(data)}]}
        if media_group_id:
            content["media_group_id"] = media_group_id
        return await self.send(user, **content)

    async def document(self, user: dict[str, Any], data: bytes, file_name: str, mime: str) -> int:
        import hashlib

        fid = self.add_file(data)
        return await self.send(user, document={"file_id": fid, "file_unique_id": hashlib.sha256(data).hexdigest()[:16],
                                               "file_name": file_name, "mime_type": mime, "file_size": len(data)})

    async def press(self, user: dict[str, Any], data: str, message_id: int = 1) -> int:
        return await self.feed({"callback_query": {
            "id": str(next(self._uid)), "from": user, "chat_instance": "ci", "data": data,
            "message": self._msg(user, text="…") | {"message_id": message_id,
                                                    "from": {"id": BOT_ID, "is_bot": True, "first_name": "Studio"}},
        }})

    async def pings(self, app: Any = None) -> list[str]:
        """Run the reminders job once and wait for what it owed to be delivered; the keys owed."""
        from bot import jobs

        app = app or self.app
        keys = await jobs.send_due_pings(app)
        await app.bot_data["services"].drain()
        return keys

    def last_buttons(self, chat_id: int) -> list[tuple[str, str]]:
        return buttons(self.request.last(chat_id))

    async def tap(self, user: dict[str, Any], label_part: str) -> int:
        """Press the button on the last message whose label contains `label_part`."""
        for label, data in self.last_buttons(user["id"]):
            if label_part in label:
                return await self.press(user, data)
        raise AssertionError(f"no button {label_part!r} in {self.last_buttons(user['id'])}")


async def make_harness(tmp_path: Path, *, now: datetime, admin_ids: str = "", database_url: str | None = None,
                       request_cls: type[RecordingRequest] = RecordingRequest, harness_cls: type[Harness] = Harness,
                       **settings: Any) -> Harness:
    env = {"bot_token": TOKEN, "data_dir": tmp_path, "admin_ids": admin_ids, "album_wait_seconds": 0.2,
           "bot_api_url": "http://127.0.0.1:9/bot", "bot_file_url": "http://127.0.0.1:9/file/bot", **settings}
    if database_url:
        env["database_url"] = database_url
    s = Settings(**env)
    clock = MovableClock(now)
    db = Database(s.database_url)
    await prepare_database(db, clock, s)
    req = request_cls()
    app = build_application(s, clock=clock, request=req, get_updates_request=request_cls(), db=db,
                            rate_limit=False)
    await app.initialize()
    await app.start()
    await set_commands(app)
    return harness_cls(app=app, request=req, clock=clock, db=db, settings=s)


async def close_harness(h: Harness) -> None:
    await h.app.bot_data["services"].drain()
    await h.app.stop()
    await h.app.shutdown()
    await h.db.dispose()
