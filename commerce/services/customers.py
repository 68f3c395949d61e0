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

    One statement, no savepoint: INSERT … ON CONFLICT (email_normalized) DO
    UPDATE … RETURNING id, which also locks the row until the transaction ends.
    The lock serializes one customer's concurrent purchases (per-customer
    limits, coupon caps). Raises ValidationError for an invalid address.
    """
    customer = Customer(email=clean_email(email), email_normalized=normalize_email(email), name=name)
    Customer.objects.bulk_create(
        [customer], update_conflicts=True, unique_fields=["email_normalized"], update_fields=["email_normalized"]
    )
    if customer.pk is None:  # backends that cannot return ids from an upsert
        customer = Customer.objects.select_for_update().get(email_normalized=customer.email_normalized)
    return customer
