"""The printed form as the federation files it (R-F9): rendered to PDF with LibreOffice and read back with
poppler's pdfinfo/pdftotext/pdffonts, as the office would look at it page by page.

One conversion of the longest application the declaration allows is shared by the module; tests skip
(with the reason) where LibreOffice or poppler is missing — CI installs both (.ci/run).
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, date
from pathlib import Path

import pytest
from docx import Document

from bot.domain import form
from bot.domain.form import FormField, Kind
from bot.domain.workflow import Box
from bot.exports import data, docx_form, pdf
from bot.i18n import I18n
from storage.models import Application
from tests.documents import longest_bundle

ZH = I18n().get("zh")
NEEDS = [tool for tool in ("pdfinfo", "pdftotext", "pdffonts") if shutil.which(tool) is None]
pytestmark = pytest.mark.skipif(pdf.converter() is None or bool(NEEDS),
                                reason="needs LibreOffice (libreoffice-writer) and poppler-utils "
                                       f"(missing: {'soffice' if pdf.converter() is None else ''} {' '.join(NEEDS)})")


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


class Rendered:
    """A PDF and its text, page by page (pdftotext -raw: each cell's lines together)."""

    def __init__(self, blob: bytes, where: Path) -> None:
        self.path = where
        where.write_bytes(blob)
        info = subprocess.run(["pdfinfo", str(where)], capture_output=True, text=True, check=True).stdout
        self.pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))  # type: ignore[union-attr]
        raw = subprocess.run(["pdftotext", "-raw", str(where), "-"], capture_output=True, text=True,
                             check=True).stdout
        self.raw = raw.split("\f")[: self.pages]
        flow = subprocess.run(["pdftotext", str(where), "-"], capture_output=True, text=True, check=True).stdout
        self.lines = [page.splitlines() for page in flow.split("\f")[: self.pages]]
        self.fonts = subprocess.run(["pdffonts", str(where)], capture_output=True, text=True, check=True).stdout

    def page(self, n: int) -> str:
        return squash(self.raw[n - 1])


@pytest.fixture(scope="module")
def longest(tmp_path_factory: pytest.TempPathFactory) -> tuple[docx_form.FormWriter, Rendered]:
    b = longest_bundle(members=24)
    blob = docx_form.build_docx(b, ZH, UTC)
    writer = docx_form.FormWriter(b, ZH, UTC)
    writer.blocks()  # the same layout again, to know what went to which continuation sheet
    return writer, Rendered(pdf.docx_to_pdf(blob), tmp_path_factory.mktemp("pdf") / "longest.pdf")


def test_longest_application_prints_on_one_sheet_with_continuation_sheets(longest):
    """R-F9: every text at its longest (as the declaration allows) and 24 members: the form proper is two A4
    pages (one sheet, both sides), ending with the note; everything that did not fit is on numbered 附页 from
    page 3, each referenced by （续见附页 N） on the form; nothing typed is lost."""
    writer, pdf_ = longest
    assert pdf_.pages > 2
    assert "请单页双面打印" in pdf_.page(2) and "市总工会审核意见" in pdf_.page(2)
    assert pdf_.page(3).split("申报编号：2026-0042", 1)[1].startswith("附页1")  # the first sheet after the form
    form_proper = pdf_.page(1) + pdf_.page(2)
    sheets = "".join(pdf_.page(n) for n in range(3, pdf_.pages + 1))
    assert writer.continued and [c.n for c in writer.continued] == list(range(1, len(writer.continued) + 1))
    # page headers and footers are not part of the flowing text
    flowing = re.sub(r"劳模创新工作室申报表申报编号：2026-0042|第\d+页共\d+页", "", sheets)
    for c in writer.continued:
        assert f"（续见附页{c.n}）" in form_proper, c.n
        assert f"附页{c.n}{c.title}（续）" in sheets, c.n
        if c.members is None:
            assert squash(c.text) in flowing, c.title  # the rest of the text, whole
    members = next(c for c in writer.continued if c.members is not None)
    assert "工作室参与人员情况：共24人" in form_proper and len(members.members or []) == 24
    for values in members.members or []:
        assert all(squash(v) in flowing for v in values)
    # the texts begin on the form: the first words of the achievements are in their box on page 1
    assert squash(writer.answers["achievements"])[:40] in pdf_.page(1)


def test_every_page_carries_number_and_page_of_pages(longest):
    """R-F9: loose sheets of three copies stay sorted: the application number and 第 X 页 共 Y 页 on every
    page."""
    _, pdf_ = longest
    for n in range(1, pdf_.pages + 1):
        page = pdf_.page(n)
        assert "申报编号：2026-0042" in page, n
        assert f"第{n}页共{pdf_.pages}页" in page, n


