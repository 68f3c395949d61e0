"""Payment providers: the seam between orders and whoever takes the money.

A provider has:
- `name`, `label` (shown to buyers) and `confirms_immediately` (True for
  `manual`: the order is confirmed at checkout and paid at pickup);
- `begin(order=, hold=, now=)`: start payment after the order is committed; sets
  `order.payment_reference` and `order.payment_url` (the hosted page);
- `cancel(order=)`: end the hosted checkout (True if it is now unusable,
  False if it was already paid);
- `refund(refund=)`: give money back; returns the provider's refund reference.

`manual` (pay at pickup) is the embedded default; `stripe` (Stripe Checkout
with wallets) is used when Stripe keys are configured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from django.conf import settings

if TYPE_CHECKING:
    import datetime as dt

    from ..models import Hold, Order, Refund


class PaymentProvider(Protocol):
    name: str
    label: str
    confirms_immediately: bool

    def begin(self, *, order: Order, hold: Hold, now: dt.datetime) -> None: ...

    def cancel(self, *, order: Order) -> bool: ...

    def refund(self, *, refund: Refund) -> str: ...


_REGISTRY: dict[str, PaymentProvider] = {}


def register(provider: PaymentProvider) -> PaymentProvider:
    _REGISTRY[provider.name] = provider
    return provider


def get_provider(name: str | None = None) -> PaymentProvider:
    """The provider named `name`, or settings.PAYMENT_PROVIDER (falls back to manual)."""
    from . import manual, stripe_checkout  # noqa: F401  (they register themselves)

    return _REGISTRY.get(name or settings.PAYMENT_PROVIDER) or _REGISTRY["manual"]
