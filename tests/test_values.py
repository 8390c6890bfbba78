"""Validators for what applicants type (R-F2, R-F4, R-F5, R-F6)."""

from __future__ import annotations

from datetime import date

import pytest

from bot.domain import form, values
from bot.domain.values import (
    InvalidInput,
    clean_text,
    parse_area,
    parse_lines,
    parse_long_text,
    parse_money,
    parse_short_text,
    parse_year_month,
)

ON = date(2026, 7, 10)


@pytest.mark.parametrize("raw", ["1975-03", "1975.3", "1975年3月", "197503", "1975/03", "１９７５年３月", " 1975 - 3 "])
def test_birth_year_month_forms(raw):
    """R-F2/R-F6 出生年月 accepts the usual ways of writing it."""
    assert parse_year_month(raw, on=ON) == "1975-03"


@pytest.mark.parametrize("raw,code", [("1975-13", "month_range"), ("1971年13月", "month_range"),
                                      ("1975-00", "month_range"), ("2031-05", "year_month_future"),
                                      ("2026-08", "year_month_future"), ("Smarch 1975", "year_month_format"),
                                      ("2015-01", "age_range"), ("1940-01", "age_range"), ("", "year_month_format")])
def test_birth_refused(raw, code):
    """R-F2/R-F6: an adult of working age at the application date; a month out of range and a month still
    to come are told as such, not as an age or an unreadable text."""
    with pytest.raises(InvalidInput) as exc:
        parse_year_month(raw, on=ON)
    assert exc.value.code == code


def test_age_boundary_is_by_month():
    assert parse_year_month("2008-07", on=ON) == "2008-07"  # turned 18 this month
    with pytest.raises(InvalidInput):
        parse_year_month("2008-08", on=ON)


@pytest.mark.parametrize("raw,value", [("120", 120.0), ("120平方米", 120.0), ("120 m²", 120.0), ("85.5㎡", 85.5),
                                       ("１２０平米", 120.0), ("1,200", 1200.0), ("约150平米", 150.0),
                                       ("150平方米左右", 150.0), ("about 120 m²", 120.0)])
def test_area(raw, value):
    """R-F4 面积 in m², an approximate figure as typed ("约150平米")."""
    assert parse_area(raw) == value


@pytest.mark.parametrize("raw,code", [("0", "area_positive"), ("-5", "area_positive"), ("一百二十", "area_format"),
                                      ("120亩", "area_format")])
def test_area_refused(raw, code):
    with pytest.raises(InvalidInput) as exc:
        parse_area(raw)
    assert exc.value.code == code


@pytest.mark.parametrize("raw,yuan", [("50", 500000), ("50万元", 500000), ("500000元", 500000), ("50万", 500000),
                                      ("0", 0), ("2.5万元", 25000), ("¥30,000元", 30000), ("每年80万元", 800000),
                                      ("80万元/年", 800000), ("约20万", 200000)])
def test_money_in_one_unit(raw, yuan):
    """R-F4 配套资金 is stored in yuan whatever unit was typed ("每年80万元" too); a bare number means 万元."""
    assert parse_money(raw) == yuan


@pytest.mark.parametrize("raw", ["-1", "五十万", "50美元", ""])
def test_money_refused(raw):
    with pytest.raises(InvalidInput):
        parse_money(raw)


def test_names_are_1_to_30_characters():
    assert parse_short_text("  王  建国 ", max_len=30) == "王 建国"
    with pytest.raises(InvalidInput) as exc:
        parse_short_text("王" * 31, max_len=30)
    assert exc.value.code == "too_long" and exc.value.params["max"] == 30
    with pytest.raises(InvalidInput):
        parse_short_text("\u200b \u200f", max_len=30)


def test_long_text_up_to_2000():
    assert parse_long_text("甲" * 2000, max_len=2000)
    with pytest.raises(InvalidInput):
        parse_long_text("甲" * 2001, max_len=2000)


def test_equipment_one_item_per_line():
    """R-F5 equipment list: one item per line, bullets and numbers stripped."""
    assert parse_lines("1. 车床\n- 铣床\n\n• 磨床 ", max_items=100, max_len=100) == ["车床", "铣床", "磨床"]


def test_clean_text_drops_invisible_and_control_characters():
    assert clean_text("\u202e王\u200b建国\x07") == "王建国"


def test_declaration_covers_every_form_field():
    """R-F1…R-F7: every field of 附件1 is declared once, in the form's order."""
    keys = [f.key for f in form.STEPS]
    expected = ["applying_unit", "leader_name", "leader_gender", "leader_birth", "leader_education",
                "leader_title", "leader_honour", "leader_employer", "achievements", "location", "area", "funds",
                "equipment", "members", "plan"]
    assert [k for k in keys if k in expected] == expected
    assert [f.key.removeprefix("member_") for f in form.MEMBER_FIELDS] == [
        "name", "gender", "birth", "education", "title", "employer", "role"]
    assert {"photos", "video", "recommendation", "rules", "other_materials"} <= set(keys)
    assert [f.condition for f in form.ELIGIBILITY] == ["R-E1", "R-E2", "R-E3", "R-E4", "R-E5"]


def test_completeness_check_names_missing_fields():
    assert "leader_name" in form.validate_complete({"applying_unit": "x"})


def test_one_date_parser_takes_the_ways_people_type_a_day():
    """R-W3, R-O2: plaque dates, inspection dates and season dates are read by one parser."""
    from datetime import date

    import pytest

    from bot.domain.values import InvalidInput, parse_date

    for raw in ("2026-09-20", "2026.9.20", "2026/09/20", "2026年9月20日", " 2026 - 9 - 20 ", "２０２６-０９-２０"):
        assert parse_date(raw) == date(2026, 9, 20), raw
    for raw, code in (("20 September", "date_format"), ("2026-02-30", "date_invalid"), ("", "date_format")):
        with pytest.raises(InvalidInput) as exc:
            parse_date(raw)
        assert exc.value.code == code


@pytest.mark.parametrize("raw", ["March 1975", "mar 1975", "1975 March", "3/1975", "Mar. 1975"])
def test_birth_in_english_words(raw):
    """R-F2: an English month name or month/year is a year and month too."""
    assert values.parse_year_month(raw, on=date(2026, 7, 10)) == "1975-03"


def test_money_in_yuan_and_negative():
    """R-F4: "500000 yuan" and "¥500,000" are yuan; a negative amount is refused as negative."""
    assert values.parse_money("500000 yuan") == values.parse_money("¥500,000") == 500000
    with pytest.raises(values.InvalidInput) as err:
        values.parse_money("-3")
    assert err.value.code == "money_negative"
    assert values.format_money(500000, "en") == "500,000 yuan"
