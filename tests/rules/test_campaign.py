"""Revisit campaigns (V1–V3) as pure rules: the plan, visits, second visits, spot-checks, closing."""

from collections import Counter
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from aftersales.actor import Actor, OwnerActor
from aftersales.campaign import (
    Campaign, CampaignKind, CampaignState, CloseRequest, Plan, SpotCheck, SpotCheckRequest, VisitBody, VisitRequest,
    campaign_summary, coverage_target, draw_sample, required_share,
)
from aftersales.case import Customer
from aftersales.errors import Rejection
from aftersales.provenance import Means, Provenance
from aftersales.roles import Role

NOW = datetime(2026, 11, 23, 2, tzinfo=timezone.utc)
STAFF = Actor(username="cs_staff", role=Role.cs_staff)
MANAGER = Actor(username="cs_manager", role=Role.cs_manager)
OWNER = Customer(name="王女士", phone="13812341234", project="融侨城", building="5栋", unit="1203", unit_id=1)


def campaign(kind=CampaignKind.first, planned=range(1, 11)) -> Campaign:
    c = Campaign(CampaignState(campaign_id="HF-2026-000001", project="融侨城", kind=kind, share=None,
                               starts_on=date(2026, 11, 23), ends_on=date(2026, 12, 4), staff=["cs_staff"],
                               created_by="cs_manager", created_at=NOW))
    c.set_plan(Plan(unit_ids=list(planned), seed=None, occupied=10, units=20))
    return c


def visit(unit_id=1, scores=(5, 4), actor=STAFF, **kw) -> VisitRequest:
    body = VisitBody(unit_id=unit_id, mode="in_person", items=[{"item": f"项{i}", "score": s} for i, s in enumerate(scores)],
                     **kw)
    return VisitRequest(visit=body, actor=actor, customer=kw.get("customer_obj"))


def refused(kind: str, fn, *args):
    with pytest.raises(Rejection) as e:
        fn(*args)
    assert e.value.kind == kind, e.value.message
    return e.value.message


def test_V1_first_campaign_must_reach_90_percent_of_occupied_households():
    assert coverage_target(CampaignKind.first, 10) == 9
    assert coverage_target(CampaignKind.first, 101) == 91   # rounded up: at least 90%
    assert coverage_target(CampaignKind.annual, 37) == 37   # V2: every sampled household


def test_V2_sample_is_reproducible_spread_over_buildings_and_never_below_the_minimum():
    households = [(i, f"{1 + i % 4}") for i in range(1, 401)]   # 4 buildings × 100
    a = draw_sample(households, Decimal("0.10"), seed=42)
    assert a == draw_sample(households, Decimal("0.10"), seed=42)
    assert a != draw_sample(households, Decimal("0.10"), seed=43)
    per_building = Counter(b for u, b in households if u in set(a))
    assert per_building == {"1": 10, "2": 10, "3": 10, "4": 10}
    assert required_share(CampaignKind.annual, None) == Decimal("0.10")
    assert required_share(CampaignKind.annual, None, Decimal("0.30")) == Decimal("0.30")  # Qingdao setting
    assert "低于下限" in refused("invalid", required_share, CampaignKind.annual, Decimal("0.05"))
    assert "低于下限" in refused("invalid", required_share, CampaignKind.annual, Decimal("0.2"),
                                          Decimal("0.30"))


def test_V3_visit_records_the_survey_and_satisfaction_counts_4_and_5():
    c = campaign()
    c.visit(visit(1, (5, 4, 3)))
    s = campaign_summary(c.state)
    assert (s["visited"], s["planned"], s["satisfaction_percent"], s["in_person_percent"]) == (1, 10, 66.7, 100.0)
    assert "refused" not in s and s["definitions"]["satisfaction_percent"]


def test_V3_a_household_outside_the_plan_or_visited_twice_is_refused():
    c = campaign()
    assert "不在本次回访计划中" in refused("invalid", c.check_visit, visit(99))
    c.visit(visit(1))
    assert "已回访过" in refused("conflict", c.check_visit, visit(1))
    assert "不能记录回访" in refused("forbidden", c.check_visit,
                                               visit(2, actor=Actor(username="finance", role=Role.finance)))


