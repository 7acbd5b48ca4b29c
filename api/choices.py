"""The lists the workbench's pickers offer (P7: references are chosen, never typed): departments, staff by
name and title, registered contractors, complaint categories, the property register. One small function
per list, read from the organisation's own lists (departments and categories: `adapters.db.org`), the staff
accounts, the contractors registered for their deposit and the property register."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersales.campaign import CAMPAIGN_STAFF_ROLES
from adapters.db import org
from adapters.db.models import Contractor, PropertyUnit, Staff
from aftersales.messages import role_title
from aftersales.roles import Role

# R1: the trades of a repair.
TRADES = ["水电", "木工", "泥工", "油漆", "防水", "门窗", "电梯", "其他"]

Choice = tuple[str, str]   # (value posted, what the reader sees)


def person(staff: Staff) -> str:
    """An account as people read it (P7): its name, and its title where the name is not the title."""
    title = getattr(staff, "title", None) or role_title(staff.role)
    name = staff.display_name or ""
    if not name or name == title:
        return title
    return f"{name}（{title}）"


async def staff_names(session: AsyncSession) -> dict[str, str]:
    """username → name and title, for every account (an account gone inactive still names its past acts)."""
    return {s.username: person(s) for s in await session.scalars(select(Staff))}


async def departments(session: AsyncSession) -> list[str]:
    """The responsible departments: the organisation's list (P7), the same one the API checks against."""
    return await org.departments(session)


async def handlers(session: AsyncSession, department: str | None) -> list[Choice]:
    """C3: the active handlers (dept_handler) of a department."""
    if not department:
        return []
    rows = await session.scalars(select(Staff).where(Staff.active, Staff.role == Role.dept_handler.value,
                                                     Staff.department == department).order_by(Staff.username))
    return [(s.username, person(s)) for s in rows]


async def contractors(session: AsyncSession) -> list[Choice]:
    """R3/A3: the registered contractors."""
    return [(c.id, f"{c.name}（{c.id}）") for c in await session.scalars(select(Contractor).order_by(Contractor.id))]


async def workers(session: AsyncSession, contractor_id: str | None) -> list[Choice]:
    """R4/R5: who a work order can go to: the in-house repair team (repair_lead accounts) and the accounts
    of the contractor the survey names."""
    clause = Staff.role == Role.repair_lead.value
    rows = list(await session.scalars(select(Staff).where(Staff.active, clause).order_by(Staff.username)))
    if contractor_id:
        rows += list(await session.scalars(select(Staff).where(
            Staff.active, Staff.role == Role.contractor.value, Staff.contractor_id == contractor_id)))
    return [(s.username, person(s)) for s in rows]


async def categories(session: AsyncSession) -> list[str]:
    """C2: the complaint categories: the organisation's list (P7), the same one the API checks against."""
    return await org.categories(session)


async def campaign_staff(session: AsyncSession) -> list[Choice]:
    """V3: the active accounts that make revisits."""
    rows = await session.scalars(select(Staff).where(
        Staff.active, Staff.role.in_([r.value for r in CAMPAIGN_STAFF_ROLES])).order_by(Staff.role, Staff.username))
    return [(s.username, person(s)) for s in rows]


async def projects_and_buildings(session: AsyncSession) -> dict[str, list[str]]:
    """The property register: each project's buildings."""
    rows = await session.execute(select(PropertyUnit.project, PropertyUnit.building).distinct().limit(2000))
    out: dict[str, list[str]] = {}
    for project, building in rows:
        out.setdefault(project, []).append(building)
    return {p: sorted(b) for p, b in sorted(out.items())}


def roles() -> list[Choice]:
    return [(r.value, role_title(r)) for r in Role]


def as_choices(values: list[Any]) -> list[Choice]:
    return [(str(v), str(v)) for v in values]
