"""A fake Telegram Bot API server (aiohttp) for end-to-end tests.

Speaks the real HTTP/JSON protocol, so an unmodified python-telegram-bot
application can long-poll it.  Tests drive it from Python: simulate users
(:meth:`FakeTelegramServer.send_text`, :meth:`~FakeTelegramServer.press`, ...),
inspect what the bot did (:attr:`~FakeTelegramServer.calls`,
:meth:`~FakeTelegramServer.chat`) and inject faults
(:meth:`~FakeTelegramServer.inject`).

All state lives in the server object and survives bot restarts.  Simulation
methods are synchronous and may be called from the server's event loop or
from another thread; ``wait_*`` coroutines must run on the server's loop (use
:meth:`FakeTelegramServer.run_sync` from a foreign thread).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import io
import itertools
import json
import mimetypes
import random
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from .fake_formatting import EntityParseError, render, utf16_len

JSON = dict[str, Any]
T = TypeVar("T")

MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024
"""getFile refuses files bigger than this (``Bad Request: file is too big``)."""
MAX_UPLOAD_SIZE = 50 * 1024 * 1024
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply "
    "markup are exactly the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
CONFLICT_POLL = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
)
CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; use "
    "deleteWebhook to delete the webhook first"
)
NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n"
    "</body>\r\n</html>\r\n"
)

_METHODS = [
    "getMe", "logOut", "close", "deleteWebhook", "setWebhook", "getWebhookInfo",
    "getUpdates", "sendMessage", "editMessageText", "editMessageCaption",
    "editMessageReplyMarkup", "deleteMessage", "deleteMessages", "answerCallbackQuery",
    "setMyCommands", "getMyCommands", "deleteMyCommands", "setMyDescription",
    "getMyDescription", "setMyShortDescription", "getMyShortDescription", "setMyName",
    "getMyName", "setChatMenuButton", "getChatMenuButton", "sendChatAction", "getFile",
    "sendPhoto", "sendDocument", "sendVideo", "sendMediaGroup", "getChat",
]  # fmt: skip
_CANONICAL = {m.lower(): m for m in _METHODS}

_STRING_FIELDS = {
    "text", "caption", "callback_query_id", "inline_message_id", "file_id",
    "parse_mode", "language_code", "description", "short_description", "name", "url",
    "secret_token", "action", "business_connection_id", "message_effect_id", "title",
    "question", "emoji", "custom_emoji_id", "ip_address", "photo", "document", "video",
    "audio", "voice", "animation", "video_note", "sticker", "thumbnail", "cover",
    "payload", "currency", "start_parameter",
}  # fmt: skip
_JSON_FIELDS = {
    "reply_markup", "entities", "caption_entities", "media", "commands", "scope",
    "menu_button", "allowed_updates", "link_preview_options", "reply_parameters",
    "message_ids",
}  # fmt: skip
_CHAT_ACTIONS = {
    "typing", "upload_photo", "record_video", "upload_video", "record_voice",
    "upload_voice", "upload_document", "choose_sticker", "find_location",
    "record_video_note", "upload_video_note",
}  # fmt: skip
_INLINE_BUTTON_KINDS = {
    "url", "callback_data", "web_app", "login_url", "switch_inline_query",
    "switch_inline_query_current_chat", "switch_inline_query_chosen_chat",
    "copy_text", "callback_game", "pay",
}  # fmt: skip
_FILE_PREFIX = {
    "photo": "AgACAgUAAxkBAA",
    "document": "BQACAgUAAxkBAA",
    "video": "BAACAgUAAxkBAA",
    "voice": "AwACAgUAAxkBAA",
    "sticker": "CAACAgUAAxkBAA",
    "audio": "CQACAgUAAxkBAA",
}
_FILE_FOLDER = {
    "photo": "photos",
    "document": "documents",
    "video": "videos",
    "voice": "voice",
    "sticker": "stickers",
    "audio": "music",
}


class ApiError(Exception):
    """An error answered to the bot as ``{"ok": false, ...}``."""

    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


# ----------------------------------------------------------------------- records


@dataclass
class UploadedFile:
    """A multipart file part received from the bot."""

    filename: str | None
    content_type: str | None
    data: bytes

    def __repr__(self) -> str:
        return f"UploadedFile({self.filename!r}, {self.content_type!r}, {len(self.data)} bytes)"


@dataclass
class ApiCall:
    """One request of the bot.  Unpacks as ``(method, params)``."""

    index: int
    method: str
    params: JSON
    time: float
    files: dict[str, UploadedFile] = field(default_factory=dict)
    status: int | None = None  # HTTP status once answered (None = still running)
    result: Any = None
    error: str | None = None
    fault: Fault | None = None

    def __iter__(self) -> Iterator[Any]:
        return iter((self.method, self.params))

    def __getitem__(self, item: int) -> Any:
        return (self.method, self.params)[item]

    def __len__(self) -> int:
        return 2

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass
class Fault:
    """A programmed failure; consumed once per matching call (``times`` total)."""

    method: str | tuple[str, ...]
    status: int | None = None
    retry_after: int | None = None
    description: str | None = None
    delay: float = 0.0
    drop: bool = False
    times: int | None = 1  # None = forever
    perform: bool = False  # execute the method first, then fail/delay/drop
    when: Callable[[JSON], bool] | None = None
    body: str | None = None  # raw response body (default: JSON, nginx HTML for 502)
    run: Callable[[JSON], None] | None = None  # called with the params when the fault is taken
    hits: int = 0
    name: str = ""  # the kind of a random fault (`Chaos`)

    def matches(self, method: str, params: JSON) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        names = (self.method,) if isinstance(self.method, str) else self.method
        if "*" not in names and method.lower() not in {n.lower() for n in names}:
            return False
        return self.when is None or bool(self.when(params))

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times


@dataclass
class Chaos:
    """Random faults on a share of the calls (`FakeTelegramServer.chaos`), counted by kind."""

    rate: float
    rng: random.Random
    stall: float
    methods: frozenset[str]
    kinds: tuple[str, ...] = ("502", "429", "lost", "stall")
    taken: list[tuple[int, str]] = field(default_factory=list)  # (call index, kind)

    def fault(self, method: str) -> Fault | None:
        if method not in self.methods or self.rng.random() >= self.rate:
            return None
        kind = self.rng.choice(self.kinds)
        if kind == "502":
            return Fault(method, 502, name=kind)
        if kind == "429":
            return Fault(method, 429, retry_after=1, name=kind)
        if kind == "lost":  # done, but the answer never reaches the bot
            return Fault(method, drop=True, perform=True, name=kind)
        return Fault(method, delay=self.stall, name=kind)  # answered late, if the bot still waits

    def count(self, kind: str, since: int = 0, where: Callable[[int], bool] | None = None) -> int:
        return sum(1 for i, k in self.taken if k == kind and i >= since and (where is None or where(i)))


@dataclass
class FakeUser:
    """A simulated Telegram user (their private chat has ``id == user.id``)."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_premium: bool = False

    @property
    def chat_id(self) -> int:
        return self.id

    def to_dict(self) -> JSON:
        d: JSON = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            d["last_name"] = self.last_name
        if self.username:
            d["username"] = self.username
        if self.language_code:
            d["language_code"] = self.language_code
        if self.is_premium:
            d["is_premium"] = True
        return d

    def chat_dict(self) -> JSON:
        d: JSON = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            d["last_name"] = self.last_name
        if self.username:
            d["username"] = self.username
        return d


ChatRef = FakeUser | int


def _chat_id(chat: ChatRef) -> int:
    return chat.id if isinstance(chat, FakeUser) else int(chat)


