"""Who may do and see what (P1–P3): the one table the case machines, the API and the tests read.

- ACTIONS (P1, A4): for each case type, every action and the roles that may do it. `decide` belongs to
  the role named on the current approval step (APPROVER). The scope rules apply on top (`check_acting`): department roles act only on their own department's cases; a
  handler's action (`handler=True`) only by the case's named handler (or the department's head); a
  contractor only on work of its own contractor (the survey's contractor_id), and where the action is
  the work itself (`dispatched=True`) only when the work order went to the contractor (R5).
- SEEING (P2): which cases each role sees. `may_see(actor, facts)` decides for one case,
  `adapters.db.visibility.visible_cases_clause(actor)` is the same rule as a SQL condition on the register (`cases`), so the
  register filters before paging. The facts come from the case view (`case_facts`), and the
  projection writes them to the register row (contractor_id, reached_roles).
- PHONE (P3): who sees the owner's full number (`sees_full_phone`); everyone else sees it masked.
- SCOPE (P5): P1–P3 hold within the account's scope (`within_scope`: the group, a company, a project): a case
  outside it does not exist for the account (may_see), is not acted on (check_acting, for a case that knows
  its company: rules 3) and its notices do not reach the account (notice_recipients).
- ENDPOINTS: the roles allowed on each role-restricted endpoint.

Pure: no I/O; imported by the workflows' sandbox through the machines.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aftersales.actor import Actor
from aftersales.errors import forbidden, invalid
from aftersales.files import ATTACH_ROLES, STEP_NAMES, FileStep
from aftersales.roles import Role
from aftersales.messages import action_name, role_title
from aftersales.org import GROUP_EXECUTIVES, in_scope

R = Role

# ---- P1: acting --------------------------------------------------------------------------------

DEPARTMENT_ROLES = frozenset({R.dept_handler, R.dept_head})
CONTRACTOR_ROLES = frozenset({R.contractor})


@dataclass(frozen=True)
class Act:
    """Who may do one action. `roles` empty with approver=True: the role named on the current
    approval step decides (A4)."""
    roles: frozenset[Role] = frozenset()
    approver: bool = False
    handler: bool = False      # a dept_handler must be the case's named handler (C3, P1)
    dispatched: bool = False   # a contractor only when the work order went to the contractor (R5, P1)


def act(*roles: Role, handler: bool = False, dispatched: bool = False) -> Act:
    return Act(roles=frozenset(roles), handler=handler, dispatched=dispatched)


APPROVER = Act(approver=True)
SURVEY_PARTIES = (R.cs_staff, R.engineering, R.repair_lead, R.contractor)  # R2
INSPECTORS = (R.cs_staff, R.repair_lead)  # R6

COMPLAINT_ACTIONS: dict[str, Act] = {
    "classify": act(R.cs_staff, R.cs_manager),
    "assign_handler": act(R.dept_head, R.cs_staff, R.cs_manager),
    "department_feedback": act(R.dept_handler, R.dept_head, handler=True),
    "propose_solution": act(R.dept_handler, R.dept_head, handler=True),
    "decide": APPROVER,
    "inform_customer": act(R.cs_staff, R.butler, R.cs_manager),
    "record_satisfaction": act(R.cs_staff, R.butler, R.cs_manager),
    "summarise": act(R.cs_staff, R.cs_manager),
    "progress_note": act(R.butler, R.cs_staff),
    "mark_major": act(R.cs_staff, R.cs_manager, R.deputy_gm, R.gm),
    "record_meeting": act(R.cs_manager, R.deputy_gm, R.gm),
    "file_special_report": act(R.cs_manager),
    "authority_reply": act(R.cs_manager),
    "open_repair": act(R.cs_staff, R.cs_manager),
    "close": act(R.cs_staff, R.cs_manager),
    "record_compensation_paid": act(R.finance),               # A1: the compensation paid
    "reassign": act(R.cs_manager),                            # P7: another department, with the reason
}

REPAIR_ACTIONS: dict[str, Act] = {
    "agree_appointment": act(R.hotline, R.cs_staff, R.butler),
    "record_arrival": act(R.repair_lead, R.engineering, R.contractor),
    "record_survey": act(R.cs_staff, R.engineering, R.repair_lead),
    "sign_survey": act(*SURVEY_PARTIES),
    "dispatch": act(R.cs_staff, R.engineering),
    "extend_deadline": act(R.cs_staff, R.cs_manager),
    "complete_work": act(R.repair_lead, R.contractor, R.engineering, dispatched=True),
    "inspect": act(*INSPECTORS),
    "owner_sign_off": act(R.cs_staff, R.butler),
    "revisit": act(R.cs_staff),
    "follow_up": act(R.cs_manager),
    "cost_statement": act(R.repair_lead),
    "decide": APPROVER,
    "pay": act(R.finance),
    "progress_note": act(R.butler, R.cs_staff),
    "quote": act(R.cs_staff, R.repair_lead),                  # R3: the paid-service path
    "accept_quote": act(R.cs_staff, R.butler, R.repair_lead),
    "decline_quote": act(R.cs_staff, R.butler, R.repair_lead),
    "record_service_payment": act(R.finance),
    # rules 4 (O3, O4): the owner's own acts, which staff still record for owners who call or write (代录)
    "propose_appointment": act(R.hotline, R.cs_staff, R.butler),          # R1: a time offered to the owner
    "accept_appointment": act(R.hotline, R.cs_staff, R.butler),
    "request_appointment": act(R.hotline, R.cs_staff, R.butler),
    "ask_extension": act(R.cs_staff, R.cs_manager, R.repair_lead, R.engineering),  # R8: more time asked of the owner
    "consent_extension": act(R.cs_staff, R.cs_manager),
    "refuse_extension": act(R.cs_staff, R.cs_manager),
    "refuse_sign_off": act(R.cs_staff, R.butler),                         # R6
}

ACTIONS: dict[str, dict[str, Act]] = {"complaint": COMPLAINT_ACTIONS, "repair": REPAIR_ACTIONS}


# ---- O3: the owner's own acts (rules 4) ------------------------------------------------------------
# What an owner may do for themselves on the owner pages, per case type: every other action is staff's. Staff
# may record each of these for an owner who called or wrote (代录, O4), as the staff table above says.
OWNER_ACTS: dict[str, frozenset[str]] = {
    "complaint": frozenset({"record_satisfaction"}),                      # C7: the complaint's revisit (satisfaction)
    "repair": frozenset({
        "accept_appointment", "request_appointment",                      # R1
        "consent_extension", "refuse_extension",                          # R8
        "accept_quote", "decline_quote",                                  # R3: the repair slip signed
        "owner_sign_off", "refuse_sign_off",                              # R6, R9
        "revisit",                                                        # R7: the revisit survey
    }),
}
# The owner-given facts among staff's actions: from rules 4 staff record them only as 代录 (told_via required, O4)
OWNER_FACTS: dict[str, frozenset[str]] = {
    "complaint": OWNER_ACTS["complaint"],
    "repair": OWNER_ACTS["repair"] | {"agree_appointment", "extend_deadline"},
}
OWNER_ACTS_FROM = 4   # the rules version from which owners act for themselves (aftersales.case)


def check_owner_acting(state: Any, action: str, owner: Any) -> None:
    """O3, O2, P4: an owner acts only for themselves — only the owner's own acts, only on the one case the API
    found to be theirs and vouched for (`owner.case_no`), only on a case opened under rules 4 or later (a case
    opened before keeps its rules: staff record for its owner). Raises Rejection('forbidden')."""
    if owner.case_no != state.case_no:
        raise forbidden("业主只能办理自己的案件（O2、P4）")
    if action not in OWNER_ACTS[state.case_type.value]:
        raise forbidden(f"业主不能「{action_name(action)}」：这是工作人员的操作（O3）")
    if state.rules_version < OWNER_ACTS_FROM:
        raise forbidden("本案件受理时业主尚不能自助办理：请致电客服，由工作人员代为记录（O3）")


def action_roles(case_type: str, action: str) -> frozenset[Role] | None:
    """The roles the table names for an action; None for `decide` (the approval step names it) or an
    action the case type does not have."""
    rule = ACTIONS[case_type].get(action)
    return None if rule is None or rule.approver else rule.roles


def contractor_of(state: Any) -> str | None:
    """The contractor a repair's work is for: the survey's contractor_id (R3, P1)."""
    survey = getattr(state, "survey", None)
    return getattr(survey, "contractor_id", None) if survey is not None else None


def check_acting(state: Any, action: str, actor: Actor) -> None:
    """P1 scope, on top of the role table, within the account's P5 scope. Raises Rejection('forbidden')."""
    rule = ACTIONS[state.case_type.value].get(action)
    if rule is None:
        return
    company = getattr(state, "company_id", None)
    if company is not None and not in_scope(actor.company_id, actor.project, company, getattr(state, "project_key", None)):
        raise forbidden(f"案件 {state.case_no} 不在 {actor.username} 的范围内（P5）")
    if actor.role in DEPARTMENT_ROLES:
        if not actor.department:
            raise forbidden(f"{actor.username}（{role_title(actor.role)}）不属于任何部门，不能办理案件（P1）")
        if state.department != actor.department:
            raise forbidden(f"案件 {state.case_no} 不属于{actor.department}"
                            f"（责任部门：{state.department or '尚未分类'}）（P1）")
        if rule.handler and actor.role == R.dept_handler and state.handler not in (None, actor.username):
            # (no handler named yet: the machine answers 409, assign_handler first)
            raise forbidden(f"只有指定的经办人 {state.handler} 或{state.department}负责人可以办理（C3、P1）")
    if actor.role in CONTRACTOR_ROLES:
        mine, theirs = actor.contractor_id, contractor_of(state)
        if not mine:
            raise forbidden(f"{actor.username} 未绑定施工单位，不能办理工作（P1）")
        if theirs != mine:
            raise forbidden(f"案件 {state.case_no} 不是施工单位 {mine} 的工作（P1）")
        if rule.dispatched and not getattr(state, "to_contractor", False):
            raise forbidden(f"{state.case_no} 的工作已派给维修队，不是施工单位（R5、P1）")


