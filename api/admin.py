"""Calendar administration (T4): upload a year's holidays and make-up days without a release."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException

from aftersales import access
from aftersales.actor import Actor
from aftersales.db import calendar_store
from api.auth import current_actor, require_roles
from api.deps import db_session

router = APIRouter(prefix="/admin", tags=["admin"])


@router.get("/calendar", summary="Years with holiday data")
async def calendar_status(actor: Annotated[Actor, Depends(current_actor)], session=Depends(db_session)) -> dict[str, Any]:
    return {"years_with_data": await calendar_store.years_with_data(session)}


@router.put("/calendar/{year}", summary="Replace one year's holidays and make-up working days (T4)")
async def put_calendar_year(
    year: int,
    body: Annotated[dict[str, Any], Body(examples=[{"holidays": {"2027-01-01": "元旦"}, "workdays": {"2027-02-07": "春节调休"}}])],
    actor: Annotated[Actor, Depends(require_roles(*access.ENDPOINTS["admin_calendar"]))],
    session=Depends(db_session),
) -> dict[str, Any]:
    if body.get("year", year) != year:
        raise HTTPException(422, f"body year {body.get('year')} does not match the path year {year}")
    try:
        data = calendar_store.year_data_from_json({**body, "year": year})
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    data.source = f"admin:{actor.username}"
    await calendar_store.put_year(session, data)
    return {"year": year, "holidays": len(data.holidays), "workdays": len(data.workdays),
            "note": "deadlines already set on open cases do not move (T5)"}
