"""The organisation's lists (P7), for pickers, and the check of every reference an action or an intake names.

    GET /org/departments           the responsible departments a case is routed to
    GET /org/categories            the complaint categories
    GET /org/contractors           the registered contractors (id and name)
    GET /org/trades                a repair's trades (工种)
    GET /org/staff?role=&department=&contractor_id=   active staff by name and title

Any signed-in account reads them (a contractor's account: only its own contractor's people; P5: a company's or a
project's account the people of its company and the group's). A reference
that is not on its list is refused (422) naming the valid values, before the action reaches its case.
"""

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from aftersales import access
from aftersales.actions import SHORT_TEXT_PATTERN, AssignHandler, Classify, Dispatch, OpenRepair, Reassign, RecordSurvey
from aftersales.actor import OWNER_USERNAME, Actor
from adapters.db import org
from aftersales.errors import Rejection
from aftersales.org import Person, colleague
from aftersales.provenance import MEANS_NAMES, GivenBy, Provenance
from aftersales.roles import Role
from api.auth import current_actor
from api.deps import db_session

router = APIRouter(prefix="/org", tags=["organisation"])


class NamedItem(BaseModel):
    name: str


class ContractorItem(BaseModel):
    id: str
    name: str


class PersonOut(BaseModel):
    username: str
    display_name: str
    title: str
    label: str  # "张伟 · 工程部专人", as pages show a person
    role: Role
    department: str | None = None
    contractor_id: str | None = None


def person_out(p: Person) -> PersonOut:
    return PersonOut(label=p.label, **p.model_dump())


@router.get("/departments", response_model=list[NamedItem], summary="The responsible departments (P7)")
async def departments(actor: Annotated[Actor, Depends(current_actor)],
                      session: Annotated[AsyncSession, Depends(db_session)]) -> list[NamedItem]:
    return [NamedItem(name=n) for n in await org.departments(session)]


@router.get("/categories", response_model=list[NamedItem], summary="The complaint categories (P7)")
async def categories(actor: Annotated[Actor, Depends(current_actor)],
                     session: Annotated[AsyncSession, Depends(db_session)]) -> list[NamedItem]:
    return [NamedItem(name=n) for n in await org.categories(session)]


@router.get("/trades", response_model=list[NamedItem], summary="A repair's trades (R1, P7)")
async def trades(actor: Annotated[Actor, Depends(current_actor)],
                 session: Annotated[AsyncSession, Depends(db_session)]) -> list[NamedItem]:
    return [NamedItem(name=n) for n in await org.trades(session)]


@router.get("/contractors", response_model=list[ContractorItem], summary="The registered contractors (P7)")
async def contractors(actor: Annotated[Actor, Depends(current_actor)],
                      session: Annotated[AsyncSession, Depends(db_session)]) -> list[ContractorItem]:
    return [ContractorItem(id=k, name=v) for k, v in (await org.contractors(session)).items()]


@router.get("/staff", response_model=list[PersonOut], summary="Active staff by name and title (P7)")
async def staff(actor: Annotated[Actor, Depends(current_actor)],
                session: Annotated[AsyncSession, Depends(db_session)],
                role: Role | None = None,
                department: Annotated[str | None, Query(max_length=64, pattern=SHORT_TEXT_PATTERN)] = None,
                contractor_id: Annotated[str | None, Query(max_length=64, pattern=SHORT_TEXT_PATTERN)] = None,
                ) -> list[PersonOut]:
    if actor.role in access.CONTRACTOR_ROLES:  # a contractor's account: its own contractor's people only
        if contractor_id not in (None, actor.contractor_id):
            return []
        role, contractor_id = Role.contractor, actor.contractor_id
    return [person_out(p) for p in await org.staff_list(session, role=role, department=department,
                                                          contractor_id=contractor_id)
            if colleague(actor.company_id, p.company_id)]  # P5: the account's company's people and the group's


# ---- references checked (P7) ---------------------------------------------------------------------------

CASE_TYPE_OF = {Classify: "complaint", Reassign: "complaint", AssignHandler: "complaint", OpenRepair: "complaint",
                RecordSurvey: "repair", Dispatch: "repair"}


async def check_action(session: AsyncSession, action: BaseModel, actor: Actor, department: str | None = None,
                       contractor_id: str | None = None, company_id: str | None = None) -> None:
    """422 naming the valid values when an action names a department, category, contractor, handler, trade or
    worker that is not on the organisation's lists. `department`: the case's, for the handlers offered;
    `contractor_id`: the contractor the repair's survey names, whose accounts a work order may go to;
    `company_id` (P5): the case's company, whose handlers and repair team are offered. A role that may not do the
    action at all is left to the case's own answer (403), as without a reference."""
    case_type = CASE_TYPE_OF.get(type(action))
    if case_type is None:
        return
    roles = access.action_roles(case_type, getattr(action, "action"))
    if roles is not None and actor.role not in roles:
        return
    try:
        if isinstance(action, Classify):
            lists = await org.lists(session, of=("categories", "departments"))
            lists.category(action.category)
            lists.department(action.department)
        elif isinstance(action, Reassign):
            (await org.lists(session, of=("departments",))).department(action.department)
        elif isinstance(action, RecordSurvey):
            lists = await org.lists(session, of=("departments", "contractors"))
            lists.responsible_party(action.responsible_party)
            if action.contractor_id:
                lists.contractor(action.contractor_id)
        elif isinstance(action, OpenRepair):
            (await org.lists(session, of=("trades",))).trades_of(action.trades)
        elif isinstance(action, Dispatch):  # P5: the case's company's repair team; another's named, refused
            (await org.lists(session, workers=True, company_id=company_id, of=("contractors",))).workers_of(
                action.workers, contractor_id, known=await org.people(session, action.workers))
        elif isinstance(action, AssignHandler):
            lists = await org.lists(session, handlers=True, company_id=company_id, of=())  # P5: the case's company's
            if action.handler not in {p.username for p in lists.handlers}:
                lists.handler(action.handler, department)
    except Rejection as r:
        raise HTTPException(422, r.message) from None


