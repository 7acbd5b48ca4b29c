"""The organisation's lists in the read model (P7): departments, categories, trades, registered contractors
and active staff with their names and titles; and people by username, as pages, timelines and mails name them.

    python -m adapters.db.org list
    python -m adapters.db.org add-department --name 营销部      (or add-category --name 装修, add-trade --name 弱电)
    python -m adapters.db.org retire-department --name 营销部   (or retire-category, retire-trade: kept, no longer offered)
    python -m adapters.db.org add-company --id xm --name 厦门公司      (P5: the group's companies ...)
    python -m adapters.db.org add-project --name 鼓浪苑 --company-id xm  (... and their projects)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterable

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.models import Case, CaseCategory, Company, Contractor, Department, Project, RepairTrade, Staff
from aftersales.org import CaseOrg, OrgLists, Person, choices, default_title
from aftersales.properties import normalize_text
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
                  role=Role(staff.role), department=staff.department, contractor_id=staff.contractor_id,
                  company_id=staff.company_id, project=staff.project)


async def staff_list(session: AsyncSession, *, role: Role | None = None, department: str | None = None,
                     contractor_id: str | None = None, company_id: str | None = None) -> list[Person]:
    """Active staff (P7: chosen by name), of a role, department or contractor when given; of a company (P5: a
    case's people) when given."""
    q = select(Staff).where(Staff.active.is_(True)).order_by(Staff.role, Staff.department, Staff.username)
    if company_id is not None:
        q = q.where(Staff.company_id == company_id)
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


LISTS = ("departments", "categories", "contractors", "trades")


async def lists(session: AsyncSession, *, handlers: bool = False, workers: bool = False,
                company_id: str | None = None, of: Iterable[str] = LISTS) -> OrgLists:
    """The lists a reference is checked against: `of` those of LISTS the caller checks (each is a read, and an
    action names one or two: a classify its category and department), handlers only when asked (an
    assign_handler), workers (a dispatch: the repair team's and the contractors' active accounts); P5: the
    handlers and the repair team of `company_id`, the case's company, when given."""
    of = set(of)
    return OrgLists(departments=await departments(session) if "departments" in of else [],
                    categories=await categories(session) if "categories" in of else [],
                    contractors=await contractors(session) if "contractors" in of else {},
                    trades=await trades(session) if "trades" in of else [],
                    handlers=await staff_list(session, role=Role.dept_handler, company_id=company_id) if handlers else [],
                    workers=(await staff_list(session, role=Role.repair_lead, company_id=company_id)
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


# --- P5: the group's companies and projects ---------------------------------------------------------

COMPANY_ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"


class OrgProblem(ValueError):
    """A change of the organisation P5 does not allow (the message names it, in Chinese)."""


async def companies(session: AsyncSession, *, active_only: bool = False) -> list[Company]:
    q = select(Company).order_by(Company.id)
    if active_only:
        q = q.where(Company.active.is_(True))
    return list((await session.scalars(q)).all())


async def projects(session: AsyncSession, company_id: str | None = None) -> list[Project]:
    q = select(Project).order_by(Project.company_id, Project.key)
    if company_id is not None:
        q = q.where(Project.company_id == company_id)
    return list((await session.scalars(q)).all())


async def put_company(session: AsyncSession, company_id: str, name: str, *, mailboxes: dict[str, str] | None = None,
                      robots: dict[str, str] | None = None, active: bool = True, commit: bool = True) -> Company:
    """Adds or changes a company (its name, role mailboxes and robots). OrgProblem for a name another company has."""
    name = name.strip()
    other = await session.scalar(select(Company).where(Company.name == name, Company.id != company_id))
    if other is not None:
        raise OrgProblem(f"name：「{name}」已是公司 {other.id} 的名称（P5）")
    row = await session.get(Company, company_id)
    if row is None:
        row = Company(id=company_id, name=name, mailboxes={}, robots={})
        session.add(row)
    row.name, row.active = name, active
    if mailboxes is not None:
        row.mailboxes = {Role(k).value: v for k, v in mailboxes.items()}
    if robots is not None:
        row.robots = {Role(k).value: v for k, v in robots.items()}
    if commit:
        await session.commit()
    return row


async def put_project(session: AsyncSession, name: str, company_id: str, *, commit: bool = True) -> Project:
    """Registers a project (by its name as the property register keys it) to a company; the cases of the project
    that know no company yet (opened before P5) belong to it from now on. OrgProblem for an unknown company, or a
    project of another company that already has cases (its cases stay with their company)."""
    name = name.strip()
    key = normalize_text(name)
    if not key:
        raise OrgProblem("project：项目名称不能为空（P5）")
    company = await session.get(Company, company_id)
    if company is None:
        known = [c.id for c in await companies(session)]
        raise OrgProblem(f"company_id：「{company_id}」不是登记的公司；请从列表中选择：{choices(known)}（P5）")
    row = await session.get(Project, key)
    if row is None:
        row = Project(key=key, name=name, company_id=company_id, active=True)
        session.add(row)
    elif row.company_id != company_id:
        held = await session.scalar(select(Case.case_no).where(Case.project_key == key,
                                                               Case.company_id == row.company_id).limit(1))
        if held is not None:
            raise OrgProblem(f"项目「{row.name}」属于公司 {row.company_id}，已有案件（如 {held}），不能改属 {company_id}（P5）")
        row.company_id = company_id
    row.name = name
    await session.execute(update(Case).where(Case.project_key == key, Case.company_id.is_(None))
                          .values(company_id=company_id))
    if commit:
        await session.commit()
    return row


async def register_import_projects(session: AsyncSession, records, *, company_id: str | None, project: str | None,
                                   heading: str = "公司") -> list[tuple[int, str, str]]:
    """P5: the property register's projects belong to companies. For an import by an account of this scope: each
    project already registered must lie within the scope (and a 公司 given must be its company); a new project is
    registered to the 公司 the file gives (within the scope) or to the importer's company. Returns the problems as
    (record index, column, reason), registering nothing then; else registers the new projects (not committed)."""
    by_name = {c.name: c.id for c in await companies(session)}
    known_ids = set(by_name.values())
    problems: list[tuple[int, str, str]] = []
    new: dict[str, tuple[str, str]] = {}
    # each project read once, not once a unit: a register of 50,000 units held the event loop for seconds
    keys = {name: normalize_text(name) for name in {r.project for r in records}}
    rows = {key: await session.get(Project, key) for key in set(keys.values())}
    for i, r in enumerate(records):
        key = keys[r.project]
        given = by_name.get(r.company, r.company) if r.company else None
        if given is not None and given not in known_ids:
            problems.append((i, heading, f"「{r.company}」不是登记的公司；请从列表中选择：{choices(sorted(by_name))}（P5）"))
            continue
        row = rows[key]
        owner = row.company_id if row is not None else (given or new.get(key, (None, None))[1] or company_id)
        if row is not None and given is not None and given != row.company_id:
            problems.append((i, heading, f"项目「{row.name}」属于公司 {row.company_id}，不是 {r.company}（P5）"))
        elif owner is None:
            problems.append((i, heading, f"项目「{r.project}」尚未登记：请写明它所属的公司（P5）"))
        elif (company_id and owner != company_id) or (project and key != project):
            problems.append((i, heading, f"项目「{r.project}」不在您的范围内，不能导入（P5）"))
        elif row is None:
            new.setdefault(key, (r.project, owner))
    if not problems:
        for name, owner in new.values():
            await put_project(session, name, owner, commit=False)
    return problems


async def project_org(session: AsyncSession, project: str) -> tuple[Project | None, CaseOrg]:
    """The registered project a case's project names (None: no company holds it) and the case's CaseOrg (P5)."""
    key = normalize_text(project)
    row = await session.get(Project, key)
    return row, CaseOrg(project_key=key, company_id=row.company_id if row is not None else None)


async def project_names(session: AsyncSession, company_id: str | None = None, project: str | None = None) -> list[str]:
    """The names of the projects within a scope (P5: the group's, a company's, one project's)."""
    return [p.name for p in await projects(session, company_id) if project is None or p.key == project]


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
            if args.command == "add-company":
                await put_company(session, args.id, args.name)
                print(f"add-company {args.id} {args.name}: done")
                return 0
            if args.command == "add-project":
                try:
                    await put_project(session, args.name, args.company_id)
                except OrgProblem as e:
                    print(f"error: {e}", file=sys.stderr)
                    return 1
                print(f"add-project {args.name} ({args.company_id}): done")
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
    company = sub.add_parser("add-company")
    company.add_argument("--id", required=True)
    company.add_argument("--name", required=True)
    project = sub.add_parser("add-project")
    project.add_argument("--name", required=True)
    project.add_argument("--company-id", required=True)
    return asyncio.run(_run(parser.parse_args(argv), get_settings().database_url))


if __name__ == "__main__":
    sys.exit(main())
