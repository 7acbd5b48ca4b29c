"""P2 within P5 in SQL: `aftersales.access.may_see` for one case is the same rule as a condition on the register."""

from sqlalchemy import and_, false, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.db.models import Case
from aftersales.access import SEES_ALL, SEES_DEPARTMENT, SEES_DISPATCHED, SEES_REACHED, SEES_REPAIRS
from aftersales.actor import Actor
from aftersales.org import in_scope


def scope_clause(actor: Actor):
    """P5 as a SQL condition on the register: the group sees every case, a company its cases, a project its
    project's (each served by an index of `cases` ending in the register's sort key)."""
    if actor.project:
        return Case.project_key == actor.project
    if actor.company_id:
        return Case.company_id == actor.company_id
    return true()


def role_clause(actor: Actor):
    """P2 alone: which cases a role sees."""
    role = actor.role
    if role in SEES_ALL:
        return true()
    if role in SEES_DEPARTMENT:
        return Case.department == actor.department if actor.department else false()
    if role in SEES_REPAIRS:
        return Case.case_type == "repair"
    if role in SEES_DISPATCHED:
        if not actor.contractor_id:
            return false()
        return and_(Case.case_type == "repair", Case.contractor_id == actor.contractor_id)
    if role in SEES_REACHED:
        return Case.reached_roles.like(f"%,{role.value},%")
    return false()


def visible_cases_clause(actor: Actor):
    """P2 within the account's scope (P5) as a SQL condition on the register (`adapters.db.models.Case`): add it to
    every query that lists cases, before paging, so totals and pages count only what the user may see."""
    return and_(scope_clause(actor), role_clause(actor))


async def scope_facts(session: AsyncSession, case_no: str) -> dict[str, str | None] | None:
    """P5: a case's company and project as the register holds them (a case opened before rules 3 knows them only
    there); None when the register has no row for it yet."""
    row = (await session.execute(select(Case.company_id, Case.project_key).where(Case.case_no == case_no))).first()
    return None if row is None else {"company_id": row.company_id, "project_key": row.project_key}


async def in_scope_of(session: AsyncSession, actor: Actor, case_no: str) -> bool:
    """P5 for one case by its register row (True for the group's accounts, and while the case has no row)."""
    if not actor.company_id and not actor.project:
        return True
    facts = await scope_facts(session, case_no)
    return facts is None or in_scope(actor.company_id, actor.project, facts["company_id"], facts["project_key"])
