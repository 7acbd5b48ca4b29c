"""V1/V2 on a calendar: a scheduled check proposes the revisit campaigns the rules call for to `cs_manager`,
in one message listing them — V1 (daily) a first campaign for each project that has reached 50% occupancy,
once per project; V2 (each January) the year's sampled campaign for each project with sold homes, once per
project and year. The proposals are kept in the read model (campaign_proposals), so no project is
proposed twice, whatever the retries or a catch-up run."""

from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from aftersales.calendar import local_date
    from aftersales.campaign import CampaignKind
    from aftersales.roles import Role
    from contracts.campaign import ProposalBatch, ProposalCheck
    from contracts.case import Notification

from workflows.case_workflow import DB_ACTIVITY, NOTIFY_RETRY, NOTIFY_TIMEOUT

TITLES = {CampaignKind.first: "首次回访（V1）", CampaignKind.annual: "年度回访（V2）"}


@workflow.defn(name="CampaignProposalWorkflow")
class CampaignProposalWorkflow:
    @workflow.run
    async def run(self, kind: str) -> dict[str, Any]:
        campaign_kind = CampaignKind(kind)
        on = local_date(workflow.now())
        batch = await workflow.execute_activity("propose_campaigns", ProposalCheck(kind=campaign_kind, on=on),
                                                result_type=ProposalBatch, **DB_ACTIVITY)
        if batch.proposals:
            lines = "\n".join(f"- {p.line(batch.share)}" for p in batch.proposals)
            await workflow.execute_activity(
                "send_notification",
                Notification(notification_id=f"campaign-proposals-{kind}-{on.isoformat()}", case_no=f"proposals-{on}",
                             roles=[Role.cs_manager],
                             subject=f"[回访提醒] {len(batch.proposals)} 个项目应开展{TITLES[campaign_kind]}",
                             body=(f"{on.isoformat()} 检查房产台账，以下项目应开展{TITLES[campaign_kind]}：\n{lines}\n\n"
                                   "请在工作台「回访活动」中制定回访计划（人员、日期）。"),
                             reason=f"{'V1' if campaign_kind == CampaignKind.first else 'V2'} campaign proposal"),
                start_to_close_timeout=NOTIFY_TIMEOUT, retry_policy=NOTIFY_RETRY,
                schedule_to_close_timeout=timedelta(hours=24))  # then the run fails visibly in the Web UI (E3)
        return batch.model_dump(mode="json")
