"""O3–O5 (rules 4) as pure rules: the owner's own acts — accept or ask for another appointment (R1), consent to or
refuse more time (R8), accept or decline a quote signing the repair slip (R3), sign off or refuse the work with
scores and a reason (R6, R9), answer the revisit survey (R7, C7) — each allowed only in its state and only for the
case's own owner, each fact with its provenance (O4); staff record them for owners who call or write only as 代录
(told_via); an owner silent 3 working days after the inspection is called by cs_staff (O5), the ladder after."""

from datetime import timedelta

import pytest

from aftersales import access
from aftersales import actions as A
from aftersales.actor import OwnerActor
from aftersales.case import CURRENT_RULES_VERSION
from aftersales.provenance import GivenBy, Means, Provenance
from aftersales.repair.state import RepairStatus
from aftersales.roles import Role
from tests.rules import test_complaint_machine as C
from tests.rules import test_paid_service as PS
from tests.rules import test_repair_machine as RP
from tests.rules.driver import CST, who
from tests.rules.test_access_matrix import SAMPLES, STATES, action_samples, outcome

R = Role
MONDAY_10 = RP.MONDAY_10
SIGN_OFF = A.OwnerSignOff(action="owner_sign_off", quality=5, attitude=4, comment="师傅很细心")
SURVEY = A.Revisit(action="revisit", satisfaction=5, quality=5, attitude=5, note=None)


def owner_samples(case_type: str) -> list:
    """The samples of the matrix without their 代录 field: what the owner pages send."""
    return [s.model_copy(update={"told_via": None}) if "told_via" in type(s).model_fields else s
            for s in action_samples(case_type)]


# ---- the matrix: every act × every state × this case's owner, another case's owner ----------------------------
@pytest.mark.parametrize("case_type", ["complaint", "repair"])
def test_O3_every_owner_act_only_in_its_state_only_for_its_own_owner(case_type):
    """The owner may do exactly the acts of OWNER_ACTS, in exactly the states where staff recording the same fact
    could (the machine's own state checks); never a staff action; never on another case (P4, O2)."""
    allowed_somewhere: set[str] = set()
    checked = 0
    for case in STATES[case_type]():
        staff = {a.action: outcome(case, a, who(R.cs_staff)) for a in action_samples(case_type)}
        for action in owner_samples(case_type):
            mine = OwnerActor(case_no=case.state.case_no, means="link")
            theirs = OwnerActor(case_no="WX-2026-999999" if case_type == "repair" else "TS-2026-999999", means="code")
            got, other = outcome(case, action, mine), outcome(case, action, theirs)
            checked += 1
            if case.state.closed:
                assert got == other == "conflict"
                continue
            assert other == "forbidden", (action.action, case.state.status)
            if action.action not in access.OWNER_ACTS[case_type]:
                assert got == "forbidden", (action.action, case.state.status)
                continue
            # the owner's own act: allowed where the state allows the same fact (staff's outcome is not 409)
            state_allows = staff[action.action] != "conflict"
            assert (got in ("ok", "invalid")) == state_allows, (action.action, case.state.status, got, staff[action.action])
            if got == "ok":
                allowed_somewhere.add(action.action)
    assert checked > 100
    assert allowed_somewhere == set(access.OWNER_ACTS[case_type])    # the paths reach a state for each act


@pytest.mark.parametrize("version", [2, 3])
def test_O3_a_case_opened_before_rules_4_keeps_its_rules(version):
    """A case opened under rules 2 or 3 (P5): the owner cannot act (staff record for them), staff need no told_via,
    no O5."""
    class Old(RP.Run):
        rules_version = version
    r = Old().inspected()
    assert r.s.rules_version == version and r.case.deadline("sign_off") is None
    e = r.refused(r.owner(), SIGN_OFF)
    assert e.kind == "forbidden" and "致电客服" in e.message
    assert r.refused(R.cs_staff, A.RefuseSignOff(action="refuse_sign_off", reason="x", told_via="phone")).kind \
        == "conflict"
    r.do(R.butler, A.OwnerSignOff(action="owner_sign_off", quality=4, attitude=4))     # as before: no 代录 asked
    assert r.s.sign_off.provenance is None and r.s.timeline[-1].provenance is None


