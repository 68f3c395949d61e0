"""Stripe fixtures: a local stand-in for the API and signed webhook deliveries to dj-stripe's endpoint."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
import stripe

from commerce.services.stripe_setup import webhook_endpoint_register
from tests.commerce.stripe_standin import StripeStandIn, fixture

WEBHOOK_SECRET = "whsec_test_micromoments_0123456789"


@pytest.fixture
def stripe_api(settings):
    standin = StripeStandIn().start()
    old_base = stripe.api_base
    settings.PAYMENT_PROVIDER = "stripe"
    settings.STRIPE_TEST_SECRET_KEY = "sk_test_51StandInKeyForLocalTestsOnly0123456789abcdef"
    settings.STRIPE_API_HOST = standin.url
    yield standin
    stripe.api_base = old_base
    standin.stop()


def sign(payload: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A Stripe-Signature header for `payload`, as Stripe computes it (HMAC-SHA256 of "t.payload")."""
    ts = timestamp or int(time.time())
    mac = hmac.new(secret.encode(), f"{ts}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def event_for(session: dict, event_type: str, event_id: str, created: int | None = None) -> str:
    """A Stripe Event around `session`; `created` (Unix seconds) defaults to now, as Stripe sets it."""
    event = fixture("event")
    event.update(id=event_id, type=event_type, data={"object": session}, api_version="2024-06-20")
    event["created"] = int(time.time()) if created is None else created
    return json.dumps(event)


@pytest.fixture
def webhook(db, django_capture_on_commit_callbacks):
    """deliver(client, session, type, event_id=…, secret=…) → HTTP status from dj-stripe's webhook view.

    After-commit work (e-mails, refunds queued as django-q2 tasks, run in sync mode) runs as it would live.
    """
    endpoint, url = webhook_endpoint_register(secret=WEBHOOK_SECRET, base_url="http://testserver")
    path = url.removeprefix("http://testserver")
    counter = {"n": 0}

    def deliver(
        client,
        session: dict,
        event_type: str,
        *,
        event_id: str | None = None,
        secret: str = WEBHOOK_SECRET,
        created: int | None = None,
    ):
        counter["n"] += 1
        payload = event_for(session, event_type, event_id or f"evt_test_{counter['n']:05d}", created)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                path, data=payload, content_type="application/json", headers={"Stripe-Signature": sign(payload, secret)}
            )
        return response.status_code

    deliver.path = path
    return deliver
