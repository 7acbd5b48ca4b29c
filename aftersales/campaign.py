"""Revisit campaigns (回访), rules V1–V3, as a pure state machine.

    planned ─(starts_on)─ running ─close─ closed          (the end date escalates per E1 while coverage is short)

- V1 `first`: once a project is at least 50% occupied; the plan holds every occupied household and the
  campaign must reach at least 90% of them.
- V2 `annual`: a random sample of `share` of the households (10–25% by default, never below 10%; the
  Qingdao standard's 30% is configuration), drawn reproducibly (the seed is kept) and spread over the
  buildings; it must reach all of them.
- V3: each visit fills the satisfaction survey (items 1–5, comments, who visited, in person or by phone)
  and the points the owner raised; every point becomes a complaint or repair case, or is answered and
  closed with the answer (100% handled). An owner scoring any item 2 or lower gets a second visit that
  `cs_manager` takes part in; `cs_manager` spot-checks the forms. A campaign ends with a closing report.

The household plan lives in the read model (drawn by an activity); the machine keeps the plan's unit
ids and counters only, so a campaign of 5,000 households stays small.
"""

import math
import random
import re
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator

from aftersales import access
from aftersales.actions import NoteText, ShortText, Text
from aftersales.actor import Actor, OwnerActor, is_owner
from aftersales.case import Customer
from aftersales.errors import conflict, forbidden, invalid
from aftersales.messages import role_title
from aftersales.org import Person
from aftersales.properties import normalize_text
from aftersales.provenance import Means, Provenance
from aftersales.roles import Role

CAMPAIGN_NO_PREFIX = "HF"          # 回访
FIRST_MIN_OCCUPANCY = Decimal("0.5")   # V1: a project at least 50% occupied
FIRST_COVERAGE = Decimal("0.9")        # V1: at least 90% of occupied households
ANNUAL_MIN_SHARE = Decimal("0.10")     # V2: never below 10%
ANNUAL_DEFAULT_SHARE = Decimal("0.10")
SATISFIED_FROM = 4                     # K3: 4 or 5 of 5 counts as satisfied
SERIOUSLY_DISSATISFIED = 2             # V3: any item ≤ 2 → a second visit with cs_manager

CAMPAIGN_STAFF_ROLES = frozenset(access.ENDPOINTS["visit"])          # who visits (the one table, P1)
CAMPAIGN_MANAGERS = frozenset(access.ENDPOINTS["plan_campaign"])     # who plans, spot-checks, closes


class CampaignKind(StrEnum):
    first = "first"
    annual = "annual"


class CampaignStatus(StrEnum):
    running = "running"
    closed = "closed"


Score = Annotated[int, Field(ge=1, le=5)]


SHARE_PATTERN = r"^(0\.[0-9]{1,4}|1(\.0{1,4})?)$"


def _plain_share(value):
    """A share as a plain decimal string ("0.15"), as money is written: no spaces, signs or exponents."""
    if isinstance(value, str) and not re.fullmatch(SHARE_PATTERN, value):
        raise ValueError("write the share as a plain decimal between 0 and 1, e.g. \"0.15\"")
    return value


Share = Annotated[Decimal, BeforeValidator(_plain_share), Field(gt=0, le=1, decimal_places=4),
                  WithJsonSchema({"type": "string", "pattern": SHARE_PATTERN, "examples": ["0.15"]})]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CampaignRequest(_Body):
    """POST /campaigns: V1 (`first`) or V2 (`annual`) for one project."""
    project: ShortText
    kind: CampaignKind
    share: Share | None = Field(default=None, description="annual only: the share of households to sample "
                                "(0.10–1), a plain decimal string such as \"0.15\"")
    starts_on: date
    ends_on: date
    staff: list[ShortText] = Field(min_length=1, max_length=50, description="usernames of the visiting staff")

    @model_validator(mode="after")
    def _dates_and_share(self) -> "CampaignRequest":
        if self.ends_on < self.starts_on:
            raise ValueError("ends_on must not be before starts_on")
        if self.kind == CampaignKind.first and self.share is not None:
            raise ValueError("share: a first revisit (V1) covers every occupied household; share is for annual")
        if len(set(self.staff)) != len(self.staff):
            raise ValueError("staff: each username once")
        return self


class SurveyItem(_Body):
    item: ShortText
    score: Score


