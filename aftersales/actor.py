"""Who is acting: a staff account with one role from domain.md's role table and, where the role needs
one, its department (dept_handler, dept_head) or contractor (contractor) (P1); and its scope (P5): a project
(`project`, its key, with the project's company as `company_id`), a company (`company_id` alone) or the group
(neither). From rules 4, the owner acting for themselves on the owner pages (O3) is an actor of its own
kind that no staff route ever makes."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from aftersales.roles import Role

OWNER_USERNAME = "owner"   # how the timeline names the owner's own acts (the page shows 业主本人); never a phone (P3)


class Actor(BaseModel):
    username: str
    role: Role
    display_name: str = ""
    department: str | None = None
    contractor_id: str | None = None
    company_id: str | None = None
    project: str | None = None


class OwnerActor(BaseModel):
    """O3/O4: the owner, signed in on the owner pages by an SMS code or a one-case link (O1). The API makes one
    only from an owner session and only for a case it found to be that owner's (O2: the phone's or their
    units'): `case_no` binds the act to that case, and the API's actor assertion (P4) vouches for both. It has
    no role: the staff role table never lets it act, the owner's own table does (aftersales.access.OWNER_ACTS)."""
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["owner"] = "owner"
    username: Literal["owner"] = OWNER_USERNAME
    case_no: str = Field(pattern=r"^[A-Z]{2}-[0-9]{4}-[0-9]{6}$")
    means: Literal["code", "link"]
    # V3: a campaign's survey the owner answers (case_no: the campaign's number) is for this household of theirs
    unit_id: int | None = None
    # what the machine's shared code reads of an actor: none of these for an owner
    role: None = None
    department: None = None
    contractor_id: None = None
    company_id: None = None
    project: None = None
    display_name: Literal["业主本人"] = "业主本人"


AnyActor = Actor | OwnerActor


def is_owner(actor: object) -> bool:
    return isinstance(actor, OwnerActor)