def check_attaching(state: Any, step: FileStep, actor: Actor) -> None:
    """D1 and P1: the step's roles add its files (ATTACH_ROLES), department roles only to their own
    department's cases, a contractor only to work of its own contractor. Raises Rejection('forbidden')."""
    allowed = ATTACH_ROLES[step]
    if actor.role not in allowed:
        names = "、".join(role_title(r) for r in sorted(allowed, key=lambda r: r.value))
        raise forbidden(f"{role_title(actor.role)}不能向「{STEP_NAMES[step]}」环节上传文件；可以上传的：{names}（D1）")
    if actor.role in DEPARTMENT_ROLES and (not actor.department or state.department != actor.department):
        raise forbidden(f"案件 {state.case_no} 不属于{actor.department or '您的部门'}（P1）")
    if actor.role in CONTRACTOR_ROLES and (not actor.contractor_id or contractor_of(state) != actor.contractor_id):
        raise forbidden(f"案件 {state.case_no} 不是施工单位 {actor.contractor_id or '（未绑定）'} 的工作（P1）")


def check_named_handler(state: Any, handler: str, account: Actor | None) -> None:
    """C3/P1: the named handler is an active dept_handler of the case's department. `account` is the
    named account as the API found it in the read model (None: no such active account)."""
    if account is None:
        raise invalid(f"handler：{handler!r} 不是在职员工账号（C3、P1）")
    if account.role != R.dept_handler:
        raise invalid(f"handler：{handler} 是{role_title(account.role)}，不是责任部门专人（C3、P1）")
    if account.department != state.department:
        raise invalid(f"handler：{handler} 是{account.department or '无部门'}的专人，不是{state.department}的（C3、P1）")
    company = getattr(state, "company_id", None)
    if company is not None and account.company_id != company:  # P5 (rules 3): the case's company's handler
        raise invalid(f"handler：{handler} 不是本案所属公司（{company}）的专人（C3、P5）")