async def check_category(session: AsyncSession, category: str) -> None:
    """The intake's category, from the list (P7)."""
    try:
        (await org.lists(session, of=("categories",))).category(category)
    except Rejection as r:
        raise HTTPException(422, r.message) from None


async def check_trades(session: AsyncSession, trades: list[str], field: str = "trades") -> None:
    """A repair's trades (an intake's, a revisit point's), from the trades list (P7, R1)."""
    try:
        (await org.lists(session, of=("trades",))).trades_of(trades, field)
    except Rejection as r:
        raise HTTPException(422, r.message) from None


async def display(session: AsyncSession, view: dict[str, Any]) -> dict[str, Any]:
    """The case view with people by name and title (P7) beside the usernames the machine keeps: each timeline
    entry's `actor_display`, `handler_display`, `registered_by_display`, each approval's `requested_by_display`
    and step's `by_display`, and for each next actor the `people` who may take the step (their labels)."""
    approvals = view.get("approvals") or []
    names = {t.get("actor") for t in view.get("timeline") or []}
    names |= {(t.get("provenance") or {}).get("staff") for t in view.get("timeline") or []}
    names |= {view.get("handler"), view.get("registered_by")}
    names |= {a.get("requested_by") for a in approvals} | {s.get("by") for a in approvals for s in a.get("steps") or []}
    names |= {a.get("username") for a in view.get("next_actors") or []}
    known = await org.people(session, names)

    def label(username: str | None) -> str | None:
        if not username:
            return None
        return known[username].label if username in known else username

    # an entry's text that names a person by username (经办人 dept_handler …) reads with the name as well
    named = [(re.compile(rf"(?<![A-Za-z0-9_.@-]){re.escape(u)}(?![A-Za-z0-9_.@-])"), p.label) for u, p in known.items()]

    def text_display(text: str) -> str:
        for pattern, name in named:
            text = pattern.sub(name, text)
        return text

    def given_display(entry: dict[str, Any]) -> str | None:
        """O4: who gave the fact — 业主本人（短信链接） or 代录（张伟 · 客户服务部人员，电话）."""
        if not entry.get("provenance"):
            return None
        given = Provenance.model_validate(entry["provenance"])
        if given.by is GivenBy.owner:
            return given.words()
        return f"代录（{label(given.staff)}，{MEANS_NAMES[given.means]}）"

    def actor_display(entry: dict[str, Any]) -> str | None:
        given = entry.get("provenance") or {}
        if given.get("by") == GivenBy.owner.value and entry.get("actor") == OWNER_USERNAME:
            return "业主本人"   # the owner's own act (O3), never a staff account of that name
        return label(entry.get("actor"))

    view = {**view}
    view["timeline"] = [{**t, "actor_display": actor_display(t), "text_display": text_display(t.get("text") or ""),
                         "given_display": given_display(t)}
                        for t in view.get("timeline") or []]
    view["handler_display"] = label(view.get("handler"))
    view["registered_by_display"] = label(view.get("registered_by"))
    view["approvals"] = [{**a, "requested_by_display": label(a.get("requested_by")),
                          "steps": [{**s, "by_display": label(s.get("by"))} for s in a.get("steps") or []]}
                         for a in approvals]
    if isinstance(view.get("decision"), dict):
        d = view["decision"]
        view["decision"] = {**d, "requested_by_display": label(d.get("requested_by")),
                            "done": [{**s, "by_display": label(s.get("by"))} for s in d.get("done") or []]}
    out = []
    for a in view.get("next_actors") or []:
        if a.get("username"):
            people = [known[a["username"]]] if a["username"] in known else []
        elif Role(a["role"]) in access.DEPARTMENT_ROLES and not a.get("department"):
            people = []  # no department yet: nobody of the role is named (P2)
        else:
            role = Role(a["role"])
            people = await org.staff_list(
                session, role=role, department=a.get("department") if role in access.DEPARTMENT_ROLES else None,
                contractor_id=a.get("contractor_id") if role in access.CONTRACTOR_ROLES else None,
                # P5: the people of the case's company (a contractor works for the group)
                company_id=view.get("company_id") if role not in access.CONTRACTOR_ROLES else None)
        out.append({**a, "people": [p.label for p in people]})
    view["next_actors"] = out
    return view
