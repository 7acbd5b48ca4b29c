"""A4: every approval decision shows what is decided — the solution or the survey, the amount and its A1 band,
who asked, the steps done and still missing — in the case view and in the approver's mail."""

from datetime import timedelta
from decimal import Decimal

from aftersales import actions as A
from aftersales.case import Notice
from aftersales.messages import email_text, markdown
from aftersales.roles import Role
from aftersales.views import case_view
from tests.rules import test_complaint_machine as C
from tests.rules import test_repair_machine as RP
from tests.rules.driver import LADDER

R = Role


def approval_mail(run) -> Notice:
    return next(n for n in reversed(run.notices()) if n.reason.startswith("approval "))


def test_A4_a_complaints_solution_with_compensation_shows_the_solution_amount_band_asker_and_steps():
    r = C.Run().investigated().do(R.dept_handler, A.ProposeSolution(
        action="propose_solution", solution="重做卫生间防水并赔偿地板", compensation=Decimal("1500.00")), "li.handler")
    r.do(R.cs_manager, A.Decide(action="decide", decision="approve"))                # C7 done, A1 band next
    brief = case_view(r.s, r.now, LADDER)["decision"]
    assert brief["what"].startswith("处理方案：重做卫生间防水并赔偿地板")
    assert "防水层破损" in brief["what"]                                               # the findings it answers
    assert brief["amount"] == "1500.00" and brief["amount_text"] == "¥1,500.00"
    assert "¥1,000.01–¥10,000.00" in brief["band"] and "副总经理" in brief["band"]      # A1's band
    assert brief["requested_by"] == "li.handler"
    assert [(s["role"], s["decision"]) for s in brief["done"]] == [("cs_manager", "approve")]
    assert [s["role"] for s in brief["missing"]] == ["deputy_chief_engineer", "deputy_gm"]
    assert brief["current"]["role"] == "deputy_chief_engineer"
    text = email_text(approval_mail(r).message, "https://cs.example.com")
    for fact in ("重做卫生间防水并赔偿地板", "¥1,500.00", "¥1,000.01–¥10,000.00", "客户服务部经理审批 批准",
                 "负责质量的副总工程师审核", "副总经理审批"):
        assert fact in text, fact
    assert "approve" not in text and "review" not in text                             # in Chinese
    assert "¥1,500.00" in markdown(approval_mail(r).message, "https://cs.example.com")


def test_A4_a_repair_cost_shows_the_survey_and_a_settlement_its_statement():
    r = RP.Run().scheduled(RP.MONDAY_10 + timedelta(hours=2))
    r.do(R.engineering, RP.survey("3200", order_type="A", multi_trade=True, contractor_id="C-001")).signed()
    brief = case_view(r.s, r.now, LADDER)["decision"]
    assert "勘察" in brief["what"] and "维修队" in brief["what"] and "多工种" in brief["what"] and "A 类" in brief["what"]
    assert "C-001" in brief["what"] and brief["amount_text"] == "¥3,200.00" and brief["done"] == []
    assert [s["role"] for s in brief["missing"]] == ["deputy_chief_engineer", "deputy_gm"]
    assert "现场勘察" in email_text(approval_mail(r).message, "")
    r.approve_all()
    assert "decision" not in case_view(r.s, r.now, LADDER)                            # nothing to decide now


def test_A4_the_unjustified_ruling_shows_the_reply_to_be_approved():
    r = C.Run().do(R.cs_staff, A.Classify(action="classify", category="使用不当", department="工程部",
                                          justified=False, reply="系业主自行改造导致"))
    brief = case_view(r.s, r.now, LADDER)["decision"]
    assert "系业主自行改造导致" in brief["what"] and brief["amount"] is None and brief["band"] is None
