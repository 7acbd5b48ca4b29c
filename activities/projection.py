"""The read model's writes of the projection: the register row and the new timeline
entries of a case, as `project_case` receives them.

- Idempotent and monotonic: the row is an upsert that applies only a higher `seq`; timeline entries
  are keyed (case_no, idx) and inserted once. A retried or late projection changes nothing.
- The statements are built once per dialect and executed with parameters (SQLAlchemy caches their
  compiled form), never rebuilt per call.
- Writes never wait on each other in a process: one `ProjectionWriter` per worker commits the
  projections that arrive while a transaction runs together in the next one (group commit), so
  twenty concurrent actions make a few short transactions instead of twenty competing for SQLite's
  single writer lock (or PostgreSQL connections and commits).
- `view` (the closed case's snapshot for GET /cases/{no} past Temporal's retention) is sent only when
  the case closes; a projection without it keeps the stored one.
"""

import asyncio
from collections.abc import Iterable
from functools import cache
from typing import Any

from sqlalchemy import case, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.db.models import Case, CaseDeadline, CaseFile, TimelineEntry
from adapters.db.register import utc
from adapters.db.session import retry_contention
from aftersales.privacy import mask_phone_numbers_in
from contracts.case import CaseProjection

MAX_BATCH = 64
# seconds a batch waits out a busy database (another process holding SQLite's one writer past the busy timeout)
# before its projections fail; the activity's own timeout cuts it sooner
PATIENCE = 60.0
_TIMES = ("received_at", "closed_at", "updated_at")
# P3: the row's text typed by people (an address, a category, a name): a number written into it is stored
# masked, as the timeline's text and the closed case's view are; the read model holds no phone number.
_TEXT_COLUMNS = ("customer_name", "project", "building", "unit", "category", "department", "outcome")