class RaisedPoint(_Body):
    """A point the owner raised (V3): opened as a case, or answered and closed at once."""
    text: Text
    handling: Literal["complaint", "repair", "answered"]
    answer: NoteText | None = Field(default=None, description="required when handling is answered")
    category: ShortText | None = Field(default=None, description="complaint: its category")
    trades: list[ShortText] | None = Field(default=None, max_length=10, description="repair: its trades")
    requested_appointment: AwareDatetime | None = Field(default=None, description="repair: the owner's time")

    @model_validator(mode="after")
    def _what_handling_needs(self) -> "RaisedPoint":
        if self.handling == "answered" and not (self.answer and self.answer.strip()):
            raise ValueError("an answered point needs the answer (V3)")
        if self.handling == "complaint" and not self.category:
            raise ValueError("a point opened as a complaint needs its category")
        if self.handling == "repair" and not (self.trades and self.requested_appointment):
            raise ValueError("a point opened as a repair needs trades and requested_appointment")
        return self


class VisitBody(_Body):
    """POST /campaigns/{id}/visits: one household's visit (V3); `self`: the owner answered the survey themselves
    on the owner pages (O3), every other mode is staff's record of the visit (代录: in person or by phone, O4)."""
    unit_id: int
    mode: Literal["in_person", "phone", "self"]
    items: list[SurveyItem] = Field(min_length=1, max_length=30)
    comments: Text | None = None
    points: list[RaisedPoint] = Field(default=[], max_length=20)
    second_visit: bool = Field(default=False, description="the second visit to a seriously dissatisfied owner")
    participants: list[ShortText] = Field(default=[], max_length=10, description="others who took part")


class VisitRequest(BaseModel):
    """The Update's argument: the visit, who made it, and the owner (from the register) for new cases."""
    visit: VisitBody
    actor: Actor | OwnerActor   # O3: the owner answering the survey for their own household
    customer: Customer | None = None
    # V3, P7: the campaign company's active cs_manager accounts (P5), from the organisation's list when the visit was
    # asked for: a second visit has one of them among its participants. None: a request recorded before the list
    # was carried (histories replay as they ran: the literal username "cs_manager" counted then).
    managers: list[Person] | None = None
    assertion: str | None = None  # P4: the API's (adapters.temporal.actor_assertion.sign_model)

    def provenance(self, at: datetime) -> Provenance:
        """O4: the owner's own answer (code or link), or the staff member's record of the visit (in person, phone)."""
        if is_owner(self.actor):
            return Provenance.by_owner(Means(self.actor.means), at)
        return Provenance.recorded_by(self.actor.username, Means.visit if self.visit.mode == "in_person"
                                      else Means.phone, at)


class SpotCheck(_Body):
    """V3: cs_manager's spot-check of survey forms."""
    unit_ids: list[int] = Field(min_length=1, max_length=200)
    result: Text


class SpotCheckRequest(BaseModel):
    check: SpotCheck
    actor: Actor
    assertion: str | None = None  # P4: the API's


class CloseRequest(BaseModel):
    actor: Actor
    note: str = Field(min_length=1, max_length=4000)
    assertion: str | None = None  # P4: the API's


class Plan(BaseModel):
    unit_ids: list[int]
    seed: int | None
    occupied: int
    units: int
    # the building (as the property register normalizes it) of each planned unit, in unit_ids' order, as the
    # households were written (C1: a register rebuilt from Temporal writes them again); None from older plans
    buildings: list[str] | None = None


class OpenPointCase(BaseModel):
    """Effect: a point raised becomes a complaint or repair (once per key)."""
    key: str
    handling: Literal["complaint", "repair"]
    point: RaisedPoint
    customer: Customer
    actor: Actor


class CampaignState(BaseModel):
    campaign_id: str
    project: str
    kind: CampaignKind
    share: Decimal | None
    starts_on: date
    ends_on: date
    staff: list[str]
    created_by: str
    created_at: datetime
    status: CampaignStatus = CampaignStatus.running
    seed: int | None = None
    planned: list[int] = []
    target: int = 0
    visited: list[int] = []
    visits: int = 0
    item_scores: int = 0
    satisfied_scores: int = 0
    score_sum: int = 0
    in_person: int = 0
    # O4: the surveys owners answered themselves (mode self), and their item scores; the rest are staff's records
    self_visits: int = 0
    self_item_scores: int = 0
    self_satisfied_scores: int = 0
    points_raised: int = 0
    points_answered: int = 0
    points_opened: int = 0
    cases: list[str] = []
    second_visits_due: list[int] = []
    second_visits_done: list[int] = []
    spot_checks: int = 0
    spot_checked_units: list[int] = []
    escalation_level: int = 0
    closed_at: datetime | None = None
    closing_note: str | None = None
    seq: int = 0

    @property
    def coverage(self) -> float:
        return len(self.visited) / len(self.planned) if self.planned else 0.0

    @property
    def coverage_short(self) -> bool:
        return len(self.visited) < self.target

    @property
    def points_handled(self) -> int:
        return self.points_answered + self.points_opened