def test_V3_seriously_dissatisfied_owner_gets_a_second_visit_with_cs_manager():
    c = campaign()
    c.visit(visit(3, (5, 2)))
    assert c.state.second_visits_due == [3]
    assert "须有客户服务部经理参加" in refused("invalid", c.check_visit, visit(3, second_visit=True))
    assert "二次回访" in refused("conflict", c.check_close, CloseRequest(actor=MANAGER, note="结束"))
    c.visit(visit(3, (4, 4), second_visit=True, participants=["cs_manager"]))
    assert (c.state.second_visits_due, c.state.second_visits_done) == ([], [3])
    assert "无须二次回访" in refused("conflict", c.check_visit, visit(3, second_visit=True, actor=MANAGER))
    assert len(c.state.visited) == 1  # a second visit is not a second household


def test_V3_every_point_raised_is_handled_answered_or_opened_as_a_case():
    c = campaign()
    body = VisitBody(unit_id=1, mode="phone", items=[{"item": "维修", "score": 3}],
                     points=[{"text": "车库灯不亮", "handling": "answered", "answer": "已报物业，明日修复"},
                             {"text": "卫生间渗水", "handling": "repair", "trades": ["防水"],
                              "requested_appointment": "2026-11-25T10:00:00+08:00"},
                             {"text": "噪音扰民", "handling": "complaint", "category": "噪音"}])
    assert "业主信息" in refused("invalid", c.check_visit, VisitRequest(visit=body, actor=STAFF))
    c.visit(VisitRequest(visit=body, actor=STAFF, customer=OWNER))
    effects = c.take_effects()
    assert [e.handling for e in effects] == ["repair", "complaint"]
    assert len({e.key for e in effects}) == 2
    assert (c.state.points_raised, c.state.points_handled) == (3, 1)
    c.point_case_opened("WX-2026-000001")
    c.point_case_opened("TS-2026-000002")
    assert campaign_summary(c.state)["points_handled_percent"] == 100.0
    with pytest.raises(ValueError, match="needs the answer"):
        VisitBody(unit_id=1, mode="phone", items=[{"item": "a", "score": 3}], points=[{"text": "x", "handling": "answered"}])


def test_V3_spot_check_and_close_are_cs_managers():
    c = campaign()
    c.visit(visit(1))
    check = SpotCheck(unit_ids=[1], result="表格完整")
    assert "只有客户服务部经理" in refused("forbidden", c.check_spot_check, SpotCheckRequest(check=check, actor=STAFF))
    assert "未回访" in refused("invalid", c.check_spot_check,
                                    SpotCheckRequest(check=SpotCheck(unit_ids=[2], result="x"), actor=MANAGER))
    c.spot_check(SpotCheckRequest(check=check, actor=MANAGER))
    assert "只有客户服务部经理" in refused("forbidden", c.check_close, CloseRequest(actor=STAFF, note="x"))
    c.close(CloseRequest(actor=MANAGER, note="覆盖不足，转下季度"), NOW)
    report = campaign_summary(c.state)
    assert (report["status"], report["spot_checks"], report["coverage_percent"]) == ("closed", 1, 10.0)
    assert "已结束" in refused("conflict", c.check_visit, visit(2))

# ---- V1 / V2 proposals -----------------------------------------------------------------------------

def _occ(project, units, sold, occupied):
    from types import SimpleNamespace
    return SimpleNamespace(project=project, units=units, sold=sold, occupied=occupied)


def test_V1_a_first_campaign_is_proposed_once_a_project_is_half_occupied_and_never_twice():
    from aftersales.campaign import proposals_due
    projects = [_occ("融侨城", 200, 190, 100), _occ("滨江苑", 200, 150, 99), _occ("空地块", 0, 0, 0)]
    [p] = proposals_due(CampaignKind.first, projects, year=2026, done=set(), share=Decimal("0.1"))
    assert (p.project, p.year, p.households, p.target) == ("融侨城", 0, 100, 90)   # 50% exactly; 90% of 100
    assert "入住 100/200 户（50.0%）" in p.line(Decimal("0.1")) and "V1" in p.line(Decimal("0.1"))
    assert proposals_due(CampaignKind.first, projects, year=2026, done={"融侨城"}, share=Decimal("0.1")) == []


