"""The register (来电、来访登记表) as a query: GET /cases and the workbench read it through `read_register`.

- Every filter is an equality (or a range on the sort key) that a composite index of `cases` serves,
  each index ending in the sort key `(received_at DESC, case_no DESC)`, so a page is an index walk
  that stops after `page_size` rows, never a sort of the matches (indexes in aftersales/db/models.py).
- Paging is by keyset: the `next` cursor is the sort key of a page's last row (opaque: base64url of
  JSON), and the next page is the rows strictly after it. Page numbers are kept for the first
  `MAX_PAGE` pages only (an OFFSET walk of at most a few thousand index entries).
- The total is counted exactly up to `COUNT_CAP` matches; beyond that the count stops and the page
  says `total_is_estimate` (the total is then a lower bound: "10,000+").
- One function builds the WHERE clause (`conditions`); a caller's own predicates (P2: the cases a
  user may see) are passed as `where=` and apply before the total, the paging and the cursor alike.
"""

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import ColumnElement, Select, and_, func, literal, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from aftersales.actor import Actor
from aftersales.case import TimelineItem
from adapters.db.models import Case, TimelineEntry
from aftersales.roles import Role

COUNT_CAP = 10_000
MAX_PAGE = 10
LIST_COLUMNS = ("case_no", "case_type", "status", "channel", "category", "project", "building", "unit",
                "department", "handler", "major", "justified", "escalation_level", "overdue", "customer_name",
                "customer_phone_masked", "received_at", "closed_at", "outcome", "satisfaction", "linked_case_no",
                "next_roles", "next_user", "satisfaction_by", "sign_off_by")
SORT = (Case.received_at.desc(), Case.case_no.desc())
CASE_NO_MAX = 32


class BadCursor(ValueError):
    """A `cursor` that this API did not hand out (or that was cut short)."""


class RegisterQuery(BaseModel):
    """The register's filters; None means "any". Times are instants (ISO with an offset)."""

    model_config = ConfigDict(frozen=True)
    type: str | None = None
    status: str | None = None
    department: str | None = None
    project: str | None = None
    overdue: bool | None = None
    escalation_level: int | None = Field(default=None, ge=0)
    received_from: AwareDatetime | None = None  # inclusive
    received_to: AwareDatetime | None = None    # exclusive
    handler: str | None = None
    unit: str | None = None
    case_no: str | None = Field(default=None, max_length=CASE_NO_MAX)  # a case number or its beginning
    next_role: str | None = None   # cases whose next step is this role's
    next_user: str | None = None   # ... or this named person's
    phone_hmac: str | None = None  # the keyed hash of the owner's phone (privacy.phone_lookup_hash)

    @model_validator(mode="after")
    def _range(self) -> "RegisterQuery":
        if self.received_from and self.received_to and self.received_from >= self.received_to:
            raise ValueError("received_from must be before received_to")
        return self


def utc(at: datetime) -> datetime:
    """Times as the read model stores them: UTC (SQLite keeps no offset; a naive value read back is UTC)."""
    return at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at.astimezone(timezone.utc)


def conditions(q: RegisterQuery) -> list[ColumnElement[bool]]:
    """The WHERE clause of the filters (each one served by an index ending in the sort key)."""
    where: list[ColumnElement[bool]] = []
    for column, value in ((Case.case_type, q.type), (Case.status, q.status), (Case.department, q.department),
                          (Case.project, q.project), (Case.overdue, q.overdue),
                          (Case.escalation_level, q.escalation_level), (Case.handler, q.handler),
                          (Case.unit, q.unit)):
        if value is not None:
            where.append(column == value)
    if q.received_from is not None:
        where.append(Case.received_at >= utc(q.received_from))
    if q.received_to is not None:
        where.append(Case.received_at < utc(q.received_to))
    if q.next_role is not None:
        where.append(Case.next_roles.contains(f"|{q.next_role}|"))
    if q.next_user is not None:
        where.append(Case.next_user == q.next_user)
    if q.phone_hmac is not None:
        where.append(Case.customer_phone_hmac == q.phone_hmac)
    if q.case_no:  # a prefix as a range on the primary key (LIKE would not use the index in SQLite)
        where.append(Case.case_no >= q.case_no)
        where.append(Case.case_no < q.case_no + "\U0010ffff")
    return where


def waiting_for_clause(actor: Actor) -> ColumnElement[bool]:
    """我的待办: the cases whose next step is this user's: named as the person to act, or
    the role's, narrowed to the user's department (dept_head, dept_handler) or contractor."""
    mine = Case.next_roles.contains(f"|{actor.role.value}|")
    if actor.role in (Role.dept_head, Role.dept_handler):
        mine = and_(mine, Case.department == actor.department)
        if actor.role == Role.dept_handler:
            mine = and_(mine, or_(Case.next_user.is_(None), Case.next_user == actor.username))
    elif actor.role == Role.contractor:
        mine = and_(mine, Case.contractor_id == actor.contractor_id)
    # Only an open case has someone to act next (next_roles is "" once closed, and a named person always comes
    # with a role): said in so many words, so that the planner takes the partial index of the open cases
    # (ix_cases_waiting) instead of the whole register's, where 我的待办 was a walk through every closed case.
    return and_(Case.next_roles != "", or_(Case.next_user == actor.username, mine))


