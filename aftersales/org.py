"""The organisation's own lists and how people are named (P7), as pure rules.

P7: a case's department, handler, contractor and category, a repair's responsible party, trades and workers
are chosen from the organisation's lists
(departments, active staff with their names, registered contractors, the category list), never typed:
a value that is not on its list is refused with the list of valid values, so that a typo ("工程" for
工程部) can neither strand a case in nobody's work nor count as a department of its own in reports.
The lists live in the read model (adapters/db/org.py); the API checks every reference against them
before an action or an intake reaches its case (api/org.py).

People are shown by name and title ("张伟 · 工程部专人"), not by username; the username stays the
machine's key (timelines, approvals, next actors keep it, the API adds display fields beside it).

Pure: no I/O.
"""

from collections.abc import Iterable
from enum import StrEnum

from pydantic import BaseModel

from aftersales.errors import invalid
from aftersales.roles import ROLE_TITLES, Role

LIST_SHOWN = 30  # a refusal names at most this many valid values (then "等 N 项")


class Person(BaseModel):
    """A staff account as others see it: username (the key), name, title and the label pages use."""
    username: str
    display_name: str
    title: str
    role: Role
    department: str | None = None
    contractor_id: str | None = None
    company_id: str | None = None  # P5: the account's scope (none: the group's)
    project: str | None = None

    @property
    def label(self) -> str:
        return person_label(self.display_name, self.title)


def default_title(role: Role | str, department: str | None = None, contractor_name: str | None = None) -> str:
    """The title an account has unless one is set: the role's, made concrete by its department or contractor
    (工程部专人, 物业部经理, 示范建工公司 施工单位)."""
    role = Role(role)
    if role == Role.dept_handler and department:
        return f"{department}专人"
    if role == Role.dept_head and department:
        return f"{department}经理"
    if role == Role.contractor and contractor_name:
        return f"{contractor_name}（施工单位）"
    return ROLE_TITLES[role]


def person_label(display_name: str | None, title: str | None) -> str:
    """'张伟 · 工程部专人'; the title alone when the account has no name of its own (the name is the role's
    title, as accounts created before P7 have it)."""
    name, title = (display_name or "").strip(), (title or "").strip()
    if not name or name == title or name in ROLE_TITLES.values():
        return title or name
    return f"{name} · {title}" if title else name


def choices(values: Iterable[str]) -> str:
    """The valid values as a refusal names them: 工程部、物业部 (at most LIST_SHOWN, then 等 N 项)."""
    values = list(values)
    if not values:
        return "（列表为空，请管理员先登记）"
    shown = "、".join(values[:LIST_SHOWN])
    return shown + (f" 等 {len(values)} 项" if len(values) > LIST_SHOWN else "")


def choose(field: str, value: str, valid: Iterable[str], what: str, shown: Iterable[str] | None = None) -> str:
    """`value` if it is on the list `valid`, else a refusal (422) naming the field, the value and the valid
    values (`shown`: how to name them, when not as the values themselves)."""
    valid = list(valid)
    if value in valid:
        return value
    raise invalid(f"{field}：「{value}」不是{what}；请从列表中选择：{choices(shown if shown is not None else valid)}（P7）")


def choose_people(field: str, values: Iterable[str], valid: Iterable[Person], what: str,
                  known: dict[str, Person] | None = None) -> list[str]:
    """`values` (usernames) if each is one of the `valid` people, else a refusal (422) naming the field, the
    first value that is not, and the valid people as `username（name · title）`: an API client reads the key
    it sends, the pages show the name and title alone (api.workbench.with_names). A value that is an account
    of another kind (`known`) is named by its name and title too, never by a bare username (P7)."""
    valid = list(valid)
    usernames = {p.username for p in valid}
    values = list(values)
    for value in values:
        if value not in usernames:
            shown = f"{value}（{known[value].label}）" if known and value in known else value
            raise invalid(f"{field}：「{shown}」不是{what}；请从列表中选择："
                          f"{choices(f'{p.username}（{p.label}）' for p in valid)}（P7）")
    return values


