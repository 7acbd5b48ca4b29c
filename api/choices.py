"""The lists the workbench's pickers offer (P7: references are chosen, never typed): departments, staff by
name and title, registered contractors, complaint categories, a repair's trades, the property register. One small function
per list, each read from the organisation's own lists in `adapters.db.org` (the ones the API checks every
reference against), and the property register. A person is shown one way everywhere: `org.person`'s label."""

import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from aftersales.campaign import CAMPAIGN_STAFF_ROLES
from adapters.db import org
from adapters.db.models import PropertyUnit, Staff
from aftersales.messages import role_title
from aftersales.roles import Role

Choice = tuple[str, str]   # (value posted, what the reader sees)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]*")   # a username in a text (api.workbench.with_names)


def person(staff: Staff, contractor_names: dict[str, str] | None = None) -> str:
    """An account as people read it (P7): the organisation's one way of naming a person, its name and title
    ("张伟 · 工程部专人"), as the API's `label`, the timelines and the mails show it."""
    return org.person(staff, contractor_names).label


async def staff_names(session: AsyncSession, only: Iterable[str | None] | None = None) -> dict[str, str]:
    """username → name and title, for every account (an account gone inactive still names its past acts), or
    for the accounts `only` names: a page of rows names a few, and reading a group's every account for each
    page cost the register and 我的待办 10–15 ms of CPU a request (P5)."""
    names = await org.contractors(session)
    q = select(Staff)
    if only is not None:
        wanted = {u for u in only if u}
        if not wanted:
            return {}
        q = q.where(Staff.username.in_(sorted(wanted)))
    return {s.username: person(s, names) for s in await session.scalars(q)}


def named_in(rows: Iterable[Any], *texts: str) -> set[str]:
    """The accounts a page of case rows names (its handler and next person, as _rows.html shows them) and the
    words of machine-written texts that may be usernames (what `with_names` replaces)."""
    out = {u for r in rows for u in (getattr(r, "handler", None), getattr(r, "next_user", None)) if u}
    for t in texts:
        out.update(_WORD.findall(t or ""))
    return out


async def departments(session: AsyncSession) -> list[str]:
    """The responsible departments: the organisation's list (P7), the same one the API checks against."""
    return await org.departments(session)


async def handlers(session: AsyncSession, department: str | None, company_id: str | None = None) -> list[Choice]:
    """C3: the active handlers (dept_handler) of a department (P5: of the case's company, when it has one)."""
    if not department:
        return []
    return [(p.username, p.label) for p in await org.staff_list(session, role=Role.dept_handler, department=department,
                                                                company_id=company_id)]


async def contractors(session: AsyncSession) -> list[Choice]:
    """R3/A3: the registered contractors (the same list the API checks a contractor_id against)."""
    return [(cid, f"{name}（{cid}）") for cid, name in (await org.contractors(session)).items()]


async def workers(session: AsyncSession, contractor_id: str | None, company_id: str | None = None) -> list[Choice]:
    """R4/R5: who a work order can go to: the in-house repair team (repair_lead accounts; P5: of the case's
    company, when it has one) and the accounts of the contractor the survey names (the same people the API checks a
    dispatch's workers against)."""
    people = await org.staff_list(session, role=Role.repair_lead, company_id=company_id)
    if contractor_id:
        people += await org.staff_list(session, role=Role.contractor, contractor_id=contractor_id)
    return [(p.username, p.label) for p in people]


async def categories(session: AsyncSession) -> list[str]:
    """C2: the complaint categories: the organisation's list (P7), the same one the API checks against."""
    return await org.categories(session)


async def trades(session: AsyncSession) -> list[str]:
    """R1: a repair's trades: the organisation's list (P7), the same one the API checks against."""
    return await org.trades(session)


async def campaign_staff(session: AsyncSession, company_id: str | None = None) -> list[Choice]:
    """V3: the active accounts that make revisits (P5: of the planner's company, and the group's, when it has one)."""
    return [(p.username, p.label) for role in sorted(CAMPAIGN_STAFF_ROLES, key=lambda r: r.value)
            for p in await org.staff_list(session, role=role)
            if company_id is None or p.company_id in (None, company_id)]


async def projects_and_buildings(session: AsyncSession, company_id: str | None = None,
                                 project: str | None = None) -> dict[str, list[str]]:
    """Each project within a scope (P5: the group's, a company's, one project's) with its buildings in the property
    register: the registered projects of the scope (P7: an intake names one), also those with no unit yet, and for
    the group the register's projects no company holds yet."""
    from adapters.db.properties import units_in_scope
    from aftersales.properties import normalize_text
    stmt = select(PropertyUnit.project_key, PropertyUnit.project, PropertyUnit.building).distinct().limit(2000)
    if (within := units_in_scope(company_id, project)) is not None:
        stmt = stmt.where(within)
    names: dict[str, str] = {}
    buildings: dict[str, set[str]] = {}
    for key, name, building in await session.execute(stmt):
        names.setdefault(key, name)
        buildings.setdefault(key, set()).add(building)
    for p in await org.projects(session, company_id):
        if project is None or p.key == project:
            names.setdefault(p.key, p.name)
    return {names[k]: sorted(buildings.get(k, ())) for k in sorted(names, key=lambda k: normalize_text(names[k]))}


# One step of the (project, building) index per project (a loose index scan, which neither SQLite nor
# PostgreSQL 15 does on its own for a DISTINCT): 300 steps where a group's register has 600,000 units.
_PROJECTS = text(
    "WITH RECURSIVE p(name) AS (SELECT min(project) FROM property_units UNION ALL "
    "SELECT (SELECT min(project) FROM property_units WHERE project > p.name) FROM p WHERE p.name IS NOT NULL) "
    "SELECT name FROM p WHERE name IS NOT NULL")


async def projects(session: AsyncSession, company_id: str | None = None, project: str | None = None) -> list[str]:
    """The property register's projects, in order (P7: the register's project filter chooses from them); of a
    company's or a project's account (P5), the registered projects of its scope (a few rows of the organisation)."""
    if company_id is None and project is None:
        return list((await session.scalars(_PROJECTS)).all())
    return sorted(await org.project_names(session, company_id, project))


def roles() -> list[Choice]:
    return [(r.value, role_title(r)) for r in Role]


def as_choices(values: list[Any]) -> list[Choice]:
    return [(str(v), str(v)) for v in values]
