"""Activities every case uses: its configuration (calendar snapshot and ladder), the read-model
projection, and the C11 count of recent complaints."""


import structlog
from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from aftersales.case import CaseConfig
from adapters.config import Settings
from adapters.db import calendar_store
from activities.projection import PATIENCE, ProjectionWriter
from adapters.db.session import retry_contention
from adapters.db.models import Case
from aftersales.owners import SMS_FOR_ENTRY
from aftersales.privacy import phone_lookup_hash
from adapters.sms.queue import enqueue_case_sms
from adapters.temporal.codec import CodecKeyError
from adapters.temporal.sealing import Sealer
from aftersales.properties import normalize_building
from adapters.temporal import actor_assertion
from contracts.case import CaseProjection, ConfigRequest, RecentComplaints, StartCheck

log = structlog.get_logger()

# C11: complaints on one building since a time; built once (every complaint's opening counts)
RECENT_COMPLAINTS = select(func.count()).select_from(Case).where(
    Case.case_type == "complaint", Case.project == bindparam("project"),
    Case.building_key == bindparam("building_key"), Case.received_at >= bindparam("since"))


class CaseActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.writer = ProjectionWriter(sessionmaker)
        self._sealer_instance: Sealer | None = None

    def _sealer(self) -> Sealer | None:
        """The codec's keys seal the owner's number in the SMS outbox. A worker always has them (it decodes its
        cases with them); activities run without them (tests of the projection alone) queue no SMS, and say so."""
        if self._sealer_instance is None:
            try:
                self._sealer_instance = Sealer.from_settings(self.settings)
            except CodecKeyError as e:
                log.error("owner SMS not queued: no codec keys to seal the number", error=str(e)[:200])
                return None
        return self._sealer_instance

    @activity.defn(name="load_case_config")
    async def load_case_config(self, request: ConfigRequest) -> CaseConfig:
        async with self.sessionmaker() as session:
            return await calendar_store.case_config(session, self.settings, request.years)

    @activity.defn(name="project_case")
    async def project_case(self, p: CaseProjection) -> int | None:
        """Idempotent: the row only moves forward (seq), timeline entries are keyed (case_no, idx).
        Committed together with the projections of other cases that arrive meanwhile (one writer per
        process: activities/projection.py). Accepts the projections of older workflow code too (a
        row with a view while open: kept until the closing one replaces it)."""
        phone = p.row.customer_phone
        if phone:  # only the keyed hash of the owner's phone reaches the read model
            row = p.row.model_copy(update={"customer_phone": None, "customer_phone_hmac": phone_lookup_hash(
                p.row.customer_phone, self.settings.phone_lookup_key)})
            p = p.model_copy(update={"row": row})
        await self.writer.write(p)
        log.debug("case projected", seq=p.seq, status=p.row.status, start=p.timeline_start, n=len(p.timeline))
        if any(t.kind in SMS_FOR_ENTRY for t in p.timeline) and (sealer := self._sealer()) is not None:
            # O5: the owner's SMS for the entries just written (queued once per entry: a retry queues nothing twice)
            # idempotent per entry: tried again whole when the database is busy (the projection is written already)
            await retry_contention(lambda: enqueue_case_sms(
                self.sessionmaker, self.settings, sealer.seal, case_no=p.case_no, case_type=p.row.case_type,
                phone=phone, entries=[(p.timeline_start + i, t.kind, t.text) for i, t in enumerate(p.timeline)]),
                within=PATIENCE, logger=log, what="owner sms")
        if p.count_recent is not None:  # C11, counted with this case's row committed
            return await self.count_recent_complaints(p.count_recent)
        return None

    @activity.defn(name="count_recent_complaints")
    async def count_recent_complaints(self, q: RecentComplaints) -> int:
        async with self.sessionmaker() as session:
            return await session.scalar(RECENT_COMPLAINTS, {
                "project": q.project, "building_key": normalize_building(q.building), "since": q.since}) or 0

    @activity.defn(name="verify_start")
    async def verify_start(self, c: StartCheck) -> bool:
        """P4: whether a case's start carries the API's (or its parent's) assertion, by the key this worker holds.
        A local activity, so that its verdict is in the case's history: a replay reaches the same one without
        the key (a key rotated out since, the replay tests)."""
        return actor_assertion.message_vouched(c.message, c.assertion)

    def all(self) -> list:
        return [self.load_case_config, self.project_case, self.count_recent_complaints, self.verify_start]


