"""The locale catalogs (`locales/<lang>/*.toml`): zh and en say the same things, every text is valid
Telegram HTML, and every key the code asks for exists.

Which source files are checked for referenced keys is the `SOURCES` list below; extend it as
modules gain their texts (e.g. `conversations/review.py`, `conversations/admin.py`, `bot/notify.py`).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bot.i18n import Translator, load_catalog, placeholders

ROOT = Path(__file__).resolve().parents[1]
LANGS = ("zh", "en")
DEFAULT = "zh"

# Files (globs, relative to the project root) whose translation calls must all resolve to a key.
SOURCES: tuple[str, ...] = (
    "conversations/*.py",
    "bot/exports/*.py",
    "bot/*.py",
    "bot/services/*.py",
    "bot/domain/*.py",
    "bot/views/*.py",
    "bot/web/*.py",
)

# Callables whose first argument is a locale key.
TRANSLATE_CALLS = {"t", "plain"}
KEY_EXCEPTIONS = {"Refused", "FileRefused"}  # first argument is a full key
CODE_EXCEPTIONS = {"InvalidInput": "error."}  # first argument is a code under this prefix
ALERT_CALLS = {"alert", "toast"}  # callback-query answers: plain text, at most 200 characters

TELEGRAM_TAGS = {"b", "i", "u", "s", "code", "pre", "a"}
ALERT_MAX = 200  # answerCallbackQuery text limit
BUTTON_MAX = 64  # longer labels are cut off on a phone
TEXT_MAX = 1000  # any one text; a message may be 4096, but these are read on a phone

# Texts used as button labels, bot command descriptions or inside alerts: never HTML.
PLAIN_PREFIXES = (
    "wizard.button.",
    "members.button.",
    "photos.button.",
    "summary.button.",
    "submit.button.",
    "choice.",
    "section.",
    "status.",
    "common.",
    "command.",
)
_KEY_SHAPE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
_BAD_AMP = re.compile(r"&(?!(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)")


# --------------------------------------------------------------------------- catalogs


@cache
def catalog(lang: str) -> dict[str, str]:
    return load_catalog(lang)


def dummy_params(text: str) -> dict[str, str]:
    """A value for every placeholder, with characters that must be escaped."""
    return {name: f"v<{name}>&1" for name in placeholders(text)}


def render(lang: str, key: str) -> str:
    text = catalog(lang)[key]
    return Translator(lang, catalog(lang), {})(key, **dummy_params(text))


class _TelegramHTML(HTMLParser):
    """Collects what Telegram's HTML parse mode would refuse."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TELEGRAM_TAGS:
            self.errors.append(f"tag <{tag}> is not allowed")
        names = {k for k, _ in attrs}
        if tag == "a" and "href" not in names:
            self.errors.append("<a> without href")
        elif tag not in ("a", "code", "pre") and names:
            self.errors.append(f"<{tag}> has attributes")
        self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.errors.append(f"self-closing <{tag}/>")

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> does not close {self.stack[-1:] or 'anything'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        for ch in "<>&":
            if ch in data:
                self.errors.append(f"unescaped {ch!r}")

    def handle_entityref(self, name: str) -> None:
        if name not in ("lt", "gt", "amp", "quot"):
            self.errors.append(f"unknown entity &{name};")

    def handle_comment(self, data: str) -> None:
        self.errors.append("HTML comment")

    def handle_decl(self, decl: str) -> None:
        self.errors.append("declaration")

    def handle_pi(self, data: str) -> None:
        self.errors.append("processing instruction")

    def close(self) -> None:
        super().close()
        if self.stack:
            self.errors.append(f"unclosed {self.stack}")


def html_errors(text: str) -> list[str]:
    parser = _TelegramHTML()
    parser.feed(text)
    parser.close()
    if _BAD_AMP.search(text):
        parser.errors.append("'&' that is not an entity")
    return parser.errors


def plain_errors(text: str) -> list[str]:
    """Button labels and alerts are shown as they are: no markup, no entities."""
    return [f"contains {ch!r}" for ch in "<>&" if ch in text]


# --------------------------------------------------------------------------- scanning the code


@dataclass
class Scan:
    """What the checked sources ask of the catalogs; values are `file:line` for messages."""

    keys: dict[str, list[str]] = field(default_factory=dict)
    prefixes: dict[str, list[str]] = field(default_factory=dict)  # from f-strings: f"error.{code}"
    alert_keys: set[str] = field(default_factory=set)
    alert_prefixes: set[str] = field(default_factory=set)
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = field(default_factory=dict)
    assigns: dict[str, ast.expr] = field(default_factory=dict)

    def add(self, key: str, where: str) -> None:
        self.keys.setdefault(key, []).append(where)


def source_files() -> list[Path]:
    out: list[Path] = []
    for pattern in SOURCES:
        out += sorted(p for p in ROOT.glob(pattern) if p.is_file())
    return list(dict.fromkeys(out))


def _strings(node: ast.AST | None) -> tuple[list[str], list[str]]:
    """String literals an expression may evaluate to, and constant prefixes of its f-strings."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value], []
    if isinstance(node, ast.IfExp):
        a, b = _strings(node.body), _strings(node.orelse)
        return a[0] + b[0], a[1] + b[1]
    if isinstance(node, ast.BoolOp):
        lits: list[str] = []
        pres: list[str] = []
        for v in node.values:
            la, pa = _strings(v)
            lits += la
            pres += pa
        return lits, pres
    if isinstance(node, ast.JoinedStr):
        prefix = ""
        for part in node.values:
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                prefix += part.value
            else:
                break
        return [], [prefix]
    return [], []


def _callee(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _is_translation(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and _callee(node) in TRANSLATE_CALLS and bool(node.args)


@cache
def scan() -> Scan:
    out = Scan()
    for path in source_files():
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                out.functions.setdefault(node.name, node)
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        out.assigns.setdefault(target.id, node.value)
            if isinstance(node, ast.Call):
                _scan_call(out, node, f"{rel}:{node.lineno}")
    return out


def _scan_call(out: Scan, node: ast.Call, where: str) -> None:
    """The keys one call asks for: its first argument, its `key=`, a wizard button's op, an alert's text."""
    name = _callee(node)
    first = node.args[0] if node.args else None
    found: tuple[list[str], list[str]] = ([], [])
    if name in TRANSLATE_CALLS or name in KEY_EXCEPTIONS:
        found = _strings(first)
    elif name in CODE_EXCEPTIONS:
        lits, pres = _strings(first)
        pre = CODE_EXCEPTIONS[name]
        found = ([pre + x for x in lits], [pre + x for x in pres])
    for kw in node.keywords:
        if kw.arg == "key":
            lits, pres = _strings(kw.value)
            found = (found[0] + [k for k in lits if _KEY_SHAPE.match(k)], found[1] + pres)
    for key in found[0]:
        out.add(key, where)
    for prefix in found[1]:
        out.prefixes.setdefault(prefix, []).append(where)
    # a wizard button without an explicit label or key: wizard.button.<op> (`button(d, Op.X)`)
    if (
        name == "button"
        and len(node.args) >= 2
        and isinstance(node.args[1], ast.Attribute)
        and not {"label", "key"} & {kw.arg for kw in node.keywords}
    ):
        out.add(f"wizard.button.{node.args[1].attr.lower()}", where)
    if name in ALERT_CALLS and first is not None and _is_translation(first):
        assert isinstance(first, ast.Call)
        lits, pres = _strings(first.args[0])
        out.alert_keys.update(lits)
        out.alert_prefixes.update(pres)


def _function_strings(fn: str, *, returns_only: bool = False) -> list[str]:
    node = scan().functions.get(fn)
    if node is None:
        return []
    found: list[str] = []
    for sub in ast.walk(node):
        if returns_only and isinstance(sub, ast.Return):
            found += _strings(sub.value)[0]
        elif not returns_only and isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            if sub is not (node.body[0].value if isinstance(node.body[0], ast.Expr) else None):
                found.append(sub.value)
    return found


def generated_keys() -> dict[str, str]:
    """Keys the code builds from declarations (key → what needs it)."""
    out = _declared_keys()
    out.update(_handler_keys())
    return out


def _declared_keys() -> dict[str, str]:
    """Keys of the form's fields, choices and sections, and of the workflow's statuses and actions."""
    from bot.domain import form, workflow
    from bot.domain.workflow import Status

    out: dict[str, str] = {}
    for f in (*form.STEPS, *form.MEMBER_FIELDS):
        for key in (f.label_key, f.prompt_key):
            out[key] = f"form field {f.key} ({f.spec})"
        if f.choices:
            for option in f.options():
                out[f"choice.{f.choices}.{option}"] = f"choices of {f.key}"
    for name, options in form.CHOICES.items():
        for option in options:
            out.setdefault(f"choice.{name}.{option}", "form.CHOICES")
    for section in form.SECTIONS:
        out[f"section.{section}"] = "form.SECTIONS"
    for status in Status:
        out[f"status.{status.value}"] = "workflow.Status"
    for tr in workflow.TABLE:  # the action's name, the applicant's news, its prompt, the status it leads to
        for key in tr.keys():
            out.setdefault(key, f"workflow.TABLE {tr.action.value}")
    return out


def _handler_keys() -> dict[str, str]:
    """Keys the handlers build: answers, commands, kinds of message, what a step wants, roles."""
    from bot.commands import COMMANDS
    from bot.domain.workflow import Role

    out: dict[str, str] = {}
    out["common.yes"] = out["common.no"] = "yes/no answers"
    for command in COMMANDS:
        out[f"command.{command}"] = "bot.commands.COMMANDS"
    # conversations/apply.py: the kinds of message a user may send and what a step wants
    kinds = _function_strings("_message_kind") or [
        "text",
        "photo",
        "video",
        "video_note",
        "document",
        "sticker",
        "voice",
        "audio",
        "animation",
        "location",
        "contact",
        "poll",
        "dice",
        "venue",
        "other",
    ]
    for kind in kinds:
        out[f"msgkind.{kind}"] = "apply._message_kind"
    wants = _function_strings("_wanted", returns_only=True) or [
        "text",
        "buttons",
        "photo",
        "video",
        "document",
    ]
    for want in wants:
        out[f"wrong.want.{want}"] = "apply._wanted"
        if want not in ("text", "buttons"):
            out[f"file.want_{want}"] = "apply._on_file"
    # conversations/common.py: start.role.<role> for ROLE_ORDER
    order = scan().assigns.get("ROLE_ORDER")
    if isinstance(order, ast.Tuple):
        for elt in order.elts:
            if isinstance(elt, ast.Attribute) and elt.attr in Role.__members__:
                out[f"start.role.{Role[elt.attr].value}"] = "common.ROLE_ORDER"
    return out


def referenced() -> dict[str, str]:
    """Every key the checked code may ask for (key → where)."""
    out = {k: ", ".join(v[:3]) for k, v in scan().keys.items()}
    for key, why in generated_keys().items():
        out.setdefault(key, why)
    return out


def alert_keys() -> set[str]:
    s = scan()
    keys = set(s.alert_keys)
    keys |= {k for k in referenced() if any(k.startswith(p) for p in s.alert_prefixes if p)}
    return keys


# --------------------------------------------------------------------------- (a) zh and en agree


def test_zh_and_en_have_the_same_keys() -> None:
    """English is complete: both languages define exactly the same keys."""
    zh, en = set(catalog("zh")), set(catalog("en"))
    assert not zh ^ en, f"only in zh: {sorted(zh - en)}\nonly in en: {sorted(en - zh)}"


def test_zh_and_en_have_the_same_placeholders() -> None:
    """A text's placeholders are the same in both languages (the code passes the same names)."""
    zh, en = catalog("zh"), catalog("en")
    diff = {
        key: (sorted(placeholders(zh[key])), sorted(placeholders(en[key])))
        for key in sorted(set(zh) & set(en))
        if placeholders(zh[key]) != placeholders(en[key])
    }
    assert not diff, "placeholders differ (zh, en):\n" + "\n".join(f"  {k}: {v}" for k, v in diff.items())


# --------------------------------------------------------------------------- (b) valid Telegram HTML


@pytest.mark.parametrize("lang", LANGS)
def test_every_text_formats_and_is_telegram_html(lang: str) -> None:
    """Every text formats with its placeholders (values escaped as at run time) and parses in
    Telegram's HTML mode: only b, i, u, s, code, pre, a; balanced; `<`, `>`, `&` escaped."""
    bad: dict[str, list[str]] = {}
    for key in sorted(catalog(lang)):
        try:
            text = render(lang, key)
        except (KeyError, IndexError, ValueError) as exc:
            bad[key] = [f"does not format: {exc!r}"]
            continue
        errors = html_errors(text)
        if not text.strip():
            errors.append("empty")
        if errors:
            bad[key] = errors
    assert not bad, f"[{lang}] invalid texts:\n" + "\n".join(f"  {k}: {v}" for k, v in bad.items())


@pytest.mark.parametrize("lang", LANGS)
def test_texts_are_short_enough_for_a_phone(lang: str) -> None:
    too_long = {k: len(render(lang, k)) for k in catalog(lang) if len(render(lang, k)) > TEXT_MAX}
    assert not too_long, f"[{lang}] texts longer than {TEXT_MAX} characters: {too_long}"


@pytest.mark.parametrize("lang", LANGS)
def test_button_labels_and_names_are_plain_and_short(lang: str) -> None:
    """Button labels, option/section/status names, command descriptions and field labels are shown
    without HTML parsing (buttons, alerts, the command menu), so they carry no markup."""
    cat = catalog(lang)
    keys = [
        k for k in cat if k.startswith(PLAIN_PREFIXES) or (k.startswith("field.") and k.endswith(".label"))
    ]
    bad = {k: plain_errors(cat[k]) for k in keys if plain_errors(cat[k])}
    long = {k: len(render(lang, k)) for k in keys if len(render(lang, k)) > BUTTON_MAX}
    assert not bad, f"[{lang}] markup in plain texts: {bad}"
    assert not long, f"[{lang}] labels longer than {BUTTON_MAX} characters: {long}"


@pytest.mark.parametrize("lang", LANGS)
def test_alert_texts_are_plain_and_fit(lang: str) -> None:
    """Texts shown with `rq.alert`/`rq.toast` (including every input error `error.<code>`, which
    the Done button shows as an alert) are plain text within Telegram's 200-character limit."""
    cat = catalog(lang)
    keys = sorted(k for k in alert_keys() if k in cat)
    assert keys, "no alert texts found: has the scanner stopped seeing rq.alert(t(...))?"
    bad = {k: plain_errors(cat[k]) for k in keys if plain_errors(cat[k])}
    long = {k: len(render(lang, k)) for k in keys if len(render(lang, k)) > ALERT_MAX}
    assert not bad, f"[{lang}] markup in alert texts: {bad}"
    assert not long, f"[{lang}] alert texts longer than {ALERT_MAX} characters: {long}"


# --------------------------------------------------------------------------- (c) every key exists


def test_sources_exist() -> None:
    """Every entry of SOURCES still matches a file (a rename must not silently drop checks)."""
    missing = [p for p in SOURCES if not any(q.is_file() for q in ROOT.glob(p))]
    assert not missing, f"SOURCES entries matching no file: {missing}"


def test_scanner_sees_the_calls() -> None:
    """Self-check of the scanner on calls known to exist, so a change of style cannot make (c) vacuous."""
    keys = scan().keys
    for key in (
        "wizard.progress",
        "submit.late",
        "file.too_big",
        "error.age_range",
        "wizard.button.back",
        "members.button.more",
        "summary.missing",
    ):
        assert key in keys, f"scanner did not find {key!r} in {SOURCES}"
    assert "error." in scan().prefixes


@pytest.mark.parametrize("lang", LANGS)
def test_every_referenced_key_exists(lang: str) -> None:
    """Every key passed to t()/rq.t(), key=, Refused(), FileRefused(), InvalidInput() (as error.<code>)
    in SOURCES, and every key built from the form declaration, exists in this language."""
    cat = catalog(lang)
    missing = {k: where for k, where in sorted(referenced().items()) if k not in cat}
    assert not missing, f"[{lang}] missing keys:\n" + "\n".join(f"  {k}  ({w})" for k, w in missing.items())


@pytest.mark.parametrize("lang", LANGS)
def test_fstring_key_prefixes_have_keys(lang: str) -> None:
    """Keys built with f-strings (f"error.{code}", f"status.{s}") have at least one key under their prefix."""
    cat = catalog(lang)
    empty = {p: w[:3] for p, w in scan().prefixes.items() if p and not any(k.startswith(p) for k in cat)}
    assert not empty, f"[{lang}] no keys under f-string prefixes: {empty}"


@pytest.mark.parametrize("lang", LANGS)
def test_referenced_keys_get_the_parameters_they_use(lang: str) -> None:
    """A text may only use placeholders the code passes: checked for literal t("key", a=…) calls."""
    cat = catalog(lang)
    bad: dict[str, str] = {}
    for path in source_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or _callee(node) not in TRANSLATE_CALLS | KEY_EXCEPTIONS:
                continue
            if any(kw.arg is None for kw in node.keywords):  # **params: not checkable here
                continue
            given = {kw.arg for kw in node.keywords if kw.arg}
            for key in _strings(node.args[0] if node.args else None)[0]:
                if key in cat and not placeholders(cat[key]) <= given:
                    bad[key] = (
                        f"{path.relative_to(ROOT)}:{node.lineno} passes {sorted(given)}, "
                        f"text uses {sorted(placeholders(cat[key]))}"
                    )
    assert not bad, f"[{lang}] texts using placeholders the code does not pass:\n" + "\n".join(
        f"  {k}: {v}" for k, v in bad.items()
    )


def test_invalid_input_codes_have_their_parameters() -> None:
    """error.<code> texts use only the parameters values.py passes with that code."""
    tree = ast.parse((ROOT / "bot/domain/values.py").read_text(encoding="utf-8"))
    passed: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _callee(node) == "InvalidInput" and node.args:
            for code in _strings(node.args[0])[0]:
                passed.setdefault(code, set()).update(kw.arg for kw in node.keywords if kw.arg)
    for lang in LANGS:
        cat = catalog(lang)
        bad = {
            c: sorted(placeholders(cat[f"error.{c}"]) - p)
            for c, p in passed.items()
            if f"error.{c}" in cat and not placeholders(cat[f"error.{c}"]) <= p
        }
        assert not bad, f"[{lang}] error texts with placeholders values.py does not pass: {bad}"


# --------------------------------------------------------------------------- requirements


def _fields() -> Iterator[tuple[str, str]]:
    from bot.domain import form

    for f in (*form.STEPS, *form.MEMBER_FIELDS):
        yield f.spec, f.key


@pytest.mark.parametrize(("spec", "key"), list(_fields()), ids=[f"{s}-{k}" for s, k in _fields()])
def test_every_form_field_has_label_and_prompt(spec: str, key: str) -> None:
    """R-F1…R-F7, R-M2…R-M5, R-E1…R-E5, R-W1: every field of the form (e.g. R-F2: every leader
    field) has a non-empty label and prompt in both languages."""
    for lang in LANGS:
        cat = catalog(lang)
        for part in ("label", "prompt"):
            assert cat.get(f"field.{key}.{part}", "").strip(), f"[{lang}] {spec}: field.{key}.{part} missing"


def test_button_only_fields_have_no_example() -> None:
    """An example is for typing; fields answered only with buttons have none."""
    from bot.domain import form

    button_only = [
        f.key
        for f in (*form.STEPS, *form.MEMBER_FIELDS)
        if f.kind in (form.Kind.UNION, form.Kind.YESNO, form.Kind.MEMBERS, form.Kind.PHOTOS)
        or (f.kind is form.Kind.CHOICE and not f.allow_other)
    ]
    for lang in LANGS:
        extra = [k for k in button_only if f"field.{k}.example" in catalog(lang)]
        assert not extra, f"[{lang}] examples on button-only fields: {extra}"


def test_eligibility_prompts_are_questions() -> None:
    """R-E1…R-E5: each eligibility condition is asked as a yes/no question."""
    for lang, mark in (("zh", "？"), ("en", "?")):
        for n in range(1, 6):
            assert catalog(lang)[f"field.elig_{n}.prompt"].rstrip().endswith(mark), (lang, n)


def _texts(key: str) -> Iterable[tuple[str, str]]:
    return ((lang, catalog(lang)[key]) for lang in LANGS)


def test_deadline_texts_state_the_forfeit_rule() -> None:
    """R-D1: a late application forfeits that year's application (超过期限视为放弃当年申报)."""
    for key in ("submit.late", "summary.deadline"):
        zh, en = catalog("zh").get(key, ""), catalog("en").get(key, "")
        assert "超过期限视为放弃当年申报" in zh, f"zh {key} must state the rule"
        assert "forfeit" in en, f"en {key} must state the rule"
    for lang in LANGS:
        assert "{deadline}" in catalog(lang).get("submit.late", ""), (
            f"{lang} submit.late must state the deadline"
        )


def test_ineligible_texts_offer_an_enterprise_level_studio() -> None:
    """R-W4: a unit that does not qualify may found an enterprise-level studio itself and apply again."""
    for key in ("submit.ineligible", "elig.failed", "summary.ineligible"):
        assert "企事业级劳模创新工作室" in catalog("zh").get(key, ""), f"zh {key}"
        assert "enterprise-level studio" in catalog("en").get(key, ""), f"en {key}"


def test_photo_texts_state_the_limits() -> None:
    """R-M4: 3 to 5 photos; the counter and the refusals carry the numbers."""
    assert placeholders(catalog("zh")["photos.counter"]) == {"n", "max", "min"}
    assert "{max}" in catalog("zh")["photos.too_many"]
    assert placeholders(catalog("zh")["photos.too_few"]) == {"n", "min"}
    for lang, text in _texts("field.photos.prompt"):
        assert "3" in text and "5" in text, lang


def test_statuses_read_as_the_procedure_names_them() -> None:
    """R-W1…R-W4: the status names used in every notice."""
    zh = catalog("zh")
    assert zh["status.submitted"] == "待区市县/产业工会审核"
    assert zh["status.forwarded"] == "待市总工会审核"
    assert zh["status.approved"] == "已命名"
    assert zh["status.rejected"] == "未通过"
