"""The property register in the read model: an all-or-nothing import that updates what is there,
occupancy per project (V1: a first revisit campaign once a project is 50% occupied), and the match of
a case's free-text address to a registered unit (C11 counts by the registered building)."""

import asyncio
from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import bindparam, case, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from aftersales.case import Customer
from adapters.db.models import Project, PropertyImport, PropertyUnit
from aftersales.privacy import mask_phone
from aftersales.properties import UnitRecord, normalize_building, normalize_text, unit_key


_SLICE = 1_000  # rows a bulk statement writes before the event loop has its turn again


def _rows(records: list[UnitRecord], existing: dict[tuple[str, str, str], int], now: datetime, by: str,
          seal: Callable[[str], str], phone_hash: Callable[[str], str] | None) -> tuple[list[dict], list[dict]]:
    """The columns of each record's row (P3/P4: the phone masked, sealed, hashed), new rows apart from the ones
    already registered (by id); a unit named twice in the file is written once, as its last row says."""
    new: dict[tuple[str, str, str], dict] = {}
    changed: dict[int, dict] = {}
    for record in records:
        phone = record.owner_phone
        values = dict(project=record.project, building=record.building, unit=record.unit, sold=record.sold,
                      occupied=record.occupied, handover_date=record.handover_date, owner_name=record.owner_name,
                      owner_phone_masked=mask_phone(phone) if phone else None,
                      owner_phone_sealed=seal(phone) if phone else None,
                      owner_phone_hmac=phone_hash(phone) if phone and phone_hash else None,
                      updated_at=now, updated_by=by)
        if (row_id := existing.get(record.key)) is not None:
            changed[row_id] = {"id": row_id, **values}
        else:
            project_key, building_key, unit_key_ = record.key
            new[record.key] = {"project_key": project_key, "building_key": building_key, "unit_key": unit_key_,
                               **values}
    return list(new.values()), list(changed.values())


class ImportResult(BaseModel):
    import_id: int
    created: int
    updated: int
    units: int


class Occupancy(BaseModel):
    project: str
    units: int
    sold: int
    occupied: int

    @property
    def occupied_share(self) -> float:
        return self.occupied / self.units if self.units else 0.0


async def import_units(session: AsyncSession, records: list[UnitRecord], *, by: str, filename: str,
                       now: datetime, seal: Callable[[str], str],
                       phone_hash: Callable[[str], str] | None = None, company_id: str | None = None) -> ImportResult:
    """Writes the checked records in one transaction: a unit already registered (same project,
    building and unit once normalised) is updated, a new one created. Commits. `phone_hash` (the keyed hash,
    privacy.phone_lookup_hash) lets the owner sign in by the registered phone (O1). `company_id` (P5): the company
    the records' projects new to the organisation are registered to (the API registers them itself beforehand:
    adapters.db.org.register_import_projects)."""
    if company_id is not None:
        from adapters.db import org
        for name in {r.project: None for r in records}:
            if await session.get(Project, normalize_text(name)) is None:
                await org.put_project(session, name, company_id, commit=False)
    # The largest register an import takes (50,000 units, each phone masked, sealed and hashed) kept the event
    # loop for 17 s as ORM objects: every request of the API waited. The rows' values are worked out in a thread
    # and written as bulk statements in slices, each awaited, in the one transaction (all or nothing).
    existing: dict[tuple[str, str, str], int] = {}
    for project_key in {r.key[0] for r in records}:
        found = await session.execute(select(PropertyUnit.id, PropertyUnit.project_key, PropertyUnit.building_key,
                                             PropertyUnit.unit_key).where(PropertyUnit.project_key == project_key))
        existing.update({(p, b, u): i for i, p, b, u in found})
    new_rows, changed_rows = await asyncio.to_thread(_rows, records, existing, now, by, seal, phone_hash)
    for start in range(0, len(new_rows), _SLICE):
        await session.execute(insert(PropertyUnit), new_rows[start:start + _SLICE])
    for start in range(0, len(changed_rows), _SLICE):
        await session.execute(update(PropertyUnit), changed_rows[start:start + _SLICE])
    created, updated = len(new_rows), len(changed_rows)
    log = PropertyImport(filename=filename[:256], by=by, at=now, created=created, updated=updated)
    session.add(log)
    await session.commit()
    return ImportResult(import_id=log.id, created=created, updated=updated, units=len(records))


