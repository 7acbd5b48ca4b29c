"""The property register in the read model: an all-or-nothing import that updates what is there,
occupancy per project (V1: a first revisit campaign once a project is 50% occupied), and the match of
a case's free-text address to a registered unit (C11 counts by the registered building)."""

from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import bindparam, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from aftersales.case import Customer
from adapters.db.models import Project, PropertyImport, PropertyUnit
from aftersales.privacy import mask_phone
from aftersales.properties import UnitRecord, normalize_building, normalize_text, unit_key


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
    keys = [r.key for r in records]
    existing: dict[tuple[str, str, str], PropertyUnit] = {}
    for project_key in {k[0] for k in keys}:
        rows = await session.scalars(select(PropertyUnit).where(PropertyUnit.project_key == project_key))
        existing.update({(u.project_key, u.building_key, u.unit_key): u for u in rows})
    created = updated = 0
    for record in records:
        row = existing.get(record.key)
        if row is None:
            project_key, building_key, unit_key_ = record.key
            row = PropertyUnit(project_key=project_key, building_key=building_key, unit_key=unit_key_)
            session.add(row)
            created += 1
        else:
            updated += 1
        row.project, row.building, row.unit = record.project, record.building, record.unit
        row.sold, row.occupied, row.handover_date = record.sold, record.occupied, record.handover_date
        row.owner_name = record.owner_name
        row.owner_phone_masked = mask_phone(record.owner_phone) if record.owner_phone else None
        row.owner_phone_sealed = seal(record.owner_phone) if record.owner_phone else None
        row.owner_phone_hmac = phone_hash(record.owner_phone) if record.owner_phone and phone_hash else None
        row.updated_at, row.updated_by = now, by
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