def encode_cursor(received_at: datetime, case_no: str) -> str:
    raw = json.dumps([utc(received_at).isoformat(), case_no], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, case_no = json.loads(raw)
        received_at = datetime.fromisoformat(at)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise BadCursor("cursor: not a cursor of this register (use the `next` of the previous page)") from None
    if received_at.tzinfo is None or not isinstance(case_no, str) or not 0 < len(case_no) <= CASE_NO_MAX:
        raise BadCursor("cursor: not a cursor of this register (use the `next` of the previous page)")
    return utc(received_at), case_no


def register_select(q: RegisterQuery, *, where: Sequence[ColumnElement[bool]] = (), page_size: int,
                    after: tuple[datetime, str] | None = None, offset: int = 0) -> Select:
    """One page (and the first row of the next): the list's columns only (never the `view` blob), newest
    first, after a cursor."""
    stmt = select(*(getattr(Case, c) for c in LIST_COLUMNS)).where(*conditions(q), *where)
    if after is not None:  # a row value: one index range on (…, received_at, case_no)
        stmt = stmt.where(tuple_(Case.received_at, Case.case_no) < tuple_(literal(after[0], Case.received_at.type),
                                                                           literal(after[1], Case.case_no.type)))
    return stmt.order_by(*SORT).offset(offset or None).limit(page_size + 1)  # one more: is there a next page?


def count_select(q: RegisterQuery, *, where: Sequence[ColumnElement[bool]] = (), cap: int = COUNT_CAP,
                 ordered: bool = True) -> Select:
    """The number of matches, counted up to cap + 1 (an index walk of at most that many entries)."""
    # PostgreSQL: in the sort order, so that the planner walks the filter's index (index-only), as for the page,
    # instead of a sequential scan that it would think cheap under a LIMIT. SQLite (`ordered=False`): in no
    # order, so that its planner takes the index that narrows most — a company's projects (P5) or a filter with
    # a department are a few index ranges to count, where the sort order made it walk the sort key's index
    # through every case of the group (9 ms against 1 ms at 200,000 cases; 62 ms against 1.5 ms with two filters).
    matches = select(literal(1)).select_from(Case).where(*conditions(q), *where)
    if ordered:
        matches = matches.order_by(*SORT)
    return select(func.count()).select_from(matches.limit(cap + 1).subquery())


@dataclass
class RegisterPage:
    items: list[dict[str, Any]]
    total: int
    total_is_estimate: bool
    next: str | None


async def read_register(session: AsyncSession, q: RegisterQuery, *, where: Sequence[ColumnElement[bool]] = (),
                        page_size: int, cursor: str | None = None, page: int = 1,
                        cap: int = COUNT_CAP) -> RegisterPage:
    """A page of the register. `where`: the caller's own predicates (e.g. P2 visibility), applied
    before the total and the paging. Raises BadCursor for a cursor this register did not hand out."""
    after = decode_cursor(cursor) if cursor is not None else None
    offset = 0 if after is not None else (page - 1) * page_size
    ordered = session.bind.dialect.name != "sqlite"
    counted = await session.scalar(count_select(q, where=where, cap=cap, ordered=ordered)) or 0
    rows = (await session.execute(register_select(q, where=where, page_size=page_size, after=after,
                                                  offset=offset))).mappings().all()
    items = [dict(r) for r in rows[:page_size]]
    for item in items:
        for key in ("received_at", "closed_at"):
            if item[key] is not None:
                item[key] = utc(item[key])
    return RegisterPage(
        items=items, total=min(counted, cap), total_is_estimate=counted > cap,
        next=encode_cursor(items[-1]["received_at"], items[-1]["case_no"]) if len(rows) > page_size else None)


async def register_case_view(session: AsyncSession, row: Case) -> dict[str, Any]:
    """GET /cases/{no} for a case Temporal no longer keeps: the view stored when it closed (or, for a
    case whose workflow is gone while open, its register columns) with the timeline from case_timeline."""
    if row.view:
        view = dict(row.view)
    else:
        view = {c: getattr(row, c) for c in LIST_COLUMNS}
        view.update(type=row.case_type, version=row.seq, survey={"contractor_id": row.contractor_id},
                    customer={"name": row.customer_name, "phone": row.customer_phone_masked, "project": row.project,
                              "building": row.building, "unit": row.unit})
        view = {k: utc(v).isoformat() if isinstance(v, datetime) else v for k, v in view.items()}
    entries = (await session.scalars(select(TimelineEntry).where(TimelineEntry.case_no == row.case_no)
                                     .order_by(TimelineEntry.idx))).all()
    view.update(company_id=row.company_id, project_key=row.project_key)  # P5: as the register holds them now
    view["timeline"] = [TimelineItem(at=utc(t.at), kind=t.kind, text=t.text, actor=t.actor, role=t.role)
                        .model_dump(mode="json") for t in entries]
    return {**view, "source": "register"}
