"""Owner-paid repairs (有偿服务, R3): the published fee schedule (有偿服务收费标准) and a quote made
from it. Pure: the schedule is data kept by `cs_manager` in the read model (versioned, so a quote keeps
the prices it was made with); the API attaches the entries a quote uses, the repair machine prices it."""

from decimal import ROUND_HALF_UP, Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# the request-body types live with every other body type (no control characters, plain money)
from aftersales.actions import ExtraItem, FeeItem, FeeSchedule, NoteText, PaymentMethod, QuoteItem  # noqa: F401

FEN = Decimal("0.01")
PAYMENT_METHODS_CN = {"cash": "现金", "wechat": "微信", "alipay": "支付宝", "bank": "银行转账"}


def fen(amount: Decimal | None) -> int | None:
    """Yuan to integer fen, as the read model stores money."""
    return None if amount is None else int((amount * 100).to_integral_exact())


class FeeScheduleBody(BaseModel):
    """PUT /admin/fee-schedule: the whole new schedule (it becomes a new version)."""
    model_config = ConfigDict(extra="forbid")
    items: list[FeeItem] = Field(min_length=1, max_length=500)
    note: NoteText | None = None

    @field_validator("items")
    @classmethod
    def _codes_unique(cls, items: list[FeeItem]) -> list[FeeItem]:
        codes = [i.code for i in items]
        if len(set(codes)) != len(codes):
            dup = sorted({c for c in codes if codes.count(c) > 1})
            raise ValueError(f"each item code appears once; repeated: {', '.join(dup)}")
        return items


class QuoteLine(BaseModel):
    code: str | None
    name: str
    unit: str
    unit_price: Decimal
    quantity: Decimal
    amount: Decimal
    reason: str | None = None


class PricedQuote(BaseModel):
    schedule_version: int
    lines: list[QuoteLine]
    total: Decimal


def price_quote(schedule: FeeSchedule, items: list[QuoteItem], extras: list[ExtraItem]) -> PricedQuote:
    """Items × quantities at the schedule's prices, plus the extra items; amounts to the fen (R3).
    Raises ValueError naming an item the schedule does not have."""
    lines = []
    for q in items:
        item = schedule.item(q.code)
        if item is None:
            raise ValueError(f"item {q.code!r} is not in fee schedule version {schedule.version}")
        lines.append(QuoteLine(code=item.code, name=item.name, unit=item.unit, unit_price=item.unit_price,
                               quantity=q.quantity, amount=_amount(item.unit_price, q.quantity)))
    for x in extras:
        lines.append(QuoteLine(code=None, name=x.name, unit=x.unit, unit_price=x.unit_price, quantity=x.quantity,
                               amount=_amount(x.unit_price, x.quantity), reason=x.reason))
    return PricedQuote(schedule_version=schedule.version, lines=lines,
                       total=sum((line.amount for line in lines), Decimal("0.00")))


def _amount(unit_price: Decimal, quantity: Decimal) -> Decimal:
    return (unit_price * quantity).quantize(FEN, rounding=ROUND_HALF_UP)