# ---- P2: seeing --------------------------------------------------------------------------------

SEES_ALL = frozenset({R.hotline, R.cs_staff, R.butler, R.cs_manager, R.deputy_gm, R.gm})
SEES_DEPARTMENT = DEPARTMENT_ROLES
SEES_REPAIRS = frozenset({R.repair_lead, R.engineering})
SEES_DISPATCHED = CONTRACTOR_ROLES
SEES_REACHED = frozenset({R.deputy_chief_engineer, R.auditor, R.finance})
# payment statuses where the case has been passed to finance (A3), whether or not a step names it
_FINANCE_STATUSES = frozenset({"awaiting_payment"})


def reached_roles(view: Mapping[str, Any]) -> list[Role]:
    """P2: the roles of SEES_REACHED a case has reached: named on an approval step that came up (or
    was decided), owning a deadline on it, having acted on it, or (finance) asked to pay."""
    roles: set[str] = set()
    for approval in view.get("approvals") or []:
        for step in approval.get("steps") or []:
            roles.add(step.get("role"))
            if step.get("decision") is None:
                break  # later steps have not come up yet
    for d in view.get("deadlines") or []:
        roles.update(d.get("owners") or [])
    roles.update(t.get("role") for t in view.get("timeline") or [])
    if view.get("status") in _FINANCE_STATUSES or view.get("payment") or _money_for_finance(view):
        roles.add(R.finance.value)
    return sorted((r for r in SEES_REACHED if r.value in roles), key=lambda r: r.value)


