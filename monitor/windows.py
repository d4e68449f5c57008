"""The marketplace's windows, declared once (docs/domain.md, Clocks and windows).

The monitor computes a deadline with these only where the order page shows none
of its own. ``Windows`` is the one declaration: the monitor's settings take its
fields (``ORDERMON_SELLER_RESPONSE_HOURS``, ...), an account may override any of
them (``AccountWindows``, derived from it), and ``RuleConfig`` is one account's
windows with its business-day calendar, what the rules judge with.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator
from pydantic.fields import FieldInfo

from flows.calendar import BusinessCalendar
from flows.domain import PaymentMethod

REFUND_BUSINESS_DAYS = 20  # the seeds' longest refund time, for every payment method not set


class Windows(BaseModel):
    """Every window, with its default and its bounds."""

    seller_response_hours: float = Field(72.0, gt=0, description="seller's answer window")
    processing_business_days: int = Field(7, ge=1, description="ship-by after payment")
    refund_business_days: dict[PaymentMethod, int] = Field(
        default_factory=lambda: dict.fromkeys(PaymentMethod, REFUND_BUSINESS_DAYS),
        description="by payment method; a method not set keeps 20",
    )
    unpaid_close_days: float = Field(20.0, gt=0, description="an unpaid order closes")
    unpaid_warning_days: float = Field(2.0, ge=0, description="warn this long before an unpaid order closes")
    payment_verification_hours: float = Field(24.0, gt=0, description="payment verification")
    protection_days: int = Field(60, ge=1, description="buyer protection after shipment")
    protection_warning_days: tuple[int, ...] = Field((14, 7, 3), description="warn this many days before it ends")
    dispute_opens_day: int = Field(11, ge=0, description="a dispute can be opened from this day after shipment")
    dispute_after_protection_days: int = Field(15, ge=0, description="... until this many days after protection")
    transit_business_days: dict[str, tuple[int, int]] = Field(
        default_factory=lambda: {"standard": (15, 45), "premium": (7, 15)},
        description="by shipping method: earliest and latest delivery, business days after shipment",
    )
    grace_minutes: float = Field(60.0, ge=0, description="platforms act in batches, late: overdue rules wait this")
    recent_days: float = Field(7.0, ge=0, description="an event older than this when first seen raises no alert")
    remind_hours: float = Field(
        24.0, ge=0, description="remind of what stays overdue this often until resolved; 0: never"
    )

    @field_validator("refund_business_days", mode="after")
    @classmethod
    def _every_method(cls, value: dict[PaymentMethod, int]) -> dict[PaymentMethod, int]:
        return dict.fromkeys(PaymentMethod, REFUND_BUSINESS_DAYS) | value

    @field_validator("protection_warning_days", mode="after")
    @classmethod
    def _most_distant_first(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(days <= 0 for days in value):
            raise ValueError("warning days must be positive")
        return tuple(sorted(set(value), reverse=True))

    @property
    def grace(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.grace_minutes)

    @property
    def recent(self) -> dt.timedelta:
        return dt.timedelta(days=self.recent_days)

    @property
    def remind_every(self) -> dt.timedelta | None:
        return dt.timedelta(hours=self.remind_hours) if self.remind_hours else None

    def windows(self) -> Windows:
        """The windows alone (a settings object or a config is more), as they were validated."""
        return Windows.model_construct(**{name: getattr(self, name) for name in Windows.model_fields})

    def overridden(self, overrides: dict[str, Any]) -> Windows:
        """These windows with an account's own (validated as a whole)."""
        return Windows.model_validate(self.windows().model_dump() | overrides)


def _optional(info: FieldInfo) -> Any:
    """The same field, not required: None keeps the monitor's window."""
    field = FieldInfo.merge_field_infos(info, default=None)
    field.default_factory = None
    annotation: Any = info.annotation
    return annotation | None, field


_OPTIONAL: dict[str, Any] = {name: _optional(info) for name, info in Windows.model_fields.items()}
#: The windows one account may set for itself (a 90-day protection country, a 48-hour seller window).
AccountWindows: type[BaseModel] = create_model("AccountWindows", __config__=ConfigDict(extra="forbid"), **_OPTIONAL)


class RuleConfig(Windows):
    """One account's windows and business-day calendar: what the rules and the monitor's own
    deadlines are computed with."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    calendar: BusinessCalendar = Field(default_factory=BusinessCalendar)


#: Where a refund goes, by payment method (docs/domain.md, Where refunds go).
REFUND_DESTINATIONS: dict[PaymentMethod, str] = {
    PaymentMethod.CARD: "the original payment method",
    PaymentMethod.ALIPAY: "the Alipay balance",
    PaymentMethod.BANK_TRANSFER: "the Alipay balance",
    PaymentMethod.WESTERN_UNION: "the Alipay balance",
    PaymentMethod.CASH: "the Alipay balance",
    PaymentMethod.COD: "a coupon",
}
