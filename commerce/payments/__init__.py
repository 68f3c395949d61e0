"""Payment providers: the seam between orders and whoever takes the money.

A provider has:
- `name`, `label` (shown to buyers) and `confirms_immediately` (True for
  `manual`: the order is confirmed at checkout and paid at pickup);
- `begin(order=, hold=, now=)`: start payment after the order is committed; sets
  `order.payment_reference` and `order.payment_url` (the hosted page);
- `cancel(order=)`: end the hosted checkout (True if it is now unusable,
  False if it was already paid);
- `refund(refund=)`: give money back (idempotent per local refund); returns a
  `ProviderRefund`, the provider's own view of that refund;
- `refund_find(refund=)`: the provider's view of a local refund, or None if the
  provider never saw it (used by reconciliation before resubmitting);
- `refunds_for_payment(payment_id=)`: every refund the provider holds for a payment.

Refund calls raise `ProviderUnavailable` when the outcome is unknown (network
error, timeout, provider 5xx, rate limit): the refund stays pending and is
retried or reconciled. A definite refusal raises `PaymentProviderError`.

`manual` (pay at pickup) is the embedded default; `stripe` (Stripe Checkout
with wallets) is used when Stripe keys are configured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from django.conf import settings

from ..exceptions import PaymentProviderError

if TYPE_CHECKING:
    import datetime as dt

    from ..models import Hold, Order, Refund


class ProviderUnavailable(PaymentProviderError):
    """The provider could not be asked or did not answer: the outcome is unknown, retry later."""


@dataclass(frozen=True)
class ProviderRefund:
    """A refund as the provider sees it.

    `status` is one of pending | succeeded | failed | canceled (Stripe's
    `requires_action` counts as pending); `amount_minor` is in minor units of
    `currency` (ISO 4217, upper case); `local_id` is our Refund id when the
    provider carries it (Stripe: `metadata.refund_id`), None for a refund made
    in the provider's dashboard; `created` is the provider's Unix timestamp.
    """

    reference: str
    status: str
    amount_minor: int
    currency: str
    payment_id: str = ""
    local_id: int | None = None
    reason: str = ""
    failure_reason: str = ""
    created: int = 0


class PaymentProvider(Protocol):
    name: str
    label: str
    confirms_immediately: bool

    def begin(self, *, order: Order, hold: Hold, now: dt.datetime) -> None: ...

    def cancel(self, *, order: Order) -> bool: ...

    def refund(self, *, refund: Refund) -> ProviderRefund: ...

    def refund_find(self, *, refund: Refund) -> ProviderRefund | None: ...

    def refunds_for_payment(self, *, payment_id: str) -> list[ProviderRefund]: ...


_REGISTRY: dict[str, PaymentProvider] = {}


def register(provider: PaymentProvider) -> PaymentProvider:
    _REGISTRY[provider.name] = provider
    return provider


def get_provider(name: str | None = None) -> PaymentProvider:
    """The provider named `name`, or settings.PAYMENT_PROVIDER (falls back to manual)."""
    from . import manual, stripe_checkout  # noqa: F401  (they register themselves)

    return _REGISTRY.get(name or settings.PAYMENT_PROVIDER) or _REGISTRY["manual"]
