"""Telegram-like rendering of ``parse_mode`` text into plain text + entities.

Used by :mod:`tests.e2e.fake_api`.  Offsets and lengths are in UTF-16 code
units, like Telegram.  The parsers are strict in the same places Telegram is
(unknown/unclosed HTML tags, a bare ``<``, unescaped MarkdownV2 reserved
characters), so formatting bugs in the bot surface as ``400 Bad Request``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]


class EntityParseError(ValueError):
    """Raised with Telegram's wording (without the ``Bad Request:`` prefix)."""


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(src: str, index: int) -> int:
    return len(src[:index].encode("utf-8"))


def _fail(message: str) -> EntityParseError:
    return EntityParseError(f"can't parse entities: {message}")


@dataclass
class _Builder:
    """Accumulates output text and tracks its UTF-16 length."""

    parts: list[str] = field(default_factory=list)
    length16: int = 0
    entities: list[JSON] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.length16 += utf16_len(text)

    def entity(self, etype: str, start: int, **extra: Any) -> None:
        length = self.length16 - start
        if length <= 0:
            return
        ent: JSON = {"offset": start, "length": length, "type": etype}
        ent.update({k: v for k, v in extra.items() if v is not None})
        self.entities.append(ent)

    def result(self) -> tuple[str, list[JSON]]:
        ents = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.parts), ents


# --------------------------------------------------------------------------- HTML

_HTML_TAGS: dict[str, str] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_TAG_RE = re.compile(
    r"([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^\s=>]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'>]+))?)*)\s*"
)
_ATTR_RE = re.compile(r"([^\s=>]+)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s\"'>]+))?")
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(r"&(#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z]+);")


@dataclass
class _OpenTag:
    name: str
    start: int
    byte_offset: int
    attrs: dict[str, str]
    language: str | None = None


