"""Who is acting: a staff account with one role from domain.md's role table and, where the role needs
one, its department (dept_handler, dept_head) or contractor (contractor) (P1)."""

from pydantic import BaseModel

from aftersales.roles import Role


class Actor(BaseModel):
    username: str
    role: Role
    display_name: str = ""
    department: str | None = None
    contractor_id: str | None = None
