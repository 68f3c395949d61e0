"""The PostgreSQL race helper sizes itself to the connections the server has free, and says so when it shrinks."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.commerce import test_races
from tests.commerce.test_races import MAX_CONNECTIONS, RaceShrunk, race, race_workers


@pytest.mark.parametrize(
    ("requested", "max_connections", "in_use", "reserved", "expected"),
    [
        (200, 100, 3, 3, MAX_CONNECTIONS),  # a quiet default server: the usual 60
        (200, 100, 60, 3, 32),  # a shared server: 100 − 60 − 3 − 5 free
        (16, 100, 60, 3, 16),  # a small race fits: unchanged
        (200, 25, 20, 3, 2),  # nearly full: still a race of two
        (1, 25, 24, 3, 1),  # one call needs one thread
    ],
)
def test_race_workers_fit_the_free_connections(requested, max_connections, in_use, reserved, expected):
    got = race_workers(requested, max_connections=max_connections, in_use=in_use, reserved=reserved)
    assert got == expected


def test_a_shrunk_race_warns_and_still_runs_every_call(monkeypatch):
    monkeypatch.setattr(test_races.connection, "vendor", "postgresql")
    monkeypatch.setattr(test_races, "server_connections", lambda: {"max_connections": 20, "in_use": 10, "reserved": 3})
    with pytest.warns(RaceShrunk, match="runs on 2 threads, not 40"):
        results = race(40, lambda i: i * i)
    assert results == [i * i for i in range(40)]


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_server_reports_its_connections():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run with DATABASE_URL=postgres://… (CI does)")
    found = test_races.server_connections()
    assert found["max_connections"] >= found["in_use"] >= 1 and found["reserved"] >= 0