@cache
def files_statement(dialect: str) -> Any:
    """D3: a file's reference into case_files, once per (case, file): a timeline entry is projected once, but
    a retried projection sends it again."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = CaseFile.__table__
    return insert(table).on_conflict_do_nothing(index_elements=[table.c.case_no, table.c.file_id])


def file_params(p: CaseProjection) -> list[dict[str, Any]]:
    return [{"case_no": p.case_no, "file_id": f.id, "sha256": f.sha256, "thumb": f.thumb, "kind": f.kind.value,
             "step": f.step.value, "size": f.size, "content_type": f.content_type, "for_owner": f.for_owner,
             "shows_person": f.shows_person, "added_by": f.by, "role": f.role.value if f.role else None,
             "added_at": utc(f.at or t.at), "provenance": file_provenance(t)}
            for t in p.timeline if (f := t.file) is not None]


def file_provenance(t: Any) -> str:
    """O4: a file the owner gave (its entry's provenance: the owner, on their own pages) or staff recorded."""
    return "owner" if t.provenance is not None and t.provenance.by == "owner" else "staff"


@cache
def statements(dialect: str) -> tuple[Any, Any, Any]:
    """The row upsert (only a higher seq applies; a missing view keeps the stored one) and the
    timeline insert (each (case_no, idx) once), built once per dialect."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # Core tables, not ORM entities: executed with a list of parameters, an ORM entity takes the ORM's
    # bulk-insert path (a tenth of the worker's Python CPU per action, measured), a table does not.
    cases, entries, facts = Case.__table__, TimelineEntry.__table__, CaseDeadline.__table__
    upsert = insert(cases)
    columns = [c.name for c in cases.columns if c.name != "case_no"]
    updates = {c: upsert.excluded[c] for c in columns}
    updates["view"] = func.coalesce(upsert.excluded.view, cases.c.view)
    # P5: a case of before rules 3 knows no company: it keeps the one its project was given in the register
    # (adapters.db.org.add_project)
    updates["company_id"] = func.coalesce(upsert.excluded.company_id, cases.c.company_id)
    upsert = upsert.on_conflict_do_update(index_elements=[cases.c.case_no], set_=updates,
                                          where=cases.c.seq < upsert.excluded.seq)
    timeline = insert(entries).on_conflict_do_nothing(index_elements=[entries.c.case_no, entries.c.idx])
    deadlines = insert(facts)
    moved = facts.c.due_at != deadlines.excluded.due_at  # a new deadline of the key, or extended (T5, R8)
    deadlines = deadlines.on_conflict_do_update(
        index_elements=[facts.c.case_no, facts.c.key],
        set_={**{c: deadlines.excluded[c] for c in ("rule", "due_at", "met_at", "missed", "waived", "seq", "reminds",
                                                    "owners", "department")},
              # E4 (rules 5): the register's reminders of a deadline start again when its due time moves
              "next_remind_at": case((moved, None), else_=facts.c.next_remind_at),
              "reminders_sent": case((moved, 0), else_=facts.c.reminders_sent)},
        where=facts.c.seq < deadlines.excluded.seq)
    return upsert, timeline, deadlines


def row_params(p: CaseProjection) -> dict[str, Any]:
    row = p.row.columns()
    for key in _TIMES:  # UTC, as the register compares and pages them (SQLite keeps no offset)
        if row[key] is not None:
            row[key] = utc(row[key])
    for key in _TEXT_COLUMNS:
        if isinstance(row[key], str):
            row[key] = mask_phone_numbers_in(row[key])
    return row


def deadline_params(p: CaseProjection) -> list[dict[str, Any]]:
    """One row per deadline key: the latest deadline of the key (a case sets a key again, e.g. the next
    progress note, the work of a second round), as one upsert applies per key and seq."""
    latest = {d.key: d for d in p.row.deadlines}
    return [{"case_no": p.case_no, "key": d.key, "rule": d.rule, "due_at": utc(d.due_at),
             "met_at": utc(d.met_at) if d.met_at else None, "missed": d.missed, "waived": d.waived, "seq": p.seq,
             "reminds": d.reminds, "owners": ",".join(r.value for r in d.owners), "department": d.department}
            for d in latest.values()]


def timeline_params(p: CaseProjection) -> list[dict[str, Any]]:
    return [{"case_no": p.case_no, "idx": p.timeline_start + i, "at": utc(t.at), "kind": t.kind, "actor": t.actor,
             "role": t.role.value if t.role else None,
             "text": mask_phone_numbers_in(t.text),  # P3: no phone number in the read model
             "provenance": t.provenance.model_dump(mode="json") if t.provenance else None}  # O4
            for i, t in enumerate(p.timeline)]


async def write_projections(session: AsyncSession, projections: Iterable[CaseProjection]) -> None:
    """Several projections in the caller's transaction: per case only the highest seq (one upsert per
    row), every timeline entry once; rows in case_no order (no deadlock between two writers)."""
    rows: dict[str, dict[str, Any]] = {}
    deadlines: dict[str, list[dict[str, Any]]] = {}
    entries: dict[tuple[str, int], dict[str, Any]] = {}
    files: dict[tuple[str, str], dict[str, Any]] = {}
    for p in projections:
        if p.case_no not in rows or rows[p.case_no]["seq"] < p.seq:
            rows[p.case_no], deadlines[p.case_no] = row_params(p), deadline_params(p)
        entries.update(((e["case_no"], e["idx"]), e) for e in timeline_params(p))
        files.update(((f["case_no"], f["file_id"]), f) for f in file_params(p))
    upsert, timeline, deadline = statements(session.bind.dialect.name)
    await session.execute(upsert, [rows[k] for k in sorted(rows)])
    if entries:
        await session.execute(timeline, [entries[k] for k in sorted(entries)])
    if facts := [d for k in sorted(deadlines) for d in deadlines[k]]:  # on time per rule
        await session.execute(deadline, facts)
    if files:
        await session.execute(files_statement(session.bind.dialect.name), [files[k] for k in sorted(files)])


class ProjectionWriter:
    """Group commit per process: `write` returns once its projection is committed. The first writer
    in leads: it commits its own projection and every one that arrived meanwhile, batch after batch,
    while the others wait for theirs (no background task: a cancelled leader hands its batch back as
    cancelled, and those activities are retried)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], max_batch: int = MAX_BATCH) -> None:
        self.sessionmaker = sessionmaker
        self.max_batch = max_batch
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: list[tuple[CaseProjection, asyncio.Future]] = []
        self._leading = False
        self.batches = 0  # transactions committed (the benchmark prints projections per transaction)

    async def write(self, p: CaseProjection) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (tests): nothing of the old one carries over
            self._loop, self._pending, self._leading = loop, [], False
        done = loop.create_future()
        self._pending.append((p, done))
        if not self._leading:
            self._leading = True
            try:
                await self._drain()
            finally:
                self._leading = False
        await done

    async def _commit(self, projections: list[CaseProjection]) -> None:
        async def commit() -> None:
            async with self.sessionmaker() as session, session.begin():
                await write_projections(session, projections)
        # a busy database is waited out here, not failed: a projection failing on every retry until the end of
        # a busy hour is an action whose effect the register does not show
        await retry_contention(commit, within=PATIENCE, what="projection")
        self.batches += 1

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:self.max_batch], self._pending[self.max_batch:]
            try:
                await self._commit([p for p, _ in batch])
            except Exception as e:
                if len(batch) == 1:
                    _settle(batch[0][1], e)
                    continue
                for p, done in batch:  # one by one: a projection that cannot be written fails alone
                    try:
                        await self._commit([p])
                    except Exception as one:
                        _settle(done, one)
                    else:
                        _settle(done)
            except BaseException as e:  # the leader was cancelled: nobody waits forever
                for _, done in batch + self._pending:
                    _settle(done, e)
                self._pending = []
                raise
            else:
                for _, done in batch:
                    _settle(done)


def _settle(done: asyncio.Future, error: BaseException | None = None) -> None:
    if done.done():  # the waiting activity was cancelled meanwhile
        return
    if isinstance(error, asyncio.CancelledError):
        done.cancel()
    elif error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
