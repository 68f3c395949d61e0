"""Fixtures for the error tests: a client that answers like production (no re-raised exceptions)."""

from __future__ import annotations

import pytest
from django.test import Client

from commerce.models import ApiKey, Partner
from commerce.services.api_keys import api_key_create


@pytest.fixture
def web():
    """A test client that returns Django's own error answers instead of re-raising exceptions."""
    return Client(raise_request_exception=False)


@pytest.fixture
def partner(db):
    return Partner.objects.create(name="Fuzz Co")


@pytest.fixture
def every_scope(partner) -> dict[str, str]:
    """X-API-Key header of a key with every scope the product defines."""
    return {"X-API-Key": api_key_create(partner=partner, name="all scopes", scopes=list(ApiKey.SCOPES))[1]}
