"""The group's organisation (P5) for the system administrator (`admin`): its companies (with each company's role
mailboxes and robots, where a notice for a role goes when none of the company's accounts of the role can be
reached) and projects (each belongs to one company), one at a time or imported from a sheet (公司编号, 公司, 项目:
all or nothing, every problem listed). Any signed-in account reads the companies and the projects within its
scope (GET /org/companies, /org/projects: what intake pages choose a project from, P7).

    GET  /admin/companies               every company with its projects
    PUT  /admin/companies/{company_id}  add or change a company (name, mailboxes, robots, active)
    PUT  /admin/projects                register a project to a company (cases of it that knew no company follow)
    POST /admin/organisation/import     companies and projects from .xlsx or .csv
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, HTTPException, Path, UploadFile
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from aftersales import access
from aftersales.actions import SHORT_TEXT_PATTERN
from aftersales.actor import Actor
from aftersales.org import scope_of
from aftersales.roles import Role
from adapters.db import org
from adapters.spreadsheets import TooLarge, read_table
from api.auth import current_actor, require_roles
from api.deps import db_session
from api.problems import problem_response
from api.text_guard import checked_file_name

router = APIRouter(tags=["organisation"])
ADMIN = Depends(require_roles(*access.ENDPOINTS["admin_organisation"]))
MAX_IMPORT_BYTES = 1024 * 1024
COMPANY_ID = org.COMPANY_ID
Text64 = Annotated[str, Field(min_length=1, max_length=64, pattern=SHORT_TEXT_PATTERN)]
Email = Annotated[str, Field(max_length=256, pattern=r"^[^@\s]+@[^@\s]+$")]
Url = Annotated[str, Field(max_length=512, pattern=r"^https?://[^\s]+$")]
HEADINGS = {"company_id": ("公司编号", "company_id"), "company": ("公司", "company"), "project": ("项目", "project")}


class ProjectOut(BaseModel):
    key: str
    name: str
    company_id: str


class CompanyOut(BaseModel):
    id: str
    name: str
    active: bool
    mailboxes: dict[str, str] = Field(description="role -> the company's role mailbox (the fallback of E1, A1, A2)")
    robots: list[str] = Field(description="the roles the company has a role robot for (their URLs hold keys: not shown)")
    projects: list[ProjectOut] = []


class CompanyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text64
    active: bool = True
    mailboxes: dict[Role, Email] = Field(default={}, description="role -> the company's role mailbox")
    robots: dict[Role, Url] = Field(default={}, description="role -> the company's role robot (WeCom / DingTalk)")


class ProjectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=128, pattern=SHORT_TEXT_PATTERN)]
    company_id: Annotated[str, Field(pattern=COMPANY_ID)]


async def _companies(session: AsyncSession) -> list[CompanyOut]:
    projects = await org.projects(session)
    return [CompanyOut(id=c.id, name=c.name, active=c.active, mailboxes=c.mailboxes or {},
                       robots=sorted(c.robots or {}),
                       projects=[ProjectOut(key=p.key, name=p.name, company_id=p.company_id)
                                 for p in projects if p.company_id == c.id])
            for c in await org.companies(session)]


@router.get("/admin/companies", response_model=list[CompanyOut], summary="The group's companies and projects (P5)")
async def get_companies(actor: Annotated[Actor, ADMIN], session: Annotated[AsyncSession, Depends(db_session)]):
    return await _companies(session)


@router.put("/admin/companies/{company_id}", response_model=CompanyOut,
            summary="Add or change a company: name, role mailboxes and robots (P5)")
async def put_company(company_id: Annotated[str, Path(pattern=COMPANY_ID)], body: CompanyIn,
                      actor: Annotated[Actor, ADMIN], session: Annotated[AsyncSession, Depends(db_session)]):
    try:
        await org.put_company(session, company_id, body.name, active=body.active,
                              mailboxes={r.value: v for r, v in body.mailboxes.items()},
                              robots={r.value: v for r, v in body.robots.items()})
    except org.OrgProblem as e:
        raise HTTPException(409, str(e)) from None
    return next(c for c in await _companies(session) if c.id == company_id)


@router.put("/admin/projects", response_model=ProjectOut, summary="Register a project to its company (P5)")
async def put_project(body: ProjectIn, actor: Annotated[Actor, ADMIN],
                      session: Annotated[AsyncSession, Depends(db_session)]):
    try:
        row = await org.put_project(session, body.name, body.company_id)
    except org.OrgProblem as e:
        raise HTTPException(409 if "已有案件" in str(e) else 422, str(e)) from None
    return ProjectOut(key=row.key, name=row.name, company_id=row.company_id)


@router.post("/admin/organisation/import", response_model=list[CompanyOut],
             summary="Companies and projects from .xlsx or .csv: 公司编号, 公司, 项目 (all or nothing)")
async def import_organisation(file: Annotated[UploadFile, File()], actor: Annotated[Actor, ADMIN],
                              session: Annotated[AsyncSession, Depends(db_session)]):
    content = await file.read(MAX_IMPORT_BYTES + 1)
    if len(content) > MAX_IMPORT_BYTES:
        raise HTTPException(413, f"the file is larger than {MAX_IMPORT_BYTES // 1024} KiB")
    try:
        table = read_table(checked_file_name(file.filename, "upload.csv"), content)
    except TooLarge as e:
        raise HTTPException(413, str(e)) from None
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    rows, problems = _rows(table)
    if not problems:
        names: dict[str, str] = {}
        for number, r in rows:
            if names.setdefault(r["company_id"], r["company"]) != r["company"]:
                problems.append({"row": number, "column": "公司", "reason": f"公司编号 {r['company_id']} 在前面的行中名为"
                                 f"「{names[r['company_id']]}」"})
        try:
            for company_id, name in names.items():
                known = {c.id: c for c in await org.companies(session)}
                await org.put_company(session, company_id, name, commit=False,
                                      active=known[company_id].active if company_id in known else True)
            for number, r in rows:
                try:
                    await org.put_project(session, r["project"], r["company_id"], commit=False)
                except org.OrgProblem as e:
                    problems.append({"row": number, "column": "项目", "reason": str(e)})
        except org.OrgProblem as e:
            problems.append({"row": 1, "column": "公司", "reason": str(e)})
    if problems:
        await session.rollback()
        errors = [{"loc": ["file", p["row"], p["column"]], "msg": p["reason"], "type": "import", **p} for p in problems]
        return problem_response(422, f"{len(problems)} problem(s) in {file.filename}: nothing was imported",
                                errors=errors)
    await session.commit()
    return await _companies(session)


def _rows(table: list[list[Any]]) -> tuple[list[tuple[int, dict[str, str]]], list[dict[str, Any]]]:
    import re
    problems: list[dict[str, Any]] = []
    if not table:
        return [], [{"row": 1, "column": "", "reason": "the file is empty: the first row must hold 公司编号, 公司, 项目"}]
    names = {n.lower(): f for f, aliases in HEADINGS.items() for n in aliases}
    columns: dict[str, int] = {}
    for i, cell in enumerate(table[0]):
        field = names.get(str(cell or "").strip().lower())
        if field is not None:
            columns.setdefault(field, i)
    for field, (heading, _) in HEADINGS.items():
        if field not in columns:
            problems.append({"row": 1, "column": heading, "reason": "required heading is missing"})
    if problems:
        return [], problems
    rows = []
    for number, row in enumerate(table[1:], start=2):
        values = {f: str(row[i] if i < len(row) and row[i] is not None else "").strip() for f, i in columns.items()}
        if not any(values.values()):
            continue
        for field, (heading, _) in HEADINGS.items():
            value = values[field]
            if not value:
                problems.append({"row": number, "column": heading, "reason": "must not be empty"})
            elif field == "company_id" and not re.match(COMPANY_ID, value):
                problems.append({"row": number, "column": heading, "reason": "letters, digits, '-', '_' (at most 32)"})
            elif not re.match(SHORT_TEXT_PATTERN, value) or len(value) > (128 if field == "project" else 64):
                problems.append({"row": number, "column": heading, "reason": "too long or not printable text"})
        rows.append((number, values))
    return rows, problems


# ---- for every signed-in account: pickers ---------------------------------------------------------------

class ScopeOut(BaseModel):
    scope: str
    company_id: str | None
    project: str | None



@router.get("/org/projects", response_model=list[ProjectOut], summary="The projects within your scope (P5, P7)")
async def my_projects(actor: Annotated[Actor, Depends(current_actor)],
                      session: Annotated[AsyncSession, Depends(db_session)]) -> list[ProjectOut]:
    return [ProjectOut(key=p.key, name=p.name, company_id=p.company_id)
            for p in await org.projects(session, actor.company_id)
            if actor.project is None or p.key == actor.project]


@router.get("/org/scope", response_model=ScopeOut, summary="Your scope: the group, a company or a project (P5)")
async def my_scope(actor: Annotated[Actor, Depends(current_actor)]) -> ScopeOut:
    return ScopeOut(scope=scope_of(actor.company_id, actor.project).value, company_id=actor.company_id,
                    project=actor.project)
