from .coupon import Coupon, CouponRedemption
from .customer import Customer
from .drop import Drop
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
    "Coupon",
    "CreditNote",
    "CouponRedemption",
    "Customer",
    "DocumentSequence",
    "Drop",
    "Hold",
    "IdempotencyRecord",
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
    "ShippingRate",
    "Sku",
    "StockTransfer",
    "TaxRate",
    "WaitlistEntry",
    "WaitlistOffer",
    "WatchCode",
]
