"""Activities every case uses: its configuration (calendar snapshot and ladder), the read-model
projection, and the C11 count of recent complaints."""


import structlog
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from aftersales.case import CaseConfig
from aftersales.config import Settings
from aftersales.db import calendar_store
from aftersales.db.models import Case, TimelineEntry
from aftersales.privacy import mask_phone_numbers_in
from workflows.messages import CaseProjection, ConfigRequest, RecentComplaints

log = structlog.get_logger()


def _insert(session: AsyncSession):
    return postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert


class CaseActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings

    @activity.defn(name="load_case_config")
    async def load_case_config(self, request: ConfigRequest) -> CaseConfig:
        s = self.settings
        async with self.sessionmaker() as session:
            snapshot = await calendar_store.load_snapshot(
                session, request.years, timezone=s.timezone, day_start=s.work_day_start,
                day_end=s.work_day_end, demo_seconds_per_working_day=s.demo_seconds_per_working_day)
        return CaseConfig(calendar=snapshot, covered_years=request.years, ladder=s.escalation_ladder,
                          early_warning_threshold=s.early_warning_threshold,
                          early_warning_window_days=s.early_warning_window_days,
                          notification_give_up_hours=s.notification_give_up_hours)

    @activity.defn(name="project_case")
    async def project_case(self, p: CaseProjection) -> None:
        """Idempotent: the row only moves forward (seq), timeline entries are keyed (case_no, idx)."""
        async with self.sessionmaker() as session, session.begin():
            insert = _insert(session)
            row = p.row.model_dump()
            stmt = insert(Case).values(**row)
            stmt = stmt.on_conflict_do_update(
                index_elements=[Case.case_no],
                set_={k: stmt.excluded[k] for k in row if k != "case_no"},
                where=Case.seq < stmt.excluded.seq,
            )
            await session.execute(stmt)
            if p.timeline:
                items = [
                    {"case_no": p.case_no, "idx": p.timeline_start + i, "at": t.at, "kind": t.kind,
                     "actor": t.actor, "role": t.role.value if t.role else None,
                     "text": mask_phone_numbers_in(t.text)}  # P3: no phone number in the read model
                    for i, t in enumerate(p.timeline)
                ]
                await session.execute(insert(TimelineEntry).values(items).on_conflict_do_nothing())
        log.info("case projected", seq=p.seq, status=p.row.status, start=p.timeline_start, n=len(p.timeline))

    @activity.defn(name="count_recent_complaints")
    async def count_recent_complaints(self, q: RecentComplaints) -> int:
        async with self.sessionmaker() as session:
            return await session.scalar(
                select(func.count()).select_from(Case).where(
                    Case.case_type == "complaint", Case.project == q.project,
                    Case.building == q.building, Case.received_at >= q.since)) or 0

    def all(self) -> list:
        return [self.load_case_config, self.project_case, self.count_recent_complaints]


