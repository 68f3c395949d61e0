"""Shared fixtures. Concurrency tests are marked `postgres` and skip on SQLite with a reason."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

CATALOG = Path(settings.BASE_DIR) / "commerce" / "data" / "shopify_jewelery.csv"
SHARED_DATA = Path(settings.BASE_DIR).parent / "shared" / "data"


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def pytest_collection_modifyitems(config, items):
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL: run with DATABASE_URL=postgres://… (CI does)")
    for item in items:
        if "postgres" in item.keywords and not is_postgres():
            item.add_marker(skip_pg)


@pytest.fixture
def now():
    return dt.datetime(2026, 11, 30, 18, 0, tzinfo=dt.UTC)


@pytest.fixture
def catalog(db):
    from commerce.services.catalog_import import catalog_import_file

    report = catalog_import_file(CATALOG, currency="USD")
    assert report.ok, report.errors
    return report


@pytest.fixture(autouse=True)
def _clear_cache():
    """Rate limits and micro-caches must not leak between tests."""
    from django.core.cache import cache

    from sessions_app import pagecache

    cache.clear()
    pagecache._local.clear()  # each process's copies of shared pages
    pagecache._rebuilding.clear()
    from analytics import views as analytics_views

    analytics_views._public_sessions.clear()  # ids are reused across tests (SQLite)
