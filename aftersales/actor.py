"""Who is acting: a staff account with one role from domain.md's role table and, where the role needs
one, its department (dept_handler, dept_head) or contractor (contractor) (P1); and its scope (P5): a project
(`project`, its key, with the project's company as `company_id`), a company (`company_id` alone) or the group
(neither)."""

from pydantic import BaseModel

from aftersales.roles import Role


class Actor(BaseModel):
    username: str
    role: Role
    display_name: str = ""
    department: str | None = None
    contractor_id: str | None = None
    company_id: str | None = None
    project: str | None = None
