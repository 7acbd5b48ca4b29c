"""Money and people: contractors and their quality deposits (A3), worker scores per quarter (R9)."""

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from sqlalchemy import select

from aftersales import access
from aftersales.actor import Actor
from aftersales.db import ledger
from aftersales.db.models import Case
from api.auth import require_roles
from api.deps import db_session

router = APIRouter(tags=["money and reports"])

DEPOSIT_READERS = access.ENDPOINTS["read_deposit"]
REPORT_READERS = access.ENDPOINTS["read_worker_report"]
CONTRACTOR_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class DepositEntryOut(BaseModel):
    at: datetime
    case_no: str | None
    amount: Decimal = Field(description="yuan; a deduction is negative")
    note: str


class DepositStatement(BaseModel):
    """Amounts are JSON strings with two decimals (yuan), never floats."""
    contractor_id: str
    name: str
    initial_deposit: Decimal
    balance: Decimal
    entries: list[DepositEntryOut]


class ContractorBody(BaseModel):
    name: str = Field(min_length=1, max_length=128, pattern=r"\S")
    deposit: Decimal = Field(ge=0, max_digits=14, decimal_places=2, description="the quality deposit held, yuan")


def _check_id(contractor_id: str) -> str:
    if not CONTRACTOR_ID.match(contractor_id):
        raise HTTPException(422, "contractor id: letters, digits, '.', '_' or '-', at most 64")
    return contractor_id


@router.put("/admin/contractors/{contractor_id}", response_model=DepositStatement,
            summary="Register a contractor and the quality deposit it lodged")
async def put_contractor(contractor_id: str, body: ContractorBody,
                         actor: Annotated[Actor, Depends(require_roles(*access.ENDPOINTS["register_contractor"]))],
                         session=Depends(db_session)) -> dict[str, Any]:
    await ledger.put_contractor(session, _check_id(contractor_id), body.name.strip(), body.deposit)
    return await ledger.deposit_statement(session, contractor_id)


@router.get("/contractors/{contractor_id}/deposit", response_model=DepositStatement,
            summary="A contractor's quality deposit: balance and entries (A3)")
async def contractor_deposit(contractor_id: str, actor: Annotated[Actor, Depends(require_roles(*DEPOSIT_READERS))],
                             session=Depends(db_session)) -> dict[str, Any]:
    statement = await ledger.deposit_statement(session, _check_id(contractor_id))
    if statement is None or not access.may_read_deposit(actor, contractor_id):  # a contractor: its own only
        raise HTTPException(404, f"no contractor {contractor_id!r}")
    return await _only_visible_case_numbers(session, actor, statement)


async def _only_visible_case_numbers(session, actor: Actor, statement: dict[str, Any]) -> dict[str, Any]:
    """P2: an entry of a case the reader may not see keeps its amount but not the case's number."""
    numbers = {e["case_no"] for e in statement["entries"] if e["case_no"]}
    if not numbers:
        return statement
    visible = set(await session.scalars(select(Case.case_no).where(
        Case.case_no.in_(numbers), access.visible_cases_clause(actor))))
    statement["entries"] = [{**e, "case_no": e["case_no"] if e["case_no"] in visible else None}
                            for e in statement["entries"]]
    return statement


@router.get("/reports/workers", summary="Each worker's quality and attitude scores in a quarter (R9)")
async def worker_scores(quarter: Annotated[str, Query(pattern=r"^\d{4}Q[1-4]$", examples=["2026Q4"])],
                        actor: Annotated[Actor, Depends(require_roles(*REPORT_READERS))],
                        session=Depends(db_session)) -> dict[str, Any]:
    return {"quarter": quarter, "workers": await ledger.worker_report(session, quarter)}