class OrgLists(BaseModel):
    """The lists an action or intake is checked against (as the read model holds them now)."""
    departments: list[str] = []
    categories: list[str] = []
    contractors: dict[str, str] = {}  # registered contractor id -> name
    handlers: list[Person] = []       # active dept_handler accounts
    trades: list[str] = []            # R1: the trades (工种) a repair names
    workers: list[Person] = []        # R4/R5: active repair_lead and contractor accounts, who a work order goes to

    def department(self, value: str, field: str = "department") -> str:
        return choose(field, value, self.departments, "本公司登记的部门")

    def responsible_party(self, value: str, field: str = "responsible_party") -> str:
        """R2: the survey's responsible party is the department that answers for the repair (the case is
        routed to it, as a complaint's classification routes it): one of the organisation's departments."""
        return choose(field, value, self.departments, "本公司登记的部门（责任方）")

    def trades_of(self, values: Iterable[str], field: str = "trades") -> list[str]:
        """R1: each trade from the trades list (a typo like 泥瓦 for 泥工 would count as a trade of its own)."""
        return [choose(field, v, self.trades, "登记的工种") for v in values]

    def workers_of(self, values: Iterable[str], contractor_id: str | None = None, field: str = "workers",
                   known: dict[str, Person] | None = None) -> list[str]:
        """R4/R5: who a work order goes to: active accounts of the in-house repair team (repair_lead; P5: of the
        case's company, when the lists were read for one), and of the contractor the survey names (P1: never another
        contractor's). `known`: other accounts a refusal names by name and title (another company's)."""
        valid = [p for p in self.workers if p.role == Role.repair_lead
                 or (contractor_id and p.role == Role.contractor and p.contractor_id == contractor_id)]
        what = "在职的维修队人员" + (f"或{self.contractors.get(contractor_id, contractor_id)}的人员" if contractor_id else "")
        return choose_people(field, values, valid, what, known={**(known or {}), **{p.username: p for p in self.workers}})

    def category(self, value: str, field: str = "category") -> str:
        return choose(field, value, self.categories, "登记的类别")

    def contractor(self, value: str, field: str = "contractor_id") -> str:
        return choose(field, value, self.contractors, "登记的施工单位",
                      shown=[f"{cid}（{name}）" for cid, name in self.contractors.items()])

    def handler(self, value: str, department: str | None = None, field: str = "handler") -> str:
        """An active dept_handler account (of `department`, when the case has one: C3, P1)."""
        mine = [p for p in self.handlers if department is None or p.department == department]
        return choose(field, value, [p.username for p in mine],
                      f"{department or ''}在职的责任部门专人",
                      shown=[f"{p.username}（{p.label}）" for p in mine])


# ---- P5: the group, its companies and projects; each account's scope ------------------------------------

class Scope(StrEnum):
    group = "group"      # 集团: the group's 400 hotline, group customer service, the group's executives
    company = "company"  # 城市公司
    project = "project"  # 项目


SCOPE_TITLES = {Scope.group: "集团", Scope.company: "城市公司", Scope.project: "项目"}

R = Role
# P5: the scopes each role may have. A butler and a project's service-centre hotline work for one project;
# the company roles for one company; the group's 400 hotline, group customer service (cs_staff, cs_manager) and
# the group's executives (deputy_gm, gm) for the group. A contractor may work for several companies (its
# deposit is one ledger, A3): the group; so does IT's administrator, who sees no case.
ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    R.butler: frozenset({Scope.project}),
    R.hotline: frozenset({Scope.project, Scope.group}),
    R.cs_staff: frozenset({Scope.company, Scope.group}),
    R.cs_manager: frozenset({Scope.company, Scope.group}),
    R.deputy_gm: frozenset({Scope.company, Scope.group}),
    R.gm: frozenset({Scope.company, Scope.group}),
    **{r: frozenset({Scope.company}) for r in (R.dept_handler, R.dept_head, R.repair_lead, R.engineering, R.finance,
                                                R.auditor, R.deputy_chief_engineer)},
    R.contractor: frozenset({Scope.group}),
    R.admin: frozenset({Scope.group}),
}
# E2, C8: the group's executives, told of every major complaint of every company
GROUP_EXECUTIVES = frozenset({R.deputy_gm, R.gm})


def scope_of(company_id: str | None, project: str | None) -> Scope:
    return Scope.project if project else Scope.company if company_id else Scope.group


def check_scope(role: Role | str, company_id: str | None, project: str | None) -> Scope:
    """P5: the scope an account of `role` may have; ValueError naming the problem otherwise (a project's
    company is the caller's to set: `company_id` of a project scope is its project's)."""
    role = Role(role)
    scope = scope_of(company_id, project)
    allowed = ROLE_SCOPES[role]
    if scope not in allowed:
        names = "、".join(SCOPE_TITLES[s] for s in Scope if s in allowed)
        raise ValueError(f"scope：{ROLE_TITLES[role]}的范围须为{names}，不能是{SCOPE_TITLES[scope]}（P5）")
    return scope


def colleague(actor_company_id: str | None, person_company_id: str | None) -> bool:
    """P5, P7: whether a list of people shown to an account holds this person: a company's (or a project's) account
    sees its own company's people and the group's (the 400 hotline, the contractors, the executives); a group
    account sees everyone."""
    return actor_company_id is None or person_company_id is None or person_company_id == actor_company_id


def in_scope(scope_company: str | None, scope_project: str | None, company_id: str | None,
             project_key: str | None) -> bool:
    """P5: whether a case of this company and project lies within an account's scope (the group: every case;
    a company: its cases; a project: the project's cases). A case no company holds is the group's alone."""
    if scope_project:
        return project_key is not None and project_key == scope_project
    if scope_company:
        return company_id is not None and company_id == scope_company
    return True


class CaseOrg(BaseModel):
    """P5: the project and company a case belongs to, as the opener (the API, the owner's channel) resolved them
    from the property register or the intake; kept in the case's state from rules 3."""
    project_key: str
    company_id: str | None = None