def _money_for_finance(view: Mapping[str, Any]) -> bool:
    """Money finance handles outside a settlement: a complaint's approved compensation (A1) or
    the fee of an owner-paid repair the owner accepted (R3)."""
    if view.get("quote_acceptance") or view.get("compensation_payment"):
        return True
    return (view.get("case_type") == "complaint" and bool(view.get("a1"))
            and any(a.get("purpose") == "complaint_solution" and a.get("status") == "approved"
                    for a in view.get("approvals") or []))


def case_facts(view: Mapping[str, Any]) -> dict[str, Any]:
    """What visibility and the phone rule need to know of a case, from its view (live, or as projected)."""
    survey = view.get("survey") or {}
    return {
        "case_type": view.get("case_type") or view.get("type"),
        "department": view.get("department"),
        "handler": view.get("handler"),
        "contractor_id": survey.get("contractor_id"),
        "reached_roles": [r.value for r in reached_roles(view)],
        "company_id": view.get("company_id"),      # P5: the case's company and project
        "project_key": view.get("project_key"),
    }


def reached_column(roles: Iterable[Role | str]) -> str:
    """How reached roles are stored in the register (`,finance,auditor,`), for a LIKE match."""
    values = [r.value if isinstance(r, Role) else r for r in roles]
    return "," + ",".join(values) + "," if values else ""


def within_scope(actor: Actor, facts: Mapping[str, Any]) -> bool:
    """P5: the case (its company_id and project_key among the facts) lies within the account's scope."""
    return in_scope(actor.company_id, actor.project, facts.get("company_id"), facts.get("project_key"))


def may_see(actor: Actor, facts: Mapping[str, Any]) -> bool:
    """P2 within the account's scope (P5) for one case; `adapters.db.visibility.visible_cases_clause` is the
    same rule in SQL."""
    return within_scope(actor, facts) and sees_by_role(actor, facts)


def sees_by_role(actor: Actor, facts: Mapping[str, Any]) -> bool:
    """P2 alone: which cases a role sees, whatever their company."""
    role = actor.role
    if role in SEES_ALL:
        return True
    if role in SEES_DEPARTMENT:
        return bool(actor.department) and facts.get("department") == actor.department
    if role in SEES_REPAIRS:
        return facts.get("case_type") == "repair"
    if role in SEES_DISPATCHED:
        return bool(actor.contractor_id) and facts.get("case_type") == "repair" \
            and facts.get("contractor_id") == actor.contractor_id
    if role in SEES_REACHED:
        return role.value in (facts.get("reached_roles") or [])
    return False


# ---- P2/P7: who a notice reaches -----------------------------------------------------------------

def notice_recipients(notice: Any, accounts: Iterable[Actor], *, guard: bool = True) -> list[Actor]:
    """The active accounts a case's notice goes to, among `accounts`: those of its roles — a department role
    only of the notice's department, the contractor role only of its contractor (P7: a notice for a
    contractor goes to that contractor's own accounts; a department role or the contractor role without one
    reaches nobody, never all of the role) — and the staff it names. `guard`: then only those who may see
    the case (P2, the notice's `audience`), whatever it names.

    P5: a notice of a case that knows its company (`company_id`, rules 3) reaches, by role, only the accounts
    of that company (a project's accounts only for their project; the contractor role, group-wide, by its
    contractor); with `group` set (a major complaint, C8) also the group's executives. A notice without a
    company (a case opened before rules 3) reaches the role's accounts as it always did; one `group_only` (the
    group's roll-up, K) only the role's group accounts."""
    roles, named = set(notice.roles), set(notice.usernames)
    company = getattr(notice, "company_id", None)
    audience = getattr(notice, "audience", None)
    project = getattr(notice, "project_key", None) or (audience or {}).get("project_key")
    out = []
    for a in accounts:
        by_role = a.role in roles and (
            (a.role not in DEPARTMENT_ROLES or (notice.department is not None and a.department == notice.department))
            and (a.role not in CONTRACTOR_ROLES or (notice.contractor_id is not None
                                                    and a.contractor_id == notice.contractor_id)))
        if by_role and company is not None and a.role not in CONTRACTOR_ROLES:
            mine = a.company_id == company and (not a.project or a.project == project)
            group_executive = a.company_id is None and getattr(notice, "group", False) and a.role in GROUP_EXECUTIVES
            by_role = mine or group_executive
        if by_role and getattr(notice, "group_only", False) and a.role not in CONTRACTOR_ROLES:
            by_role = a.company_id is None  # P5, K: the group's own accounts (a roll-up of every company's figures)
        if not (by_role or a.username in named):
            continue
        if guard and audience is not None and not (may_see(a, audience) if company is not None
                                                   else sees_by_role(a, audience)):
            continue
        out.append(a)
    return out


