"""Outgoing partner webhooks: signed, sent to the owning partner only, retried until 2xx, stable event ids."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from commerce.models import OutboxMessage, Partner
from commerce.services.outbox import outbox_drain
from commerce.services.pickup import checkin_record, pickup_slot_book
from commerce.services.webhooks import webhook_signature, webhook_signature_verify
from tests.commerce.outbox_support import WebhookReceiver
from tests.factories import make_pickup_drop, make_slot

pytestmark = pytest.mark.django_db


@pytest.fixture
def partner():
    return Partner.objects.create(name="Pickup Co")


@pytest.fixture
def receiver(partner):
    receiver = WebhookReceiver(partner.webhook_secret).start()
    partner.webhook_url = receiver.url
    partner.save()
    yield receiver
    receiver.stop()


def checked_in_booking(partner, django_capture_on_commit_callbacks):
    drop = make_pickup_drop(quantity=5)
    drop.popup.partner = partner
    drop.popup.save()
    slot = make_slot(drop.popup, starts_in=600)
    booking = pickup_slot_book(drop_id=drop.pk, slot_id=slot.pk, email="ann@example.com", quantity=1)
    staff = get_user_model().objects.create_user("door", is_staff=True)
    with django_capture_on_commit_callbacks(execute=True):
        checkin_record(booking_id=booking.pk, actor=staff, payment_collected=True)
    return booking


def test_signature_verifies_and_refuses_tampering_and_stale_timestamps():
    body = b'{"id":"evt_1","type":"order.paid"}'
    now = int(time.time())
    header = webhook_signature(secret="whsec_mm_x", body=body, timestamp=now)
    assert header.startswith(f"t={now},v1=")
    assert webhook_signature_verify(secret="whsec_mm_x", body=body, header=header)
    assert not webhook_signature_verify(secret="whsec_mm_y", body=body, header=header)
    assert not webhook_signature_verify(secret="whsec_mm_x", body=body + b" ", header=header)
    assert not webhook_signature_verify(secret="whsec_mm_x", body=body, header=header, now=now + 301)
    assert not webhook_signature_verify(secret="whsec_mm_x", body=body, header="garbage")


def test_each_partner_gets_its_own_secret():
    assert Partner.objects.create(name="A").webhook_secret != Partner.objects.create(name="B").webhook_secret


def test_check_in_notifies_the_pop_ups_partner_with_a_signed_event(
    partner, receiver, django_capture_on_commit_callbacks
):
    booking = checked_in_booking(partner, django_capture_on_commit_callbacks)
    types = sorted(item["type"] for item in receiver.raw)
    assert types == ["order.paid", "pickup.checked_in"]  # paid at the door, then picked up
    assert receiver.bad_signatures == 0
    for item in receiver.raw:
        assert item["header_id"] == item["id"]
    row = OutboxMessage.objects.get(dedupe_key=f"webhook:pickup.checked_in:booking:{booking.pk}:p{partner.pk}")
    assert row.status == OutboxMessage.Status.DONE


def test_partners_without_a_url_or_not_owning_the_object_get_nothing(partner, django_capture_on_commit_callbacks):
    Partner.objects.create(name="Other", webhook_url="http://127.0.0.1:9/never")
    checked_in_booking(partner, django_capture_on_commit_callbacks)  # the owner has no URL
    assert not OutboxMessage.objects.filter(kind="partner_webhook").exists()


def test_a_failing_endpoint_is_retried_with_the_same_event_id(partner, django_capture_on_commit_callbacks):
    receiver = WebhookReceiver(partner.webhook_secret, fail_first=1).start()
    try:
        partner.webhook_url = receiver.url
        partner.save()
        booking = checked_in_booking(partner, django_capture_on_commit_callbacks)
        row = OutboxMessage.objects.filter(kind="partner_webhook", status="pending").get()
        assert "HTTP 500" in row.last_error and row.attempts == 1
        OutboxMessage.objects.filter(pk=row.pk).update(available_at=timezone.now())
        assert outbox_drain().sent == 1
        counts = receiver.counts()
        assert sorted(counts.values()) == [1, 2]  # two raw deliveries of one event, one of the other
        assert len(receiver.unique()) == 2
        assert OutboxMessage.objects.filter(kind="partner_webhook", status="done").count() == 2
        assert booking.pk
    finally:
        receiver.stop()


def test_event_body_has_the_documented_fields(partner, receiver, django_capture_on_commit_callbacks):
    checked_in_booking(partner, django_capture_on_commit_callbacks)
    event = next(item["event"] for item in receiver.raw if item["type"] == "pickup.checked_in")
    assert set(event) == {"id", "type", "created", "data"}
    assert event["id"].startswith("evt_") and event["created"].endswith("Z")
    assert set(event["data"]["booking"]) == {"order_number", "popup_id", "slot_id", "checked_in_at"}
    assert dt.datetime.fromisoformat(event["data"]["booking"]["checked_in_at"])


def test_sample_shipped_goes_to_the_partner_whose_form_took_the_request(partner, receiver):
    from sampling.models import SampleRequest
    from sampling.services.requests import sample_request_create, sample_request_mark_shipped
    from tests.factories import make_campaign

    campaign = make_campaign(quantity=5)
    outcome = sample_request_create(
        campaign_id=campaign.pk, email="ann@example.com", use_case="A gift", consent=True, partner=partner
    )
    SampleRequest.objects.filter(pk=outcome.request.pk).update(status=SampleRequest.Status.APPROVED)
    sample_request_mark_shipped(request_id=outcome.request.pk, tracking_number="1Z999", carrier="UPS")
    outbox_drain()
    [event] = [item for item in receiver.raw if item["type"] == "sample.shipped"]
    assert event["id"] in receiver.unique()


def test_an_order_placed_through_a_partners_api_notifies_that_partner_when_paid(
    partner, receiver, django_capture_on_commit_callbacks
):
    # given an order that partner's key placed (its owner) and another partner with a webhook URL
    from commerce.services.holds import hold_place
    from commerce.services.orders import checkout_start, order_mark_paid
    from tests.factories import make_drop

    other = Partner.objects.create(name="Other", webhook_url="http://127.0.0.1:9/never")
    hold = hold_place(drop_id=make_drop(quantity=3).pk, email="bo@example.com", quantity=1, partner_id=partner.pk)
    order = checkout_start(hold_token=hold.token)
    assert order.partner_id == partner.pk
    # when it is paid
    with django_capture_on_commit_callbacks(execute=True):
        order_mark_paid(order_id=order.pk)
    # then its owner gets a signed order.paid, the other partner nothing
    assert [item["type"] for item in receiver.raw] == ["order.paid"]
    assert receiver.bad_signatures == 0
    assert not OutboxMessage.objects.filter(kind="partner_webhook", dedupe_key__endswith=f":p{other.pk}").exists()
