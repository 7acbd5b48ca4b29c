"""Money and people: contractors and their quality deposits (A3), worker scores per quarter (R9)."""

import re
from datetime import datetime, timezone
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from sqlalchemy import select

from aftersales import access
from aftersales.actions import Money, ShortText, SignedMoney, text_type
from aftersales.actor import Actor
from adapters.db import ledger
from adapters.db.models import Case
from adapters.db.visibility import visible_cases_clause
from api.auth import require_roles
from api.deps import db_session

router = APIRouter(tags=["money and reports"])

DEPOSIT_READERS = access.ENDPOINTS["read_deposit"]
REPORT_READERS = access.ENDPOINTS["read_worker_report"]
CONTRACTOR_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class DepositEntryOut(BaseModel):
    at: datetime
    kind: Literal["lodged", "top_up", "adjustment", "deduction"]
    case_no: str | None
    amount: Decimal = Field(description="yuan; a deduction is negative (never more than the deposit held)")
    shortfall: Decimal = Field(description="yuan a deduction could not take because the deposit was short")
    by: str | None = Field(description="who booked it (an administrator's entry); none for a case's deduction")
    note: str


class DepositStatement(BaseModel):
    """Amounts are JSON strings with two decimals (yuan), never floats. The balance is the sum of the
    entries and never below zero (A3)."""
    contractor_id: str
    name: str
    initial_deposit: Decimal = Field(description="what was lodged at registration")
    balance: Decimal
    shortfall: Decimal = Field(description="deductions the deposit could not cover, in total")
    entries: list[DepositEntryOut]


class ContractorBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: ShortText
    deposit: Money | None = Field(default=None,
                                  description="the quality deposit lodged, yuan: for a new contractor; for a "
                                              "registered one only the current balance (a retry), else 409")


class DepositEntryBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["top_up", "adjustment"] = Field(description="top_up: more deposit lodged (amount > 0); "
                                                              "adjustment: a correction, either sign")
    amount: SignedMoney = Field(description="yuan; negative lowers the deposit")
    reason: text_type(500, long=True) = Field(description="why (A3: who and why are kept)")  # type: ignore[valid-type]


def _check_id(contractor_id: str) -> str:
    if not CONTRACTOR_ID.match(contractor_id):
        raise HTTPException(422, "contractor id: letters, digits, '.', '_' or '-', at most 64")
    return contractor_id


@router.put("/admin/contractors/{contractor_id}", response_model=DepositStatement,
            summary="Register a contractor with the quality deposit it lodged, or rename one (A3)")
async def put_contractor(contractor_id: str, body: ContractorBody,
                         actor: Annotated[Actor, Depends(require_roles(*access.ENDPOINTS["register_contractor"]))],
                         session=Depends(db_session)) -> dict[str, Any]:
    try:
        await ledger.put_contractor(session, _check_id(contractor_id), body.name.strip(), body.deposit,
                                    by=actor.username, at=datetime.now(timezone.utc))
    except ledger.LedgerRefusal as e:
        raise HTTPException(409, str(e)) from None
    return await ledger.deposit_statement(session, contractor_id)


@router.post("/admin/contractors/{contractor_id}/deposit/entries", response_model=DepositStatement,
             status_code=201, summary="Top up or adjust a quality deposit: a ledger entry with who and why (A3)")
async def add_deposit_entry(contractor_id: str, body: DepositEntryBody,
                            actor: Annotated[Actor, Depends(require_roles(*access.ENDPOINTS["register_contractor"]))],
                            idempotency_key: Annotated[str, Header(alias="Idempotency-Key", min_length=1,
                                                                   max_length=64)],
                            response: Response, session=Depends(db_session)) -> dict[str, Any]:
    """Books the entry once per Idempotency-Key (a retry answers 200 with the same statement and books
    nothing; another body under the same key is 422). The deposit never goes below zero (409)."""
    try:
        booked = await ledger.add_entry(
            session, contractor_id=_check_id(contractor_id), entry_key=f"admin:{contractor_id}:{idempotency_key}",
            kind=body.kind, amount=body.amount, reason=body.reason.strip(), by=actor.username,
            at=datetime.now(timezone.utc))
    except LookupError as e:
        raise HTTPException(404, str(e).strip("'\"")) from None
    except ledger.LedgerRefusal as e:
        raise HTTPException(409, str(e)) from None
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    if not booked:
        response.status_code = 200
    return await ledger.deposit_statement(session, contractor_id)


@router.get("/contractors/{contractor_id}/deposit", response_model=DepositStatement,
            summary="A contractor's quality deposit: balance and every entry (A3)")
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
        Case.case_no.in_(numbers), visible_cases_clause(actor))))
    statement["entries"] = [{**e, "case_no": e["case_no"] if e["case_no"] in visible else None}
                            for e in statement["entries"]]
    return statement


class WorkerScores(BaseModel):
    """R9: one worker's evaluations in the quarter."""
    worker: str
    repairs: int = Field(description="repairs evaluated")
    evaluations: int = Field(description="every evaluation: sign-off, revisit, after a reopen")
    quality_total: int
    attitude_total: int
    quality_average: float = Field(description="per score, 1–5")
    attitude_average: float = Field(description="per score, 1–5")


class WorkerReport(BaseModel):
    quarter: str = Field(examples=["2026Q4"])
    workers: list[WorkerScores]


@router.get("/reports/workers", summary="Each worker's evaluations in a quarter, all of them summed (R9)",
            response_model=WorkerReport)
async def worker_scores(quarter: Annotated[str, Query(pattern=r"^\d{4}Q[1-4]$", examples=["2026Q4"])],
                        actor: Annotated[Actor, Depends(require_roles(*REPORT_READERS))],
                        session=Depends(db_session)) -> dict[str, Any]:
    """Per worker: repairs, evaluations (one per sign-off and revisit, a reopened repair's included),
    quality and attitude totals, and the averages per score (1–5)."""
    # P2: only the evaluations of repairs the reader may see
    seen = (visible_cases_clause(actor),)  # P5: within the reader's scope too
    return {"quarter": quarter, "workers": await ledger.worker_report(session, quarter, where=seen)}
