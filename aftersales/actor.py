"""Who is acting: a staff account with one role from domain.md's role table."""

from pydantic import BaseModel

from aftersales.roles import Role


class Actor(BaseModel):
    username: str
    role: Role
    display_name: str = ""
    department: str | None = None
