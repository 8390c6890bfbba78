"""The recipe "add a form field" holds: a field of a new kind added to a copy of the declaration, with its
locale lines, is asked, checked, summarised, shown on the card, listed in the roster and printed, and the
checks that walk the declaration name what a field lacks."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date
from typing import Any, cast

import pytest
from docx import Document
from pydantic import Field as PField

from bot.callbacks import WizardOp
from bot.domain import form, kinds, values
from bot.domain.form import FormField, Kind
from bot.domain.kinds import Ask, KindSpec
from bot.domain.values import InvalidInput
from bot.domain.workflow import Role
from bot.exports import data, docx_form, roster
from bot.i18n import I18n
from bot.views import review as review_views
from tests.apply_steps import answer, op_button, tap_op
from tests.test_sweep import sweep_form
from tests.test_wizard_inputs import app_of, goto_step


def _phone(value: Any) -> None:
    digits = [ch for ch in str(value) if ch.isdigit()]
    if not 7 <= len(digits) <= 15 or any(not (ch.isdigit() or ch in "-+ ()") for ch in str(value)):
        raise InvalidInput("phone_format")


def _parse_phone(f: FormField, raw: str, today: date, labels: Any) -> str:
    return "".join(values.clean_text(raw).translate(str.maketrans("０１２３４５６７８９－", "0123456789-")).split())


PHONE_KIND = cast(Kind, "phone")  # a kind of its own: one KindSpec, nothing else
PHONE_SPEC = KindSpec(Ask.TEXT, keep=True, parse=_parse_phone,
                      annotation=lambda f: (str, PField(pattern=r"^[0-9+()-]{7,20}$")))
PHONE = FormField(key="leader_phone", kind=PHONE_KIND, section="leader", spec="R-F2", max_len=20, print_width=3.0,
                  roster=True, caption="联系电话", sample="0411-82610410", check=_phone)
LINES = {
    "zh": {"field.leader_phone.label": "负责人联系电话", "field.leader_phone.prompt": "请填写负责人的联系电话。",
           "error.phone_format": "这不像电话号码，请填写 7～15 位数字（可带区号和“-”）。"},
    "en": {"field.leader_phone.label": "Leader's phone", "field.leader_phone.prompt": "The leader's phone number.",
           "error.phone_format": "That does not look like a phone number: 7 to 15 digits, a dash allowed."},
}


def missing_lines(catalogs: dict[str, dict[str, str]]) -> list[str]:
    """The locale lines a declared field needs and lacks, named as `lang: key`."""
    out = []
    for lang, cat in catalogs.items():
        for f in (*form.STEPS, *form.MEMBER_FIELDS):
            out += [f"{lang}: {key}" for key in (f.label_key, f.prompt_key) if not cat.get(key, "").strip()]
    return out


def unprinted(steps: tuple[FormField, ...]) -> list[str]:
    """Fields of a printed section that declare no printed caption."""
    return [f.key for f in steps if f.section in docx_form.SHAPES and not f.caption]


@pytest.fixture
def with_phone(monkeypatch: pytest.MonkeyPatch) -> Iterator[FormField]:
    """A copy of the declaration with the leader's phone after the leader's unit."""
    steps = list(form.STEPS)
    steps.insert(steps.index(form.BY_KEY["leader_employer"]) + 1, PHONE)
    monkeypatch.setitem(kinds.KINDS, PHONE_KIND, PHONE_SPEC)
    monkeypatch.setattr(form, "STEPS", tuple(steps))
    monkeypatch.setattr(form, "BY_KEY", {**form.BY_KEY, PHONE.key: PHONE})
    monkeypatch.setattr(form, "ApplicationAnswers", form._answers_model())
    yield PHONE


@pytest.fixture
def phone_lines(bot: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    catalogs = bot.app.bot_data["services"].i18n.catalogs
    for lang, lines in LINES.items():
        for key, text in lines.items():
            monkeypatch.setitem(catalogs[lang], key, text)


async def test_a_declared_field_is_asked_checked_and_shown_everywhere(bot, with_phone, phone_lines):
    """R-F2, R-F9: the phone, of a new kind, declared with its check, caption and locale lines only, is asked
    after the leader's unit; a bad number is refused with the declared check's words; a number typed in
    full-width digits is read by its kind; it reads on the summary, the reviewer's card, the roster and the
    printed form."""
    u = bot.user(320)
    await goto_step(bot, u, "leader_phone")
    assert "请填写负责人的联系电话" in bot.request.texts(320)[-1]
    mark = await bot.text(u, "电话号码")
    assert "这不像电话号码" in bot.request.texts(320, since=mark)[-1]
    await bot.text(u, "０４１１－８２６１ ０４１０")
    for f in form.STEPS[form.STEPS.index(PHONE) + 1:]:
        await answer(bot, u, f)
    app = await app_of(bot, 320)
    assert app.answers["leader_phone"] == "0411-82610410" and app.wizard["step"] == "summary"
    summary = bot.request.texts(320)[-1]
    assert "负责人联系电话" in summary and "0411-82610410" in summary
    assert not form.validate_complete(app.answers)

    t = bot.app.bot_data["services"].i18n.get("zh")
    app.number = "2026-0001"
    card, _ = review_views.card(t, review_views.CardData(app=app, union="甘井子区总工会", first_year=False),
                                Role.CITY)
    assert "负责人联系电话" in card and "0411-82610410" in card
    columns = [key for key, _ in roster.columns(t)]
    assert "leader_phone" in columns and roster.header("leader_phone", t) == "负责人联系电话"
    bundle = data.Bundle(app=app, union=None, opinions=[], attachments=[], trail=[])
    doc = Document(io.BytesIO(docx_form.build_docx(bundle, t, UTC)))
    cells = [c.text for table in doc.tables for row in table.rows for c in row.cells]
    assert "联系电话" in cells and "0411-82610410" in cells


def test_what_a_declared_field_lacks_is_named(with_phone):
    """R-F2: without its locale lines or its caption, the checks that walk the declaration say which line
    and which field; with them, nothing is missing."""
    catalogs = I18n().catalogs
    assert missing_lines(catalogs) == ["zh: field.leader_phone.label", "zh: field.leader_phone.prompt",
                                       "en: field.leader_phone.label", "en: field.leader_phone.prompt"]
    for lang, lines in LINES.items():
        catalogs[lang].update(lines)
    assert missing_lines(catalogs) == []
    assert unprinted(form.STEPS) == []
    assert unprinted((replace(PHONE, caption=""),)) == ["leader_phone"]
    with pytest.raises(ValueError, match="leader_phone is printed but declares no caption"):
        docx_form.caption(replace(PHONE, caption=""), I18n().get("zh"))


def test_every_printed_field_declares_its_caption():
    """R-F9: the printed form's captions come from the declaration, none from the long label."""
    assert unprinted(form.STEPS) == [] and all(mf.caption for mf in form.MEMBER_FIELDS)


