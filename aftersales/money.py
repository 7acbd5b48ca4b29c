"""What a deposit deduction booked (A3), shared by the ledger, the activity and the repair workflow."""

from decimal import Decimal

from pydantic import BaseModel


class DeductionOutcome(BaseModel):
    """What a deduction from a quality deposit booked (A3): the amount asked, what the deposit
    covered (never more than it held), the shortfall, and the balance after it."""
    booked_now: bool
    requested: Decimal
    deducted: Decimal
    shortfall: Decimal
    balance: Decimal