@dataclass
class ChatMessage:
    """A message in a private chat as the user sees it (edits applied).

    ``reply_markup`` is the markup as the bot sent it (any keyboard type);
    ``raw`` is the Telegram ``Message`` object.  In event lists
    (:meth:`FakeTelegramServer.wait_messages`) ``action`` is ``sent``,
    ``edited`` or ``deleted`` and the object is a snapshot.
    """

    message_id: int
    chat_id: int
    kind: str  # text, photo, document, video, media (album item), sticker, ...
    from_bot: bool
    text: str | None  # text or caption
    raw: JSON
    entities: list[JSON] = field(default_factory=list)
    reply_markup: JSON | None = None
    media_group_id: str | None = None
    file_id: str | None = None
    file_unique_id: str | None = None
    file_name: str | None = None
    action: str = "sent"
    call_index: int = -1
    edit_count: int = 0
    deleted: bool = False

    @property
    def inline_keyboard(self) -> list[list[JSON]]:
        markup = self.reply_markup or {}
        rows = markup.get("inline_keyboard")
        return rows if isinstance(rows, list) else []

    @property
    def buttons(self) -> list[list[str]]:
        """Inline button labels, row by row."""
        return [[str(b.get("text")) for b in row] for row in self.inline_keyboard]

    @property
    def button_texts(self) -> list[str]:
        return [t for row in self.buttons for t in row]

    @property
    def keyboard(self) -> list[list[str]]:
        """Reply-keyboard labels (``ReplyKeyboardMarkup``), row by row."""
        rows = (self.reply_markup or {}).get("keyboard") or []
        return [[b if isinstance(b, str) else str(b.get("text")) for b in row] for row in rows]

    def button(self, label: str) -> JSON:
        """The inline button whose text equals ``label`` (or uniquely contains it)."""
        flat = [b for row in self.inline_keyboard for b in row]
        exact = [b for b in flat if b.get("text") == label]
        if exact:
            return exact[0]
        partial = [b for b in flat if label in str(b.get("text"))]
        if len(partial) == 1:
            return partial[0]
        raise KeyError(f"no unique button {label!r} in {self.button_texts}")

    def callback_data(self, label: str) -> str:
        return str(self.button(label)["callback_data"])

    def __str__(self) -> str:
        who = "bot" if self.from_bot else "user"
        buttons = f" {self.buttons}" if self.inline_keyboard else ""
        kb = f" keyboard={self.keyboard}" if self.keyboard else ""
        return f"[{who} #{self.message_id} {self.kind}/{self.action}] {self.text!r}{buttons}{kb}"


@dataclass
class StoredFile:
    """A file known to the fake (sent by a user or uploaded by the bot)."""

    file_id: str
    file_unique_id: str
    data: bytes
    kind: str
    file_size: int
    file_name: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    duration: int | None = None
    file_path: str | None = None
    thumb_id: str | None = None  # photos: the smaller PhotoSize

    def photo_size(self) -> JSON:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.file_size,
            "width": self.width or 0,
            "height": self.height or 0,
        }


@dataclass
class _Chat:
    user: FakeUser
    messages: dict[int, ChatMessage] = field(default_factory=dict)
    next_message_id: int = 1
    blocked: bool = False
    last_user_mark: int = 0
    menu_button: JSON | None = None

    def new_id(self) -> int:
        mid = self.next_message_id
        self.next_message_id += 1
        return mid


@dataclass
class _Callback:
    id: str
    chat_id: int
    message_id: int
    data: str | None
    created: float
    answered: bool = False


# ------------------------------------------------------------------------ helpers


