"""O4: how a fact the owner gives was given. Every owner act (sign-off R6, survey R7/V3, consent R8, the
repair slip R3, an appointment R1) and every case an owner files carries one: by the owner themselves (with
a one-time code or a link sent by SMS, and when), or recorded for the owner by staff (代录: who, and how the
owner told them: by phone, on paper, in person). Reports count rates by it; R9 scores count both."""

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aftersales.text_patterns import SHORT_TEXT_PATTERN


class GivenBy(StrEnum):
    owner = "owner"      # the owner, signed in on their phone
    staff = "staff"      # 代录: staff recorded it for the owner


class Means(StrEnum):
    code = "code"        # signed in by a one-time SMS code (O1)
    link = "link"        # a one-case, one-purpose link sent by SMS (O1)
    phone = "phone"      # the owner told staff by phone
    paper = "paper"      # on a signed paper form
    visit = "visit"      # in person
    wechat = "wechat"    # the owner wrote on WeChat (rules 4)
    letter = "letter"    # by letter (rules 4)


# O4 (rules 4): how the owner told the staff member who records a fact for them (代录), as an action names it
ToldVia = Literal["phone", "visit", "wechat", "letter"]
OWNER_MEANS = frozenset({Means.code, Means.link})
STAFF_MEANS = frozenset({Means.phone, Means.paper, Means.visit, Means.wechat, Means.letter})
MEANS_NAMES = {Means.code: "验证码登录", Means.link: "短信链接", Means.phone: "电话", Means.paper: "纸质单据",
               Means.visit: "当面", Means.wechat: "微信", Means.letter: "信函"}
TOLD_VIA_NAMES = {"phone": "电话", "visit": "当面", "wechat": "微信", "letter": "信函"}


class Provenance(BaseModel):
    """Who gave a fact and how (O4). `staff` is the username of the staff member who recorded it (代录)."""
    model_config = ConfigDict(extra="forbid", frozen=True)
    by: GivenBy
    means: Means
    at: datetime
    staff: str | None = Field(default=None, max_length=64, pattern=SHORT_TEXT_PATTERN)  # a username (P7 names it)

    @model_validator(mode="after")
    def _consistent(self) -> "Provenance":
        if self.by is GivenBy.owner:
            if self.means not in OWNER_MEANS or self.staff is not None:
                raise ValueError("an owner's own act is given by code or link, without a staff member")
        elif self.means not in STAFF_MEANS or not self.staff:
            raise ValueError("代录 names the staff member and how the owner told them (phone, paper, visit, wechat, letter)")
        return self

    @classmethod
    def by_owner(cls, means: Means, at: datetime) -> "Provenance":
        return cls(by=GivenBy.owner, means=means, at=at)

    @classmethod
    def recorded_by(cls, staff: str, means: Means, at: datetime) -> "Provenance":
        return cls(by=GivenBy.staff, means=means, at=at, staff=staff)

    def words(self) -> str:
        """How the case page shows it: 业主本人（短信链接） or 代录（张伟，电话）; `staff` as given (the page names
        people by name and title)."""
        if self.by is GivenBy.owner:
            return f"业主本人（{MEANS_NAMES[self.means]}）"
        return f"代录（{self.staff}，{MEANS_NAMES[self.means]}）"

    def owner_words(self) -> str:
        """As the owner's own page shows it (O2: no staff account names): 业主本人（短信链接） or 工作人员代录（电话）."""
        if self.by is GivenBy.owner:
            return self.words()
        return f"工作人员代录（{MEANS_NAMES[self.means]}）"
