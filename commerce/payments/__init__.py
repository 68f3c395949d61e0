"""Payment providers: the seam between orders and whoever takes the money.

A provider has a `name`, a human `label` and `begin(order=...)`, called inside
the order's transaction once stock is taken. It returns a PaymentStart telling
the storefront where to send the buyer next. `manual` (pay at pickup) is the
embedded default; Stripe Checkout plugs in here under the name "stripe".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from django.conf import settings

if TYPE_CHECKING:
    from ..models import Order


@dataclass(frozen=True)
class PaymentStart:
    """Where the buyer goes next: a provider's hosted page or our confirmation page."""

    redirect_url: str


class PaymentProvider(Protocol):
    name: str
    label: str

    def begin(self, *, order: Order) -> PaymentStart: ...


_REGISTRY: dict[str, PaymentProvider] = {}


def register(provider: PaymentProvider) -> PaymentProvider:
    _REGISTRY[provider.name] = provider
    return provider


def get_provider(name: str | None = None) -> PaymentProvider:
    """The provider named `name`, or settings.PAYMENT_PROVIDER. Falls back to manual if unknown."""
    from . import manual  # noqa: F401  (registers itself)

    return _REGISTRY.get(name or settings.PAYMENT_PROVIDER) or _REGISTRY["manual"]
