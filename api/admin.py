"""Calendar administration (T4): upload a year's holidays and make-up days without a release."""

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from aftersales import access
from aftersales.actions import ShortText, Text
from aftersales.actor import Actor
from adapters.db import calendar_store
from api.auth import current_actor, require_roles
from api.deps import db_session

router = APIRouter(prefix="/admin", tags=["admin"])


class CalendarStatus(BaseModel):
    years_with_data: list[int] = Field(description="years whose holidays and make-up days are loaded (T4)")


class CalendarYearStored(BaseModel):
    year: int
    holidays: int = Field(description="days off loaded")
    workdays: int = Field(description="make-up working days loaded")
    note: str


@router.get("/calendar", summary="Years with holiday data", response_model=CalendarStatus)
async def calendar_status(actor: Annotated[Actor, Depends(current_actor)], session=Depends(db_session)) -> dict[str, Any]:
    return {"years_with_data": await calendar_store.years_with_data(session)}


class CalendarYearBody(BaseModel):
    """One year's data, as in docs/calendar-2027.example.json; unknown keys are refused."""
    model_config = ConfigDict(extra="forbid")
    year: StrictInt | None = Field(default=None, ge=1900, le=2999, description="if given, the path's year")
    holidays: dict[date, ShortText] = Field(default_factory=dict, description="'YYYY-MM-DD' → name")
    workdays: dict[date, ShortText] = Field(default_factory=dict, description="make-up working days (调休)")
    source: ShortText | None = None
    note: Text | None = None


@router.put("/calendar/{year}", summary="Replace one year's holidays and make-up working days (T4)",
            response_model=CalendarYearStored)
async def put_calendar_year(
    year: Annotated[int, Path(ge=1900, le=2999)],
    body: Annotated[CalendarYearBody, Body(examples=[{"holidays": {"2027-01-01": "元旦"}, "workdays": {"2027-02-07": "春节调休"}}])],
    actor: Annotated[Actor, Depends(require_roles(*access.ENDPOINTS["admin_calendar"]))],
    session=Depends(db_session),
) -> dict[str, Any]:
    if body.year is not None and body.year != year:
        raise HTTPException(422, f"body year {body.year} does not match the path year {year}")
    try:
        data = calendar_store.year_data_from_json({**body.model_dump(mode="json", exclude_none=True), "year": year})
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    data.source = f"admin:{actor.username}"
    await calendar_store.put_year(session, data)
    return {"year": year, "holidays": len(data.holidays), "workdays": len(data.workdays),
            "note": "deadlines already set on open cases do not move (T5)"}
