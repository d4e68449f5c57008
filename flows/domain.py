"""What ordermon expects to read on the site: status values and labels, tabs, deadlines.

These are the client's own expectations of the site's words (docs/domain.md);
the bundled storefront keeps its own copy (fixtures/storefront/words.py), so a
word that differs between the two fails an end-to-end test.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    AWAITING_PAYMENT = "awaiting_payment"
    PAYMENT_VERIFYING = "payment_verifying"
    AWAITING_SHIPMENT = "awaiting_shipment"
    AWAITING_CANCELLATION = "awaiting_cancellation"
    AWAITING_DELIVERY = "awaiting_delivery"
    COMPLETED = "completed"
    CLOSED = "closed"
    DISPUTE = "dispute"


#: The label a buyer sees on the page, per status.
STATUS_LABELS: dict[Status, str] = {
    Status.AWAITING_PAYMENT: "Awaiting payment",
    Status.PAYMENT_VERIFYING: "Payment being verified",
    Status.AWAITING_SHIPMENT: "Awaiting shipment",
    Status.AWAITING_CANCELLATION: "Awaiting cancellation",
    Status.AWAITING_DELIVERY: "Awaiting delivery",
    Status.COMPLETED: "Completed",
    Status.CLOSED: "Closed",
    Status.DISPUTE: "Dispute / refund in progress",
}
STATUS_BY_LABEL: dict[str, Status] = {label: status for status, label in STATUS_LABELS.items()}


class Tab(StrEnum):
    ALL = "all"
    TO_PAY = "to_pay"
    TO_SHIP = "to_ship"
    SHIPPED = "shipped"
    PROCESSED = "processed"


TAB_LABELS: dict[Tab, str] = {
    Tab.ALL: "View all",
    Tab.TO_PAY: "To pay",
    Tab.TO_SHIP: "To ship",
    Tab.SHIPPED: "Shipped",
    Tab.PROCESSED: "Processed",
}

TAB_STATUSES: dict[Tab, frozenset[Status]] = {
    Tab.ALL: frozenset(Status),
    Tab.TO_PAY: frozenset({Status.AWAITING_PAYMENT}),
    Tab.TO_SHIP: frozenset({Status.PAYMENT_VERIFYING, Status.AWAITING_SHIPMENT, Status.AWAITING_CANCELLATION}),
    Tab.SHIPPED: frozenset({Status.AWAITING_DELIVERY}),
    Tab.PROCESSED: frozenset({Status.COMPLETED, Status.CLOSED, Status.DISPUTE}),
}


class PaymentMethod(StrEnum):
    CARD = "card"
    ALIPAY = "alipay"
    BANK_TRANSFER = "bank_transfer"
    WESTERN_UNION = "western_union"
    CASH = "cash"
    COD = "cod"


class Deadline(StrEnum):
    """Every deadline an order's page can show, by the name its JSON gives it."""

    PAY_BY = "pay_by"
    VERIFICATION_BY = "verification_by"
    SHIP_BY = "ship_by"
    SELLER_RESPONSE_BY = "seller_response_by"
    REFUND_EXPECTED_BY = "refund_expected_by"
    DISPUTE_OPENS = "dispute_opens"
    PROTECTION_ENDS = "protection_ends"
    DELIVERY_EXPECTED_BY = "delivery_expected_by"
    DISPUTE_CLOSES = "dispute_closes"


#: The row label the order page gives each deadline: what a buyer reads.
DEADLINE_LABELS: dict[Deadline, str] = {
    Deadline.PAY_BY: "Pay by",
    Deadline.VERIFICATION_BY: "Payment verified by",
    Deadline.SHIP_BY: "Ship by",
    Deadline.SELLER_RESPONSE_BY: "Seller must answer by",
    Deadline.REFUND_EXPECTED_BY: "Refund expected by",
    Deadline.DISPUTE_OPENS: "Dispute can be opened from",
    Deadline.PROTECTION_ENDS: "Protection ends",
    Deadline.DELIVERY_EXPECTED_BY: "Delivery expected by",
    Deadline.DISPUTE_CLOSES: "Dispute can be opened until",
}


#: Deadlines that open a window rather than close one: "Dispute can be opened from" is never overdue.
WINDOW_STARTS: frozenset[Deadline] = frozenset({Deadline.DISPUTE_OPENS})


class Event(StrEnum):
    """The kinds of events on an order's timeline that ordermon reads."""

    CANCEL_REQUESTED = "cancel_requested"
    CANCEL_REFUSED = "cancel_refused"
    SHIPPED = "shipped"
    CLOSED = "closed"
    REFUNDED = "refunded"
    COMPLETED = "completed"


class CompletedBy(StrEnum):
    BUYER_CONFIRMED = "buyer_confirmed"
    PROTECTION_ENDED = "protection_ended"


#: What the buyer can do next, when an order can no longer be cancelled.
NEXT_STEPS: dict[Status, str] = {
    Status.PAYMENT_VERIFYING: "wait until the payment is verified (Awaiting shipment), then request cancellation",
    Status.AWAITING_CANCELLATION: "wait for the seller's answer; "
    "the platform cancels if the seller does not answer in time",
    Status.AWAITING_DELIVERY: "it has shipped: refuse the delivery or return it after it arrives; "
    "if it does not arrive, open a dispute before the buyer protection ends",
    Status.COMPLETED: "open a return or a dispute from the order page if something is wrong",
    Status.CLOSED: "nothing to cancel: the order is already closed",
    Status.DISPUTE: "follow the open dispute on the order page",
}