def required_share(kind: CampaignKind, share: Decimal | None, minimum: Decimal = ANNUAL_MIN_SHARE) -> Decimal:
    """V2: the share to sample (never below the configured minimum); V1: everyone occupied."""
    if kind == CampaignKind.first:
        return Decimal(1)
    share = share if share is not None else max(ANNUAL_DEFAULT_SHARE, minimum)
    if share < minimum:
        raise invalid(f"share：抽样比例 {share} 低于下限 {minimum}（V2）")
    return share


def draw_sample(households: list[tuple[int, str]], share: Decimal, seed: int) -> list[int]:
    """V2: a reproducible random sample of `share` of the households, spread over the buildings: each
    building gives its proportional share (rounded up, so every building is visited), drawn with `seed`."""
    by_building: dict[str, list[int]] = {}
    for unit_id, building in sorted(households):
        by_building.setdefault(building, []).append(unit_id)
    rng = random.Random(seed)
    chosen: list[int] = []
    for building in sorted(by_building):
        units = by_building[building]
        n = min(len(units), math.ceil(len(units) * share))
        chosen += rng.sample(units, n)
    return sorted(chosen)


def coverage_target(kind: CampaignKind, planned: int) -> int:
    """V1: 90% of the occupied households; V2: every sampled household."""
    if kind == CampaignKind.first:
        return math.ceil(planned * FIRST_COVERAGE)
    return planned


