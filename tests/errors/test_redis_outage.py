"""Redis down (the shared cache, rate limits, the watch buffer): 503 `service_unavailable` with
Retry-After, as for a database outage, never a 500 (config.errors.REDIS_DOWN)."""

from __future__ import annotations

import pytest
import redis
from django.urls import reverse

from tests.factories import LiveSessionFactory

pytestmark = pytest.mark.django_db

DEAD_REDIS = {"default": {"BACKEND": "config.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}}


def test_a_page_that_needs_the_cache_answers_503_while_redis_is_down(web, settings):
    session = LiveSessionFactory(status="live")
    settings.CACHES = DEAD_REDIS
    settings.SERVICE_UNAVAILABLE_RETRY_AFTER = 11
    response = web.get(reverse("sessions_app:session_status", args=[session.public_id]))
    assert response.status_code == 503
    assert response["Retry-After"] == "11"
    assert b"Back in a moment" in response.content  # the storefront's 503 page, not the 500 one


def test_the_api_answers_json_503_when_redis_times_out(web, every_scope, monkeypatch):
    from sessions_app import api

    def catalogue(queryset):
        raise redis.TimeoutError("Timeout reading from socket")

    monkeypatch.setattr(api, "catalogue", catalogue)
    response = web.get("/api/v1/sessions", headers=every_scope)
    assert response.status_code == 503
    assert response.json()["code"] == "service_unavailable"
    assert "Retry-After" in response