def test_no_row_splits_and_labels_stay_whole(longest):
    """R-F8, R-F9: each opinion box keeps its opinion, （盖印） and date on one page (page 2); no seal
    strays onto a continuation sheet; captions break only at a word boundary (工作设备清单 whole;
    区市县、/产业工会意见); the members' sheet repeats its header on every page it runs over."""
    writer, pdf_ = longest
    page2 = pdf_.page(2)
    assert page2.count("（盖印）") == len(Box)
    for box in Box:
        op = writer.b.latest_opinion(box)
        assert op is not None
        day = op.decided_at.astimezone(UTC).date()
        assert f"{day.year}年{day.month}月{day.day}日" in page2, box
        assert squash(op.text)[:20] in page2, box
    assert all("（盖印）" not in pdf_.page(n) for n in range(3, pdf_.pages + 1))
    lines1 = [line.strip() for line in pdf_.lines[0]]
    lines2 = [line.strip() for line in pdf_.lines[1]]
    assert "工作设备清单" in lines1 and "工作地点" in lines1
    assert "主要工作成绩" in lines1 and "和成果" in lines1
    assert "区市县、" in lines2 and "产业工会意见" in lines2
    assert "工作设备清" not in lines1
    member_pages = [n for n in range(3, pdf_.pages + 1) if "工作室参与人员情况（续）" in pdf_.page(n)]
    assert member_pages
    first = member_pages[0]
    following = [n for n in range(first + 1, pdf_.pages + 1) if "附页" not in pdf_.page(n).split("页共")[0]]
    for n in following[:2]:  # pages the members' table runs over start with its header row again
        body = pdf_.page(n).split("申报编号：2026-0042", 1)[1]
        if body[:2] == "序号":
            break
    else:
        pytest.fail("the members' sheet does not repeat its header row")


def test_pdf_uses_the_serif_cjk_face_for_songti(longest):
    """R-F9: 宋体 body text comes out in Noto Serif CJK (the substitution shipped with the converter), not in
    whichever sans face the machine offers first; 黑体 (title) in Noto Sans CJK."""
    _, pdf_ = longest
    fonts = pdf_.fonts
    assert "NotoSerifCJK" in fonts
    assert not re.search(r"NotoSansCJK\w*-Regular", fonts)
    assert re.search(r"NotoSansCJK\w*-Bold", fonts)
    conf = pdf.fontconfig()
    assert "<string>宋体</string>" in conf and "<string>Noto Serif CJK SC</string>" in conf
    assert "<string>黑体</string>" in conf and "<string>Noto Sans CJK SC</string>" in conf


def test_a_field_added_to_the_leader_block_renders(tmp_path, monkeypatch):
    """R-F2, R-F9: the printed form's shape comes from the declaration: with an eighth field in the leader's
    block (which used to fail with "8 cells do not fit 7 columns"), the leader's table takes a second row
    of captions and values, the new answer is printed, and the form proper still fits two pages."""
    phone = FormField(key="leader_phone", kind=Kind.TEXT, section="leader", spec="R-F2", max_len=20,
                      print_width=3.0, caption="联系电话")
    steps = list(form.STEPS)
    at = max(i for i, f in enumerate(steps) if f.section == "leader") + 1
    steps.insert(at, phone)
    answers = {
        "union": 1, **{f"elig_{n}": True for n in range(1, 6)}, "applying_unit": "星海机床股份有限公司",
        "leader_name": "赵春梅", "leader_gender": "female", "leader_birth": "1970-11", "leader_education": "college",
        "leader_title": "senior_technician", "leader_honour": "provincial_model", "leader_employer": "星海机床",
        "leader_phone": "0411-82610410", "achievements": "攻克五轴联动加工难题。" * 20, "location": "二车间",
        "area": 85.5, "funds": 300000, "equipment": ["五轴加工中心", "三坐标测量机"], "plan": "培养高级技师5名。" * 10,
        "members": [{"name": f"成员{i}", "gender": "male", "birth": "1990-01", "education": "bachelor",
                     "title": "technician", "employer": "星海机床", "role": "工艺"} for i in range(1, 4)],
    }
    app = Application(id=9, number="2026-0009", season_year=2026, applicant_id=1, status="submitted",
                      answers=answers, application_date=date(2026, 7, 9))
    b = data.Bundle(app=app, union=None, opinions=[], attachments=[], trail=[])
    blob = docx_form.build_docx(b, ZH, UTC, steps=steps)
    doc = Document(io.BytesIO(blob))
    texts = [c.text for t in doc.tables for row in t.rows for c in row.cells]
    assert "联系电话" in texts and "0411-82610410" in texts
    rendered = Rendered(pdf.docx_to_pdf(blob), tmp_path / "phone.pdf")
    assert rendered.pages == 2
    assert "联系电话" in rendered.page(1) and "0411-82610410" in rendered.page(1)
    assert replace(phone, roster=True).roster  # a field may as well be a roster column
