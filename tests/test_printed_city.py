"""The printed form as the office reads it (R-F8, R-F9): continuation at a sentence or a punctuation mark,
the city's box with the decision and the preliminary opinion, the findings on their own 附页, the Chinese
faces named with their family; and the chart drawn with the simplified-Chinese face."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.domain.workflow import Box
from bot.exports import docx_form, stats
from bot.i18n import I18n
from storage.models import AuditEvent, OpinionRecord
from tests.documents import longest_bundle

ZH = I18n().get("zh")
MARKS = "。！？；，、：）”"


def test_a_cut_box_breaks_at_a_sentence_or_a_mark_never_inside_a_word():
    """R-F9: text continued on a 附页 breaks after a sentence or a punctuation mark: "…五名、" and "高级技师
    十二名" stay whole, not "辽宁省技术能手五（续见附页1）…名、高级技师"."""
    text = "工作室成员中有全国劳动模范一名，省级劳动模范三名，辽宁省技术能手五名、高级技师十二名，技师二十名。" * 4
    for width in (12.0, 20.0, 33.0):
        for lines in (2, 3, 4, 5):
            shown, rest = docx_form.cut(text, width, lines, docx_form.ref(1))
            assert shown and rest and shown + rest == text
            assert shown[-1] in MARKS, (width, lines, shown[-8:])


def _with_city_record(decision: str) -> bytes:
    b = longest_bundle(members=3)
    b.opinions = [o for o in b.opinions if o.box != Box.CITY.value]
    b.opinions.append(OpinionRecord(application_id=42, box=Box.CITY.value, action="meeting_approve", text=decision,
                                    decided_at=datetime(2026, 12, 18, 2, tzinfo=UTC)))
    at = datetime(2026, 9, 20, 2, tzinfo=UTC)
    b.trail = [AuditEvent(application_id=42, action="schedule", details={"date": "2026-09-20"}, at=at),
               AuditEvent(application_id=42, action="inspect", opinion="场地、设备齐全，制度健全。", at=at),
               AuditEvent(application_id=42, action="preliminary", opinion="建议命名。", at=at)]
    return docx_form.build_docx(b, ZH, UTC)


def test_city_box_holds_the_decision_and_the_preliminary_opinion_findings_on_their_own_sheet():
    """R-W2, R-F8: the city's box holds the meeting's decision and the preliminary opinion; the findings of
    the inspection are on a 附页 of their own, referred to from the box."""
    from docx import Document

    decision = "经2026年12月18日市总工会主席办公会讨论通过（纪要第12号），同意命名。"
    doc = Document(io.BytesIO(_with_city_record(decision)))
    box = next(c.text for t in doc.tables for r in t.rows for c in r.cells if decision in c.text)
    assert "初步考核意见：建议命名。" in box and "场地、设备齐全" not in box
    n = re.search(r"实地考察情况见附页(\d+)", box)
    assert n is not None
    paras = [p.text for p in doc.paragraphs]
    head = next(i for i, p in enumerate(paras) if p.startswith(f"附页 {n.group(1)}"))
    assert "实地考察情况" in paras[head] and "（续）" not in paras[head]
    assert "场地、设备齐全，制度健全。" in paras[head + 1] and "2026年9月20日" in paras[head + 1]


def test_docx_names_its_chinese_faces_with_their_family():
    """R-F9: 宋体 is declared a serif (roman) face and 黑体 a sans (swiss) one in word/fontTable.xml, with
    the GB2312 charset, so an office suite without SimSun substitutes a serif face for the body text."""
    blob = docx_form.build_docx(longest_bundle(members=2, number="2026-0043"), ZH, UTC)
    table = zipfile.ZipFile(io.BytesIO(blob)).read("word/fontTable.xml").decode()
    song = re.search(r'<w:font w:name="宋体">(.*?)</w:font>', table, re.S)
    hei = re.search(r'<w:font w:name="黑体">(.*?)</w:font>', table, re.S)
    assert song and '<w:family w:val="roman"/>' in song.group(1) and 'w:val="SimSun"' in song.group(1)
    assert hei and '<w:family w:val="swiss"/>' in hei.group(1) and 'w:val="SimHei"' in hei.group(1)
    assert table.count('w:name="宋体"') == 1


NOTO_TTC = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")


@pytest.mark.skipif(not NOTO_TTC.exists(), reason="needs Debian's fonts-noto-cjk")
def test_chart_is_drawn_with_the_simplified_chinese_face_of_the_collection(tmp_path):
    """R-C2: of Debian's Noto CJK collection (first face: JP) the chart uses the SC face, so 门, 关, 骨 take
    their simplified-Chinese shapes; `doctor` names the face it found."""
    found = stats.sc_face_file(NOTO_TTC, tmp_path)
    assert found is not None
    path, name, index = found
    assert name == "Noto Sans CJK SC" and index > 0 and path.stat().st_size > 1_000_000
    from fontTools.ttLib import TTFont

    with TTFont(str(path)) as face:
        assert face["name"].getDebugName(1) == "Noto Sans CJK SC"
    face = stats.cjk_face()
    assert face is not None and face.name == "Noto Sans CJK SC" and f"face {index}" in str(face)
