"""The back office a shop owner can run (issue #11 item 5): landing page, money in major units, friendly
constraint messages, Stripe's tables folded away, a customer's orders, orders never deleted, order CSV export."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from django import forms
from django.apps import apps
from django.db import connection
from django.db.models import CheckConstraint, UniqueConstraint
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from commerce.admin_dashboard import dashboard, revenue_by_day
from commerce.admin_money import money_form, money_text
from commerce.models import Coupon, Customer, Drop, Order, Refund, Sku
from commerce.services.orders import order_mark_paid, order_place
from commerce.staff_roles import SHOP_APPS
from sessions_app.models import LiveSession
from tests.factories import LiveSessionFactory, SkuFactory, make_drop, make_staff

pytestmark = pytest.mark.django_db


def paid_order(*, email="a@example.com", quantity=1, price_minor=1250, currency="EUR", paid_at=None, **drop_kwargs):
    drop = make_drop(
        quantity=10, per_customer_limit=5, price_minor=price_minor, sku=SkuFactory(currency=currency), **drop_kwargs
    )
    drop.currency = currency
    drop.save(update_fields=["currency"])
    order = order_place(drop_id=drop.pk, email=email, quantity=quantity)
    order_mark_paid(order_id=order.pk)
    if paid_at is not None:
        Order.objects.filter(pk=order.pk).update(paid_at=paid_at)
    order.refresh_from_db()
    return order


# --- money in major units ---------------------------------------------------------------------------


class SkuPriceForm(forms.ModelForm):
    class Meta:
        model = Sku
        fields = ["price_minor", "currency"]


@pytest.mark.parametrize(
    ("typed", "currency", "stored"),
    [
        ("12.50", "EUR", 1250),
        ("12.5", "USD", 1250),
        ("1500", "JPY", 1500),
        ("1.250", "KWD", 1250),
        ("1,299.00", "EUR", 129900),
    ],
)
def test_money_is_typed_in_major_units_and_stored_in_minor_units(typed, currency, stored):
    form = money_form(SkuPriceForm, {"price_minor": "currency"})(data={"price_minor": typed, "currency": currency})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["price_minor"] == stored


@pytest.mark.parametrize(
    ("typed", "currency", "message"),
    [
        ("10.5", "JPY", "JPY has no decimals: enter a whole amount"),
        ("1.2345", "KWD", "KWD takes at most 3 decimals"),
        ("12.505", "EUR", "EUR takes at most 2 decimals"),
        ("-1", "EUR", "cannot be negative"),
        ("twelve", "EUR", "Enter an amount such as 12.50."),
    ],
)
def test_money_with_too_many_decimals_or_not_a_number_is_a_clear_form_error(typed, currency, message):
    form = money_form(SkuPriceForm, {"price_minor": "currency"})(data={"price_minor": typed, "currency": currency})
    assert not form.is_valid()
    assert message in " ".join(form.errors["price_minor"])


def test_money_is_shown_in_major_units_with_its_currency(admin_client):
    sku = SkuFactory(price_minor=1250, currency="EUR")
    html = admin_client.get(reverse("admin:commerce_sku_change", args=[sku.pk])).content.decode()
    assert re.search(r'name="price_minor"[^>]*value="12.50"|value="12.50"[^>]*name="price_minor"', html)
    assert '<span class="mm-money-currency">EUR</span>' in html
    listing = admin_client.get(reverse("admin:commerce_sku_changelist")).content.decode()
    assert "12.50 EUR" in listing
    assert money_text(1500, "JPY") == "1,500 JPY" and money_text(1250, "KWD") == "1.250 KWD"


def test_drop_price_is_typed_in_its_skus_currency(admin_client):
    from tests.commerce.test_admin import _drop_form

    drop = make_drop(sku=SkuFactory(currency="JPY", price_minor=1500), price_minor=1500)
    response = admin_client.post(
        reverse("admin:commerce_drop_change", args=[drop.pk]), _drop_form(drop, price_minor="1800", currency="")
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    drop.refresh_from_db()
    assert drop.price_minor == 1800
    response = admin_client.post(
        reverse("admin:commerce_drop_change", args=[drop.pk]), _drop_form(drop, price_minor="18.5", currency="")
    )
    assert "JPY has no decimals" in response.content.decode()
    drop.refresh_from_db()
    assert drop.price_minor == 1800


def test_order_page_and_list_show_money_in_major_units(admin_client):
    order = paid_order(quantity=2, price_minor=1250)
    listing = admin_client.get(reverse("admin:commerce_order_changelist")).content.decode()
    assert "25.00 EUR" in listing
    page = admin_client.get(reverse("admin:commerce_order_change", args=[order.pk])).content.decode()
    assert "25.00 EUR" in page and "12.50 EUR" in page  # total and the line's unit price
    assert ">2500<" not in page


# --- friendly constraint messages ----------------------------------------------------------------------


SHOP_CONSTRAINTS = [
    pytest.param(model, constraint, id=f"{model._meta.label}.{constraint.name}")
    for label in SHOP_APPS
    for model in apps.get_app_config(label).get_models()
    for constraint in model._meta.constraints
    if isinstance(constraint, CheckConstraint | UniqueConstraint)
]


def test_the_walk_finds_the_constraints():
    assert len(SHOP_CONSTRAINTS) >= 40


@pytest.mark.parametrize(("model", "constraint"), SHOP_CONSTRAINTS)
def test_every_constraint_has_a_human_violation_message(model, constraint):
    message = str(constraint.get_violation_error_message())
    assert constraint.violation_error_message not in (None, constraint.default_violation_error_message), (
        f"give {constraint.name} a violation_error_message a shop owner understands"
    )
    assert constraint.name not in message and "%(name)s" not in message
    assert (message[0].isupper() or message[0] == "“") and message.rstrip().endswith((".", ")"))


def _coupon_form(**overrides):
    return {
        "code": "TOOMUCH",
        "kind": "percent",
        "percent_off": "150",
        "currency": "",
        "valid_from_0": "2026-07-03",
        "valid_from_1": "19:00:00",
        "valid_until_0": "2026-07-04",
        "valid_until_1": "19:00:00",
        "per_customer_limit": "1",
        "is_active": "on",
        **overrides,
    }


def test_a_150_percent_coupon_gets_a_friendly_error_not_a_constraint_name(admin_client):
    response = admin_client.post(reverse("admin:commerce_coupon_add"), _coupon_form())
    html = response.content.decode()
    assert response.status_code == 200
    assert "at most 100" in html
    assert "coupon_value_matches_kind" not in html
    assert not Coupon.objects.exists()


def test_a_per_customer_limit_of_0_gets_a_friendly_error(admin_client):
    from tests.commerce.test_admin import _drop_form

    drop = make_drop()
    response = admin_client.post(
        reverse("admin:commerce_drop_change", args=[drop.pk]), _drop_form(drop, per_customer_limit=0)
    )
    html = response.content.decode()
    assert "The per-customer limit must be at least 1 unit." in html
    assert "drop_per_customer_limit_positive" not in html


def test_a_fixed_coupon_amount_is_typed_in_major_units(admin_client):
    response = admin_client.post(
        reverse("admin:commerce_coupon_add"),
        _coupon_form(code="FIVE", kind="fixed", percent_off="", amount_off_minor="5.00", currency="EUR"),
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Coupon.objects.get().amount_off_minor == 500
    assert "5.00 EUR" in admin_client.get(reverse("admin:commerce_coupon_changelist")).content.decode()


# --- the landing page -------------------------------------------------------------------------------


def test_revenue_is_paid_orders_minus_refunds_per_currency_in_the_shops_days(settings):
    settings.SHOP_TIMEZONE = "America/New_York"
    now = dt.datetime(2026, 12, 3, 15, 0, tzinfo=dt.UTC)  # Thursday 10:00 in New York
    today = paid_order(price_minor=1000, paid_at=now - dt.timedelta(hours=1))
    paid_order(
        email="b@example.com", price_minor=2000, paid_at=dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)
    )  # Mon 30 Nov, 22:00 in NY
    paid_order(email="c@example.com", price_minor=500, currency="JPY", paid_at=now - dt.timedelta(days=1))
    paid_order(email="d@example.com", price_minor=9900, paid_at=now - dt.timedelta(days=10))  # last week
    Refund.objects.create(order=today, amount_minor=250, currency="EUR", status=Refund.Status.SUCCEEDED, settled_at=now)
    days = revenue_by_day(start=dt.date(2026, 11, 30), end=dt.date(2026, 12, 6))
    assert days == {
        "EUR": {dt.date(2026, 11, 30): 2000, dt.date(2026, 12, 3): 750},
        "JPY": {dt.date(2026, 12, 2): 500},
    }
    user = make_staff("ana", role="analyst")
    panel = dashboard(user=user, now=now)["revenue"]
    assert panel["week_start"] == dt.date(2026, 11, 30)
    rows = {r["currency"]: r for r in panel["rows"]}
    assert (rows["EUR"]["today_minor"], rows["EUR"]["week_minor"]) == (750, 2750)
    assert (rows["EUR"]["today"], rows["EUR"]["week"]) == ("7.50 EUR", "27.50 EUR")
    assert (rows["JPY"]["today_minor"], rows["JPY"]["week_minor"]) == (0, 500)
    chart = {c["id"]: c["config"] for c in panel["charts"]}["revenue-eur"]
    assert chart["data"]["datasets"][0]["data"] == [20.0, 0.0, 0.0, 7.5, 0.0, 0.0, 0.0]  # major units
    assert chart["options"]["scales"]["y"]["title"]["text"] == "EUR"


@pytest.mark.parametrize(
    ("role", "shown", "hidden"),
    [
        ("analyst", {"sessions", "revenue"}, {"fulfil", "samples", "failures"}),
        ("fulfilment", {"fulfil"}, {"revenue", "samples", "failures", "sessions"}),
        ("support", {"samples", "failures"}, {"revenue", "fulfil"}),
        ("host", {"sessions"}, {"revenue", "fulfil", "samples", "failures"}),
        ("owner", {"sessions", "revenue", "fulfil", "samples", "failures"}, set()),
    ],
)
def test_each_panel_shows_only_to_staff_who_may_see_it(client, role, shown, hidden):
    user = make_staff(f"u-{role}", role=role)
    panels = set(dashboard(user=user)) - {"shop_timezone"}
    assert shown <= panels and not (hidden & panels)
    client.force_login(user)
    html = client.get(reverse("admin:index")).content.decode()
    for name in shown:
        assert f'id="panel-{"live" if name == "sessions" else name}"' in html
    for name in hidden:
        assert f'id="panel-{"live" if name == "sessions" else name}"' not in html
    assert 'id="all-tables"' in html  # the model list stays reachable


def test_landing_page_lists_live_and_next_sessions_orders_to_fulfil_and_failures(admin_client):
    live = LiveSessionFactory(title="Ring night")
    LiveSessionFactory(
        title="Next week's AMA", status=LiveSession.Status.SCHEDULED, starts_at=timezone.now() + dt.timedelta(days=2)
    )
    LiveSessionFactory(
        title="Far away", status=LiveSession.Status.SCHEDULED, starts_at=timezone.now() + dt.timedelta(days=9)
    )
    to_ship = paid_order(session=live)
    done = paid_order(email="b@example.com", session=live)
    done.lines.update(fulfilled_quantity=1)
    from django_q.models import Failure

    Failure.objects.create(name="t1", func="x.y", started=timezone.now(), stopped=timezone.now(), success=False)
    html = admin_client.get(reverse("admin:index")).content.decode()
    assert "Ring night" in html and live.get_absolute_url() in html
    assert reverse("admin:sessions_app_livesession_change", args=[live.pk]) in html
    assert "Next week&#x27;s AMA" in html and "Far away" not in html
    assert '<span data-count="fulfil">1</span>' in html and to_ship.number in html and done.number not in html
    assert '<strong data-count="task-failures">1</strong>' in html
    assert 'data-chart="chart-revenue-eur"' in html and "12.50 EUR" in html
    # the "all orders to fulfil" link filters the list the same way
    listing = admin_client.get(reverse("admin:commerce_order_changelist") + "?fulfilment=open").content.decode()
    assert to_ship.number in listing and done.number not in listing


def test_landing_page_warns_about_ship_drops_without_a_shipping_rate(admin_client):
    from commerce.models import ShippingRate

    eur = make_drop()
    Drop.objects.filter(pk=eur.pk).update(currency="EUR")
    make_drop()  # USD, covered below
    ShippingRate.objects.create(name="US", countries=["US"], currency="USD", amount_minor=500)
    closed = make_drop(opens_in=-7200, closes_in=-60)
    Drop.objects.filter(pk=closed.pk).update(currency="GBP")  # already closed: nothing to warn about
    html = admin_client.get(reverse("admin:index")).content.decode()
    assert 'id="panel-shipping"' in html
    assert "No shipping rate in EUR: buyers will not be asked for an address" in html
    assert "in USD" not in html and "in GBP" not in html
    ShippingRate.objects.create(name="EU", countries=["DE"], currency="EUR", amount_minor=500)
    assert 'id="panel-shipping"' not in admin_client.get(reverse("admin:index")).content.decode()


def _index_queries(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(reverse("admin:index")).status_code == 200
    return len(ctx.captured_queries)


def test_landing_page_queries_do_not_grow_with_the_rows(admin_client):
    def add(n):
        for _ in range(n):
            session = LiveSessionFactory()
            LiveSessionFactory(status=LiveSession.Status.SCHEDULED, starts_at=timezone.now() + dt.timedelta(days=1))
            paid_order(email=f"{session.pk}@example.com", session=session)

    add(2)
    few = _index_queries(admin_client)
    add(5)
    many = _index_queries(admin_client)
    assert many == few
    assert few <= 25


# --- Stripe's tables ------------------------------------------------------------------------------


def test_stripes_tables_are_hidden_from_staff_and_folded_away_for_superusers(client, admin_client):
    owner = make_staff("owner1", role="owner")
    client.force_login(owner)
    html = client.get(reverse("admin:index")).content.decode()
    assert "djstripe" not in html and "mm-locked-apps" not in html
    sidebar = client.get(reverse("admin:commerce_order_changelist")).content.decode()
    assert "djstripe" not in sidebar
    html = admin_client.get(reverse("admin:index")).content.decode()
    folded = html.split('<details class="mm-locked-apps">', 1)[1].split("</details>", 1)[0]
    assert "app-djstripe" in folded and "app-django_q" in folded
    assert "app-djstripe" not in html.split('<details class="mm-locked-apps">', 1)[0]
    assert html.count('<details class="mm-locked-apps">') == 1


# --- a customer's orders, orders never deleted --------------------------------------------------------


def test_customer_page_lists_their_orders_with_links(admin_client):
    mine = paid_order(email="me@example.com")
    other = paid_order(email="other@example.com")
    customer = Customer.objects.get(orders=mine)
    html = admin_client.get(reverse("admin:commerce_customer_change", args=[customer.pk])).content.decode()
    assert mine.number in html and "12.50 EUR" in html
    assert reverse("admin:commerce_order_change", args=[mine.pk]) in html
    assert other.number not in html
    listing = admin_client.get(reverse("admin:commerce_customer_changelist")).content.decode()
    assert '<td class="field-order_count">1</td>' in listing


def test_orders_cannot_be_deleted_not_even_in_bulk_or_with_their_customer(admin_client):
    order = paid_order()
    actions = admin_client.get(reverse("admin:commerce_order_changelist")).context["action_form"].fields["action"]
    assert "delete_selected" not in dict(actions.choices)
    assert (
        admin_client.post(reverse("admin:commerce_order_delete", args=[order.pk]), {"post": "yes"}).status_code == 403
    )
    admin_client.post(
        reverse("admin:commerce_order_changelist"),
        {"action": "delete_selected", "_selected_action": [order.pk], "post": "yes"},
    )
    customer = order.customer
    response = admin_client.post(reverse("admin:commerce_customer_delete", args=[customer.pk]), {"post": "yes"})
    assert "Cannot delete" in response.content.decode() or response.status_code == 403
    assert Order.objects.filter(pk=order.pk).exists() and Customer.objects.filter(pk=customer.pk).exists()


# --- order CSV export ------------------------------------------------------------------------------


def _rows(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_export_action_streams_lines_totals_in_major_units_and_is_csv_injection_safe(admin_client):
    order = paid_order(email="x@example.com", quantity=2, price_minor=1250)
    Customer.objects.filter(pk=order.customer_id).update(name='=HYPERLINK("http://evil")')
    Order.objects.filter(pk=order.pk).update(
        shipping_minor=490,
        tax_minor=399,
        total_minor=2990,
        shipping_rate_name="DHL",
        shipping_address={"name": "@Ann", "street_address": "Hauptstr. 1", "city": "Berlin", "country_code": "DE"},
    )
    jpy = paid_order(email="y@example.com", price_minor=1500, currency="JPY")
    response = admin_client.post(
        reverse("admin:commerce_order_changelist"), {"action": "export_csv", "_selected_action": [order.pk, jpy.pk]}
    )
    assert response["Content-Type"].startswith("text/csv") and "attachment" in response["Content-Disposition"]
    rows = _rows(response)
    assert [r["order_number"] for r in rows] == [order.number, jpy.number]
    first = rows[0]
    assert first["customer_name"] == '\'=HYPERLINK("http://evil")'
    assert first["ship_name"] == "'@Ann" and first["ship_city"] == "Berlin" and first["ship_country_code"] == "DE"
    assert (first["currency"], first["subtotal"], first["shipping"], first["tax"], first["total"]) == (
        "EUR",
        "25.00",
        "4.90",
        "3.99",
        "29.90",
    )
    assert (first["line_quantity"], first["line_unit_price"], first["line_total"]) == ("2", "12.50", "25.00")
    assert (rows[1]["currency"], rows[1]["total"]) == ("JPY", "1500")


def test_export_button_exports_the_filtered_list_and_needs_its_permission(client, admin_client):
    paid = paid_order(email="p@example.com")
    unpaid_drop = make_drop(quantity=5)
    unpaid = order_place(drop_id=unpaid_drop.pk, email="u@example.com", quantity=1)
    listing = admin_client.get(reverse("admin:commerce_order_changelist") + "?status__exact=paid").content.decode()
    assert reverse("admin:commerce_order_export") + "?status__exact=paid" in listing
    rows = _rows(admin_client.get(reverse("admin:commerce_order_export") + "?status__exact=paid"))
    assert [r["order_number"] for r in rows] == [paid.number]
    assert unpaid.number not in {r["order_number"] for r in rows}
    bad = admin_client.get(reverse("admin:commerce_order_export") + "?nonsense=1")
    assert bad.status_code == 302 and "e=1" in bad["Location"]

    analyst = make_staff("ana2", role="analyst")  # sees orders, but not their addresses in bulk
    client.force_login(analyst)
    assert "Export CSV" not in client.get(reverse("admin:commerce_order_changelist")).content.decode()
    assert client.get(reverse("admin:commerce_order_export")).status_code == 403
    client.force_login(make_staff("ful", role="fulfilment"))
    assert _rows(client.get(reverse("admin:commerce_order_export")))[0]["order_number"] in {paid.number, unpaid.number}


# --- QA fixes: amounts Stripe refuses, exponent input, staff wording ----------------------------------


@pytest.mark.parametrize(
    ("typed", "currency", "message"),
    [
        ("1.555", "KWD", "KWD amounts go in steps of 0.010"),
        ("12.345", "KWD", "KWD amounts go in steps of 0.010"),
        ("1e3", "EUR", "Enter an amount such as 12.50."),
        ("1E-2", "EUR", "Enter an amount such as 12.50."),
        ("NaN", "EUR", "Enter an amount such as 12.50."),
        ("Infinity", "EUR", "Enter an amount such as 12.50."),
    ],
)
def test_amounts_stripe_refuses_or_in_exponent_form_are_form_errors(typed, currency, message):
    form = money_form(SkuPriceForm, {"price_minor": "currency"})(data={"price_minor": typed, "currency": currency})
    assert not form.is_valid()
    assert message in " ".join(form.errors["price_minor"])


def test_a_kwd_amount_on_the_step_is_accepted():
    form = money_form(SkuPriceForm, {"price_minor": "currency"})(data={"price_minor": "1.550", "currency": "KWD"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["price_minor"] == 1550


def test_a_kwd_drop_price_off_the_step_does_not_save(admin_client):
    from tests.commerce.test_admin import _drop_form

    drop = make_drop(sku=SkuFactory(currency="KWD", price_minor=12340), price_minor=12340)
    response = admin_client.post(
        reverse("admin:commerce_drop_change", args=[drop.pk]), _drop_form(drop, price_minor="12.345", currency="")
    )
    assert response.status_code == 200
    assert "KWD amounts go in steps of 0.010" in response.content.decode()
    drop.refresh_from_db()
    assert drop.price_minor == 12340


def test_coupon_amount_label_and_zero_percent_message_speak_to_staff(admin_client):
    html = admin_client.get(reverse("admin:commerce_coupon_add")).content.decode()
    assert "Amount off minor" not in html and "Amount off:" in html
    response = admin_client.post(reverse("admin:commerce_coupon_add"), _coupon_form(percent_off="0"))
    assert "A percent coupon needs a percentage from 1 to 100." in response.content.decode()
    assert not Coupon.objects.exists()


def test_a_session_past_its_start_but_not_live_is_late_on_the_landing_page_home_and_its_page(admin_client, client):
    late = LiveSessionFactory(
        title="Forgot to go live", status=LiveSession.Status.SCHEDULED, starts_at=timezone.now() - dt.timedelta(hours=1)
    )
    html = admin_client.get(reverse("admin:index")).content.decode()
    panel = html.split('id="panel-late"')[1].split("</section>")[0]
    assert "Forgot to go live" in panel and "late: not live yet" in panel
    assert reverse("admin:sessions_app_livesession_change", args=[late.pk]) in panel
    home = client.get(reverse("sessions_app:home")).content.decode()
    assert "Forgot to go live" in home and "Starting soon" in home
    page = client.get(late.get_absolute_url()).content.decode()
    assert "Starting soon" in page and "starts in" not in page
