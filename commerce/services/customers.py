from __future__ import annotations

from django.db import IntegrityError, transaction

from ..identity import clean_email, normalize_email
from ..models import Customer


def customer_get_or_create(*, email: str, name: str = "") -> Customer:
    """The customer for an e-mail address, created on first use.

    Identity is the normalized address (commerce.identity.normalize_email), so
    `Ann+live@Gmail.com` and `ann@gmail.com` are one customer. Safe under races:
    the unique constraint decides and the loser reads the winner's row.
    Raises django.core.exceptions.ValidationError for an invalid address.
    """
    key = normalize_email(email)
    customer = Customer.objects.filter(email_normalized=key).first()
    if customer:
        return customer
    try:
        with transaction.atomic():
            return Customer.objects.create(email=clean_email(email), email_normalized=key, name=name)
    except IntegrityError:
        return Customer.objects.get(email_normalized=key)


def customer_lock_or_create(*, email: str, name: str = "") -> Customer:
    """Inside a transaction: the customer for `email`, created if new, with its row locked.

    Two statements and no savepoint: INSERT … ON CONFLICT DO NOTHING, then
    SELECT … FOR UPDATE. The lock serializes one customer's concurrent purchases
    (per-customer limits, coupon caps). Raises ValidationError for an invalid address.
    """
    key = normalize_email(email)
    Customer.objects.bulk_create(
        [Customer(email=clean_email(email), email_normalized=key, name=name)], ignore_conflicts=True
    )
    return Customer.objects.select_for_update().get(email_normalized=key)
