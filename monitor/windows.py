"""The monitor's defaults for the marketplace's windows, used only where the site shows
no deadline of its own (docs/domain.md, Windows; every number is a setting)."""

from __future__ import annotations

from flows.domain import PaymentMethod


class Windows:
    SELLER_RESPONSE_HOURS = 72.0
    PROCESSING_BUSINESS_DAYS = 7
    REFUND_BUSINESS_DAYS = 20
    UNPAID_CLOSE_DAYS = 20.0
    UNPAID_WARNING_DAYS = 2.0
    PAYMENT_VERIFICATION_HOURS = 24.0
    PROTECTION_DAYS = 60
    PROTECTION_WARNING_DAYS = (14, 7, 3)
    DISPUTE_OPENS_DAY = 11
    DISPUTE_AFTER_PROTECTION_DAYS = 15
    TRANSIT_BUSINESS_DAYS = {"standard": (15, 45), "premium": (7, 15)}
    GRACE_MINUTES = 60.0  # platforms act in batches, late: an overdue rule waits this long
    RECENT_DAYS = 7.0  # an event older than this when first seen (a refund arrived) raises no alert
    DIGEST_OVER = 5  # more new alerts than this in one poll of one account: one digest notification


#: Where a refund goes, by payment method (docs/domain.md, Where refunds go).
REFUND_DESTINATIONS: dict[PaymentMethod, str] = {
    PaymentMethod.CARD: "the original payment method",
    PaymentMethod.ALIPAY: "the Alipay balance",
    PaymentMethod.BANK_TRANSFER: "the Alipay balance",
    PaymentMethod.WESTERN_UNION: "the Alipay balance",
    PaymentMethod.CASH: "the Alipay balance",
    PaymentMethod.COD: "a coupon",
}