def test_a_field_sample_is_its_stored_answer():
    """R-F1…R-F8: every answered field's declared sample parses and passes its checks, so tests built from
    the declaration answer a new field too."""
    answers = {f.key: f.sample_value(date(2026, 7, 10)) for f in form.STEPS}
    answers["union"] = 1
    assert form.validate_complete(answers) == []


def test_a_declared_field_meets_the_attack_sweep(tmp_path, with_phone):
    """R-F2, attacks: at the new field's step, every kind of message (any text, script or markup, stickers,
    files of any type and size …) gets one localized, Telegram-valid answer showing the step, and the draft
    changes only for a number its kind and check accept; the walk passes through the new step."""
    positions = sweep_form(tmp_path, "sqlite", 25, only=PHONE.key, lines=LINES)
    assert PHONE.key in positions


LEVEL_KIND = cast(Kind, "level")  # a new kind asked by buttons: the screen follows its `KindSpec.ask`
LEVEL = FormField(key="site_level", kind=LEVEL_KIND, section="site", spec="R-W5", choices="level",
                  sample="city", caption="级别")
LEVEL_LINES = {
    "zh": {"field.site_level.label": "工作室级别", "field.site_level.prompt": "工作室目前的级别？",
           "choice.level.city": "市级", "choice.level.province": "省级"},
    "en": {"field.site_level.label": "Studio level", "field.site_level.prompt": "The studio's level now?",
           "choice.level.city": "City", "choice.level.province": "Province"},
}


async def test_a_new_kind_is_asked_the_way_its_spec_declares(bot, monkeypatch):
    """R-W5: a field of a new kind whose spec asks by buttons shows its options as buttons (and the wizard's
    "keep" button once answered); a press stores the option and moves on; typed text is read as a label."""
    steps = list(form.STEPS)
    steps.insert(steps.index(form.BY_KEY["location"]) + 1, LEVEL)
    monkeypatch.setitem(kinds.KINDS, LEVEL_KIND, replace(kinds.KINDS[Kind.CHOICE], keep=True))
    monkeypatch.setitem(form.CHOICES, "level", ("city", "province"))
    monkeypatch.setattr(form, "STEPS", tuple(steps))
    monkeypatch.setattr(form, "BY_KEY", {**form.BY_KEY, LEVEL.key: LEVEL})
    monkeypatch.setattr(form, "ApplicationAnswers", form._answers_model())
    catalogs = bot.app.bot_data["services"].i18n.catalogs
    for lang, lines in LEVEL_LINES.items():
        for key, text in lines.items():
            monkeypatch.setitem(catalogs[lang], key, text)
    u = bot.user(321)
    await goto_step(bot, u, LEVEL.key)
    labels = [label for label, _ in bot.last_buttons(321)]
    assert "市级" in labels and "省级" in labels
    await tap_op(bot, u, WizardOp.CHOICE, "province")
    app = await app_of(bot, 321)
    assert app.answers[LEVEL.key] == "province" and app.wizard["step"] == "area"
    await tap_op(bot, u, WizardOp.BACK)
    assert "省级" in bot.request.texts(321)[-1]  # the current answer, read by the kind's `show`
    op_button(bot, u, WizardOp.KEEP)
    await bot.text(u, "市级")  # a label typed counts as its button
    assert (await app_of(bot, 321)).answers[LEVEL.key] == "city"
