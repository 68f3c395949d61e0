# Sub-domains with their own packages (docs/memberships.md, docs/share-to-unlock.md).
from ..memberships.models import (  # noqa: E402
    Bundle,
    BundleSeat,
    MemberCredit,
    Membership,
    MembershipEvent,
    MembershipPlan,
    TrialReturn,
)
from ..referrals.models import ShareCampaign, ShareLink, ShareUnlock, ShareVisit  # noqa: E402
from .coupon import Coupon, CouponRedemption
from .customer import Customer
from .drop import Drop
from .drop_shard import DropStockShard
from .hold import Hold
from .order import Order, OrderLine
from .outbox import OutboxMessage
from .partner import ApiKey, Partner
from .payment import IdempotencyRecord, PaymentEvent, Refund
from .pickup import PickupBooking, PickupSlot, PopUp
from .product import Product, ProductImage, Sku
from .ratelimit import RateCounter
from .receipt import CreditNote, DocumentSequence, Receipt
from .shipping import ShippingRate, TaxRate
from .waitlist import StockTransfer, WaitlistEntry, WaitlistOffer
from .watch_coupon import WatchCode

__all__ = [
    "ApiKey",
    "Bundle",
    "BundleSeat",
    "Coupon",
    "CouponRedemption",
    "CreditNote",
    "Customer",
    "DocumentSequence",
    "Drop",
    "DropStockShard",
    "Hold",
    "IdempotencyRecord",
    "MemberCredit",
    "Membership",
    "MembershipEvent",
    "MembershipPlan",
    "Order",
    "OrderLine",
    "OutboxMessage",
    "Partner",
    "PaymentEvent",
    "PickupBooking",
    "PickupSlot",
    "PopUp",
    "Product",
    "ProductImage",
    "RateCounter",
    "Receipt",
    "Refund",
    "ShareCampaign",
    "ShareLink",
    "ShareUnlock",
    "ShareVisit",
    "ShippingRate",
    "Sku",
    "StockTransfer",
    "TaxRate",
    "TrialReturn",
    "WaitlistEntry",
    "WaitlistOffer",
    "WatchCode",
]
