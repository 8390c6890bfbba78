"""Initial data: the city's district/county unions and industry unions (editable later in /admin)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Union

DISTRICTS: tuple[tuple[str, str, str], ...] = (
    ("zhongshan", "中山区总工会", "Zhongshan District Union"),
    ("xigang", "西岗区总工会", "Xigang District Union"),
    ("shahekou", "沙河口区总工会", "Shahekou District Union"),
    ("ganjingzi", "甘井子区总工会", "Ganjingzi District Union"),
    ("lvshunkou", "旅顺口区总工会", "Lüshunkou District Union"),
    ("jinzhou", "金州区总工会", "Jinzhou District Union"),
    ("pulandian", "普兰店区总工会", "Pulandian District Union"),
    ("wafangdian", "瓦房店市总工会", "Wafangdian City Union"),
    ("zhuanghe", "庄河市总工会", "Zhuanghe City Union"),
    ("changhai", "长海县总工会", "Changhai County Union"),
    ("gaoxin", "高新区总工会", "Hi-tech Zone Union"),
    ("jinpu", "金普新区总工会", "Jinpu New Area Union"),
    ("changxingdao", "长兴岛经济区总工会", "Changxing Island Economic Zone Union"),
)

INDUSTRIES: tuple[tuple[str, str, str], ...] = (
    ("ind_machinery", "市机械冶金工会", "Machinery and Metallurgy Union"),
    ("ind_energy", "市能源化工工会", "Energy and Chemical Union"),
    ("ind_construction", "市建设建材工会", "Construction and Building Materials Union"),
    ("ind_transport", "市交通运输工会", "Transport Union"),
    ("ind_finance_trade", "市财贸工会", "Finance and Trade Union"),
    ("ind_education", "市教育工会", "Education Union"),
    ("ind_health", "市卫生工会", "Health Union"),
    ("ind_agri", "市农林水利工会", "Agriculture, Forestry and Water Union"),
)


async def seed_unions(s: AsyncSession) -> int:
    """Insert the initial unions when the table is empty; returns how many were added."""
    if await s.scalar(select(func.count()).select_from(Union)):
        return 0
    rows = [Union(code=c, kind="district", name_zh=zh, name_en=en, sort=i) for i, (c, zh, en) in enumerate(DISTRICTS)]
    rows += [Union(code=c, kind="industry", name_zh=zh, name_en=en, sort=i) for i, (c, zh, en) in enumerate(INDUSTRIES)]
    s.add_all(rows)
    return len(rows)
