"""Admin dashboards: each renders its chart configs and tables; every table downloads as CSV."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.urls import reverse

from analytics.models import Experiment
from commerce.services.orders import order_mark_paid, order_place
from tests.factories import make_drop

pytestmark = pytest.mark.django_db


@pytest.fixture
def sold(committed, process):
    """A session where two viewers watched, one clicked and bought (and paid)."""
    drop = make_drop(quantity=5)
    with committed():
        from analytics.services import event_capture

        event_capture(name="view", visitor_id="va", session_id=drop.session_id)
        event_capture(name="view", visitor_id="vb", session_id=drop.session_id)
        event_capture(name="click", visitor_id="va", session_id=drop.session_id, drop_id=drop.pk)
        order = order_place(drop_id=drop.pk, email="a@example.com", quantity=1, visitor_id="va")
        order_mark_paid(order_id=order.pk)
    process()
    return drop


def charts(response) -> dict:
    html = response.content.decode()
    found = {}
    for chart_id in ("funnel", "weeks", "cohorts", "arms"):
        marker = f'<script id="chart-{chart_id}" type="application/json">'
        if marker in html:
            found[chart_id] = json.loads(html.split(marker, 1)[1].split("</script>", 1)[0])
    return found


def test_session_dashboard_shows_the_funnel_chart_and_exports_csv(admin_client, sold):
    url = reverse("admin:analytics_session", args=[sold.session_id])
    response = admin_client.get(url)
    assert response.status_code == 200
    assert "vendor/chartjs/chart.umd.js" in response.content.decode()
    funnel = charts(response)["funnel"]
    assert funnel["data"]["datasets"][0]["data"] == [2, 1, 1, 1, 1]
    exported = admin_client.get(url, {"csv": "funnel"})
    assert exported["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert rows[0]["visitors_view"] == "2"
    assert rows[0]["v2c"] == "0.5"
    assert (rows[0]["revenue_minor"], rows[0]["currency"]) == ("4299", "USD")
    drops = list(csv.DictReader(io.StringIO(admin_client.get(url, {"csv": "drops"}).content.decode())))
    assert drops[0]["visitors_purchase"] == "1"
    assert drops[0]["drop"] == str(sold)  # named as staff know it, not by its id
    assert admin_client.get(url, {"csv": "nope"}).status_code == 404


def test_series_format_cohort_and_index_dashboards_render(admin_client, sold):
    session = sold.session
    fmt_url = reverse("admin:analytics_format", args=[session.format_id])
    response = admin_client.get(fmt_url)
    assert response.status_code == 200
    weeks = charts(response)["weeks"]
    assert weeks["data"]["datasets"][0]["data"] == [0.5]  # V2C of the one week
    weekly = list(csv.DictReader(io.StringIO(admin_client.get(fmt_url, {"csv": "weeks"}).content.decode())))
    assert weekly[0]["visitors_purchase"] == "1"
    cohorts = admin_client.get(reverse("admin:analytics_cohorts"))
    assert cohorts.status_code == 200
    assert 'data-table="heatmap"' in cohorts.content.decode()
    heat = list(
        csv.DictReader(
            io.StringIO(admin_client.get(reverse("admin:analytics_cohorts"), {"csv": "heatmap"}).content.decode())
        )
    )
    assert heat[0]["customers"] == "1"
    assert heat[0]["w0"] == "1.0"
    index = admin_client.get(reverse("admin:analytics_dashboards"))
    assert index.status_code == 200
    assert reverse("admin:analytics_session", args=[session.pk]) in index.content.decode()
    assert admin_client.get(reverse("admin:analytics_series", args=[999])).status_code == 404


def test_experiment_dashboard_compares_two_formats(admin_client, sold):
    from sessions_app.models import SessionFormat

    other = SessionFormat.objects.exclude(pk=sold.session.format_id).first()
    experiment = Experiment.objects.create(name="AMA vs highlight", format_a=sold.session.format, format_b=other)
    response = admin_client.get(reverse("admin:analytics_experiment", args=[experiment.pk]))
    assert response.status_code == 200
    assert "not yet" in response.content.decode()
    rows = list(
        csv.DictReader(io.StringIO(admin_client.get(response.request["PATH_INFO"], {"csv": "arms"}).content.decode()))
    )
    assert [r["arm"] for r in rows] == ["A", "B"]
    assert rows[0]["sessions"] == "1"


def test_dashboards_need_staff(client, sold):
    response = client.get(reverse("admin:analytics_session", args=[sold.session_id]))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