# ---- O4: provenance -----------------------------------------------------------------------------------------------
def test_O4_the_owners_sign_off_is_given_by_the_owner_by_link_and_scores_the_workers():
    r = RP.Run().inspected()
    r.at(MONDAY_10 + timedelta(hours=5))
    r.do(r.owner("link"), SIGN_OFF)
    assert r.s.status == RepairStatus.completed
    given = Provenance(by=GivenBy.owner, means=Means.link, at=r.now)
    assert r.s.sign_off.provenance == given and r.s.sign_off.by == "owner"
    entry = r.s.timeline[-1]
    assert entry.kind == "signed_off" and entry.provenance == given and entry.role is None and entry.actor == "owner"
    assert entry.provenance.words() == "业主本人（短信链接）"
    scores = [e for e in r.effects if getattr(e, "kind", "") == "worker_scores"]
    assert [(s.source, s.quality, s.attitude) for s in scores] == [("sign_off", 5, 4)]     # R9 counts both
    assert r.case.deadline("sign_off").met_at is not None                                 # O5: the owner came first


@pytest.mark.parametrize("told_via, means", [("phone", Means.phone), ("visit", Means.visit), ("wechat", Means.wechat),
                                             ("letter", Means.letter)])
def test_O4_staff_record_for_the_owner_only_as_daelu_with_how_the_owner_told_them(told_via, means):
    r = RP.Run().inspected()
    e = r.refused(R.butler, SIGN_OFF)                    # rules 4: 代录 says how the owner told them
    assert e.kind == "invalid" and e.message.startswith("told_via") and "O4" in e.message
    r.do(R.butler, SIGN_OFF.model_copy(update={"told_via": told_via}), "zhang.butler")
    given = r.s.sign_off.provenance
    assert given == Provenance(by=GivenBy.staff, means=means, at=r.now, staff="zhang.butler")
    assert r.s.timeline[-1].provenance == given and given.words().startswith("代录（zhang.butler，")


@pytest.mark.parametrize("name", sorted(access.OWNER_FACTS["repair"]))
def test_O4_every_owner_fact_staff_record_needs_told_via(name):
    """Each of staff's actions that records a fact the owner gives (OWNER_FACTS) is refused without told_via: the
    state where it is possible comes from the matrix's paths."""
    sample = next(s for s in action_samples("repair") if s.action == name)
    bare = sample.model_copy(update={"told_via": None})
    seen = 0
    for case in STATES["repair"]():
        role = next(iter(sorted(access.ACTIONS["repair"][name].roles, key=lambda r: r.value)))
        actor = who(role, contractor_id=access.contractor_of(case.state))
        if outcome(case, sample, actor) == "ok":
            assert outcome(case, bare, actor) == "invalid", (name, case.state.status)
            seen += 1
    assert seen, name


# ---- R1: the appointment --------------------------------------------------------------------------------------------
def test_R1_staff_propose_a_time_the_owner_accepts_it():
    r = RP.Run()
    at = MONDAY_10 + timedelta(days=1, hours=4)
    assert r.refused(r.owner(), A.AcceptAppointment(action="accept_appointment")).kind == "conflict"   # none yet
    r.do(R.hotline, A.ProposeAppointment(action="propose_appointment", appointment_at=at))
    assert r.s.status == RepairStatus.registered and r.s.proposed_appointment == at
    assert r.s.timeline[-1].kind == "appointment_proposed"
    r.do(r.owner("code"), A.AcceptAppointment(action="accept_appointment"))
    assert (r.s.status, r.s.appointment_at, r.s.proposed_appointment) == (RepairStatus.scheduled, at, None)
    assert r.s.appointment_provenance.by == GivenBy.owner and r.s.appointment_provenance.means == Means.code
    assert r.s.timeline[-1].kind == "appointment" and r.s.timeline[-1].provenance.by == GivenBy.owner
    assert r.refused(r.owner(), A.AcceptAppointment(action="accept_appointment")).kind == "conflict"   # accepted once


def test_R1_the_owner_asks_for_another_time_staff_are_told():
    r = RP.Run()
    r.do(R.cs_staff, A.ProposeAppointment(action="propose_appointment", appointment_at=MONDAY_10 + timedelta(hours=5)))
    wanted = MONDAY_10 + timedelta(days=2, hours=9)
    r.do(r.owner(), A.RequestAppointment(action="request_appointment", appointment_at=wanted, note="工作日晚上在家"))
    assert r.s.requested_appointment == wanted and r.s.proposed_appointment is None and r.s.appointment_at is None
    notice = r.notices()[-1]
    assert set(notice.roles) == {R.cs_staff, R.butler} and notice.reason == "R1 owner asks another time"
    assert r.refused(r.owner(), A.RequestAppointment(action="request_appointment",
                                                     appointment_at=MONDAY_10 - timedelta(hours=1))).kind == "invalid"


def test_R1_a_proposal_gone_by_cannot_be_accepted():
    r = RP.Run()
    r.do(R.cs_staff, A.ProposeAppointment(action="propose_appointment", appointment_at=MONDAY_10 + timedelta(hours=1)))
    r.at(MONDAY_10 + timedelta(hours=2))
    assert r.refused(r.owner(), A.AcceptAppointment(action="accept_appointment")).kind == "invalid"


