"""One application as a reviewer meets it: long answers, six members, three photos, documents."""

from __future__ import annotations

from sqlalchemy import select

from bot.domain import form
from storage import repo
from storage.models import Application
from tests.offline import Harness
from tests.roles import grant
from tests.test_review_flow import APPLICANT, CITY, DISTRICT, DISTRICT2, submitted

OTHER_UNION_REVIEWER, ADMIN, STRANGER = 22, 900, 41
ACHIEVEMENTS = ("主持完成集装箱装卸工艺改造十二项，获国家发明专利五项、实用新型专利十一项；"
                "带领团队攻克岸桥远程操控关键技术，年节约成本八百余万元。") * 40
PLAN = ("三年内完成智能码头关键技术攻关，建成自动化作业示范线一条，培养高级技师二十名，"
        "每年开展技术交流和技能培训不少于十二次。") * 40
MEMBERS = [
    {"name": name, "gender": gender, "birth": birth, "education": edu, "title": title,
     "employer": "大连港集团有限公司", "role": role}  # stored as the wizard stores them (`form.member_row`)
    for name, gender, birth, edu, title, role in (
        ("李明", "female", "1985-06", "master", "高级工程师", "工艺设计"),
        ("赵强", "male", "1988-02", "bachelor", "technician", "设备改造"),
        ("孙丽", "female", "1990-11", "master", "engineer", "数据分析"),
        ("周涛", "male", "1982-04", "college", "senior_technician", "现场作业"),
        ("吴静", "female", "1993-09", "bachelor", "engineer", "质量检测"),
        ("郑伟", "male", "1986-12", "doctor", "professor_engineer", "技术攻关"),
    )
]

__all__ = ["APPLICANT", "CITY", "DISTRICT", "DISTRICT2", "ready"]


async def ready(h: Harness) -> Application:
    """A submitted application with answers at their longest, and a reviewer of another union."""
    await submitted(h)
    async with h.db.session() as s:
        unions = await repo.active_unions(s)
        app = (await s.scalars(select(Application).where(Application.applicant_id == APPLICANT))).one()
        assert app.union_id == unions[0].id
        app.answers = {**app.answers, "achievements": ACHIEVEMENTS[: form.LONG_TEXT_MAX],
                       "plan": PLAN[: form.LONG_TEXT_MAX], "members": MEMBERS}
        await s.commit()
        other = unions[1].id
    await grant(h, OTHER_UNION_REVIEWER, "district_reviewer", other)
    async with h.db.session() as s:
        await repo.upsert_user(s, STRANGER, "Stranger", None, None, "zh-hans", h.clock.now())
        await repo.upsert_user(s, ADMIN, "Office", None, None, "zh-hans", h.clock.now())
        await s.commit()
        return (await s.scalars(select(Application).where(Application.applicant_id == APPLICANT))).one()
