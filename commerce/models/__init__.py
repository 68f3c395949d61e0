from .coupon import Coupon, CouponRedemption
from .customer import Customer
from .drop import Drop
from .hold import Hold
from .order import Order, OrderLine
from .outbox import OutboxMessage
from .partner import ApiKey, Partner
from .payment import IdempotencyRecord, PaymentEvent, Refund
from .pickup import PickupBooking, PickupSlot, PopUp
from .product import Product, Sku
from .ratelimit import RateCounter
from .shipping import ShippingRate, TaxRate

__all__ = [
    "ApiKey",
    "Coupon",
    "CouponRedemption",
    "Customer",
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
    "RateCounter",
    "Refund",
    "ShippingRate",
    "Sku",
    "TaxRate",
]