class Campaign:
    """The pure rules of one campaign; the workflow only waits, records and carries out effects."""

    def __init__(self, state: CampaignState) -> None:
        self.state = state
        self.effects: list[OpenPointCase] = []

    def set_plan(self, plan: Plan) -> None:
        s = self.state
        s.planned, s.seed = plan.unit_ids, plan.seed
        s.target = coverage_target(s.kind, len(plan.unit_ids))
        s.seq += 1

    def check_visit(self, r: VisitRequest) -> None:
        s, v = self.state, r.visit
        self._open()
        if is_owner(r.actor):
            self._check_owner_survey(r)
        elif v.mode == "self":
            raise invalid("mode：self 是业主本人在业主页面填写的问卷；工作人员记录回访请选上门或电话（O4）")
        elif r.actor.role not in CAMPAIGN_STAFF_ROLES:
            raise forbidden(f"{role_title(r.actor.role)}不能记录回访；可以记录的："
                            + "、".join(role_title(x) for x in sorted(CAMPAIGN_STAFF_ROLES, key=lambda x: x.value)))
        if v.unit_id not in s.planned:
            raise invalid(f"unit_id：房屋 {v.unit_id} 不在本次回访计划中")
        if v.second_visit:
            if v.unit_id not in s.second_visits_due:
                raise conflict(f"房屋 {v.unit_id} 无须二次回访（V3）")
            if r.actor.role != Role.cs_manager and not self._manager_takes_part(r):
                raise invalid(self._no_manager(r))
        elif v.unit_id in s.visited:
            raise conflict(f"房屋 {v.unit_id} 在本次活动中已回访过")
        if any(p.handling != "answered" for p in v.points) and r.customer is None:
            raise invalid("业主提出的问题要立案，须填写业主信息（customer）")

    @staticmethod
    def _manager_takes_part(r: VisitRequest) -> bool:
        """V3: a cs_manager of the campaign's company among the participants (by account, whatever its username)."""
        if r.managers is None:
            return "cs_manager" in r.visit.participants
        return bool({m.username for m in r.managers} & set(r.visit.participants))

    @staticmethod
    def _no_manager(r: VisitRequest) -> str:
        """The refusal, naming the managers who may take part by name and title (P7)."""
        if r.managers is None:
            return "二次回访须有客户服务部经理参加：请以客户服务部经理身份记录，或在参加人中列出 cs_manager（V3）"
        if not r.managers:
            return "二次回访须有客户服务部经理参加，但本公司没有在职的客户服务部经理账户：请管理员先开设（V3、P7）"
        return ("二次回访须有本公司的客户服务部经理参加：请以客户服务部经理身份记录，或在参加人（participants）中列出："
                + "、".join(f"{m.username}（{m.label}）" for m in r.managers) + "（V3、P7）")

    def _check_owner_survey(self, r: VisitRequest) -> None:
        """V3, O3: the owner answers the survey of their own household in this campaign, once: the items and a
        comment (a point needing work they file as a repair or complaint of their own; a second visit is
        cs_manager's). The API found the household to be theirs and bound it to the actor."""
        s, v, owner = self.state, r.visit, r.actor
        if owner.case_no != s.campaign_id or owner.unit_id is None or owner.unit_id != v.unit_id:
            raise forbidden("业主只能填写本人房屋的回访问卷（O2、O3）")
        if v.mode != "self" or v.points or v.second_visit or v.participants:
            raise invalid("业主本人填写的问卷只有评分和意见（mode self；需要维修或投诉请另行报修、投诉）（V3）")

    def visit(self, r: VisitRequest) -> None:
        self.check_visit(r)
        s, v = self.state, r.visit
        s.visits += 1
        if v.mode == "self":
            s.self_visits += 1
            s.self_item_scores += len(v.items)
            s.self_satisfied_scores += sum(1 for i in v.items if i.score >= SATISFIED_FROM)
        if v.second_visit:
            s.second_visits_due.remove(v.unit_id)
            s.second_visits_done.append(v.unit_id)
        else:
            s.visited.append(v.unit_id)
        if v.mode == "in_person":
            s.in_person += 1
        s.item_scores += len(v.items)
        s.satisfied_scores += sum(1 for i in v.items if i.score >= SATISFIED_FROM)
        s.score_sum += sum(i.score for i in v.items)
        if not v.second_visit and any(i.score <= SERIOUSLY_DISSATISFIED for i in v.items):
            s.second_visits_due.append(v.unit_id)
        for n, point in enumerate(v.points):
            s.points_raised += 1
            if point.handling == "answered":
                s.points_answered += 1
            else:
                assert r.customer is not None
                self.effects.append(OpenPointCase(key=f"{s.campaign_id}:{v.unit_id}:{s.visits}:{n}",
                                                  handling=point.handling, point=point, customer=r.customer,
                                                  actor=r.actor))
        s.seq += 1

    def point_case_opened(self, case_no: str) -> None:
        self.state.points_opened += 1
        self.state.cases.append(case_no)
        self.state.seq += 1

    def check_spot_check(self, r: SpotCheckRequest) -> None:
        self._open()
        if r.actor.role not in CAMPAIGN_MANAGERS:
            raise forbidden("只有客户服务部经理抽查回访表（V3）")
        unknown = [u for u in r.check.unit_ids if u not in self.state.visited]
        if unknown:
            raise invalid(f"unit_ids：这些房屋在本次活动中未回访：{unknown[:10]}")

    def spot_check(self, r: SpotCheckRequest) -> None:
        self.check_spot_check(r)
        self.state.spot_checks += 1
        self.state.spot_checked_units += [u for u in r.check.unit_ids if u not in self.state.spot_checked_units]
        self.state.seq += 1

    def check_close(self, r: CloseRequest) -> None:
        self._open()
        if r.actor.role not in CAMPAIGN_MANAGERS:
            raise forbidden("只有客户服务部经理可以结束回访活动")
        if self.state.second_visits_due:
            raise conflict(f"还有 {len(self.state.second_visits_due)} 户须由客户服务部经理参加二次回访（V3）")

    def close(self, r: CloseRequest, now: datetime) -> None:
        self.check_close(r)
        s = self.state
        s.status, s.closed_at, s.closing_note = CampaignStatus.closed, now, r.note
        s.seq += 1

    def escalate(self) -> None:
        self.state.escalation_level += 1
        self.state.seq += 1

    def take_effects(self) -> list[OpenPointCase]:
        effects, self.effects = self.effects, []
        return effects

    def _open(self) -> None:
        if self.state.status == CampaignStatus.closed:
            raise conflict(f"回访活动 {self.state.campaign_id} 已结束")
        if not self.state.planned:
            raise conflict(f"回访活动 {self.state.campaign_id} 尚无回访计划")


