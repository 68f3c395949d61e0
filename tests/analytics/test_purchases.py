"""Repeat purchase rate, cohorts and LTV; `manage.py import_transactions`; CDNOW against pandas to the cent."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from analytics import selectors
from analytics.models import CustomerStats, Purchase
from analytics.services.purchases import customer_stats_compute
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.django_db

CDNOW = SHARED_DATA / "transactions" / "CDNOW_master.txt"
D = dt.date(2026, 1, 1)


def p(days: int, amount: int, currency: str = "USD", at_offset: int = 0):
    day = D + dt.timedelta(days=days)
    return (
        day,
        amount,
        currency,
        None,
        dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC) + dt.timedelta(seconds=at_offset),
    )


def test_repeat_needs_a_later_day_within_the_window():
    # a second purchase on the first day is not a repeat; day 30 is, day 31 is not
    assert customer_stats_compute([p(0, 100), p(0, 200, at_offset=60)])["repeat_30d"] is False
    assert customer_stats_compute([p(0, 100), p(30, 200)])["repeat_30d"] is True
    assert customer_stats_compute([p(0, 100), p(31, 200)])["repeat_30d"] is False
    stats = customer_stats_compute([p(0, 100), p(7, 1), p(14, 10), p(60, 1000), p(61, 5000)])
    assert (stats["repeat_7d"], stats["repeat_14d"]) == (True, True)
    assert (stats["revenue_7d_minor"], stats["revenue_14d_minor"], stats["ltv_60d_minor"]) == (101, 111, 1111)
    assert stats["revenue_minor"] == 6111


def test_ltv_counts_only_the_first_purchase_currency():
    stats = customer_stats_compute([p(0, 100, "EUR"), p(3, 999, "USD"), p(4, 50, "EUR")])
    assert (stats["currency"], stats["ltv_60d_minor"], stats["purchases"]) == ("EUR", 150, 3)


def test_import_is_all_or_nothing_with_a_report_per_row(tmp_path):
    path = tmp_path / "log.txt"
    path.write_text(
        "customer_id date qty amount\n1 20260101 1 10.00\n2 2026-13-01 1 5.00\n3 20260102 x 1.0\n4 20260103 1 -3\n"
    )
    err = StringIO()
    with pytest.raises(CommandError, match="3 bad row"):
        call_command("import_transactions", str(path), source="t", no_progress=True, stderr=err)
    assert "row 3, column 'date'" in err.getvalue()
    assert "row 4, column 'quantity'" in err.getvalue()
    assert "row 5, column 'amount'" in err.getvalue()
    assert Purchase.objects.count() == 0


def test_import_twice_changes_nothing_and_feeds_the_cohort_table(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(
        "customer,date,quantity,amount\r\n7,2026-01-05,1,10.50\r\n7,2026-01-20,2,4.25\r\n8,2026-01-06,1,3.00\r\n"
    )
    out = StringIO()
    call_command("import_transactions", str(path), source="t", no_progress=True, stdout=out)
    call_command("import_transactions", str(path), source="t", no_progress=True, stdout=out)
    assert Purchase.objects.count() == 3
    assert "0 purchases added" in out.getvalue()
    (week,) = selectors.cohort_table(source="import:t")
    assert (week["cohort"], week["customers"], week["repeat_14d"], week["repeat_30d"]) == ("2026-01-05", 2, 0, 1)
    assert week["ltv_60d_minor"] == 1050 + 425 + 300
    assert selectors.repeat_rate(source="import:t") == {"customers": 2, "repeaters": 1, "rate": 0.5}


def test_a_missing_file_or_unknown_currency_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="not a file"):
        call_command("import_transactions", str(tmp_path / "nope.txt"), source="t", no_progress=True)
    path = tmp_path / "x.txt"
    path.write_text("1 20260101 1 1.00\n")
    with pytest.raises(CommandError, match="unknown currency"):
        call_command("import_transactions", str(path), source="t", currency="ZZZ", no_progress=True)


@pytest.fixture(scope="module")
def cdnow_reference():
    """Independent pandas reference (not the app's code) for CDNOW_master.txt."""
    if not CDNOW.exists():
        pytest.skip(f"{CDNOW} is absent (CI has ../shared/data)")
    import pandas as pd

    df = pd.read_csv(CDNOW, sep=r"\s+", dtype={"customer_id": str, "date": str, "dollar_value": str})
    df["cents"] = df["dollar_value"].map(lambda v: int(Decimal(v) * 100))
    df["day"] = pd.to_datetime(df["date"], format="%Y%m%d")
    first = df.groupby("customer_id")["day"].min().rename("first")
    df = df.join(first, on="customer_id")
    df["offset"] = (df["day"] - df["first"]).dt.days
    per = pd.DataFrame(
        {
            "repeat_7d": df[(df.offset > 0) & (df.offset <= 7)].groupby("customer_id").size() > 0,
            "repeat_14d": df[(df.offset > 0) & (df.offset <= 14)].groupby("customer_id").size() > 0,
            "repeat_30d": df[(df.offset > 0) & (df.offset <= 30)].groupby("customer_id").size() > 0,
            "rev7": df[df.offset <= 7].groupby("customer_id")["cents"].sum(),
            "rev14": df[df.offset <= 14].groupby("customer_id")["cents"].sum(),
            "ltv60": df[df.offset <= 60].groupby("customer_id")["cents"].sum(),
        },
        index=first.index,
    ).fillna({"repeat_7d": False, "repeat_14d": False, "repeat_30d": False})
    per = per.join(first)
    per["cohort"] = (per["first"] - pd.to_timedelta(per["first"].dt.day_of_week, unit="D")).dt.strftime("%Y-%m-%d")
    cohorts = per.groupby("cohort").agg(
        customers=("first", "size"),
        repeat_7d=("repeat_7d", "sum"),
        repeat_14d=("repeat_14d", "sum"),
        repeat_30d=("repeat_30d", "sum"),
        revenue_7d_minor=("rev7", "sum"),
        revenue_14d_minor=("rev14", "sum"),
        ltv_60d_minor=("ltv60", "sum"),
    )
    months = per["first"].dt.strftime("%Y-%m").value_counts().sort_index()
    return {
        "rows": len(df),
        "customers": len(first),
        "revenue_cents": int(df["cents"].sum()),
        "repeat_30d": int(per["repeat_30d"].sum()),
        "cohorts": {k: {c: int(v) for c, v in row.items()} for k, row in cohorts.iterrows()},
        "months": {k: int(v) for k, v in months.items()},
    }


def test_cdnow_matches_the_pandas_reference_to_the_cent(cdnow_reference):
    # given the full CDNOW log imported through the management command
    out = StringIO()
    call_command("import_transactions", str(CDNOW), source="cdnow", no_progress=True, stdout=out)
    ref = cdnow_reference
    # then revenue, customers and the 30-day repeat rate match pandas and the data's README figures
    assert Purchase.objects.filter(source="import:cdnow").count() == ref["rows"] == 69659
    assert selectors.revenue_total(source="import:cdnow") == {"USD": ref["revenue_cents"]}
    assert ref["revenue_cents"] == 250031563  # $2,500,315.63
    rate = selectors.repeat_rate(source="import:cdnow", days=30)
    assert rate["customers"] == ref["customers"] == 23570
    assert rate["repeaters"] == ref["repeat_30d"] == 4115
    assert round(rate["rate"], 6) == 0.174586
    # and the weekly cohort table matches cell by cell
    app = {
        row["cohort"]: {
            k: row[k]
            for k in (
                "customers",
                "repeat_7d",
                "repeat_14d",
                "repeat_30d",
                "revenue_7d_minor",
                "revenue_14d_minor",
                "ltv_60d_minor",
            )
        }
        for row in selectors.cohort_table(source="import:cdnow", period="week")
    }
    assert app == ref["cohorts"]
    months = {
        row["cohort"][:7]: row["customers"] for row in selectors.cohort_table(source="import:cdnow", period="month")
    }
    assert months == ref["months"] == {"1997-01": 7846, "1997-02": 8476, "1997-03": 7248}
    assert CustomerStats.objects.filter(source="import:cdnow", repeat_7d=True).count() == 1384
    # the heat map's week 0 holds every customer of its cohort
    heat = selectors.cohort_retention(source="import:cdnow", weeks=4)
    assert all(row["cells"][0] == 1.0 for row in heat["rows"])
    assert sum(row["customers"] for row in heat["rows"]) == 23570
