"""Every catalog row is used or reported, and no SKU is nameless (issue #11, item 8)."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.management import call_command

from commerce.models import Product, Sku
from commerce.services.catalog_import import catalog_import, parse_catalog

pytestmark = pytest.mark.django_db

HEADER = "Handle,Title,Body (HTML),Option1 Name,Option1 Value,Variant SKU,Variant Price,Image Src,Variant Grams\r\n"


def notes_of(csv_text: str) -> list[str]:
    report = catalog_import(data=csv_text.encode(), currency="USD")
    assert report.ok, report.errors
    return [str(n) for n in report.notes]


def test_the_shipped_catalog_uses_every_row(catalog):
    assert catalog.notes == []


def test_a_note_row_with_a_handle_is_reported_not_dropped():
    # given a product and a row with its handle that carries only a remark
    body = HEADER + "mug,Mug,,Title,Default Title,,9.00,,\r\n" + 'mug,,"Glaze may vary, hand-made",,,,,,\r\n'
    # then the import succeeds and the row is listed as ignored, saying what it held
    assert notes_of(body) == [
        "row 3: ignored: no price, option values, SKU or image, so it adds nothing to product 'mug' "
        "(its 'Body (HTML)' not used)"
    ]
    assert Sku.objects.count() == 1
    assert Product.objects.get().body_html == ""


def test_a_price_only_row_without_options_gets_its_products_title_and_a_note():
    # given a product with a coloured variant and then a price-only row with no option value
    body = HEADER + "cap,Cap,,Color,Red,,20.00,,\r\n" + "cap,,,,,,18.00,,\r\n"
    notes = notes_of(body)
    # then both SKUs exist, neither is nameless, and the report says why the second reads like its product
    red, plain = Sku.objects.order_by("position")
    assert (red.title, str(red)) == ("Red", "Cap — Red")
    assert (plain.code, plain.title, str(plain)) == ("cap", "Cap", "Cap")
    assert notes == [
        "row 3: note: SKU 'cap' has no option values, so it is titled like its product ('Cap') and its "
        "sibling variants; add Option1 Value to tell them apart"
    ]


def test_a_single_default_variant_is_titled_by_its_product_without_a_note():
    assert notes_of(HEADER + "pen,Pen,,Title,Default Title,,3.00,,\r\n") == []
    sku = Sku.objects.get()
    assert (sku.variant_title, sku.title) == ("", "Pen")


def test_columns_a_row_cannot_set_are_reported():
    body = (
        HEADER
        + "hat,Hat,,Size,S,,10.00,https://cdn.example.com/1.jpg,100\r\n"
        + "hat,Big hat,,,M,,12.00,,100\r\n"  # a variant row renaming the product
        + "hat,,,,,,,https://cdn.example.com/2.jpg,250\r\n"  # an image row with a weight
        + ",,,,,,,,\r\n"  # a row of empty cells
    )
    assert notes_of(body) == [
        "row 3: ignored: 'Title' of product 'hat': only its first row (row 2) sets them",
        "row 4: ignored: 'Variant Grams': a row without a price, option values or SKU only adds an image",
        "row 5: ignored: every cell is empty",
    ]
    assert Product.objects.get().title == "Hat"
    assert Product.objects.get().image_urls == ["https://cdn.example.com/1.jpg", "https://cdn.example.com/2.jpg"]


def test_every_row_is_used_or_reported():
    # given a crafted file mixing every kind of row
    body = (
        HEADER
        + "a,A,,Size,S,,1.00,https://cdn.example.com/a1.jpg,\r\n"
        + "a,,,,M,,2.00,,\r\n"
        + "a,,,,,,,https://cdn.example.com/a2.jpg,\r\n"
        + "a,,just a remark,,,,,,\r\n"
        + "b,B,,Title,Default Title,B-1,3.00,,\r\n"
        + "b,,,,,B-2,4.00,,\r\n"
        + ",,,,,,,,\r\n"
    )
    notes: list = []
    products, errors, rows = parse_catalog(body, currency="USD", notes=notes)
    assert errors == []
    used = {s.row for p in products for s in p.skus} | {4}  # row 4 adds an image
    reported = {n.row for n in notes if n.kind == "ignored"}
    assert used | reported == set(range(2, rows + 2))
    assert not used & reported


def test_the_command_prints_the_notes(tmp_path, capsys):
    path = tmp_path / "c.csv"
    path.write_text(HEADER + "mug,Mug,,Title,Default Title,,9.00,,\r\nmug,,remark,,,,,,\r\n", encoding="utf-8")
    call_command("import_catalog", str(path), "--no-progress")
    out = capsys.readouterr().out
    assert "row 3: ignored: no price, option values, SKU or image" in out
    assert "1 row note(s) above" in out


def test_a_note_does_not_hide_an_error():
    body = HEADER + "mug,Mug,,Title,Default Title,,abc,,\r\nmug,,remark,,,,,,\r\n"
    report = catalog_import(data=body.encode(), currency="USD")
    assert [(e.row, e.column) for e in report.errors] == [(2, "Variant Price")]
    assert [n.row for n in report.notes] == [3]
    assert Product.objects.count() == 0


def test_row_numbers_count_records_like_the_errors_do():
    # a quoted body over several lines is one record: the note names record 3, as errors would
    body = HEADER + 'mug,Mug,"line one\nline two",Title,Default Title,,9.00,,\r\nmug,,remark,,,,,,\r\n'
    assert [n.row for n in catalog_import(data=body.encode(), currency="USD").notes] == [3]
    assert len(list(csv.reader(io.StringIO(body)))) == 3  # header + 2 records over 4 lines