def parse_html(src: str) -> tuple[str, list[JSON]]:
    """Parse Telegram's HTML subset; raise :class:`EntityParseError` on bad markup."""
    out = _Builder()
    stack: list[_OpenTag] = []
    i = 0
    n = len(src)
    while i < n:
        ch = src[i]
        if ch == "<":
            i = _html_tag(src, i, out, stack)
        elif ch == "&":
            i = _html_entity(src, i, out)
        else:
            j = i
            while j < n and src[j] not in "<&":
                j += 1
            out.add(src[i:j])
            i = j
    if stack:
        raise _fail(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    return out.result()


def _html_tag(src: str, i: int, out: _Builder, stack: list[_OpenTag]) -> int:
    """One start or end tag at `i`; the index after it."""
    end = src.find(">", i)
    if end == -1:
        raise _fail(f"Unclosed start tag at byte offset {_byte_offset(src, i)}")
    inner = src[i + 1 : end]
    if inner.startswith("/"):
        name = inner[1:].strip().lower()
        if not stack:
            raise _fail(f"Unexpected end tag at byte offset {_byte_offset(src, i)}")
        top = stack.pop()
        if top.name != name:
            raise _fail(
                f"Unmatched end tag at byte offset {_byte_offset(src, i)}, "
                f'expected "</{top.name}>", found "</{name}>"'
            )
        _close_html(out, top, stack)
        return end + 1
    m = _TAG_RE.fullmatch(inner)
    name = m.group(1).lower() if m else (inner.split() or [""])[0]
    if m is None or name not in _HTML_TAGS:
        raise _fail(f'Unsupported start tag "{name}" at byte offset {_byte_offset(src, i)}')
    attrs = _html_attrs(m.group(2) or "")
    if name == "span" and attrs.get("class") != "tg-spoiler":
        raise _fail(f'Tag "span" must have class "tg-spoiler" at byte offset {_byte_offset(src, i)}')
    stack.append(_OpenTag(name, out.length16, _byte_offset(src, i), attrs))
    return end + 1


def _html_attrs(text: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for am in _ATTR_RE.finditer(text):
        value = am.group(2) or ""
        if value[:1] in ("'", '"'):
            value = value[1:-1]
        attrs[am.group(1).lower()] = _decode_entities(value)
    return attrs


def _html_entity(src: str, i: int, out: _Builder) -> int:
    """A character reference at `i` (or a bare ampersand); the index after it."""
    m = _ENTITY_RE.match(src, i)
    decoded = _decode_one(m.group(1)) if m else None
    if m and decoded is not None:
        out.add(decoded)
        return m.end()
    out.add("&")
    return i + 1


def _decode_one(body: str) -> str | None:
    if body.startswith("#"):
        try:
            code = int(body[2:], 16) if body[1:2] in ("x", "X") else int(body[1:])
            return chr(code)
        except (ValueError, OverflowError):
            return None
    return _NAMED_ENTITIES.get(body)


def _decode_entities(value: str) -> str:
    def repl(m: re.Match[str]) -> str:
        decoded = _decode_one(m.group(1))
        return m.group(0) if decoded is None else decoded

    return _ENTITY_RE.sub(repl, value)


def _close_html(out: _Builder, tag: _OpenTag, stack: list[_OpenTag]) -> None:
    etype = _HTML_TAGS[tag.name]
    if tag.name == "code" and stack and stack[-1].name == "pre":
        cls = tag.attrs.get("class", "")
        if cls.startswith("language-"):
            stack[-1].language = cls[len("language-") :]
        return
    if etype == "text_link":
        href = tag.attrs.get("href")
        if href:
            m = re.fullmatch(r"tg://user\?id=(\d+)", href)
            if m:
                out.entity(
                    "text_mention",
                    tag.start,
                    user={"id": int(m.group(1)), "is_bot": False, "first_name": ""},
                )
            else:
                out.entity("text_link", tag.start, url=href)
        return
    if etype == "pre":
        out.entity("pre", tag.start, language=tag.language)
        return
    if etype == "blockquote":
        kind = "expandable_blockquote" if "expandable" in tag.attrs else "blockquote"
        out.entity(kind, tag.start)
        return
    if etype == "custom_emoji":
        out.entity("custom_emoji", tag.start, custom_emoji_id=tag.attrs.get("emoji-id"))
        return
    out.entity(etype, tag.start)


# ----------------------------------------------------------------------- MarkdownV2

_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_MDV2_TOKENS = [
    ("||", "spoiler"),
    ("__", "underline"),
    ("*", "bold"),
    ("_", "italic"),
    ("~", "strikethrough"),
]
_MDV2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
}


def parse_markdown_v2(src: str) -> tuple[str, list[JSON]]:
    """Parse MarkdownV2; raise :class:`EntityParseError` like Telegram does."""
    return _MdV2(src).parse()


class _MdV2:
    """One MarkdownV2 text being read: each step reads what stands at `i` and moves past it."""

    def __init__(self, src: str) -> None:
        self.src = src
        self.out = _Builder()
        self.stack: list[tuple[str, int, int]] = []  # (type, start16, src index)
        self.quote_start: int | None = None
        self.i = 0

    def parse(self) -> tuple[str, list[JSON]]:
        src, n = self.src, len(self.src)
        at_line_start = True
        while self.i < n:
            if at_line_start:
                at_line_start = False
                if self._line_start():
                    continue
            ch = src[self.i]
            if ch == "\\":
                self._escape()
            elif ch == "\n":
                self._newline()
                at_line_start = True
            elif ch == "`":
                self.i = _mdv2_code(src, self.i, self.out)
            elif not self._markup(ch):
                if ch in _MDV2_RESERVED:
                    raise _fail(f"Character '{ch}' is reserved and must be escaped with the preceding '\\'")
                self.out.add(ch)
                self.i += 1
        if self.stack:
            etype, _, idx = self.stack[-1]
            raise _fail(f"Can't find end of {_MDV2_NAMES[etype]} entity at byte offset {_byte_offset(src, idx)}")
        if self.quote_start is not None:
            _end_quote(self.out, self.quote_start)
        return self.out.result()

    def _line_start(self) -> bool:
        """A quote marker at the start of a line (True: consumed), or the end of a quote."""
        if self.src[self.i] == ">":
            if self.quote_start is None:
                self.quote_start = self.out.length16
            self.i += 1
            return True
        if self.quote_start is not None:
            _end_quote(self.out, self.quote_start)
            self.quote_start = None
        return False

    def _escape(self) -> None:
        src, i = self.src, self.i
        if i + 1 < len(src) and 1 <= ord(src[i + 1]) <= 126:
            self.out.add(src[i + 1])
            self.i += 2
            return
        raise _fail("Character '\\' is reserved and must be escaped with the preceding '\\'")

    def _newline(self) -> None:
        self.out.add("\n")
        self.i += 1
        if self.quote_start is not None and (self.i >= len(self.src) or self.src[self.i] != ">"):
            _end_quote(self.out, self.quote_start, trailing_newline=True)
            self.quote_start = None

    def _markup(self, ch: str) -> bool:
        """An entity's opening or closing token at `i` (True: consumed)."""
        token = next((t for t in _MDV2_TOKENS if self.src.startswith(t[0], self.i)), None)
        if token is not None:
            self._toggle(token[1])
            self.i += len(token[0])
            return True
        if ch == "[":
            self.stack.append(("text_link", self.out.length16, self.i))
            self.i += 1
            return True
        if ch == "]" and self.stack and self.stack[-1][0] == "text_link":
            self._link_end()
            return True
        return False

    def _toggle(self, etype: str) -> None:
        stack = self.stack
        open_idx = next((k for k in range(len(stack) - 1, -1, -1) if stack[k][0] == etype), None)
        if open_idx is None:
            stack.append((etype, self.out.length16, self.i))
            return
        if open_idx != len(stack) - 1:
            inner = stack[-1]
            raise _fail(
                f"Can't find end of {_MDV2_NAMES[inner[0]]} entity at byte "
                f"offset {_byte_offset(self.src, inner[2])}"
            )
        _, start, _ = stack.pop()
        self.out.entity(etype, start)

    def _link_end(self) -> None:
        src, i, n = self.src, self.i, len(self.src)
        _, start, _ = self.stack.pop()
        if not src.startswith("(", i + 1):
            raise _fail("Character ']' is reserved and must be escaped with the preceding '\\'")
        j = i + 2
        url_parts: list[str] = []
        while j < n and src[j] != ")":
            if src[j] == "\\" and j + 1 < n:
                j += 1
            url_parts.append(src[j])
            j += 1
        if j >= n:
            raise _fail(f"Can't find end of a URL at byte offset {_byte_offset(src, i + 1)}")
        self.out.entity("text_link", start, url="".join(url_parts))
        self.i = j + 1


def _end_quote(out: _Builder, start: int, trailing_newline: bool = False) -> None:
    length = out.length16 - start - (1 if trailing_newline else 0)
    if length > 0:
        out.entities.append({"offset": start, "length": length, "type": "blockquote"})


def _mdv2_code(src: str, i: int, out: _Builder) -> int:
    n = len(src)
    if src.startswith("```", i):
        j = i + 3
        nl = src.find("\n", j)
        close = src.find("```", j)
        language: str | None = None
        if nl != -1 and (close == -1 or nl < close):
            first = src[j:nl]
            if first and not re.search(r"\s", first):
                language = first
                j = nl + 1
        start = out.length16
        k = j
        buf: list[str] = []
        while k < n and not src.startswith("```", k):
            if src[k] == "\\" and k + 1 < n:
                k += 1
            buf.append(src[k])
            k += 1
        if k >= n:
            raise _fail(f"Can't find end of Pre entity at byte offset {_byte_offset(src, i)}")
        out.add("".join(buf))
        out.entity("pre", start, language=language)
        return k + 3
    start = out.length16
    k = i + 1
    buf = []
    while k < n and src[k] != "`":
        if src[k] == "\\" and k + 1 < n:
            k += 1
        buf.append(src[k])
        k += 1
    if k >= n:
        raise _fail(f"Can't find end of Code entity at byte offset {_byte_offset(src, i)}")
    out.add("".join(buf))
    out.entity("code", start)
    return k + 1


# ---------------------------------------------------------------- legacy Markdown


def parse_markdown(src: str) -> tuple[str, list[JSON]]:
    """Parse legacy Markdown (``*bold*``, ``_italic_``, code, pre, links)."""
    out = _Builder()
    i = 0
    n = len(src)
    simple = {"*": "bold", "_": "italic"}
    while i < n:
        ch = src[i]
        if ch == "\\" and i + 1 < n and src[i + 1] in "_*`[":
            out.add(src[i + 1])
            i += 2
            continue
        if ch in simple or ch == "`":
            if src.startswith("```", i):
                end = src.find("```", i + 3)
                if end == -1:
                    raise _fail(
                        f"Can't find end of the entity starting at byte offset {_byte_offset(src, i)}"
                    )
                body = src[i + 3 : end]
                language = None
                if "\n" in body:
                    first, rest = body.split("\n", 1)
                    if first and not re.search(r"\s", first):
                        language, body = first, rest
                start = out.length16
                out.add(body)
                out.entity("pre", start, language=language)
                i = end + 3
                continue
            end = src.find(ch, i + 1)
            if end == -1:
                raise _fail(f"Can't find end of the entity starting at byte offset {_byte_offset(src, i)}")
            start = out.length16
            out.add(src[i + 1 : end])
            out.entity("code" if ch == "`" else simple[ch], start)
            i = end + 1
            continue
        if ch == "[":
            m = re.compile(r"\[([^\]]*)\]\(([^)]*)\)").match(src, i)
            if m:
                start = out.length16
                out.add(m.group(1))
                out.entity("text_link", start, url=m.group(2))
                i = m.end()
                continue
        out.add(ch)
        i += 1
    return out.result()


# ------------------------------------------------------------------------ common


def render(text: str, parse_mode: str | None, entities: Any = None) -> tuple[str, list[JSON]]:
    """Render ``text`` like Telegram: parse, then trim surrounding whitespace."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        plain, ents = parse_html(text)
    elif mode == "markdownv2":
        plain, ents = parse_markdown_v2(text)
    elif mode == "markdown":
        plain, ents = parse_markdown(text)
    elif mode:
        raise EntityParseError(f"unsupported parse_mode {parse_mode!r}")
    else:
        plain = text
        ents = [dict(e) for e in entities] if isinstance(entities, list) else []
    return strip_text(plain, ents)


def strip_text(text: str, entities: list[JSON]) -> tuple[str, list[JSON]]:
    """Trim leading/trailing whitespace, shifting and clipping entities."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    lead = utf16_len(text[: len(text) - len(text.lstrip())])
    new_len = utf16_len(stripped)
    result: list[JSON] = []
    for ent in entities:
        start = max(0, int(ent["offset"]) - lead)
        end = min(new_len, int(ent["offset"]) + int(ent["length"]) - lead)
        if end > start:
            result.append({**ent, "offset": start, "length": end - start})
    return stripped, result
