"""P2 in SQL: `aftersales.access.may_see` for one case is the same rule as a condition on the register."""

from sqlalchemy import and_, false, true

from adapters.db.models import Case
from aftersales.access import SEES_ALL, SEES_DEPARTMENT, SEES_DISPATCHED, SEES_REACHED, SEES_REPAIRS
from aftersales.actor import Actor


def visible_cases_clause(actor: Actor):
    """P2 as a SQL condition on the register (`adapters.db.models.Case`): add it to every query that
    lists cases, before paging, so totals and pages count only what the user may see."""
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