def _coerce(name: str, value: Any) -> Any:
    """Turn a form/JSON string value back into the intended type."""
    if not isinstance(value, str):
        return value
    if name in _JSON_FIELDS or (name not in _STRING_FIELDS and value[:1] in "{["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if name in _STRING_FIELDS:
        return value
    if value in ("true", "false"):
        return value == "true"
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    if re.fullmatch(r"-?\d+\.\d+", value):
        return float(value)
    return value


def _image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG/GIF/JPEG/WebP, or None if not an image."""
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            return int(img.size[0]), int(img.size[1])
    except ImportError:
        pass
    except Exception:  # noqa: BLE001 - not an image Pillow can read
        return None
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            seg = int.from_bytes(data[i + 2 : i + 4], "big")
            if marker in (0xC0, 0xC1, 0xC2):
                h = int.from_bytes(data[i + 5 : i + 7], "big")
                w = int.from_bytes(data[i + 7 : i + 9], "big")
                return w, h
            i += 2 + seg
        return 800, 600
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return 512, 512
    return None


def _thumbnail(data: bytes) -> bytes | None:
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            img.thumbnail((90, 90))
            buf = io.BytesIO()
            img.convert("RGB").save(buf, "JPEG")
            return buf.getvalue()
    except Exception:  # noqa: BLE001 - no thumbnail for what Pillow cannot read
        return None


def make_png(width: int = 64, height: int = 48, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A valid PNG image (solid colour) without needing Pillow."""
    import struct
    import zlib

    def chunk(tag: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(tag + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + tag + payload + struct.pack(">I", crc)

    row = b"\x00" + bytes(color) * width
    raw = zlib.compress(row * height)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


# ------------------------------------------------------------------------- server


class FakeTelegramServer:
    """In-process fake of ``api.telegram.org`` (see module docstring)."""

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        *,
        bot_first_name: str = "劳模创新工作室助手",
        bot_username: str = "test_union_bot",
        host: str = "127.0.0.1",
        port: int = 0,
        first_update_id: int = 1000,
        callback_query_ttl: float = 15.0,
    ) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_first_name = bot_first_name
        self.bot_username = bot_username
        self.host = host
        self.port = port
        self.callback_query_ttl = callback_query_ttl
        self.time_shift = 0.0
        """Seconds added to the fake's clock (message dates)."""

        self.calls: list[ApiCall] = []
        self.updates: list[JSON] = []
        """Every update ever queued (confirmed or not), in order."""
        self.acked_offset = 0
        """Highest ``offset`` the bot confirmed: updates with id < it are acked."""
        self.fetched_update_ids: set[int] = set()
        self.answered_callbacks: dict[str, JSON] = {}
        self.webhook_url = ""
        self.webhook: JSON = {}
        self.commands: dict[tuple[tuple[Any, ...], str], list[JSON]] = {}
        self.descriptions: dict[str, str] = {}
        self.short_descriptions: dict[str, str] = {}
        self.names: dict[str, str] = {}
        self.default_menu_button: JSON = {"type": "commands"}
        self.files: dict[str, StoredFile] = {}
        self.faults: list[Fault] = []
        self.random_faults: Chaos | None = None
        self.diagnostics: list[Callable[[], str]] = []
        """Callables whose text is appended to wait_* timeout errors (e.g. bot log)."""

        self._pending: list[JSON] = []
        self._next_update_id = first_update_id
        self._users: dict[int, FakeUser] = {}
        self._chats: dict[int, _Chat] = {}
        self._events: list[ChatMessage] = []
        self._callbacks: dict[str, _Callback] = {}
        self._allowed_updates: list[str] = []
        self._poll_generation = 0
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self._closing = False
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        """Pass as PTB ``base_url`` (PTB appends the token)."""
        return f"http://{self.host}:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """Pass as PTB ``base_file_url``."""
        return f"http://{self.host}:{self.port}/file/bot"

    @property
    def bot_user(self) -> JSON:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    async def start(self) -> None:
        """Bind ``host:port`` (port 0 = free port) and start serving."""
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        self._closing = False
        app = web.Application(client_max_size=MAX_UPLOAD_SIZE + 10 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("*", "/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:
            self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Release long polls and shut the server down."""
        self._closing = True
        self._fire()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegramServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def start_in_thread(self, timeout: float = 10.0) -> None:
        """Run the server on its own event loop in a daemon thread (sync tests)."""
        ready = threading.Event()
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-telegram", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError("fake Telegram server did not start")

    def stop_thread(self) -> None:
        """Stop a server started with :meth:`start_in_thread`."""
        if self._thread is None or self._loop is None:
            return
        self.run_sync(self.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._thread = None

    def run_sync(self, coro: Any, timeout: float | None = 60.0) -> Any:
        """Run a coroutine (e.g. ``wait_reply``) on the server loop from another thread."""
        assert self._loop is not None, "server not started"
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return fut.result(timeout)

    # ------------------------------------------------------------ clock / notify

    def now(self) -> int:
        """Current fake time as Unix seconds."""
        return int(time.time() + self.time_shift)

    def _fire(self) -> None:
        ev = self._event
        self._event = asyncio.Event()
        if ev is not None:
            ev.set()

    def _notify(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._fire()
        else:
            loop.call_soon_threadsafe(self._fire)

    async def _wait_change(self, timeout: float) -> None:  # noqa: ASYNC109
        ev = self._event
        if ev is None:
            await asyncio.sleep(timeout)
            return
        try:
            await asyncio.wait_for(ev.wait(), timeout)
        except TimeoutError:
            pass

    # ------------------------------------------------------------ users / updates

    def user(
        self,
        user_id: int,
        first_name: str = "张三",
        language_code: str | None = "zh-hans",
        *,
        last_name: str | None = None,
        username: str | None = None,
    ) -> FakeUser:
        """Get or create a user (and their private chat).  Existing users are returned as-is."""
        with self._lock:
            existing = self._users.get(user_id)
            if existing is not None:
                return existing
            u = FakeUser(user_id, first_name, last_name, username, language_code)
            self._users[user_id] = u
            self._chats[user_id] = _Chat(u)
            return u

    def queue_update(self, payload_type: str, payload: JSON) -> int:
        """Queue a raw update ``{"update_id": N, payload_type: payload}``; return N."""
        with self._lock:
            uid = self._next_update_id
            self._next_update_id += 1
            update = {"update_id": uid, payload_type: payload}
            self._pending.append(update)
            self.updates.append(update)
        self._notify()
        return uid

    def _chat_of(self, user: ChatRef) -> _Chat:
        chat = self._chats.get(_chat_id(user))
        if chat is None:
            raise KeyError(f"unknown user/chat {user!r}; create it with server.user()")
        return chat

    def _user_message(self, user: FakeUser, kind: str, content: JSON, text: str | None) -> JSON:
        chat = self._chat_of(user)
        mid = chat.new_id()
        raw: JSON = {
            "message_id": mid,
            "from": user.to_dict(),
            "chat": user.chat_dict(),
            "date": self.now(),
            **content,
        }
        chat.last_user_mark = len(self.calls)
        msg = ChatMessage(
            message_id=mid,
            chat_id=chat.user.id,
            kind=kind,
            from_bot=False,
            text=text,
            raw=raw,
            entities=list(content.get("entities") or content.get("caption_entities") or []),
            media_group_id=content.get("media_group_id"),
            call_index=len(self.calls),
        )
        chat.messages[mid] = msg
        return copy.deepcopy(raw)

    def send_raw(self, user: FakeUser, fields: JSON, kind: str | None = None) -> int:
        """Queue a user message with arbitrary extra Message fields; return the update id."""
        kind = kind or next((k for k in fields if k not in ("caption", "entities")), "text")
        display = fields.get("text", fields.get("caption"))
        with self._lock:
            msg = self._user_message(user, kind, dict(fields), display)
            return self.queue_update("message", msg)

    def send_text(self, user: FakeUser, text: str, *, reply_to: int | None = None, **extra: Any) -> int:
        """User types ``text`` (``/cmd`` gets a ``bot_command`` entity); return update id.

        ``reply_to`` = message id the user replies to (e.g. a ForceReply prompt).
        """
        content: JSON = {"text": text, **extra}
        m = re.match(r"/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?", text)
        if m and "entities" not in extra:
            content["entities"] = [{"offset": 0, "length": utf16_len(m.group(0)), "type": "bot_command"}]
        if reply_to is not None:
            with self._lock:
                target = self._chat_of(user).messages[reply_to]
                replied = copy.deepcopy(target.raw)
            replied.pop("reply_to_message", None)
            content["reply_to_message"] = replied
        return self.send_raw(user, content, "text")

    def send_photo(
        self,
        user: FakeUser,
        image: bytes | None = None,
        caption: str | None = None,
        media_group_id: str | None = None,
        **extra: Any,
    ) -> int:
        """User sends a photo (two PhotoSizes: thumbnail + original)."""
        with self._lock:
            stored = self._store_photo(image if image is not None else make_png())
            content: JSON = {"photo": self._photo_sizes(stored), **extra}
            if caption is not None:
                content["caption"] = caption
            if media_group_id is not None:
                content["media_group_id"] = media_group_id
            msg = self._user_message(user, "photo", content, caption)
            self._set_file_meta(user, msg, stored)
            return self.queue_update("message", msg)

    def send_album(self, user: FakeUser, images: Sequence[bytes], caption: str | None = None) -> list[int]:
        """User sends several photos as one album (shared ``media_group_id``)."""
        group = str(10**17 + next(self._ids) * 7919)
        return [
            self.send_photo(user, img, caption if i == 0 else None, media_group_id=group)
            for i, img in enumerate(images)
        ]

    def send_document(
        self,
        user: FakeUser,
        data: bytes,
        file_name: str = "file.pdf",
        mime_type: str | None = None,
        caption: str | None = None,
        *,
        file_size: int | None = None,
        media_group_id: str | None = None,
        **extra: Any,
    ) -> int:
        """User sends a file.  ``file_size`` may fake a size (e.g. > 20 MB)."""
        mime = mime_type or mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        with self._lock:
            stored = self._store(data, "document", file_name=file_name, mime_type=mime, file_size=file_size)
            content: JSON = {"document": self._document_dict(stored), **extra}
            if caption is not None:
                content["caption"] = caption
            if media_group_id is not None:
                content["media_group_id"] = media_group_id
            msg = self._user_message(user, "document", content, caption)
            self._set_file_meta(user, msg, stored)
            return self.queue_update("message", msg)

    def send_video(
        self,
        user: FakeUser,
        data: bytes = b"\x00\x00\x00\x18ftypmp42fake-video",
        caption: str | None = None,
        *,
        duration: int = 5,
        width: int = 640,
        height: int = 360,
        file_name: str | None = "video.mp4",
    ) -> int:
        """User sends a video."""
        with self._lock:
            stored = self._store(
                data, "video", file_name=file_name, mime_type="video/mp4",
                width=width, height=height, duration=duration,
            )  # fmt: skip
            content: JSON = {"video": self._video_dict(stored)}
            if caption is not None:
                content["caption"] = caption
            msg = self._user_message(user, "video", content, caption)
            self._set_file_meta(user, msg, stored)
            return self.queue_update("message", msg)

    def send_voice(self, user: FakeUser, data: bytes = b"OggS\x00fake-voice", duration: int = 3) -> int:
        """User sends a voice note."""
        with self._lock:
            stored = self._store(data, "voice", mime_type="audio/ogg", duration=duration)
            voice = {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "duration": duration,
                "mime_type": "audio/ogg",
                "file_size": stored.file_size,
            }
            msg = self._user_message(user, "voice", {"voice": voice}, None)
            self._set_file_meta(user, msg, stored)
            return self.queue_update("message", msg)

    def send_sticker(self, user: FakeUser, emoji: str = "👍") -> int:
        """User sends a (static WebP) sticker."""
        with self._lock:
            data = b"RIFF\x00\x00\x00\x00WEBPVP8 fake-sticker-" + emoji.encode()
            stored = self._store(data, "sticker", mime_type="image/webp", width=512, height=512)
            sticker = {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "emoji": emoji,
                "set_name": "FakeStickers",
                "file_size": stored.file_size,
            }
            msg = self._user_message(user, "sticker", {"sticker": sticker}, None)
            self._set_file_meta(user, msg, stored)
            return self.queue_update("message", msg)

    def send_location(self, user: FakeUser, latitude: float = 39.9042, longitude: float = 116.4074) -> int:
        """User shares a location."""
        loc = {"latitude": latitude, "longitude": longitude}
        return self.send_raw(user, {"location": loc}, "location")

    def send_contact(
        self,
        user: FakeUser,
        phone_number: str = "+8613800138000",
        first_name: str | None = None,
        *,
        own: bool = True,
    ) -> int:
        """User shares a contact (their own by default, with ``user_id``)."""
        contact: JSON = {"phone_number": phone_number, "first_name": first_name or user.first_name}
        if own:
            contact["user_id"] = user.id
        return self.send_raw(user, {"contact": contact}, "contact")

    def edit_user_text(self, user: FakeUser, message_id: int, text: str) -> int:
        """User edits one of their text messages (``edited_message`` update)."""
        with self._lock:
            chat = self._chat_of(user)
            msg = chat.messages[message_id]
            assert not msg.from_bot, "users can only edit their own messages"
            msg.raw["text"] = text
            msg.raw["edit_date"] = self.now()
            msg.text = text
            chat.last_user_mark = len(self.calls)
            return self.queue_update("edited_message", copy.deepcopy(msg.raw))

    def press(self, user: FakeUser, message_id: int, data: str, *, check: bool = True) -> str:
        """User taps an inline button; queue a CallbackQuery and return its id.

        With ``check`` the current message must carry a button with that
        ``callback_data`` (stale/removed keyboards raise ``ValueError``).
        """
        with self._lock:
            chat = self._chat_of(user)
            msg = chat.messages.get(message_id)
            if msg is None or msg.deleted:
                raise ValueError(f"message {message_id} not in chat {user.id}")
            if check:
                datas = [b.get("callback_data") for row in msg.inline_keyboard for b in row]
                if data not in datas:
                    raise ValueError(
                        f"message {message_id} has no button with callback_data {data!r}; "
                        f"buttons: {msg.inline_keyboard}"
                    )
            cq_id = str(4_000_000_000_000_000_000 + next(self._ids) * 1_000_003 + user.id % 1000)
            self._callbacks[cq_id] = _Callback(cq_id, chat.user.id, message_id, data, time.monotonic())
            chat.last_user_mark = len(self.calls)
            payload = {
                "id": cq_id,
                "from": user.to_dict(),
                "message": copy.deepcopy(msg.raw),
                "chat_instance": str(-(abs(user.id) * 7_919 + 1_234_567)),
                "data": data,
            }
            self.queue_update("callback_query", payload)
            return cq_id

    def press_button(self, user: FakeUser, label: str, message_id: int | None = None) -> str:
        """Tap the button labelled ``label`` on ``message_id`` (default: newest message having it)."""
        with self._lock:
            if message_id is None:
                for msg in reversed(self.chat(user)):
                    try:
                        msg.button(label)
                    except KeyError:
                        continue
                    message_id = msg.message_id
                    break
                else:
                    raise ValueError(f"no message in chat {user.id} has a button {label!r}")
            msg = self._chat_of(user).messages[message_id]
            return self.press(user, message_id, msg.callback_data(label))

    def block(self, user: FakeUser) -> int:
        """User blocks the bot: ``my_chat_member`` update, later sends get 403."""
        return self._set_blocked(user, True)

    def unblock(self, user: FakeUser) -> int:
        """User unblocks (restarts) the bot."""
        return self._set_blocked(user, False)

    def _set_blocked(self, user: FakeUser, blocked: bool) -> int:
        with self._lock:
            chat = self._chat_of(user)
            chat.blocked = blocked
            member = {"user": self.bot_user, "status": "member"}
            kicked = {"user": self.bot_user, "status": "kicked", "until_date": 0}
            payload = {
                "chat": user.chat_dict(),
                "from": user.to_dict(),
                "date": self.now(),
                "old_chat_member": member if blocked else kicked,
                "new_chat_member": kicked if blocked else member,
            }
            return self.queue_update("my_chat_member", payload)

    # ------------------------------------------------------------ files

    def add_file(
        self,
        data: bytes,
        kind: str = "document",
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        file_size: int | None = None,
    ) -> tuple[str, str]:
        """Store bytes as a file; return ``(file_id, file_unique_id)``."""
        with self._lock:
            stored = (
                self._store_photo(data)
                if kind == "photo"
                else self._store(data, kind, file_name=file_name, mime_type=mime_type, file_size=file_size)
            )
            return stored.file_id, stored.file_unique_id

    def file_bytes(self, file_id: str) -> bytes:
        return self.files[file_id].data

    def _store(
        self,
        data: bytes,
        kind: str,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        file_size: int | None = None,
        width: int | None = None,
        height: int | None = None,
        duration: int | None = None,
    ) -> StoredFile:
        digest = hashlib.sha256(data).digest()
        unique = "AQAD" + base64.urlsafe_b64encode(digest[:9]).decode()
        prefix = _FILE_PREFIX.get(kind, "BQACAgUAAxkBAA")
        file_id = prefix + base64.urlsafe_b64encode(secrets.token_bytes(33)).decode().rstrip("=")
        stored = StoredFile(
            file_id=file_id,
            file_unique_id=unique,
            data=data,
            kind=kind,
            file_size=file_size if file_size is not None else len(data),
            file_name=file_name,
            mime_type=mime_type,
            width=width,
            height=height,
            duration=duration,
        )
        self.files[file_id] = stored
        return stored

    def _store_photo(self, data: bytes) -> StoredFile:
        w, h = _image_size(data) or (1280, 960)
        thumb_data = _thumbnail(data) or (b"thumb:" + hashlib.sha256(data).digest())
        tw, th = _image_size(thumb_data) or (90, max(1, 90 * h // max(w, 1)))
        thumb = self._store(thumb_data, "photo", mime_type="image/jpeg", width=tw, height=th)
        full = self._store(data, "photo", mime_type="image/jpeg", width=w, height=h)
        full.thumb_id = thumb.file_id
        return full

    def _photo_sizes(self, stored: StoredFile) -> list[JSON]:
        sizes = []
        if stored.thumb_id and stored.thumb_id in self.files:
            sizes.append(self.files[stored.thumb_id].photo_size())
        sizes.append(stored.photo_size())
        return sizes

    @staticmethod
    def _document_dict(stored: StoredFile) -> JSON:
        d: JSON = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        if stored.file_name:
            d["file_name"] = stored.file_name
        if stored.mime_type:
            d["mime_type"] = stored.mime_type
        d["file_size"] = stored.file_size
        return d

    @staticmethod
    def _video_dict(stored: StoredFile) -> JSON:
        d: JSON = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": stored.width or 640,
            "height": stored.height or 360,
            "duration": stored.duration or 1,
            "mime_type": stored.mime_type or "video/mp4",
            "file_size": stored.file_size,
        }
        if stored.file_name:
            d["file_name"] = stored.file_name
        return d

    def _set_file_meta(self, user: FakeUser, raw: JSON, stored: StoredFile) -> None:
        msg = self._chat_of(user).messages[raw["message_id"]]
        msg.file_id = stored.file_id
        msg.file_unique_id = stored.file_unique_id
        msg.file_name = stored.file_name

    # ------------------------------------------------------------ inspection

    def mark(self) -> int:
        """A point in the call log; pass as ``since=`` to the ``wait_*`` helpers."""
        return len(self.calls)

    def chat(self, chat: ChatRef) -> list[ChatMessage]:
        """The bot's current (not deleted) messages in this chat, oldest first."""
        with self._lock:
            c = self._chat_of(chat)
            return [m for m in sorted(c.messages.values(), key=lambda m: m.message_id)
                    if m.from_bot and not m.deleted]  # fmt: skip

    def history(self, chat: ChatRef) -> list[ChatMessage]:
        """All current messages (user's and bot's) in this chat."""
        with self._lock:
            c = self._chat_of(chat)
            return [m for m in sorted(c.messages.values(), key=lambda m: m.message_id)
                    if not m.deleted]  # fmt: skip

    def last_message(self, chat: ChatRef) -> ChatMessage | None:
        msgs = self.chat(chat)
        return msgs[-1] if msgs else None

    def events(self, chat: ChatRef | None = None, since: int = 0) -> list[ChatMessage]:
        """Snapshots of bot sends/edits/deletes (``action``) from calls >= ``since``."""
        with self._lock:
            cid = None if chat is None else _chat_id(chat)
            return [e for e in self._events
                    if e.call_index >= since and (cid is None or e.chat_id == cid)]  # fmt: skip

    def reactions(self, chat: ChatRef, since: int = 0) -> list[ChatMessage]:
        """The events a person reads as the bot's reaction: all but an earlier message losing or
        changing only its buttons (``editMessageReplyMarkup``)."""
        return [e for e in self.events(chat, since) if self.calls[e.call_index].method != "editMessageReplyMarkup"]

    def transcript(self, chat: ChatRef) -> str:
        """Readable dump of the chat (for assertion messages)."""
        return "\n".join(str(m) for m in self.history(chat))

    def calls_to(self, method: str, since: int = 0) -> list[ApiCall]:
        low = method.lower()
        return [c for c in self.calls[since:] if c.method.lower() == low]

    def failed_calls(self, since: int = 0) -> list[ApiCall]:
        """Answered calls with a non-200 status (including injected faults)."""
        return [c for c in self.calls[since:] if c.status is not None and c.status != 200]

    def pending_updates(self) -> list[JSON]:
        """Queued updates not yet confirmed by the bot via ``offset``."""
        with self._lock:
            return copy.deepcopy(self._pending)

    def is_fetched(self, update_id: int) -> bool:
        """True once a getUpdates response containing it was written to the bot."""
        return update_id in self.fetched_update_ids

    def is_acked(self, update_id: int) -> bool:
        return self.acked_offset > update_id

    def get_commands(self, scope: JSON | None = None, language_code: str = "") -> list[JSON]:
        """Commands as stored by setMyCommands for exactly this scope + language."""
        return list(self.commands.get((self._scope_key(scope), language_code or ""), []))

    def visible_commands(self, user: FakeUser) -> list[JSON]:
        """The command menu this private-chat user would see (Telegram's fallback order)."""
        lang = (user.language_code or "").split("-")[0]
        scopes = [
            {"type": "chat", "chat_id": user.id},
            {"type": "all_private_chats"},
            {"type": "default"},
        ]
        for scope in scopes:
            for code in ([lang] if lang else []) + [""]:
                key = (self._scope_key(scope), code)
                if key in self.commands:
                    return list(self.commands[key])
        return []

    def describe(self, chat: ChatRef | None = None, last: int = 25) -> str:
        """Diagnostics: recent calls, optional chat transcript and diagnostics hooks."""
        lines = ["-- last calls:"]
        for c in self.calls[-last:]:
            params = {k: v for k, v in c.params.items() if k not in ("timeout",)}
            text = json.dumps(params, ensure_ascii=False, default=repr)
            if len(text) > 300:
                text = text[:300] + "..."
            lines.append(f"  #{c.index} {c.method} -> {c.status} {c.error or ''} {text}")
        if chat is not None and _chat_id(chat) in self._chats:
            lines.append(f"-- chat {_chat_id(chat)}:")
            lines.append(self.transcript(chat))
        for hook in self.diagnostics:
            try:
                lines.append(hook())
            except Exception as exc:  # noqa: BLE001  # pragma: no cover - diagnostics only
                lines.append(f"(diagnostic failed: {exc!r})")
        return "\n".join(lines)

    # ------------------------------------------------------------ waiting

    async def wait_for(
        self,
        predicate: Callable[[], T | None],
        timeout: float = 10.0,  # noqa: ASYNC109
        description: str = "condition",
        chat: ChatRef | None = None,
    ) -> T:
        """Wait until ``predicate()`` is truthy (re-checked on every change); return it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"timed out after {timeout}s waiting for {description}\n" + self.describe(chat)
                )
            await self._wait_change(min(remaining, 0.5))

    def _since(self, chat: ChatRef, since: int | None) -> int:
        if since is not None:
            return since
        with self._lock:
            return self._chat_of(chat).last_user_mark

    async def wait_messages(
        self,
        chat: ChatRef,
        since: int | None = None,
        count: int = 1,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> list[ChatMessage]:
        """Wait for >= ``count`` bot sends/edits/deletes in ``chat`` after ``since`` (`reactions`).

        ``since`` defaults to the user's last action in that chat.  Returns all
        such events (snapshots with ``action``) present at that moment.
        """
        start = self._since(chat, since)

        def check() -> list[ChatMessage] | None:
            evs = self.reactions(chat, start)
            return evs if len(evs) >= count else None

        return await self.wait_for(check, timeout, f"{count} bot message(s) in chat {_chat_id(chat)}", chat)

    async def wait_reply(
        self,
        chat: ChatRef,
        since: int | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109
        settle: float = 0.2,
    ) -> list[ChatMessage]:
        """Wait for the bot's reaction in ``chat`` and until it is quiet for ``settle`` s."""
        start = self._since(chat, since)
        events = await self.wait_messages(chat, start, 1, timeout)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            n = len(events)
            await asyncio.sleep(settle)
            events = self.reactions(chat, start)
            if len(events) == n:
                break
        return events

    async def wait_call(
        self,
        method: str,
        since: int = 0,
        where: Callable[[JSON], bool] | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109
        answered: bool = False,
    ) -> ApiCall:
        """Wait for a call to ``method`` (optionally matching ``where``; answered)."""

        def check() -> ApiCall | None:
            for c in self.calls_to(method, since):
                if (where is None or where(c.params)) and (not answered or c.status is not None):
                    return c
            return None

        return await self.wait_for(check, timeout, f"a {method} call")

    async def wait_fetched(self, update_id: int, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until the bot has received ``update_id`` through getUpdates."""
        await self.wait_for(lambda: self.is_fetched(update_id), timeout, f"update {update_id} fetched")

    async def wait_acked(self, update_id: int, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until the bot confirmed ``update_id`` (a later ``offset``)."""
        await self.wait_for(lambda: self.is_acked(update_id), timeout, f"update {update_id} acked")

    async def wait_answer(self, callback_query_id: str, timeout: float = 10.0) -> JSON:  # noqa: ASYNC109
        """Wait for answerCallbackQuery on this id; return its params."""
        return await self.wait_for(
            lambda: self.answered_callbacks.get(callback_query_id),
            timeout,
            f"answerCallbackQuery({callback_query_id})",
        )

    async def wait_idle(self, quiet: float = 0.3, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until no call other than getUpdates arrived for ``quiet`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            busy = [c for c in self.calls if c.method != "getUpdates"]
            last = max((c.time for c in busy), default=0.0)
            if time.monotonic() - last >= quiet and all(c.status is not None for c in busy):
                return
            if loop.time() > deadline:
                raise TimeoutError("bot did not become idle\n" + self.describe())
            await asyncio.sleep(quiet / 3)

    # ------------------------------------------------------------ faults

    def inject(
        self,
        method: str | tuple[str, ...],
        status: int | None = None,
        *,
        retry_after: int | None = None,
        description: str | None = None,
        delay: float = 0.0,
        drop: bool = False,
        times: int | None = 1,
        perform: bool = False,
        when: Callable[[JSON], bool] | None = None,
        body: str | None = None,
        run: Callable[[JSON], None] | None = None,
    ) -> Fault:
        """Program a failure for ``method`` (``"*"`` = any).

        ``status`` answers an error (429 adds ``retry_after``, default 1; 502
        answers nginx HTML); ``delay`` sleeps first (alone: a slow but
        successful call); ``drop`` closes the connection without response;
        ``perform`` executes the call before failing (e.g. message sent but
        the response is lost).  Consumed once per matching call, ``times``
        times (None = forever); ``when(params)`` narrows the match; ``run(params)``
        is called as the fault is taken (e.g. to kill the bot at that moment).
        """
        if status == 429 and retry_after is None:
            retry_after = 1
        fault = Fault(method, status, retry_after, description, delay, drop, times, perform, when, body, run)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()
            self.random_faults = None

    def chaos(self, rate: float, *, seed: int = 0, stall: float = 6.0,
              methods: Sequence[str] = ("sendMessage", "editMessageText", "editMessageReplyMarkup",
                                        "answerCallbackQuery", "sendDocument", "sendMediaGroup", "sendPhoto",
                                        "sendVideo", "setMyCommands", "deleteMyCommands")) -> Chaos:
        """Fail a share ``rate`` of the calls to ``methods`` at random (seeded): an nginx 502, a 429 with
        ``retry_after`` 1, a lost answer (done, the connection dropped) or a stall of ``stall`` seconds
        (done afterwards only if the bot still waits). Programmed faults come first."""
        with self._lock:
            self.random_faults = Chaos(rate, random.Random(seed), stall, frozenset(methods))
            return self.random_faults

    def _take_fault(self, method: str, params: JSON, index: int = -1) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, params):
                    fault.hits += 1
                    return fault
            chance = self.random_faults.fault(method) if self.random_faults is not None else None
            if self.random_faults is not None and chance is not None:
                self.random_faults.taken.append((index, chance.name))
                return chance
        return None

    async def _apply_fault(self, fault: Fault, request: web.Request) -> web.StreamResponse | None:
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.drop:
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)
        if fault.status:
            if fault.body is not None or fault.status in (502, 504):
                body = fault.body if fault.body is not None else NGINX_502
                return web.Response(status=fault.status, text=body, content_type="text/html")
            description = fault.description or {
                429: f"Too Many Requests: retry after {fault.retry_after}",
                500: "Internal Server Error",
                400: "Bad Request: injected fault",
                403: "Forbidden: bot was blocked by the user",
                409: CONFLICT_POLL,
            }.get(fault.status, f"Error {fault.status}")
            params = {"retry_after": fault.retry_after} if fault.retry_after else None
            return self._error(fault.status, description, params)
        return None

    # ------------------------------------------------------------ HTTP

    @staticmethod
    def _error(status: int, description: str, parameters: JSON | None = None) -> web.Response:
        body: JSON = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        return web.json_response(body, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))

    @staticmethod
    def _ok(result: Any) -> web.Response:
        return web.json_response(
            {"ok": True, "result": result}, dumps=lambda o: json.dumps(o, ensure_ascii=False)
        )

    async def _read_params(self, request: web.Request) -> tuple[JSON, dict[str, UploadedFile]]:
        raw: JSON = dict(request.query)
        files: dict[str, UploadedFile] = {}
        ctype = request.content_type
        if request.method == "POST" and request.can_read_body:
            if ctype == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    raw.update(body)
            elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        files[key] = UploadedFile(value.filename, value.content_type, value.file.read())
                    else:
                        raw[key] = value
        params = {k: _coerce(k, v) for k, v in raw.items()}
        params.update(files)
        return params, files

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        if not re.fullmatch(r"\d+:[\w-]+", token):
            return self._error(404, "Not Found")
        if token != self.token:
            return self._error(401, "Unauthorized")
        raw_method = request.match_info["method"]
        method = _CANONICAL.get(raw_method.lower(), raw_method)
        try:
            params, files = await self._read_params(request)
        except ValueError as exc:
            return self._error(400, f"Bad Request: can't parse request: {exc}")
        with self._lock:
            call = ApiCall(len(self.calls), method, params, time.monotonic(), files)
            self.calls.append(call)
        self._notify()
        try:
            response = await self._dispatch(call, request)
        finally:
            if call.status is None:
                call.status = 499  # cancelled: client went away
                call.error = "client disconnected"
            self._notify()
        return response

    async def _dispatch(self, call: ApiCall, request: web.Request) -> web.StreamResponse:
        handler = getattr(self, f"_m_{call.method}", None) if call.method in _METHODS else None
        if handler is None:
            call.status, call.error = 404, "Not Found"
            return self._error(404, "Not Found")
        fault = self._take_fault(call.method, call.params, call.index)
        call.fault = fault
        if fault is not None and fault.run is not None:
            fault.run(call.params)
        if fault is not None and not fault.perform:
            response = await self._apply_fault(fault, request)
            if response is not None:
                call.status = 0 if fault.drop else response.status
                call.error = "injected fault"
                return response
        try:
            result = handler(call)
            if asyncio.iscoroutine(result):
                result = await result
        except ApiError as exc:
            if fault is not None and fault.perform:
                await self._apply_fault(fault, request)
            call.status, call.error = exc.status, exc.description
            return self._error(exc.status, exc.description, exc.parameters)
        if fault is not None and fault.perform:
            response = await self._apply_fault(fault, request)
            if response is not None:
                call.result = result
                call.status = 0 if fault.drop else response.status
                call.error = "injected fault (performed)"
                return response
        call.result = result
        if call.method == "getUpdates":
            return await self._write_updates(call, request, result)
        call.status = 200
        return self._ok(result)

    async def _write_updates(
        self, call: ApiCall, request: web.Request, updates: list[JSON]
    ) -> web.StreamResponse:
        response = self._ok(updates)
        await response.prepare(request)
        await response.write_eof()
        call.status = 200
        transport = request.transport
        if updates and transport is not None and not transport.is_closing():
            with self._lock:
                self.fetched_update_ids.update(u["update_id"] for u in updates)
            self._notify()
        return response

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return self._error(401, "Unauthorized")
        path = request.match_info["path"]
        with self._lock:
            stored = next((f for f in self.files.values() if f.file_path == path), None)
        if stored is None:
            return self._error(404, "Not Found")
        return web.Response(body=stored.data, content_type=stored.mime_type or "application/octet-stream")

    # ------------------------------------------------------------ method helpers

    def _chat_for(self, params: JSON) -> _Chat:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _bad("chat_id is empty")
        chat = self._chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None:
            raise _bad("chat not found")
        if chat.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    def _check_markup(self, markup: Any, inline_only: bool = False) -> JSON | None:
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            _check_inline_keyboard(markup["inline_keyboard"])
            return markup
        if inline_only:
            raise _bad("inline keyboard expected")
        if "keyboard" in markup:
            _check_reply_keyboard(markup["keyboard"])
            return markup
        if markup.get("remove_keyboard") is True or markup.get("force_reply") is True:
            return markup
        raise _bad("can't parse reply keyboard markup JSON object")

    @staticmethod
    def _echo_markup(markup: JSON | None) -> JSON | None:
        """What Telegram echoes in Message.reply_markup (inline keyboards only)."""
        if markup and markup.get("inline_keyboard"):
            return {"inline_keyboard": copy.deepcopy(markup["inline_keyboard"])}
        return None

    def _render(
        self, text: Any, parse_mode: Any, entities: Any, caption: bool = False
    ) -> tuple[str, list[JSON]]:
        try:
            plain, ents = render(str(text), parse_mode if isinstance(parse_mode, str) else None, entities)
        except EntityParseError as exc:
            raise _bad(str(exc)) from None
        limit = MAX_CAPTION_LENGTH if caption else MAX_TEXT_LENGTH
        if utf16_len(plain) > limit:
            raise _bad("message caption is too long" if caption else "message is too long")
        return plain, ents

    def _caption(self, params: JSON, src: JSON | None = None) -> JSON:
        src = params if src is None else src
        content: JSON = {}
        if src.get("caption"):
            text, ents = self._render(
                src["caption"], src.get("parse_mode"), src.get("caption_entities"), caption=True
            )
            if text:
                content["caption"] = text
            if ents:
                content["caption_entities"] = ents
        if src.get("show_caption_above_media"):
            content["show_caption_above_media"] = True
        if src.get("has_spoiler"):
            content["has_media_spoiler"] = True
        return content

    def _reply_to(self, chat: _Chat, params: JSON) -> JSON | None:
        rp = params.get("reply_parameters")
        mid = rp.get("message_id") if isinstance(rp, dict) else params.get("reply_to_message_id")
        if mid is None:
            return None
        allow = bool(
            (rp or {}).get("allow_sending_without_reply")
            if isinstance(rp, dict)
            else params.get("allow_sending_without_reply")
        )
        target = chat.messages.get(int(mid))
        if target is None or target.deleted:
            if allow:
                return None
            raise _bad("message to be replied not found")
        replied = copy.deepcopy(target.raw)
        replied.pop("reply_to_message", None)
        return replied

    def _bot_message(
        self,
        call: ApiCall,
        chat: _Chat,
        kind: str,
        content: JSON,
        markup: JSON | None,
        *,
        reply_to: JSON | None = None,
        text: str | None = None,
        stored: StoredFile | None = None,
    ) -> JSON:
        mid = chat.new_id()
        raw: JSON = {
            "message_id": mid,
            "from": self.bot_user,
            "chat": chat.user.chat_dict(),
            "date": self.now(),
        }
        if reply_to is not None:
            raw["reply_to_message"] = reply_to
        raw.update(content)
        echo = self._echo_markup(markup)
        if echo:
            raw["reply_markup"] = echo
        if call.params.get("protect_content"):
            raw["has_protected_content"] = True
        msg = ChatMessage(
            message_id=mid,
            chat_id=chat.user.id,
            kind=kind,
            from_bot=True,
            text=text,
            raw=raw,
            entities=list(content.get("entities") or content.get("caption_entities") or []),
            reply_markup=copy.deepcopy(markup),
            media_group_id=content.get("media_group_id"),
            file_id=stored.file_id if stored else None,
            file_unique_id=stored.file_unique_id if stored else None,
            file_name=stored.file_name if stored else None,
            call_index=call.index,
        )
        chat.messages[mid] = msg
        self._record_event(msg, "sent", call)
        return copy.deepcopy(raw)

    def _record_event(self, msg: ChatMessage, action: str, call: ApiCall) -> None:
        snap = copy.deepcopy(msg)
        snap.action = action
        snap.call_index = call.index
        self._events.append(snap)

    def _resolve_file(self, value: Any, call: ApiCall, kind: str, name: str = "") -> StoredFile:
        if isinstance(value, str) and value.startswith("attach://"):
            part = value[len("attach://") :]
            upload = call.files.get(part)
            if upload is None:
                raise _bad(f'can\'t find attached file "{part}"')
            value = upload
        if isinstance(value, UploadedFile):
            if kind == "photo":
                if _image_size(value.data) is None:
                    raise _bad("IMAGE_PROCESS_FAILED")
                return self._store_photo(value.data)
            mime = value.content_type
            if not mime or mime == "application/octet-stream":
                mime = mimetypes.guess_type(value.filename or "")[0] or mime
            return self._store(value.data, kind, file_name=value.filename, mime_type=mime)
        if not isinstance(value, str) or not value:
            raise _bad(f"there is no {name or kind} in the request")
        if re.match(r"https?://", value):
            data = f"downloaded:{value}".encode()
            if kind == "photo":
                return self._store_photo(make_png())
            return self._store(data, kind, file_name=value.rsplit("/", 1)[-1] or None)
        stored = self.files.get(value)
        if stored is None:
            raise _bad("wrong file identifier/HTTP URL specified")
        if (kind == "photo") != (stored.kind == "photo"):
            raise _bad("type of file mismatch")
        return stored

    def _media_content(self, kind: str, stored: StoredFile) -> JSON:
        if kind == "photo":
            return {"photo": self._photo_sizes(stored)}
        if kind == "video":
            return {"video": self._video_dict(stored)}
        return {"document": self._document_dict(stored)}

    def _send_media(self, call: ApiCall, kind: str) -> JSON:
        p = call.params
        chat = self._chat_for(p)
        stored = self._resolve_file(p.get(kind), call, kind)
        content = {**self._media_content(kind, stored), **self._caption(p)}
        markup = self._check_markup(p.get("reply_markup"))
        reply_to = self._reply_to(chat, p)
        return self._bot_message(
            call, chat, kind, content, markup,
            reply_to=reply_to, text=content.get("caption"), stored=stored,
        )  # fmt: skip

    def _editable(self, params: JSON) -> tuple[_Chat, ChatMessage]:
        if params.get("inline_message_id"):
            raise _bad("MESSAGE_ID_INVALID")
        chat = self._chat_for(params)
        mid = params.get("message_id")
        msg = chat.messages.get(mid) if isinstance(mid, int) else None
        if msg is None or msg.deleted:
            raise _bad("message to edit not found")
        if not msg.from_bot:
            raise _bad("message can't be edited")
        return chat, msg

    @staticmethod
    def _scope_key(scope: Any) -> tuple[Any, ...]:
        if not isinstance(scope, dict):
            return ("default", None, None)
        return (scope.get("type", "default"), scope.get("chat_id"), scope.get("user_id"))

    # ------------------------------------------------------------ methods

    def _m_getMe(self, call: ApiCall) -> JSON:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _m_logOut(self, call: ApiCall) -> bool:
        return True

    def _m_close(self, call: ApiCall) -> bool:
        return True

    def _m_deleteWebhook(self, call: ApiCall) -> bool:
        with self._lock:
            self.webhook_url = ""
            self.webhook = {}
            if call.params.get("drop_pending_updates"):
                if self._pending:
                    self.acked_offset = max(self.acked_offset, self._pending[-1]["update_id"] + 1)
                self._pending.clear()
        return True

    def _m_setWebhook(self, call: ApiCall) -> bool:
        url = call.params.get("url") or ""
        with self._lock:
            self.webhook_url = str(url)
            self.webhook = {k: v for k, v in call.params.items() if not isinstance(v, UploadedFile)}
            if call.params.get("drop_pending_updates"):
                self._pending.clear()
        return True

    def _m_getWebhookInfo(self, call: ApiCall) -> JSON:
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }

    def _confirm(self, offset: Any) -> None:
        if not isinstance(offset, int) or offset == 0:
            return
        if offset > 0:
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
            self.acked_offset = max(self.acked_offset, offset)
        else:
            keep = self._pending[offset:]
            if keep:
                self.acked_offset = max(self.acked_offset, keep[0]["update_id"])
            self._pending = keep

    def _select(self, limit: int) -> list[JSON]:
        if self._allowed_updates:
            allowed = set(self._allowed_updates)
            self._pending = [u for u in self._pending if (set(u) - {"update_id"}) & allowed]
        return copy.deepcopy(self._pending[:limit])

    async def _m_getUpdates(self, call: ApiCall) -> list[JSON]:
        p = call.params
        if self.webhook_url:
            raise ApiError(409, CONFLICT_WEBHOOK)
        limit = p.get("limit")
        limit = max(1, min(100, limit)) if isinstance(limit, int) and limit > 0 else 100
        timeout = p.get("timeout")
        timeout_s = float(timeout) if isinstance(timeout, (int, float)) and timeout > 0 else 0.0
        allowed = p.get("allowed_updates")
        with self._lock:
            if isinstance(allowed, list):
                self._allowed_updates = [str(a) for a in allowed]
            self._confirm(p.get("offset"))
            self._poll_generation += 1
            generation = self._poll_generation
        self._notify()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            if generation != self._poll_generation:
                raise ApiError(409, CONFLICT_POLL)
            with self._lock:
                batch = self._select(limit)
            remaining = deadline - loop.time()
            if batch or self._closing or remaining <= 0:
                return batch
            await self._wait_change(remaining)

    def _m_sendMessage(self, call: ApiCall) -> JSON:
        p = call.params
        with self._lock:
            chat = self._chat_for(p)
            if p.get("text") in (None, ""):
                raise _bad("message text is empty")
            text, ents = self._render(p["text"], p.get("parse_mode"), p.get("entities"))
            if not text:
                raise _bad("message text is empty")
            markup = self._check_markup(p.get("reply_markup"))
            reply_to = self._reply_to(chat, p)
            content: JSON = {"text": text}
            if ents:
                content["entities"] = ents
            return self._bot_message(call, chat, "text", content, markup, reply_to=reply_to, text=text)

    def _m_editMessageText(self, call: ApiCall) -> JSON:
        p = call.params
        with self._lock:
            chat, msg = self._editable(p)
            if "text" not in msg.raw:
                raise _bad("there is no text in the message to edit")
            if p.get("text") in (None, ""):
                raise _bad("message text is empty")
            text, ents = self._render(p["text"], p.get("parse_mode"), p.get("entities"))
            if not text:
                raise _bad("message text is empty")
            markup = self._check_markup(p.get("reply_markup"), inline_only=True)
            echo = self._echo_markup(markup)
            if (
                text == msg.raw.get("text")
                and ents == msg.raw.get("entities", [])
                and echo == msg.raw.get("reply_markup")
            ):
                raise _bad(NOT_MODIFIED.removeprefix("Bad Request: "))
            msg.raw["text"] = text
            msg.text = text
            msg.entities = ents
            if ents:
                msg.raw["entities"] = ents
            else:
                msg.raw.pop("entities", None)
            self._apply_markup(msg, markup, echo)
            msg.raw["edit_date"] = self.now()
            msg.edit_count += 1
            self._record_event(msg, "edited", call)
            return copy.deepcopy(msg.raw)

    def _apply_markup(self, msg: ChatMessage, markup: JSON | None, echo: JSON | None) -> None:
        msg.reply_markup = copy.deepcopy(markup) if echo else None
        if echo:
            msg.raw["reply_markup"] = echo
        else:
            msg.raw.pop("reply_markup", None)

    def _m_editMessageCaption(self, call: ApiCall) -> JSON:
        p = call.params
        with self._lock:
            chat, msg = self._editable(p)
            if "text" in msg.raw:
                raise _bad("there is no caption in the message to edit")
            content = self._caption(p)
            markup = self._check_markup(p.get("reply_markup"), inline_only=True)
            echo = self._echo_markup(markup)
            if (
                content.get("caption") == msg.raw.get("caption")
                and content.get("caption_entities") == msg.raw.get("caption_entities")
                and echo == msg.raw.get("reply_markup")
            ):
                raise _bad(NOT_MODIFIED.removeprefix("Bad Request: "))
            for key in ("caption", "caption_entities"):
                if key in content:
                    msg.raw[key] = content[key]
                else:
                    msg.raw.pop(key, None)
            msg.text = content.get("caption")
            msg.entities = list(content.get("caption_entities") or [])
            self._apply_markup(msg, markup, echo)
            msg.raw["edit_date"] = self.now()
            msg.edit_count += 1
            self._record_event(msg, "edited", call)
            return copy.deepcopy(msg.raw)

    def _m_editMessageReplyMarkup(self, call: ApiCall) -> JSON:
        p = call.params
        with self._lock:
            chat, msg = self._editable(p)
            markup = self._check_markup(p.get("reply_markup"), inline_only=True)
            echo = self._echo_markup(markup)
            if echo == msg.raw.get("reply_markup"):
                raise _bad(NOT_MODIFIED.removeprefix("Bad Request: "))
            self._apply_markup(msg, markup, echo)
            msg.raw["edit_date"] = self.now()
            msg.edit_count += 1
            self._record_event(msg, "edited", call)
            return copy.deepcopy(msg.raw)

    def _m_deleteMessage(self, call: ApiCall) -> bool:
        p = call.params
        with self._lock:
            chat = self._chat_for(p)
            mid = p.get("message_id")
            msg = chat.messages.get(mid) if isinstance(mid, int) else None
            if msg is None or msg.deleted:
                raise _bad("message to delete not found")
            msg.deleted = True
            self._record_event(msg, "deleted", call)
            return True

    def _m_deleteMessages(self, call: ApiCall) -> bool:
        p = call.params
        with self._lock:
            chat = self._chat_for(p)
            ids = p.get("message_ids")
            if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
                raise _bad("message_ids must be a non-empty list of at most 100 ids")
            for mid in ids:
                msg = chat.messages.get(int(mid))
                if msg is not None and not msg.deleted:
                    msg.deleted = True
                    self._record_event(msg, "deleted", call)
            return True

    def _m_answerCallbackQuery(self, call: ApiCall) -> bool:
        p = call.params
        with self._lock:
            cq_id = str(p.get("callback_query_id") or "")
            cb = self._callbacks.get(cq_id)
            if cb is None or cb.answered or time.monotonic() - cb.created > self.callback_query_ttl:
                raise _bad(QUERY_TOO_OLD.removeprefix("Bad Request: "))
            text = p.get("text")
            if isinstance(text, str) and len(text) > 200:
                raise _bad("MESSAGE_TOO_LONG")
            cb.answered = True
            self.answered_callbacks[cq_id] = {
                "text": text,
                "show_alert": bool(p.get("show_alert", False)),
                "url": p.get("url"),
                "cache_time": p.get("cache_time"),
            }
            return True

    def _m_setMyCommands(self, call: ApiCall) -> bool:
        p = call.params
        commands = p.get("commands")
        if not isinstance(commands, list):
            raise _bad("can't parse commands JSON object")
        if len(commands) > 100:
            raise _bad("too many commands")
        clean = []
        for cmd in commands:
            if not isinstance(cmd, dict):
                raise _bad("can't parse BotCommand")
            name = str(cmd.get("command", ""))
            desc = str(cmd.get("description", ""))
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(desc) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
            clean.append({"command": name, "description": desc})
        key = (self._scope_key(p.get("scope")), str(p.get("language_code") or ""))
        with self._lock:
            if clean:
                self.commands[key] = clean
            else:
                self.commands.pop(key, None)
        return True

    def _m_getMyCommands(self, call: ApiCall) -> list[JSON]:
        p = call.params
        return self.get_commands(p.get("scope"), str(p.get("language_code") or ""))

    def _m_deleteMyCommands(self, call: ApiCall) -> bool:
        p = call.params
        with self._lock:
            self.commands.pop((self._scope_key(p.get("scope")), str(p.get("language_code") or "")), None)
        return True

    def _m_setMyDescription(self, call: ApiCall) -> bool:
        desc = str(call.params.get("description") or "")
        if len(desc) > 512:
            raise _bad("BOT_DESCRIPTION_INVALID")
        self.descriptions[str(call.params.get("language_code") or "")] = desc
        return True

    def _m_getMyDescription(self, call: ApiCall) -> JSON:
        lang = str(call.params.get("language_code") or "")
        return {"description": self.descriptions.get(lang, self.descriptions.get("", ""))}

    def _m_setMyShortDescription(self, call: ApiCall) -> bool:
        desc = str(call.params.get("short_description") or "")
        if len(desc) > 120:
            raise _bad("BOT_DESCRIPTION_INVALID")
        self.short_descriptions[str(call.params.get("language_code") or "")] = desc
        return True

    def _m_getMyShortDescription(self, call: ApiCall) -> JSON:
        lang = str(call.params.get("language_code") or "")
        return {"short_description": self.short_descriptions.get(lang, self.short_descriptions.get("", ""))}

    def _m_setMyName(self, call: ApiCall) -> bool:
        self.names[str(call.params.get("language_code") or "")] = str(call.params.get("name") or "")
        return True

    def _m_getMyName(self, call: ApiCall) -> JSON:
        lang = str(call.params.get("language_code") or "")
        return {"name": self.names.get(lang) or self.names.get("") or self.bot_first_name}

    def _m_setChatMenuButton(self, call: ApiCall) -> bool:
        p = call.params
        button = p.get("menu_button") or {"type": "default"}
        if not isinstance(button, dict) or button.get("type") not in ("commands", "web_app", "default"):
            raise _bad("can't parse menu button")
        with self._lock:
            if p.get("chat_id") is not None:
                self._chat_for(p).menu_button = button
            else:
                self.default_menu_button = button
        return True

    def _m_getChatMenuButton(self, call: ApiCall) -> JSON:
        p = call.params
        if p.get("chat_id") is not None:
            chat = self._chat_for(p)
            if chat.menu_button:
                return chat.menu_button
        return self.default_menu_button

    def _m_sendChatAction(self, call: ApiCall) -> bool:
        self._chat_for(call.params)
        if call.params.get("action") not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        return True

    def _m_getChat(self, call: ApiCall) -> JSON:
        chat = self._chats.get(call.params.get("chat_id"))  # type: ignore[arg-type]
        if chat is None:
            raise _bad("chat not found")
        return {
            **chat.user.chat_dict(),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": True,
                "limited_gifts": True,
                "unique_gifts": True,
                "premium_subscription": True,
                "gifts_from_channels": True,
            },
        }

    def _m_getFile(self, call: ApiCall) -> JSON:
        file_id = call.params.get("file_id")
        with self._lock:
            stored = self.files.get(str(file_id))
            if stored is None:
                raise _bad("wrong file_id or the file is temporarily unavailable")
            if stored.file_size > MAX_DOWNLOAD_SIZE:
                raise _bad("file is too big")
            if stored.file_path is None:
                ext = mimetypes.guess_extension(stored.mime_type or "") or ""
                if stored.file_name and "." in stored.file_name:
                    ext = "." + stored.file_name.rsplit(".", 1)[1]
                if stored.kind == "photo":
                    ext = ".jpg"
                folder = _FILE_FOLDER.get(stored.kind, "documents")
                stored.file_path = f"{folder}/file_{next(self._ids)}{ext}"
            return {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_size": stored.file_size,
                "file_path": stored.file_path,
            }

    def _m_sendPhoto(self, call: ApiCall) -> JSON:
        with self._lock:
            return self._send_media(call, "photo")

    def _m_sendDocument(self, call: ApiCall) -> JSON:
        with self._lock:
            return self._send_media(call, "document")

    def _m_sendVideo(self, call: ApiCall) -> JSON:
        with self._lock:
            return self._send_media(call, "video")

    def _m_sendMediaGroup(self, call: ApiCall) -> list[JSON]:
        p = call.params
        with self._lock:
            chat = self._chat_for(p)
            media = p.get("media")
            if not isinstance(media, list):
                raise _bad("can't parse media JSON object")
            if not 2 <= len(media) <= 10:
                raise _bad("wrong number of media in the media group; must be 2-10")
            types = [m.get("type") if isinstance(m, dict) else None for m in media]
            if any(t not in ("photo", "video", "document", "audio") for t in types):
                raise _bad("can't parse InputMedia: unsupported type")
            for lonely in ("document", "audio"):
                if lonely in types and set(types) != {lonely}:
                    raise _bad(f"{lonely} can't be mixed with other media types")
            resolved = [
                (str(t), self._resolve_file(m.get("media"), call, str(t), "media"), self._caption(p, m))
                for t, m in zip(types, media, strict=True)
            ]
            reply_to = self._reply_to(chat, p)
            group = str(13_000_000_000_000_000 + next(self._ids) * 7_919)
            out = []
            for kind, stored, caption in resolved:
                content = {**self._media_content(kind, stored), **caption, "media_group_id": group}
                out.append(
                    self._bot_message(
                        call,
                        chat,
                        "media",
                        content,
                        None,
                        reply_to=reply_to,
                        text=caption.get("caption"),
                        stored=stored,
                    )  # fmt: skip
                )
            return out


def _check_inline_keyboard(rows: Any) -> None:
    """Refuse an inline keyboard as Telegram does."""
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise _bad("can't parse inline keyboard button: InlineKeyboardMarkup must be an Array of Arrays")
    buttons = [b for row in rows for b in row]
    for b in buttons:
        _check_inline_button(b)
    if len(buttons) > 100:
        raise _bad("reply markup is too long")


def _check_inline_button(b: Any) -> None:
    if not isinstance(b, dict) or not isinstance(b.get("text"), str):
        raise _bad('can\'t parse inline keyboard button: Field "text" must be of type String')
    if not b["text"]:
        raise _bad("BUTTON_TEXT_INVALID")
    if len([k for k in _INLINE_BUTTON_KINDS if k in b]) != 1:
        raise _bad("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
    if "callback_data" in b:
        data = b["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode()) <= 64:
            raise _bad("BUTTON_DATA_INVALID")
    if "url" in b and not re.match(r"(https?|tg)://", str(b["url"])):
        raise _bad("BUTTON_URL_INVALID")


def _check_reply_keyboard(rows: Any) -> None:
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise _bad("can't parse reply keyboard markup JSON object")
    for row in rows:
        for b in row:
            text = b if isinstance(b, str) else (b.get("text") if isinstance(b, dict) else None)
            if not isinstance(text, str) or not text:
                raise _bad('can\'t parse keyboard button: Field "text" must be of type String')