# ---- R8: more time, only with the owner's consent before the deadline ---------------------------------------------
def test_R8_the_owner_consents_before_the_deadline_the_work_deadline_moves():
    r = RP.Run().dispatched()
    due, later = r.due("work"), r.due("work") + timedelta(days=5)
    assert r.refused(r.owner(), A.ConsentExtension(action="consent_extension")).kind == "conflict"    # nothing asked
    r.do(R.repair_lead, A.AskExtension(action="ask_extension", new_due_at=later, reason="防水材料待货"))
    assert r.due("work") == due                                          # asked is not consented
    r.at(due - timedelta(hours=1))
    r.do(r.owner(), A.ConsentExtension(action="consent_extension"))
    assert r.due("work") == later.astimezone(CST)
    (consent,) = r.s.consents
    assert consent.consented and consent.provenance.by == GivenBy.owner and consent.to_due_at == later
    assert r.s.timeline[-1].kind == "deadline_extended" and r.s.timeline[-1].provenance.by == GivenBy.owner
    assert r.case.deadline("work").extensions[-1].role is None      # the owner, not a staff role


def test_R8_a_consent_after_the_deadline_is_refused():
    r = RP.Run().dispatched()
    due = r.due("work")
    r.do(R.cs_staff, A.AskExtension(action="ask_extension", new_due_at=due + timedelta(days=3), reason="r"))
    r.at(due + timedelta(minutes=1))
    e = r.refused(r.owner(), A.ConsentExtension(action="consent_extension"))
    assert e.kind == "conflict" and "R8" in e.message


def test_R8_the_owner_refuses_the_work_stays_due():
    r = RP.Run().dispatched()
    due = r.due("work")
    r.do(R.cs_staff, A.AskExtension(action="ask_extension", new_due_at=due + timedelta(days=3), reason="r"))
    r.do(R.cs_manager, A.RefuseExtension(action="refuse_extension", reason="急用", told_via="wechat"))
    assert r.due("work") == due and r.s.extension_asked is None
    (consent,) = r.s.consents
    assert not consent.consented and consent.provenance.means == Means.wechat and consent.provenance.staff == "cs_manager"
    assert r.notices()[-1].reason == "R8 owner refused more time"


# ---- R3: the quote and the repair slip --------------------------------------------------------------------------------
def test_R3_the_owner_accepts_the_quote_signing_with_their_typed_name_and_the_time():
    r = PS.Run(paid_service=True).do(R.cs_staff, PS.quote(("TAP", "1")))
    r.do(r.owner(), A.AcceptQuote(action="accept_quote", signed_by="李建国", signed_at=r.now))
    acceptance = r.s.quote_acceptance
    assert r.s.status == RepairStatus.quote_accepted and acceptance.signed_by == "李建国"
    assert acceptance.signed_at == r.now and acceptance.provenance.by == GivenBy.owner


def test_R3_the_owner_declines_the_quote_the_case_ends_declined():
    r = PS.Run(paid_service=True).do(R.cs_staff, PS.quote(("TAP", "1")))
    r.do(r.owner("code"), A.DeclineQuote(action="decline_quote", reason="自己找人修"))
    assert r.s.closed and r.s.outcome == "declined" and r.s.decline_provenance.means == Means.code


# ---- R6: sign-off refused --------------------------------------------------------------------------------------------
def test_R6_the_owner_refuses_the_sign_off_the_work_goes_back_as_a_new_round():
    r = RP.Run().inspected()
    first_round = r.s.work_round
    r.at(MONDAY_10 + timedelta(days=1))
    e = r.refused(r.owner(), A.RefuseSignOff(action="refuse_sign_off", reason="r", quality=2))
    assert e.kind == "invalid"                                        # both scores or neither
    r.do(r.owner(), A.RefuseSignOff(action="refuse_sign_off", reason="卫生间墙面仍渗水", quality=2, attitude=4))
    assert r.s.status == RepairStatus.in_progress and r.s.work_round == first_round + 1 and r.s.inspections == []
    assert r.case.deadline("work").open and r.case.deadline("work").started_at == r.now.astimezone(CST)
    assert r.case.deadline("sign_off").met_at is not None
    (refusal,) = r.s.sign_off_refusals
    assert refusal.reason == "卫生间墙面仍渗水" and refusal.provenance.by == GivenBy.owner
    assert [(e.source, e.quality) for e in r.effects if getattr(e, "kind", "") == "worker_scores"] == [("sign_off", 2)]
    assert r.notices()[-1].reason == "R6 owner refused sign-off"


