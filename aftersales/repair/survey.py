"""R2: the site survey within 1 working day of receipt, co-signed (会签) by cs_staff, engineering and the
repair team, and by the contractor the survey names above 500 yuan; then the A1 cost approval of its
estimate (aftersales/repair/money.py) unless the estimate is 0 or already approved on the case."""


from aftersales import actions as A
from aftersales.actor import Actor
from aftersales.approvals import a1_missing
from aftersales.case import Ctx
from aftersales.errors import conflict, forbidden
from aftersales.messages import role_title, yuan
from aftersales.repair.base import RepairSteps
from aftersales.repair.state import BEFORE_SURVEY, CONTRACTOR_SIGNS_FROM, RepairStatus, Survey, SurveySignature

_S = RepairStatus


class SurveySteps(RepairSteps):
    # ---- R2/R3: survey and its co-signature ---------------------------------------------------
    def on_record_survey(self, a: A.RecordSurvey, actor: Actor, ctx: Ctx) -> None:
        self._not_on_paid_path("记录费用查勘")
        self.require_status(*BEFORE_SURVEY, doing="记录查勘")
        s = self.state
        previous = s.survey
        s.survey = Survey(round=(previous.round + 1 if previous else 1), responsible_party=a.responsible_party,
                          contractor_id=a.contractor_id, multi_trade=a.multi_trade, estimate=a.estimate,
                          order_type=a.order_type, recorded_by=actor.username, recorded_at=ctx.now)
        s.department = a.responsible_party
        s.status = _S.surveying
        kind = "多工种" if a.multi_trade else "单工种"
        order = "A 类（保修期内）" if a.order_type == "A" else "B 类（保修期外，由公司承担）"
        self.note(ctx, "survey", f"查勘{'重新记录，原有签认作废' if previous else '已记录'}：责任方 {a.responsible_party}，"
                  f"{kind}，预估 {yuan(a.estimate)}，{order}工单（R2、R3）", actor)
        parties = s.survey.required_roles
        self.notify(parties, "现场勘察待会签",
                    f"勘察估价 {yuan(a.estimate)}，待{'、'.join(role_title(r) for r in parties)}会签（R2）。",
                    "R2 survey co-signature")

    def on_sign_survey(self, a: A.SignSurvey, actor: Actor, ctx: Ctx) -> None:
        s = self.state
        if s.status == _S.survey_returned:
            raise conflict("查勘已被审批人退回：请重新「记录查勘」后再签认（A1）")
        self.require_status(_S.surveying, doing="签认查勘")
        survey = s.survey
        assert survey is not None
        if actor.role not in survey.required_roles:
            why = (f"预估 {yuan(survey.estimate)} 未超过 {yuan(CONTRACTOR_SIGNS_FROM)}"
                   if survey.estimate <= CONTRACTOR_SIGNS_FROM else "查勘未指定施工单位")
            raise conflict(f"{role_title(actor.role)}无须签认：{why}（R2）")
        if any(sig.role == actor.role for sig in survey.signatures):
            raise conflict(f"{role_title(actor.role)}已签认过本查勘单（R2）")
        if any(sig.by == actor.username for sig in survey.signatures):
            raise forbidden(f"{actor.username} 已代表另一方签认；各方须用本人的账号签认（R2）")
        survey.signatures.append(SurveySignature(role=actor.role, by=actor.username, at=ctx.now))
        self.note(ctx, "survey_signed", f"{role_title(actor.role)}已在查勘单上签认（R2）", actor)
        if not survey.missing_roles:
            self._survey_complete(ctx, actor)

    def _survey_complete(self, ctx: Ctx, actor: Actor) -> None:
        s = self.state
        survey = s.survey
        assert survey is not None
        survey.completed_at = ctx.now
        self.meet(ctx, "survey")
        self.note(ctx, "survey_complete", "现场勘察已由各方会签（R2）")
        # A1: the route worked out again at every survey, approvals already given on the case counted
        steps = a1_missing(survey.estimate, s.approvals) if survey.estimate > 0 else []
        if steps:
            s.status = _S.cost_approval
            self.request_approval(ctx, actor, id=f"cost-{survey.round}", purpose="repair_cost", rule="A1",
                                  subject=f"维修费用 {yuan(survey.estimate)}（{s.case_no}）",
                                  steps=steps, amount=survey.estimate)
        else:
            s.status = _S.surveyed
