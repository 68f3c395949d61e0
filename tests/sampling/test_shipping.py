"""3PL files: CSV export of approved requests; tracking import, all-or-nothing with a per-row report."""

from __future__ import annotations

import csv
import io

import pytest

from sampling.models import SampleRequest
from sampling.services.shipping import EXPORT_COLUMNS, TrackingFileError, shipments_export_csv, tracking_import
from tests.factories import ADDRESS_DE, make_campaign

from .helpers import approved_request

pytestmark = pytest.mark.django_db
S = SampleRequest.Status


def rows(text):
    return list(csv.DictReader(io.StringIO(text)))


def tracking_csv(*lines, header="request_id,tracking_number,carrier,status"):
    return ("\r\n".join([header, *lines]) + "\r\n").encode()


@pytest.fixture
def two_approved():
    campaign = make_campaign(declared_value_minor=1250, currency="EUR")
    a = approved_request(campaign, "ann@example.com")
    b = approved_request(
        campaign, "bob@example.com", address={**ADDRESS_DE, "name": "Bob", "street_address": "Gontardstraße 9"}
    )
    return campaign, a, b


def test_export_lists_approved_requests_only(two_approved):
    campaign, a, b = two_approved
    approved_request(make_campaign(vetting_threshold=0), "review@example.com")  # in review: not exported
    text = shipments_export_csv(campaign_id=campaign.pk)
    data = rows(text)
    assert list(data[0].keys()) == EXPORT_COLUMNS
    assert [r["request_id"] for r in data] == [str(a.pk), str(b.pk)]
    first = data[0]
    assert first["name"] == "Ann Example"
    assert first["street_address"] == "Gontardstraße 7"
    assert (first["postal_code"], first["city"], first["country"]) == ("10178", "BERLIN", "DE")
    assert (first["declared_value"], first["currency"]) == ("12.50", "EUR")
    assert first["sku"] == campaign.sku.code
    assert first["reference"] == a.token[:12]
    assert shipments_export_csv(campaign_id=campaign.pk) == text  # exporting changes nothing


def test_import_ships_and_delivers_with_a_report(two_approved):
    _, a, b = two_approved
    report = tracking_import(data=tracking_csv(f"{a.pk},1Z001,UPS,shipped", f"{b.pk},1Z002,UPS,delivered"))
    assert report.ok
    assert (report.rows, report.shipped, report.delivered, report.unchanged) == (2, 2, 1, 0)
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.status, a.tracking_number, a.carrier) == (S.SHIPPED, "1Z001", "UPS")
    assert b.status == S.DELIVERED
    assert [e.to_status for e in b.events.all()][-2:] == ["shipped", "delivered"]
    assert b.events.last().actor_label == "3pl import"
    again = tracking_import(data=tracking_csv(f"{a.pk},1Z001,UPS,shipped", f"{b.pk},1Z002,UPS,delivered"))
    assert (again.ok, again.shipped, again.delivered, again.unchanged) == (True, 0, 0, 2)


def test_import_by_reference_with_bom_and_default_status(two_approved):
    _, a, _ = two_approved
    data = "\ufeffreference,tracking_number,carrier\n" + f"{a.token[:12]},JD0001,DHL\n"
    assert tracking_import(data=data.encode()).shipped == 1
    a.refresh_from_db()
    assert a.status == S.SHIPPED


def test_one_bad_row_changes_nothing_and_every_problem_is_reported(two_approved):
    campaign, a, b = two_approved
    waiting = approved_request(make_campaign(vetting_threshold=0), "wait@example.com")
    report = tracking_import(
        data=tracking_csv(
            f"{a.pk},1Z001,UPS,shipped",
            "999999,1Z9,UPS,shipped",
            f"{b.pk},,UPS,shipped",
            f"{waiting.pk},1Z3,UPS,shipped",
            f"{a.pk},1Z001,UPS,lost",
        )
    )
    assert not report.ok
    assert [str(e) for e in report.errors] == [
        "row 3, column 'request_id': no sample request '999999'",
        "row 4, column 'tracking_number': a tracking number is needed to ship",
        f"row 5, column 'status': request {waiting.pk} is in review; it cannot become shipped",
        f"row 6, column 'request_id': request {a.pk} appears twice in the file",
    ]
    a.refresh_from_db()
    assert a.status == S.APPROVED
    assert a.tracking_number == ""


def test_unknown_status_is_a_row_error(two_approved):
    _, a, _ = two_approved
    report = tracking_import(data=tracking_csv(f"{a.pk},1Z001,UPS,lost"))
    assert [str(e) for e in report.errors] == ["row 2, column 'status': 'lost' is not shipped or delivered"]


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"\xff\xfe\x00bad", "not UTF-8"), (b"", "empty"), (b"id,number\n1,2\n", "request_id")],
)
def test_unreadable_files_are_refused(data, message):
    with pytest.raises(TrackingFileError) as exc:
        tracking_import(data=data)
    assert message in str(exc.value)


def test_export_neutralizes_spreadsheet_formulas():
    from types import SimpleNamespace

    from sampling.services.shipping import shipments_export_csv

    campaign = make_campaign(quantity=1)
    req = SimpleNamespace(
        pk=1,
        token="t" * 20,
        campaign=campaign,
        ship_name='=HYPERLINK("http://x")',
        email="a@example.com",
        ship_street_address="@SUM(A1)",
        ship_city="-1+1",
        ship_city_area="",
        ship_postal_code="10178",
        ship_country_area="",
        ship_country="DE",
    )
    text = shipments_export_csv(requests=[req])
    assert "'=HYPERLINK" in text and "'@SUM(A1)" in text and "'-1+1" in text
