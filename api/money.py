"""Money and people: contractors and their quality deposits (A3), worker scores per quarter (R9)."""

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from aftersales.actor import Actor
from aftersales.db import ledger
from aftersales.roles import Role
from api.auth import require_roles
from api.deps import db_session

router = APIRouter(tags=["money and reports"])

DEPOSIT_READERS = (Role.finance, Role.auditor, Role.cs_manager, Role.engineering, Role.deputy_chief_engineer,
                   Role.deputy_gm, Role.gm)
REPORT_READERS = (Role.cs_manager, Role.repair_lead, Role.deputy_chief_engineer, Role.deputy_gm, Role.gm)
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
                         actor: Annotated[Actor, Depends(require_roles(Role.finance))],
                         session=Depends(db_session)) -> dict[str, Any]:
    await ledger.put_contractor(session, _check_id(contractor_id), body.name.strip(), body.deposit)
    return await ledger.deposit_statement(session, contractor_id)


@router.get("/contractors/{contractor_id}/deposit", response_model=DepositStatement,
            summary="A contractor's quality deposit: balance and entries (A3)")
async def contractor_deposit(contractor_id: str, actor: Annotated[Actor, Depends(require_roles(*DEPOSIT_READERS))],
                             session=Depends(db_session)) -> dict[str, Any]:
    statement = await ledger.deposit_statement(session, _check_id(contractor_id))
    if statement is None:
        raise HTTPException(404, f"no contractor {contractor_id!r}")
    return statement


@router.get("/reports/workers", summary="Each worker's quality and attitude scores in a quarter (R9)")
async def worker_scores(quarter: Annotated[str, Query(pattern=r"^\d{4}Q[1-4]$", examples=["2026Q4"])],
                        actor: Annotated[Actor, Depends(require_roles(*REPORT_READERS))],
                        session=Depends(db_session)) -> dict[str, Any]:
    return {"quarter": quarter, "workers": await ledger.worker_report(session, quarter)}