# ---- P3: the owner's phone ---------------------------------------------------------------------

CALLS_OWNERS = frozenset({R.hotline, R.cs_staff, R.butler, R.cs_manager, R.deputy_gm, R.gm})


def sees_full_phone(actor: Actor, facts: Mapping[str, Any]) -> bool:
    """P3: those who call owners: hotline, cs_staff, butler, cs_manager, deputy_gm, gm, the case's
    named handler, repair_lead on a repair, within the account's scope (P5). Everyone else sees 138****1234."""
    if not within_scope(actor, facts):
        return False
    if actor.role in CALLS_OWNERS:
        return True
    if actor.role == R.dept_handler:
        return facts.get("handler") == actor.username and facts.get("department") == actor.department
    if actor.role == R.repair_lead:
        return facts.get("case_type") == "repair"
    return False


# ---- endpoints -----------------------------------------------------------------------------------

ENDPOINTS: dict[str, tuple[Role, ...]] = {
    "register_case": (R.hotline, R.cs_staff, R.cs_manager, R.butler),          # POST /complaints, /repairs (C1, R1)
    "register_contractor": (R.finance,),                                      # PUT /admin/contractors/{id} (A3)
    "read_deposit": (R.finance, R.auditor, R.cs_manager, R.engineering, R.deputy_chief_engineer,
                     R.deputy_gm, R.gm, R.contractor),                        # GET /contractors/{id}/deposit (A3)
    "read_worker_report": (R.cs_manager, R.repair_lead, R.deputy_chief_engineer, R.deputy_gm, R.gm),  # R9
    "reports": (R.cs_staff, R.cs_manager, R.deputy_gm, R.gm),                  # /reports (K1–K3): aggregates over all cases
    "find_by_phone": tuple(sorted(CALLS_OWNERS)),                             # POST /owners/cases (P3: who call owners)
    "review_report": (R.gm,),                                                 # POST /reports/{id}/review (K1)
    "admin_calendar": (R.cs_manager,),                                        # PUT /admin/calendar/{year} (T4)
    "read_workflow_payloads": (R.cs_manager,),                                # POST /codec/decode|encode (P4)
    "admin_accounts": (R.admin,),                                             # /admin/accounts (P1, P6: IT only)
    "admin_organisation": (R.admin,),                                         # /admin/companies, projects (P5)
    "audit_personal_data": (R.cs_manager,),                                   # GET /audit/personal-data (P3)
    "import_properties": (R.cs_manager,),                                     # POST /admin/properties/import
    "read_properties": (R.hotline, R.cs_staff, R.butler, R.cs_manager, R.deputy_gm, R.gm,
                        R.repair_lead, R.engineering),                        # GET /properties (owner phone masked)
    "plan_campaign": (R.cs_manager,),                                         # POST /campaigns, spot-checks, close (V1–V3)
    "visit": (R.cs_staff, R.butler, R.cs_manager),                            # POST /campaigns/{id}/visits (V3)
    "read_campaigns": (R.cs_staff, R.butler, R.cs_manager, R.deputy_gm, R.gm),  # GET /campaigns (V3)
    "sms_log": (R.cs_manager,),                                               # /app/sms 短信记录 (O5; others: 404)
    "admin_fee_schedule": (R.cs_manager,),                                    # PUT /admin/fee-schedule (R3)
    "read_money_reports": (R.cs_manager, R.cs_staff, R.finance, R.auditor, R.repair_lead,
                           R.deputy_gm, R.gm),                                # paid services (R3), compensation (A1)
}


def may_read_deposit(actor: Actor, contractor_id: str) -> bool:
    """A contractor reads its own deposit only; the other readers any (A3, P2)."""
    if actor.role in CONTRACTOR_ROLES:
        return actor.contractor_id == contractor_id
    return actor.role in ENDPOINTS["read_deposit"]