def test_V2_an_annual_campaign_is_proposed_per_project_and_year_sampling_the_share_of_sold_homes():
    from aftersales.campaign import proposals_due
    projects = [_occ("融侨城", 200, 191, 100), _occ("未售楼盘", 50, 0, 0)]
    [p] = proposals_due(CampaignKind.annual, projects, year=2027, done=set(), share=Decimal("0.30"))
    assert (p.project, p.year, p.households) == ("融侨城", 2027, 58)             # ceil(191 × 30%)
    assert "2027 年度回访按 30% 抽样约 58 户" in p.line(Decimal("0.30"))
    assert proposals_due(CampaignKind.annual, projects, year=2027, done={"融侨城"}, share=Decimal("0.1")) == []


# ---- V3, O3, O4: the owner answers the campaign's survey themselves -----------------------------------------
def owner_survey(unit_id=2, scores=(5, 5, 4), bound_to=2, campaign_id="HF-2026-000001", **kw) -> VisitRequest:
    body = VisitBody(unit_id=unit_id, mode="self", items=[{"item": f"项{i}", "score": s} for i, s in enumerate(scores)],
                     comments="物业服务很好", **kw)
    return VisitRequest(visit=body, actor=OwnerActor(case_no=campaign_id, means="link", unit_id=bound_to))


def test_V3_O3_the_owner_answers_the_survey_of_their_own_household_once():
    c = campaign()
    c.visit(visit(1, (5, 3)))                                     # staff visited household 1 in person (代录)
    c.visit(owner_survey(2, (5, 5, 4)))
    assert 2 in c.state.visited and c.state.self_visits == 1
    s = campaign_summary(c.state)
    assert (s["visits_owner"], s["satisfaction_percent_owner"]) == (1, 100.0)
    assert (s["visits_staff"], s["satisfaction_percent_staff"]) == (1, 50.0)
    assert s["definitions"]["satisfaction_percent_owner"] and s["definitions"]["satisfaction_percent_staff"]
    assert s["satisfaction_percent"] == 80.0 and s["in_person_percent"] == 50.0
    assert "已回访过" in refused("conflict", c.check_visit, owner_survey(2))
    assert owner_survey().provenance(NOW) == Provenance.by_owner(Means.link, NOW)
    assert visit(3).provenance(NOW) == Provenance.recorded_by("cs_staff", Means.visit, NOW)


def test_V3_O2_an_owner_answers_only_for_their_own_household_of_this_campaign():
    c = campaign()
    assert "本人房屋" in refused("forbidden", c.check_visit, owner_survey(3, bound_to=2))            # another household
    assert "本人房屋" in refused("forbidden", c.check_visit, owner_survey(2, campaign_id="HF-2026-000002"))
    assert "不在本次回访计划中" in refused("invalid", c.check_visit, owner_survey(99, bound_to=99))
    assert "只有评分和意见" in refused("invalid", c.check_visit, owner_survey(2, second_visit=True))
    staff_as_self = VisitRequest(visit=owner_survey().visit, actor=STAFF)
    assert "业主本人" in refused("invalid", c.check_visit, staff_as_self)                       # 代录 says how


def test_V3_a_second_visit_recognises_any_cs_manager_of_the_campaigns_company_among_the_participants():
    """P7: participants are accounts from the organisation's list; the request carries the campaign company's
    cs_manager accounts (P5), so 海景置业's cs_manager2 counts, another company's manager does not, and a refusal
    names the managers who may take part by name and title. A request recorded before (no list) keeps the literal."""
    from aftersales.org import Person
    deng = Person(username="cs_manager2", display_name="邓凯", title="海景置业客户服务部经理", role=Role.cs_manager,
                  company_id="hj")
    butler = Actor(username="butler2", role=Role.butler)

    def second(participants, managers):
        r = visit(3, (4, 4), actor=butler, second_visit=True, participants=participants)
        return r.model_copy(update={"managers": managers})

    c = campaign()
    c.visit(visit(3, (5, 2)))
    message = refused("invalid", c.check_visit, second(["butler2"], [deng]))
    assert "邓凯 · 海景置业客户服务部经理" in message and "cs_manager2" in message
    assert "邓凯" in refused("invalid", c.check_visit, second(["cs_manager"], [deng]))   # another company's
    none = refused("invalid", c.check_visit, second(["butler2"], []))
    assert "没有在职的客户服务部经理" in none
    c.check_visit(second(["cs_manager"], None))      # a request recorded before the list: the literal, as it was
    c.visit(second(["butler2", "cs_manager2"], [deng]))
    assert (c.state.second_visits_due, c.state.second_visits_done) == ([], [3])
