"""The funnel on real clickstream samples (REES46, OTTO) through the batch path, against pandas."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import Count

from analytics import selectors, services
from analytics.models import Event
from tests.conftest import SHARED_DATA
from tests.factories import LiveSessionFactory

pytestmark = pytest.mark.django_db

REES46 = SHARED_DATA / "clickstream" / "rees46_multicategory_2019-10_head4999.csv"
OTTO = SHARED_DATA / "clickstream" / "otto_sessions_sample_flat.csv"


def pandas_ordered_funnel(df, *, actor: str, kind: str, steps: list[str]) -> dict[str, int]:
    """Independent reference: per actor, the first row of each step after the previous step's row,
    rows ordered by (timestamp, file position)."""
    df = df.sort_values(["ts", "pos"]).reset_index(drop=True)
    df["order"] = range(len(df))
    reached = df[df[kind] == steps[0]].groupby(actor)["order"].min()
    counts = {steps[0]: len(reached)}
    for step in steps[1:]:
        rows = df[df[kind] == step].join(reached.rename("prev"), on=actor, how="inner")
        reached = rows[rows["order"] > rows["prev"]].groupby(actor)["order"].min()
        counts[step] = len(reached)
    return counts


def ingest(events, process):
    for start in range(0, len(events), 1000):
        accepted, errors = services.events_capture_many(events[start : start + 1000], now=dt.datetime.now(dt.UTC))
        assert errors == []
    process()


def test_rees46_funnel_matches_pandas(process):
    if not REES46.exists():
        pytest.skip(f"{REES46} is absent (CI has ../shared/data)")
    import pandas as pd

    df = pd.read_csv(REES46, dtype={"price": str, "user_id": str})
    df["pos"] = range(len(df))
    df["ts"] = pd.to_datetime(df["event_time"].str.replace(" UTC", ""), utc=True)
    # given the sample captured as one session's events (user_id = the visitor)
    session = LiveSessionFactory(starts_at=dt.datetime(2019, 10, 1, tzinfo=dt.UTC), duration_seconds=3 * 3600)
    events = [
        {
            "name": row.event_type,
            "visitor_id": row.user_id,
            "session_id": session.pk,
            "sku_id": int(row.product_id),
            "occurred_at": row.ts.to_pydatetime(),
            **(
                {"amount_minor": int(Decimal(row.price) * 100), "currency": "USD"}
                if row.event_type == "purchase"
                else {}
            ),
        }
        for row in df.itertuples()
    ]
    ingest(events, process)
    steps = ["view", "cart", "purchase"]
    app = selectors.session_funnel_from_events(session_id=session.pk, steps=tuple(steps))
    ref = pandas_ordered_funnel(df, actor="user_id", kind="event_type", steps=steps)
    assert app["visitors"] == ref
    assert ref["view"] > ref["cart"] > 0
    assert ref["purchase"] > 0
    # raw counts and revenue agree with the data's README
    assert Event.objects.filter(session_id=session.pk).count() == 4999
    assert Event.objects.filter(session_id=session.pk, name="purchase").count() == 54
    assert app["revenue_minor"] == int(df[df.event_type == "purchase"]["price"].map(Decimal).sum() * 100) == 1478659


def test_otto_funnel_matches_pandas(process):
    if not OTTO.exists():
        pytest.skip(f"{OTTO} is absent (CI has ../shared/data)")
    import pandas as pd

    df = pd.read_csv(OTTO)
    df["pos"] = range(len(df))
    df["ts"] = pd.to_datetime(df["ts_ms"], unit="ms", utc=True)
    names = {"clicks": "click", "carts": "cart", "orders": "purchase"}
    df["step"] = df["type"].map(names)
    session = LiveSessionFactory(starts_at=dt.datetime(2022, 7, 31, 22, 0, tzinfo=dt.UTC), duration_seconds=28 * 86400)
    events = [
        {
            "name": row.step,
            "visitor_id": f"otto{row.session}",
            "session_id": session.pk,
            "sku_id": int(row.aid),
            "occurred_at": row.ts.to_pydatetime(),
            **({"amount_minor": 0, "currency": "EUR"} if row.step == "purchase" else {}),
        }
        for row in df.itertuples()
    ]
    ingest(events, process)
    steps = ["click", "cart", "purchase"]
    app = selectors.session_funnel_from_events(session_id=session.pk, steps=tuple(steps))
    ref = pandas_ordered_funnel(df, actor="session", kind="step", steps=steps)
    assert app["visitors"] == ref
    assert ref["click"] == 20
    assert Event.objects.filter(session_id=session.pk).count() == 862
    counts = Event.objects.filter(session_id=session.pk).values_list("name").annotate(n=Count("pk"))
    assert dict(counts) == {"click": 800, "cart": 52, "purchase": 10}
