"""Schemathesis against the partner API, bounded in time: zero 5xx, zero schema violations.

Given a key with every scope and seeded data (a live session with a drop, a hold, an order, a
pop-up with a slot and a booking, a sample campaign with a request), when every operation of the
app's own OpenAPI schema is called with generated valid and invalid input (half the valid cases
aimed at the seeded objects), then no answer is a 5xx and every answer conforms to the schema
(documented status, content type, headers and body). `negative_data_rejection` is not used: for
optional query parameters schemathesis counts e.g. an object serialised away as "invalid data accepted".

Runs in CI (`make test`) on SQLite and PostgreSQL. Longer local runs:
`FUZZ_EXAMPLES=200 DEBUG=0 TESTING=1 .venv/bin/pytest tests/errors/test_api_fuzz.py -s` (docs/errors.md).
"""

from __future__ import annotations

import os
import time
from itertools import count

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from commerce.models import ApiKey, Partner
from commerce.services.api_keys import api_key_create
from commerce.services.holds import hold_place
from commerce.services.orders import checkout_start
from commerce.services.pickup import pickup_slot_book
from config.wsgi import application
from sampling.services.requests import sample_request_create
from tests.factories import make_campaign, make_drop, make_pickup_drop, make_popup, make_slot

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
NOT_A_SERVER_ERROR = "not_a_server_error"
CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def wsgi_app():
    """Django's real WSGI handler, keeping the test's connection (as Django's test client does)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield application
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def seeded():
    """Objects the fuzzer aims at half the time, by parameter name (path, query or body)."""
    partner = Partner.objects.create(name="Fuzz Co")
    raw = api_key_create(partner=partner, name="every scope", scopes=list(ApiKey.SCOPES))[1]
    drop = make_drop(quantity=50, per_customer_limit=50)
    hold = hold_place(drop_id=drop.pk, email="fuzz-hold@example.com", quantity=1)
    order = checkout_start(hold_token=hold_place(drop_id=drop.pk, email="fuzz-order@example.com", quantity=1).token)
    popup = make_popup(partner=partner)
    pickup_drop = make_pickup_drop(popup=popup, quantity=50, per_customer_limit=50)
    slot = make_slot(popup, capacity=50)
    booking = pickup_slot_book(drop_id=pickup_drop.pk, slot_id=slot.pk, email="fuzz-pickup@example.com", quantity=1)
    campaign = make_campaign(quantity=20, session=drop.session)
    request = sample_request_create(
        campaign_id=campaign.pk, email="fuzz-sample@example.com", use_case="A gift", consent=True, rate_limit=False
    ).request
    return {
        "headers": {"X-API-Key": raw},
        "values": {
            "session_id": str(drop.session.public_id),
            "drop_id": drop.pk,
            "token": hold.token,
            "number": order.number,
            "order_number": booking.order.number,
            "popup_id": popup.pk,
            "slot_id": slot.pk,
            "request_id": request.pk,
            "campaign": campaign.slug,
            "format_slug": drop.session.format.slug,
            "series_id": getattr(drop.session, "series_id", None) or 1,
        },
    }


def _aim(case, values: dict) -> None:
    """Point a valid case at the seeded objects (for parameters whose names we know)."""
    for part in ("path_parameters", "query"):
        params = getattr(case, part) or {}
        for name in params:
            if name in values:
                params[name] = values[name]
    if isinstance(case.body, dict):
        for name in case.body:
            if name in values:
                case.body[name] = values[name]


@pytest.mark.django_db  # one rolled-back transaction: no flush, the migrations' seed data stays for later tests
def test_fuzz_every_operation(wsgi_app, seeded):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", wsgi_app)
    schema.validate()  # the schema itself is valid OpenAPI
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15, [op.label for op in operations]

    stats = {"requests": 0, "5xx": 0}
    failures: list[str] = []
    aimed = count()
    started = time.monotonic()

    def fuzz(operation, mode):
        checks = CHECKS

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            if mode == GenerationMode.POSITIVE and next(aimed) % 2:
                _aim(case, seeded["values"])
            response = case.call(headers=seeded["headers"])
            stats["requests"] += 1
            if response.status_code >= 500:
                stats["5xx"] += 1
                failures.append(f"{NOT_A_SERVER_ERROR}: {response.status_code} {case.as_curl_command()}")
                return
            try:
                case.validate_response(response, checks=checks)
            except (Exception, BaseExceptionGroup) as exc:  # conformance failures: keep going, report them all
                failures.append(f"{type(exc).__name__}: {str(exc)[:800]}\n{case.as_curl_command()}")

        run()

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(operation, mode)

    elapsed = time.monotonic() - started
    print(
        f"\nschemathesis: {len(operations)} operations fuzzed, {stats['requests']} requests, "
        f"{stats['5xx']} answers 5xx, {len(failures)} failures, {elapsed:.1f} s ({EXAMPLES} examples per mode)"
    )
    assert not failures, "\n\n".join(failures[:20])
