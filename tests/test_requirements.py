"""Requirements of the source that stand on the declaration and the printed form as a whole: who applies
(R-C3), the studio's rules as a material of their own (R-M3), where a studio is based and who may join it
(R-W5)."""

from __future__ import annotations

import io
from datetime import UTC

from docx import Document
from sqlalchemy import select

from bot.callbacks import WizardOp
from bot.domain import form
from bot.exports import docx_form
from bot.i18n import I18n
from storage.models import Application, RoleGrant
from tests.apply_steps import fill_until_summary, tap_op
from tests.documents import longest_answers, longest_bundle

ZH = I18n().get("zh")


def _docx_text(blob: bytes) -> str:
    doc = Document(io.BytesIO(blob))
    cells = [c.text for t in doc.tables for r in t.rows for c in r.cells]
    return "\n".join([p.text for p in doc.paragraphs] + cells)


async def test_r_c3_a_basic_union_creates_and_applies_without_any_role(bot):
    """R-C3: the basic union applies itself: a person with no role at all fills in the form, the unit's and
    the basic union's opinions go into their own boxes, and the application is submitted."""
    u = bot.user(31)
    await fill_until_summary(bot, u)
    await tap_op(bot, u, WizardOp.SUBMIT)
    await tap_op(bot, u, WizardOp.CONFIRM)
    async with bot.db.session() as s:
        app = (await s.scalars(select(Application).where(Application.applicant_id == 31))).one()
        roles = (await s.scalars(select(RoleGrant).where(RoleGrant.user_id == 31))).all()
    assert not roles
    assert app.status == "submitted"
    assert app.answers["applying_unit"] == form.BY_KEY["applying_unit"].sample
    assert app.answers["union_opinion"] == form.BY_KEY["union_opinion"].sample
    assert app.answers["unit_opinion"] == form.BY_KEY["unit_opinion"].sample


def test_r_m3_the_work_rules_are_a_required_material_of_their_own():
    """R-M3: the studio's work rules, management methods and organisation structure are asked as their own
    material; an application without them is not complete."""
    rules = form.BY_KEY["rules"]
    assert rules.spec == "R-M3" and rules.required and rules.kind is form.Kind.DOCUMENT
    answers = longest_answers(members=2)
    files = {"photos": 3, "video": 1, "recommendation": 1, "rules": 1, "other_materials": 1}
    assert form.first_unanswered(answers, files) is None
    answers.pop("rules", None)
    del files["rules"]
    assert form.first_unanswered(answers, files) is rules
    assert ZH.has(rules.label_key) and ZH.has(rules.prompt_key)  # asked by its own name


def test_r_w5_cross_unit_members_and_a_studio_in_a_workshop_are_printed():
    """R-W5: the studio is based where the model worker works (an office, laboratory or workshop, in the
    location box) and members from other units are printed with their own employers."""
    b = longest_bundle(members=3)
    a = b.app.answers
    a["location"] = "大连港集团3号车间（劳模实验室）"
    a["leader_employer"] = "大连港集团有限公司"
    employers = ["大连港集团有限公司", "大连理工大学", "辽宁港口研究院"]
    for m, employer in zip(a["members"], employers, strict=True):
        m["employer"] = employer
    assert form.BY_KEY["location"].parse("大连港集团3号车间（劳模实验室）", today=b.app.application_date) \
        == "大连港集团3号车间（劳模实验室）"
    text = _docx_text(docx_form.build_docx(b, ZH, UTC))
    assert "大连港集团3号车间（劳模实验室）" in text.replace("\n", "")
    for employer in employers[1:]:
        assert employer in text