# ---- O5: the owner silent 3 working days: cs_staff calls, the ladder after ------------------------------------------
def test_O5_an_owner_silent_3_working_days_is_called_by_cs_staff_then_the_ladder():
    r = RP.Run().inspected()                                          # Monday 23rd 10:00
    d = r.case.deadline("sign_off")
    assert (d.rule, d.owners, d.escalates) == ("O5", [R.cs_staff], True)
    assert r.due("sign_off") == MONDAY_10 + timedelta(days=3)          # Thursday 26th 10:00
    assert r.case.next_wakeup() <= d.due_at
    r.at(MONDAY_10 + timedelta(days=3, minutes=1))
    called = [n for n in r.notices() if n.reason == "O5 owner silent: call the owner"]
    assert len(called) == 1 and called[0].roles == [R.cs_staff] and r.about(called[0], "sign_off")
    assert not r.escalations("sign_off")                                   # cs_staff first, not the ladder
    r.at(MONDAY_10 + timedelta(days=4, minutes=1))                     # a working day later, still silent
    assert r.escalations("sign_off") == [R.dept_head]
    r.do(R.cs_staff, SIGN_OFF.model_copy(update={"told_via": "phone"}))  # the call: recorded for the owner
    assert r.case.deadline("sign_off").state == "met_late" and r.s.sign_off.provenance.means == Means.phone


def test_O5_the_owner_signing_off_in_time_stops_the_call():
    r = RP.Run().inspected()
    r.at(MONDAY_10 + timedelta(days=2))
    r.do(r.owner(), SIGN_OFF)
    r.at(MONDAY_10 + timedelta(days=6))
    assert not [n for n in r.notices() if n.reason.startswith("O5")] and r.case.deadline("sign_off").state == "met"


# ---- R7, C7: the revisit survey -----------------------------------------------------------------------------------
def test_R7_the_owner_answers_the_revisit_survey():
    r = RP.Run().signed_off()
    r.do(r.owner(), SURVEY)
    assert r.s.status == RepairStatus.revisited and r.s.revisits[-1].provenance.by == GivenBy.owner
    assert r.case.deadline("revisit").met_at is not None and r.s.satisfaction == 5


def test_R7_V3_a_dissatisfied_owner_is_followed_up_by_cs_manager_never_reopened_by_the_owner():
    r = RP.Run().signed_off()
    reopen = SURVEY.model_copy(update={"satisfaction": 1, "follow_up": "reopen"})
    assert r.refused(r.owner(), reopen).kind == "forbidden"
    r.do(r.owner(), SURVEY.model_copy(update={"satisfaction": 2, "follow_up": "cs_manager_follow_up"}))
    assert r.s.status == RepairStatus.follow_up and r.s.revisits[-1].follow_up == "cs_manager_follow_up"
    assert r.notices()[-1].roles == [R.cs_manager]


def test_C7_the_owner_answers_the_complaints_satisfaction():
    r = C.Run().proposed().do(R.cs_manager, A.Decide(action="decide", decision="approve"))
    r.do(R.cs_staff, A.InformCustomer(action="inform_customer", message="更换窗户密封条"))
    assert r.refused(r.owner(case_no="TS-2026-000099"),
                     A.RecordSatisfaction(action="record_satisfaction", score=4)).kind == "forbidden"
    r.do(r.owner(), A.RecordSatisfaction(action="record_satisfaction", score=4, comment="处理及时"))
    assert r.s.satisfaction == 4 and r.s.satisfaction_provenance.by == GivenBy.owner
    assert r.s.timeline[-1].provenance.means == Means.link


def test_rules_4_is_the_current_rule_book():
    assert CURRENT_RULES_VERSION == 4 and access.OWNER_ACTS_FROM == 4
    assert SAMPLES  # the matrix's samples hold every action


@pytest.mark.parametrize("version", [3, CURRENT_RULES_VERSION])
def test_O5_a_repair_closing_under_rules_4_notes_its_close_for_the_owners_sms(version):
    """O5: the owner is told by SMS when the case closes, a repair as a complaint: a repair of rules 4 notes its close
    on the timeline (the entry the close SMS is raised from, SMS_FOR_ENTRY), paid or declined; one of before keeps its
    timeline as it was."""
    from aftersales.owners import SMS_FOR_ENTRY, SmsKind

    class Pinned(RP.Run):
        rules_version = version
    r = Pinned().settling("300").approve_all().do(R.finance, RP.pay("300"))
    assert r.s.status == RepairStatus.closed
    closed = [t for t in r.s.timeline if t.kind == "closed"]
    if version >= 4:
        assert len(closed) == 1 and r.s.timeline[-1].kind == "closed" and "结案" in closed[0].text
        assert SMS_FOR_ENTRY["closed"] is SmsKind.closed
    else:
        assert closed == []