def campaign_summary(s: CampaignState) -> dict:
    """Progress and the closing report (V3): coverage, satisfaction, points raised and handled. Each
    figure with its definition."""
    def pct(n: int, d: int) -> float | None:
        return round(100 * n / d, 1) if d else None

    return {
        "campaign_id": s.campaign_id, "project": s.project, "kind": s.kind.value, "status": s.status.value,
        "starts_on": s.starts_on.isoformat(), "ends_on": s.ends_on.isoformat(), "staff": s.staff,
        "seed": s.seed, "share": str(s.share) if s.share is not None else None,
        "planned": len(s.planned), "target": s.target, "visited": len(s.visited),
        "coverage_percent": pct(len(s.visited), len(s.planned)),
        "coverage_target_percent": 90.0 if s.kind == CampaignKind.first else 100.0,
        "in_person_percent": pct(s.in_person, s.visits),
        "satisfaction_percent": pct(s.satisfied_scores, s.item_scores),
        # O4: satisfaction by who gave it — the owners' own surveys, and staff's records of visits and calls
        "visits_owner": s.self_visits, "visits_staff": s.visits - s.self_visits,
        "satisfaction_percent_owner": pct(s.self_satisfied_scores, s.self_item_scores),
        "satisfaction_percent_staff": pct(s.satisfied_scores - s.self_satisfied_scores,
                                          s.item_scores - s.self_item_scores),
        "satisfaction_target_percent": 90.0,
        "average_score": round(s.score_sum / s.item_scores, 2) if s.item_scores else None,
        "points_raised": s.points_raised, "points_handled": s.points_handled,
        "points_handled_percent": pct(s.points_handled, s.points_raised),
        "cases_opened": s.cases,
        "second_visits_due": len(s.second_visits_due), "second_visits_done": len(s.second_visits_done),
        "spot_checks": s.spot_checks, "forms_spot_checked": len(s.spot_checked_units),
        "escalation_level": s.escalation_level,
        "closed_at": s.closed_at.isoformat() if s.closed_at else None, "closing_note": s.closing_note,
        "definitions": {
            "coverage_percent": "已回访户数 / 计划户数（首次回访目标：入住户的 90%；年度抽样：抽中户 100%）",
            "satisfaction_percent": "评分为 4 或 5 分的调查项 / 全部调查项（目标 ≥ 90%）",
            "points_handled_percent": "已处理的意见（已立案或已答复关闭）/ 提出的意见（目标 100%）",
            "in_person_percent": "上门回访次数 / 回访次数",
            "satisfaction_percent_owner": "满意度（业主本人）：业主本人在业主页面填写的问卷中 4 或 5 分的调查项 / 其全部调查项（O4）",
            "satisfaction_percent_staff": "满意度（工作人员代录）：工作人员上门、电话回访记录的问卷中 4 或 5 分的调查项 / 其全部调查项（O4）",
        },
    }


# ---- V1 / V2 proposals (the scheduled checks propose a campaign to cs_manager) -----------------------

class Proposal(BaseModel):
    """A campaign the rules call for now: V1 once per project (year 0), V2 once per project and year."""
    project: str
    kind: CampaignKind
    year: int
    units: int
    sold: int
    occupied: int
    households: int  # the plan if started now: V1 every occupied household, V2 about share × sold homes
    target: int      # the visits the campaign must reach (coverage_target)

    def line(self, share: Decimal) -> str:
        """The proposal as one line of the message to cs_manager (Chinese)."""
        if self.kind == CampaignKind.first:
            return (f"{self.project}：入住 {self.occupied}/{self.units} 户（{100 * self.occupied / self.units:.1f}%），"
                    f"首次回访应覆盖入住的 {self.households} 户，至少完成 {self.target} 户（≥ 90%，V1）")
        return (f"{self.project}：已售 {self.sold} 户，{self.year} 年度回访按 {100 * share:.0f}% 抽样约 "
                f"{self.households} 户（V2，不低于 10%）")


def proposals_due(kind: CampaignKind, occupancies: list, *, year: int, done: set[str], share: Decimal) -> list[Proposal]:
    """V1: every project at least 50% occupied that has had no first campaign (nor its proposal); V2: every
    project with sold homes and no annual campaign (nor proposal) in `year`. `occupancies` have project,
    units, sold, occupied; `done` holds the normalized names of the projects already campaigned or proposed."""
    due = []
    for o in occupancies:
        if normalize_text(o.project) in done or not o.units:
            continue
        if kind == CampaignKind.first and o.occupied >= o.units * FIRST_MIN_OCCUPANCY and o.occupied:
            due.append(Proposal(project=o.project, kind=kind, year=0, units=o.units, sold=o.sold, occupied=o.occupied,
                                households=o.occupied, target=coverage_target(kind, o.occupied)))
        elif kind == CampaignKind.annual and o.sold:
            n = min(o.sold, math.ceil(o.sold * share))
            due.append(Proposal(project=o.project, kind=kind, year=year, units=o.units, sold=o.sold, occupied=o.occupied,
                                households=n, target=n))
    return due
