"""The organisation's lists in the read model (P7): departments, categories, trades, registered contractors
and active staff with their names and titles; and people by username, as pages, timelines and mails name them.

    python -m adapters.db.org list
    python -m adapters.db.org add-department --name 营销部      (or add-category --name 装修, add-trade --name 弱电)
    python -m adapters.db.org retire-department --name 营销部   (or retire-category, retire-trade: kept, no longer offered)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.models import CaseCategory, Contractor, Department, RepairTrade, Staff
from aftersales.org import OrgLists, Person, default_title
from aftersales.roles import Role

# The categories a new database starts with (the administrator's to change): the kinds of complaint a
# developer's customer service registers.
DEFAULT_CATEGORIES = ("漏水", "渗水", "渗漏", "空鼓开裂", "门窗", "水电", "噪音", "设计缺陷", "交付延期", "物业服务",
                      "使用不当", "其他")

# The trades a new database starts with (R1; the administrator's to change).
DEFAULT_TRADES = ("水电", "木工", "泥工", "油漆", "防水", "门窗", "电梯", "其他")
KINDS = {"department": Department, "category": CaseCategory, "trade": RepairTrade}


async def departments(session: AsyncSession) -> list[str]:
    return list((await session.scalars(select(Department.name).where(Department.active.is_(True))
                                       .order_by(Department.position, Department.name))).all())


async def categories(session: AsyncSession) -> list[str]:
    return list((await session.scalars(select(CaseCategory.name).where(CaseCategory.active.is_(True))
                                       .order_by(CaseCategory.position, CaseCategory.name))).all())


async def trades(session: AsyncSession) -> list[str]:
    return list((await session.scalars(select(RepairTrade.name).where(RepairTrade.active.is_(True))
                                       .order_by(RepairTrade.position, RepairTrade.name))).all())


async def contractors(session: AsyncSession) -> dict[str, str]:
    return {c.id: c.name for c in (await session.scalars(select(Contractor).order_by(Contractor.id))).all()}


def person(staff: Staff, contractor_names: dict[str, str] | None = None) -> Person:
    name = (contractor_names or {}).get(staff.contractor_id or "")
    return Person(username=staff.username, display_name=staff.display_name,
                  title=staff.title or default_title(staff.role, staff.department, name),
                  role=Role(staff.role), department=staff.department, contractor_id=staff.contractor_id)


async def staff_list(session: AsyncSession, *, role: Role | None = None, department: str | None = None,
                     contractor_id: str | None = None) -> list[Person]:
    """Active staff (P7: chosen by name), of a role, department or contractor when given."""
    q = select(Staff).where(Staff.active.is_(True)).order_by(Staff.role, Staff.department, Staff.username)
    if role is not None:
        q = q.where(Staff.role == role.value)
    if department is not None:
        q = q.where(Staff.department == department)
    if contractor_id is not None:
        q = q.where(Staff.contractor_id == contractor_id)
    names = await contractors(session)
    return [person(s, names) for s in (await session.scalars(q)).all()]


async def people(session: AsyncSession, usernames: Iterable[str | None]) -> dict[str, Person]:
    """The accounts of these usernames (active or not: a timeline names who acted then), by username."""
    wanted = sorted({u for u in usernames if u})
    if not wanted:
        return {}
    rows = (await session.scalars(select(Staff).where(Staff.username.in_(wanted)))).all()
    names = await contractors(session) if any(s.contractor_id for s in rows) else {}
    return {s.username: person(s, names) for s in rows}


async def lists(session: AsyncSession, *, handlers: bool = False, workers: bool = False) -> OrgLists:
    """The lists a reference is checked against (handlers only when asked: an assign_handler; workers: a
    dispatch, the repair team's and the contractors' active accounts)."""
    return OrgLists(departments=await departments(session), categories=await categories(session),
                    contractors=await contractors(session), trades=await trades(session),
                    handlers=await staff_list(session, role=Role.dept_handler) if handlers else [],
                    workers=(await staff_list(session, role=Role.repair_lead)
                             + await staff_list(session, role=Role.contractor)) if workers else [])


async def add_department(session: AsyncSession, name: str) -> bool:
    """Adds (or brings back) a department; True if the list changed. Commits."""
    return await _add(session, Department, name)


async def add_category(session: AsyncSession, name: str) -> bool:
    return await _add(session, CaseCategory, name)


async def _add(session: AsyncSession, model, name: str) -> bool:
    name = name.strip()
    if not name:
        raise ValueError("name must not be empty")
    row = await session.get(model, name)
    if row is not None:
        if row.active:
            return False
        row.active = True
    else:
        position = (await session.scalar(select(func.max(model.position)))) or 0
        session.add(model(name=name, position=position + 1, active=True))
    await session.commit()
    return True


async def retire(session: AsyncSession, model, name: str) -> bool:
    """No longer offered; cases that name it keep it (and reports still count it by that name)."""
    row = await session.get(model, name)
    if row is None or not row.active:
        return False
    row.active = False
    await session.commit()
    return True


async def seed(session: AsyncSession, department_names: Iterable[str], category_names: Iterable[str] = DEFAULT_CATEGORIES,
               trade_names: Iterable[str] = DEFAULT_TRADES) -> None:
    """Adds the departments, categories and trades that are missing (idempotent; retired ones stay retired).
    Commits."""
    for model, names in ((Department, department_names), (CaseCategory, category_names), (RepairTrade, trade_names)):
        known = set((await session.scalars(select(model.name))).all())
        position = (await session.scalar(select(func.max(model.position)))) or 0
        for name in names:
            if name not in known:
                position += 1
                session.add(model(name=name, position=position, active=True))
                known.add(name)
    await session.commit()


# --- CLI -------------------------------------------------------------------------------------------

async def _run(args: argparse.Namespace, database_url: str) -> int:
    from adapters.db.session import make_engine, make_sessionmaker

    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            if args.command == "list":
                print("departments:", "、".join(await departments(session)))
                print("categories:", "、".join(await categories(session)))
                print("trades:", "、".join(await trades(session)))
                print("contractors:", "、".join(f"{k}（{v}）" for k, v in (await contractors(session)).items()))
                return 0
            verb, kind = args.command.split("-")
            model = KINDS[kind]
            changed = await (_add(session, model, args.name) if verb == "add" else retire(session, model, args.name))
            print(f"{args.command} {args.name}: {'done' if changed else 'nothing to change'}")
    finally:
        await engine.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    from adapters.config import get_settings

    parser = argparse.ArgumentParser(prog="python -m adapters.db.org", description="The organisation's lists (P7).")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list")
    for name in (f"{verb}-{kind}" for kind in KINDS for verb in ("add", "retire")):
        sub.add_parser(name).add_argument("--name", required=True)
    return asyncio.run(_run(parser.parse_args(argv), get_settings().database_url))


if __name__ == "__main__":
    sys.exit(main())
