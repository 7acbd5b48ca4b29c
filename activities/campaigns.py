"""Activities of revisit campaigns (V1–V3): draw the plan from the property register, keep each visit's
form, and project the campaign's progress into the read model. All idempotent: a retry changes nothing."""

import random
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
import structlog

from aftersales.campaign import ANNUAL_DEFAULT_SHARE, CampaignKind, Plan, Proposal, draw_sample, proposals_due, required_share
from adapters.db import properties as register
from adapters.db.models import CampaignHousehold, CampaignProposal, CampaignRow, CampaignVisit, PropertyUnit
from aftersales.privacy import mask_personal
from aftersales.properties import normalize_text
from contracts.campaign import CampaignProjection, PlanRequest, ProposalBatch, ProposalCheck, VisitForm
from adapters.db.session import dialect_insert, retry_contention
from adapters.config import Settings
from adapters.sms.queue import enqueue_campaign_surveys
from adapters.temporal.codec import CodecKeyError
from adapters.temporal.sealing import Sealer
from activities.projection import PATIENCE

log = structlog.get_logger()


# ---- the writes, in the caller's transaction: the activities' and the register's rebuild (C1) --------------
async def write_households(session: AsyncSession, campaign_id: str, households: list[tuple[int, str]]) -> None:
    """The plan's households (unit id, building), each once."""
    if households:
        stmt = dialect_insert(session)(CampaignHousehold).values(
            [{"campaign_id": campaign_id, "unit_id": u, "building": b} for u, b in households])
        await session.execute(stmt.on_conflict_do_nothing())


async def write_visits(session: AsyncSession, forms: list[VisitForm]) -> None:
    """Each visit's form once per (campaign, visit number)."""
    if forms:
        stmt = dialect_insert(session)(CampaignVisit).values([dict(
            campaign_id=f.campaign_id, visit_no=f.visit_no, unit_id=f.unit_id, by=f.by, at=f.at,
            form=mask_personal(f.form)) for f in forms])  # P3: a number the owner gave in the form is kept masked
        await session.execute(stmt.on_conflict_do_nothing())


async def write_campaign_row(session: AsyncSession, p: CampaignProjection) -> None:
    """The campaign's row; only a higher seq applies (a retried or late projection changes nothing)."""
    s = p.summary
    values = dict(campaign_id=p.campaign_id, project=s["project"], kind=s["kind"], status=s["status"],
                  starts_on=p.starts_on, ends_on=p.ends_on, planned=s["planned"], visited=s["visited"],
                  escalation_level=s["escalation_level"], summary=mask_personal(s), seq=p.seq,
                  updated_at=p.at)  # P3: points raised are free text: numbers in them masked
    stmt = dialect_insert(session)(CampaignRow).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[CampaignRow.campaign_id],
        set_={k: stmt.excluded[k] for k in values if k != "campaign_id"},
        where=CampaignRow.seq < stmt.excluded.seq)
    await session.execute(stmt)


class CampaignActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], minimum_share: Decimal = ANNUAL_DEFAULT_SHARE,
                 settings: Settings | None = None) -> None:
        self.sessionmaker = sessionmaker
        self.annual_share = max(ANNUAL_DEFAULT_SHARE, minimum_share)  # V2: the share proposed (a setting)
        self.settings = settings   # the worker's: the owners' survey SMS (V3, O5); none in tests of the plan alone

    async def _survey_sms(self, r: PlanRequest, unit_ids: list[int]) -> None:
        """V3, O1, O5: each planned household's owner gets the survey with a link for it, queued once per household
        (a retry queues nothing twice). Without the codec's keys (no number can be sealed) none, and said so."""
        if self.settings is None or not unit_ids:
            return
        try:
            sealer = Sealer.from_settings(self.settings)
        except CodecKeyError as e:
            log.error("campaign survey SMS not queued: no codec keys to seal the numbers", error=str(e)[:200])
            return
        await retry_contention(lambda: enqueue_campaign_surveys(
            self.sessionmaker, self.settings, sealer.seal, sealer.unseal, campaign_id=r.campaign_id, project=r.project,
            unit_ids=unit_ids), within=PATIENCE, logger=log, what="campaign survey sms")

    @activity.defn(name="plan_campaign")
    async def plan_campaign(self, r: PlanRequest) -> Plan:
        """V1: every occupied household; V2: a sample of the sold ones, drawn with the kept seed (a retry
        draws the same). Writes the plan's households once."""
        async with self.sessionmaker() as session:
            units = (await session.execute(
                select(PropertyUnit.id, PropertyUnit.building_key, PropertyUnit.sold, PropertyUnit.occupied)
                .where(PropertyUnit.project_key == normalize_text(r.project)))).all()
            occupied = [(u.id, u.building_key) for u in units if u.occupied]
            seed = None
            if r.kind == CampaignKind.first:
                chosen = sorted(u for u, _ in occupied)
            else:
                seed = r.seed if r.seed is not None else random.SystemRandom().randrange(2**31)
                share = required_share(r.kind, r.share, r.minimum_share)
                chosen = draw_sample([(u.id, u.building_key) for u in units if u.sold], share, seed)
            building = {u.id: u.building_key for u in units}
            if chosen:
                await write_households(session, r.campaign_id, [(u, building[u]) for u in chosen])
                await session.commit()
        await self._survey_sms(r, chosen)
        return Plan(unit_ids=chosen, seed=seed, occupied=len(occupied), units=len(units),
                    buildings=[building[u] for u in chosen])

    @activity.defn(name="record_campaign_visit")
    async def record_campaign_visit(self, f: VisitForm) -> None:
        async with self.sessionmaker() as session:
            await write_visits(session, [f])
            await session.commit()

    @activity.defn(name="project_campaign")
    async def project_campaign(self, p: CampaignProjection) -> None:
        async with self.sessionmaker() as session:
            await write_campaign_row(session, p)
            await session.commit()

    @activity.defn(name="propose_campaigns")
    async def propose_campaigns(self, check: ProposalCheck) -> ProposalBatch:
        """V1/V2: the projects that need a campaign now and have neither one nor its proposal are recorded as
        proposed on `check.on`; the answer is every proposal of that day (so a retry answers the same)."""
        year = check.on.year if check.kind == CampaignKind.annual else 0
        async with self.sessionmaker() as session:
            campaigns = select(CampaignRow.project).where(CampaignRow.kind == check.kind.value)
            if check.kind == CampaignKind.annual:
                campaigns = campaigns.where(CampaignRow.starts_on.between(date(year, 1, 1), date(year, 12, 31)))
            proposed = select(CampaignProposal.project_key).where(CampaignProposal.kind == check.kind.value,
                                                                  CampaignProposal.year == year)
            done = {normalize_text(p) for p in await session.scalars(campaigns)} | set(await session.scalars(proposed))
            due = proposals_due(check.kind, await register.occupancy(session), year=check.on.year, done=done,
                                share=self.annual_share)
            if due:
                stmt = dialect_insert(session)(CampaignProposal).values([
                    dict(project_key=normalize_text(p.project), kind=p.kind.value, year=year, project=p.project,
                         proposed_on=check.on, facts=p.model_dump(mode="json")) for p in due])
                await session.execute(stmt.on_conflict_do_nothing())
                await session.commit()
            rows = await session.scalars(select(CampaignProposal).where(
                CampaignProposal.kind == check.kind.value, CampaignProposal.year == year,
                CampaignProposal.proposed_on == check.on).order_by(CampaignProposal.project_key))
            return ProposalBatch(share=self.annual_share, proposals=[Proposal.model_validate(r.facts) for r in rows])

    def all(self) -> list:
        return [self.plan_campaign, self.record_campaign_visit, self.project_campaign, self.propose_campaigns]