def units_in_scope(company_id: str | None, project: str | None):
    """P5: the register's units within a scope (the group: all; a company: its projects'; a project: its own)."""
    if project:
        return PropertyUnit.project_key == project
    if company_id:
        return PropertyUnit.project_key.in_(select(Project.key).where(Project.company_id == company_id))
    return None


async def occupancy(session: AsyncSession, project: str | None = None, *, scope: tuple[str | None, str | None] = (None, None)
                    ) -> list[Occupancy]:
    """Units, sold and occupied per project (all projects, or the one named), within a scope (P5)."""
    stmt = (select(func.min(PropertyUnit.project), func.count(),
                   func.sum(case((PropertyUnit.sold, 1), else_=0)),
                   func.sum(case((PropertyUnit.occupied, 1), else_=0)))
            .group_by(PropertyUnit.project_key).order_by(PropertyUnit.project_key))
    if project is not None:
        stmt = stmt.where(PropertyUnit.project_key == normalize_text(project))
    if (within := units_in_scope(*scope)) is not None:
        stmt = stmt.where(within)
    return [Occupancy(project=p, units=n, sold=s or 0, occupied=o or 0) for p, n, s, o in await session.execute(stmt)]


async def list_units(session: AsyncSession, project: str, building: str | None = None) -> list[PropertyUnit]:
    stmt = select(PropertyUnit).where(PropertyUnit.project_key == normalize_text(project))
    if building is not None:
        stmt = stmt.where(PropertyUnit.building_key == normalize_building(building))
    return list(await session.scalars(stmt.order_by(PropertyUnit.building_key, PropertyUnit.unit_key)))


async def get_unit(session: AsyncSession, unit_id: int) -> PropertyUnit | None:
    return await session.get(PropertyUnit, unit_id)


_AT_ADDRESS = (PropertyUnit.project_key == bindparam("p"), PropertyUnit.building_key == bindparam("b"),
               PropertyUnit.unit_key == bindparam("u"))
_UNIT_AT = select(PropertyUnit).where(*_AT_ADDRESS)
# an intake's match: the columns it takes, by a statement built once (building the statement
# and an entity cost more than the query)
_NAMES = select(PropertyUnit.id, PropertyUnit.project, PropertyUnit.building, PropertyUnit.unit)
_NAMES_AT, _NAMES_OF = _NAMES.where(*_AT_ADDRESS), _NAMES.where(PropertyUnit.id == bindparam("id"))


async def match_unit(session: AsyncSession, project: str, building: str, unit: str) -> PropertyUnit | None:
    """The registered unit a case's written address names ("5号楼" finds the unit of "5栋"), or None."""
    p, b, u = unit_key(project, building, unit)
    return await session.scalar(_UNIT_AT, {"p": p, "b": b, "u": u})


class UnknownUnit(LookupError):
    pass


async def resolve_address(session: AsyncSession, customer: Customer) -> Customer:
    """A case's address against the register: `unit_id` given must be a registered unit (UnknownUnit
    otherwise) and its registered project, building and unit replace the text; a written address that
    names a registered unit gets its id and names the same way; anything else stays free text (unmatched)."""
    if customer.unit_id is not None:
        unit = (await session.execute(_NAMES_OF, {"id": customer.unit_id})).first()
        if unit is None:
            raise UnknownUnit(f"customer.unit_id: no unit {customer.unit_id} in the property register")
    else:
        p, b, u = unit_key(customer.project, customer.building, customer.unit)
        unit = (await session.execute(_NAMES_AT, {"p": p, "b": b, "u": u})).first()
        if unit is None:
            return customer
    return customer.model_copy(update={"unit_id": unit.id, "project": unit.project, "building": unit.building,
                                       "unit": unit.unit})
