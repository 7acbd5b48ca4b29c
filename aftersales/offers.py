"""What a case offers a user now (P1, A4): the actions its machine would accept from this user in the
case's present state — found by the machine's own check (the dry run the workflow's Update validator
runs), with a probe of each action. A probe refused as not allowed now (409) or not this user's (403)
is not offered; one refused only for its made-up content (422) is: the user's own values decide.

Pure: the workbench rebuilds the state from the case's view (`state_from_view`) and asks here, so a page
offers what the workflow would accept and never an action it would refuse for the state or the user."""

from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from aftersales.actions import ComplaintAction, RepairAction
from aftersales.actor import Actor
from aftersales.case import CaseState, Ctx
from aftersales.machine import CaseMachine
from aftersales.complaint import ComplaintCase
from aftersales.complaint.state import ComplaintState
from aftersales.errors import Rejection
from aftersales.repair import RepairCase
from aftersales.repair.state import RepairState
from aftersales.roles import Role

MACHINES: dict[str, tuple[type[CaseMachine], type[CaseState]]] = {
    "complaint": (ComplaintCase, ComplaintState), "repair": (RepairCase, RepairState)}
UNIONS = {"complaint": ComplaintAction, "repair": RepairAction}


def action_models(case_type: str) -> dict[str, type[BaseModel]]:
    """The actions of a case type, by name, in the order the schema lists them."""
    return {get_args(m.model_fields["action"].annotation)[0]: m for m in get_args(UNIONS[case_type])}


def state_from_view(view: dict[str, Any]) -> CaseState:
    """The case state from its view (`aftersales.views.case_view`: the state's dump plus what is derived
    from it); the few internal counters the view leaves out are not read by any check."""
    _, state_type = MACHINES[view["case_type"]]
    return state_type.model_validate(view)


def machine_of(view: dict[str, Any]) -> CaseMachine:
    machine_type, _ = MACHINES[view["case_type"]]
    return machine_type(state_from_view(view))


def _sample(annotation: Any, now: datetime) -> Any:
    """A value of the annotation's type for a probe: never shown, never applied."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _sample(get_args(annotation)[0], now)
    if origin in (Union, UnionType):
        return _sample(next(a for a in get_args(annotation) if a is not type(None)), now)
    if origin is Literal:
        return get_args(annotation)[0]
    if origin is list:
        (item,) = get_args(annotation) or (str,)
        return [Role.cs_manager] if item is Role else [_sample(item, now)]
    if isinstance(annotation, type):
        if issubclass(annotation, bool):
            return True
        if issubclass(annotation, Enum):
            return next(iter(annotation))
        if issubclass(annotation, int):
            return 5
        if issubclass(annotation, Decimal):
            return Decimal("0.01")
        if issubclass(annotation, datetime):
            return now
    return "—"


def probe(model: type[BaseModel], now: datetime) -> BaseModel:
    """The action with made-up values (unvalidated): what the state and the user allow is checked before
    the content in every handler, so only an action possible now passes or fails on its content alone."""
    values = {"action": get_args(model.model_fields["action"].annotation)[0]}
    for name, field in model.model_fields.items():
        if name != "action" and field.is_required():
            values[name] = _sample(field.annotation, now)
    if "new_due_at" in values:
        values["new_due_at"] = now + timedelta(days=30)
    return model.model_construct(**values)


def offered_actions(machine: CaseMachine, actor: Actor, ctx: Ctx) -> list[str]:
    """The actions this user may take on the case now, by the machine's own dry run (`CaseMachine.check`)."""
    if machine.state.closed:
        return []
    out = []
    for name, model in action_models(machine.state.case_type.value).items():
        try:
            machine.check(probe(model, ctx.now), actor, ctx)
        except Rejection as r:
            if r.kind != "invalid":
                continue
        except Exception:  # noqa: BLE001 - a probe the handler cannot read: the real action decides
            pass
        out.append(name)
    return out
