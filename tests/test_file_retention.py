"""D4: a file is kept as long as its case's record and deleted with it (a blob another case references
stays); the orphan sweep removes blobs no case references once their grace has passed; the Schedule runs it."""

from datetime import datetime, timedelta, timezone

import pytest

from activities.projection import write_projections
from adapters.db.models import Case, CaseFile, TimelineEntry
from adapters.files.blobs import BlobCipher, FileStore, LocalBlobStore
from adapters.files.retention import erase_case, sweep_orphans
from aftersales import actions as A
from aftersales.files import FileKind, FileRef, FileStep
from aftersales.roles import Role
from aftersales.views import case_row
from contracts.case import CaseProjection
from tests.rules.driver import LADDER
from tests.rules.test_repair_machine import CASE_NO, Run, pay
from tests.support import codec

R = Role


def ref(n: int, address: str, thumb: str | None = None) -> FileRef:
    return FileRef(id=f"f{n:016x}", sha256=address, kind=FileKind.photo, step=FileStep.after_work, size=10,
                   content_type="image/jpeg", thumb=thumb)


def projection(run: Run) -> CaseProjection:
    s = run.s
    return CaseProjection(case_no=s.case_no, seq=s.seq, row=case_row(s, run.now, LADDER), timeline_start=0,
                          timeline=s.timeline)


@pytest.mark.asyncio
async def test_D4_files_go_with_the_case_record_and_orphans_after_their_grace(sessionmaker, tmp_path):
    from adapters.temporal.codec import keyring
    from adapters.config import Settings
    store = FileStore(LocalBlobStore(tmp_path / "files"), BlobCipher(*keyring(Settings(**codec.CODEC))))
    shared, own, thumb, orphan = [await store.put(data) for data in (b"shared", b"own", b"own-thumb", b"orphan")]

    closed = Run().dispatched()
    closed.do(R.repair_lead, A.AttachFile(action="attach_file", file=ref(1, own, thumb)))
    closed.do(R.repair_lead, A.AttachFile(action="attach_file", file=ref(2, shared)))
    closed.do(R.repair_lead, A.CompleteWork(action="complete_work", note="ok"))
    closed.do(R.cs_staff, A.Inspect(action="inspect", passed=True)).do(R.repair_lead, A.Inspect(action="inspect", passed=True))
    closed.do(R.butler, A.OwnerSignOff(action="owner_sign_off", told_via="phone", quality=5, attitude=5))
    closed.do(R.cs_staff, A.Revisit(action="revisit", told_via="phone", satisfaction=5, quality=5, attitude=5))
    from decimal import Decimal
    closed.do(R.repair_lead, A.CostStatement(action="cost_statement", amount=Decimal("300"), note="决算")).approve_all()
    closed.do(R.finance, pay("300"))
    assert closed.s.closed
    other = Run()
    other.s.case_no = CASE_NO.replace("000001", "000002")
    other.do(R.hotline, A.AttachFile(action="attach_file", file=ref(3, shared).model_copy(update={"step": FileStep.intake})))
    async with sessionmaker() as session, session.begin():
        await write_projections(session, [projection(closed), projection(other)])

    later = datetime.now(timezone.utc) + timedelta(hours=2)
    async with sessionmaker() as session:
        assert await sweep_orphans(session, store, timedelta(hours=3), now=later) == []   # within the grace
        assert await sweep_orphans(session, store, timedelta(hours=1), now=later) == [orphan]
    assert await store.get(orphan) is None and await store.get(own) == b"own"

    async with sessionmaker() as session:
        with pytest.raises(ValueError, match="still open"):
            await erase_case(session, store, other.s.case_no)
        assert await erase_case(session, store, CASE_NO) == 2          # its photo and thumbnail
    async with sessionmaker() as session:
        assert await session.get(Case, CASE_NO) is None
        assert await session.get(CaseFile, (CASE_NO, "f0000000000000001")) is None
        assert await session.get(TimelineEntry, (CASE_NO, 0)) is None
        assert await session.get(CaseFile, (other.s.case_no, "f0000000000000003")) is not None
    assert await store.get(own) is None and await store.get(thumb) is None
    assert await store.get(shared) == b"shared"                         # the other case still holds it


def test_D4_the_orphan_sweep_is_a_schedule():
    from adapters.config import Settings
    from workflows.schedules import all_schedules, files_sweep_schedule_id
    schedule = all_schedules(Settings(**codec.CODEC, files_orphan_sweep_minutes=30))[files_sweep_schedule_id()]
    assert schedule.spec.intervals[0].every == timedelta(minutes=30)
    assert schedule.action.workflow == "FileSweepWorkflow"
