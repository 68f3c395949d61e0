from .customer import Customer
from .drop import Drop
from .order import Order, OrderLine
from .partner import ApiKey, Partner
from .product import Product, Sku

__all__ = ["ApiKey", "Customer", "Drop", "Order", "OrderLine", "Partner", "Product", "Sku"]
