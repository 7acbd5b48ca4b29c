"""The property register over HTTP: `cs_manager` imports it from XLSX or CSV — all or
nothing, every error listed — and staff read projects' occupancy and their units (owner phone masked)."""

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, Depends, File, HTTPException, Query, Request, UploadFile
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from aftersales import access
from aftersales.actions import SHORT_TEXT_PATTERN
from aftersales.actor import Actor
from aftersales.privacy import phone_lookup_hash
from adapters.db import org
from adapters.db import properties as store
from adapters.spreadsheets import TooLarge, read_and_check
from adapters.temporal.sealing import app_sealer
from api.auth import require_roles
from api.problems import problem_response
from api.deps import db_session
from api.text_guard import checked_file_name

router = APIRouter(tags=["property register"])

MAX_IMPORT_BYTES = 8 * 1024 * 1024
# Who reads the register: the roles that see every case (P2) and the repair side that visits homes.
REGISTER_READERS = access.ENDPOINTS["read_properties"]
IMPORTERS = access.ENDPOINTS["import_properties"]


class UnitOut(BaseModel):
    id: int
    project: str
    building: str
    unit: str
    sold: bool
    occupied: bool
    handover_date: str | None
    owner_name: str | None
    owner_phone_masked: str | None


class ProjectOccupancy(BaseModel):
    project: str
    units: int
    sold: int
    occupied: int
    occupied_percent: float


# The file is read and checked in a process of its own: parsing a workbook is pure Python (openpyxl), and
# on the API's event loop, or a thread holding the GIL, it kept every other request waiting (a 900 KB
# workbook of 650,000 rows: nobody was answered for two minutes). One import at a time; its limits are
# checked while it is read (adapters.spreadsheets.read_table), and it is given READ_SECONDS at most.
READ_SECONDS = 120
_reader: ProcessPoolExecutor | None = None
_locks: dict[int, asyncio.Lock] = {}


def _pool() -> ProcessPoolExecutor:
    global _reader
    if _reader is None:  # spawn: a fork of the running API (its threads, its event loop) is not safe
        _reader = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    return _reader


def _one_at_a_time() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    return _locks.setdefault(id(loop), asyncio.Lock())


async def _read_elsewhere(filename: str, content: bytes):
    global _reader
    async with _one_at_a_time():
        # submitted from a thread: starting the process (spawn) would hold the event loop for a moment
        future = asyncio.wrap_future(await asyncio.to_thread(
            lambda: _pool().submit(read_and_check, filename, content)))
        try:
            return await asyncio.wait_for(future, READ_SECONDS)
        except asyncio.TimeoutError:
            pool, _reader = _reader, None  # the process still reads: stop it, the next import starts afresh
            if pool is not None:
                for process in list(getattr(pool, "_processes", {}).values()):
                    process.kill()
                pool.shutdown(wait=False, cancel_futures=True)
            raise HTTPException(413, f"the file could not be read in {READ_SECONDS} s: split it into smaller "
                                     "files") from None
        except BrokenProcessPool:
            _reader = None
            raise HTTPException(422, "the file could not be read (the reading process stopped)") from None


@router.post("/admin/properties/import", response_model=store.ImportResult,
             summary="Import the property register from .xlsx or .csv (all or nothing; a re-import updates)")
async def import_properties(request: Request, file: Annotated[UploadFile, File()],
                            actor: Annotated[Actor, Depends(require_roles(*IMPORTERS))],
                            session: Annotated[AsyncSession, Depends(db_session)]):
    content = await file.read(MAX_IMPORT_BYTES + 1)
    if len(content) > MAX_IMPORT_BYTES:
        raise HTTPException(413, f"the file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MiB")
    filename = checked_file_name(file.filename, "upload")
    try:
        records, problems = await _read_elsewhere(filename, content)
    except TooLarge as e:
        raise HTTPException(413, str(e)) from None
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    if problems:
        errors = [{"loc": ["file", p.row, p.column], "msg": p.reason, "type": "import", **p.model_dump()}
                  for p in problems]
        return problem_response(422, f"{len(problems)} problem(s) in {filename}: nothing was imported", errors=errors)
    # P5: the register's projects belong to companies (registered with the units, in the same transaction)
    if wrong := await org.register_import_projects(session, records, company_id=actor.company_id,
                                                   project=actor.project):
        await session.rollback()
        errors = [{"loc": ["file", records[i].project, column], "msg": reason, "type": "import", "row": None,
                   "column": column, "reason": reason} for i, column, reason in wrong]
        return problem_response(422, f"{len(wrong)} problem(s) in {filename}: nothing was imported", errors=errors)
    return await store.import_units(session, records, by=actor.username, filename=filename,
                                    now=datetime.now(timezone.utc), seal=app_sealer(request.app.state).seal,
                                    phone_hash=lambda phone: phone_lookup_hash(phone, request.app.state.settings.phone_lookup_key))


@router.get("/properties", response_model=list[ProjectOccupancy], summary="Projects: units, sold, occupied")
async def projects(actor: Annotated[Actor, Depends(require_roles(*REGISTER_READERS))],
                   session: Annotated[AsyncSession, Depends(db_session)],
                   project: Annotated[str | None, Query(max_length=128, pattern=SHORT_TEXT_PATTERN)] = None) -> list[ProjectOccupancy]:
    return [ProjectOccupancy(project=o.project, units=o.units, sold=o.sold, occupied=o.occupied,
                             occupied_percent=round(100 * o.occupied_share, 1))
            for o in await store.occupancy(session, project, scope=(actor.company_id, actor.project))]  # P5


@router.get("/properties/units", response_model=list[UnitOut], summary="The units of a project (owner phone masked)")
async def units(actor: Annotated[Actor, Depends(require_roles(*REGISTER_READERS))],
                session: Annotated[AsyncSession, Depends(db_session)],
                project: Annotated[str, Query(min_length=1, max_length=128, pattern=SHORT_TEXT_PATTERN)],
                building: Annotated[str | None, Query(max_length=64, pattern=SHORT_TEXT_PATTERN)] = None) -> list[UnitOut]:
    if not await store.occupancy(session, project, scope=(actor.company_id, actor.project)):  # P5: not theirs: 404
        raise HTTPException(404, f"no project {project!r} in the property register")
    rows = await store.list_units(session, project, building)
    if not rows and not await store.occupancy(session, project):
        raise HTTPException(404, f"no project {project!r} in the property register")
    return [UnitOut(id=u.id, project=u.project, building=u.building, unit=u.unit, sold=u.sold, occupied=u.occupied,
                    handover_date=u.handover_date.isoformat() if u.handover_date else None,
                    owner_name=u.owner_name, owner_phone_masked=u.owner_phone_masked) for u in rows]
