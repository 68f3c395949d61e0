"""Catalog import from the real Shopify jewellery export shipped in commerce/data/."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from commerce.models import Product, Sku
from commerce.services.catalog_import import CatalogFileError, catalog_import
from tests.conftest import CATALOG

HEADER = "Handle,Title,Option1 Name,Option1 Value,Variant SKU,Variant Price,Variant Inventory Qty,Image Src\r\n"


def test_real_catalog_counts_prices_and_variants(catalog):
    # given the shipped Shopify export was imported (fixture)
    # then every product and variant is there
    assert Product.objects.count() == 20
    assert Sku.objects.count() == 23
    assert catalog.products_created == 20
    assert catalog.skus_created == 23
    # and prices are exact integer minor units
    assert Sku.objects.get(code="leather-anchor-gold").price_minor == 6999
    assert Sku.objects.get(code="leather-anchor-silver").price_minor == 5500
    chain = Sku.objects.get(code="chain-bracelet-blue")
    assert (chain.price_minor, chain.compare_at_minor, chain.currency) == (4299, 4499, "USD")
    assert Sku.objects.get(code="pretty-gold-necklace").price_minor == 4495
    # and variants keep their option names and values
    assert Sku.objects.get(code="gemstone-purple").options == [{"name": "Colour", "value": "Purple"}]
    assert Sku.objects.get(code="gemstone-purple").inventory == 0
    # and extra-image rows become product images, in position order
    origami = Product.objects.get(handle="origami-crane-necklace")
    assert len(origami.image_urls) == 4
    assert origami.skus.count() == 1
    # and multi-line quoted bodies survive
    assert Product.objects.exclude(body_html="").count() == 20


def test_import_is_idempotent(catalog):
    before = {s.code: (s.price_minor, s.product.updated_at) for s in Sku.objects.select_related("product")}
    report = catalog_import(data=CATALOG.read_bytes(), currency="USD")
    assert (report.products_created, report.products_updated, report.skus_created, report.skus_updated) == (0, 0, 0, 0)
    after = {s.code: (s.price_minor, s.product.updated_at) for s in Sku.objects.select_related("product")}
    assert before == after


def test_changed_price_updates_only_that_sku(catalog):
    data = CATALOG.read_bytes().replace(b",55,85,", b",57.50,85,")
    report = catalog_import(data=data, currency="USD")
    assert (report.skus_updated, report.skus_created, report.products_updated) == (1, 0, 0)
    assert Sku.objects.get(code="leather-anchor-silver").price_minor == 5750


@pytest.mark.django_db
def test_dry_run_writes_nothing():
    report = catalog_import(data=CATALOG.read_bytes(), currency="USD", dry_run=True)
    assert report.ok
    assert report.products_created == 20
    assert Product.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "row", "column", "needle"),
    [
        ("a,A,Title,Default Title,,,1,\r\n", 2, "Variant Price", "missing price"),
        ("a,A,Title,Default Title,,12.3.4,1,\r\n", 2, "Variant Price", "malformed price"),
        ("a,A,Title,Default Title,,-5,1,\r\n", 2, "Variant Price", "negative"),
        ("a,A,Size,S,X1,10,1,\r\nb,B,Size,M,X1,12,1,\r\n", 3, "Variant SKU", "duplicate SKU code 'X1'"),
        ("a,A,Size,S,,10,1,\r\n,,,M,,12,1,\r\n", 3, "Handle", "continuation row without a handle"),
        ("a,A,Title,Default Title,,10,many,\r\n", 2, "Variant Inventory Qty", "not a whole number"),
    ],
)
def test_bad_rows_import_nothing_and_are_reported(body, row, column, needle):
    good = "ok,Good product,Title,Default Title,,9.99,1,\r\n"
    report = catalog_import(data=(HEADER + good + body).encode(), currency="USD")
    assert not report.ok
    assert [(e.row, e.column) for e in report.errors] == [(row + 1, column)]
    assert needle in report.errors[0].message
    assert Product.objects.count() == 0
    assert Sku.objects.count() == 0


@pytest.mark.django_db
def test_unknown_currency_column_is_reported():
    data = "Handle,Title,Variant Price,Variant Currency\r\na,A,10,USD\r\nb,B,10,ABC\r\n"
    report = catalog_import(data=data.encode(), currency="USD")
    assert [(e.row, e.column) for e in report.errors] == [(3, "Variant Currency")]
    assert "unknown currency" in report.errors[0].message
    assert Product.objects.count() == 0


@pytest.mark.django_db
def test_zero_decimal_currency():
    data = "Handle,Title,Variant Price\r\nyen,Yen thing,1500\r\nbad,Bad,10.5\r\n"
    report = catalog_import(data=data.encode(), currency="JPY")
    assert [(e.row, e.column) for e in report.errors] == [(3, "Variant Price")]
    report = catalog_import(data=data.encode().split(b"bad,")[0], currency="JPY")
    assert report.ok
    assert Sku.objects.get(code="yen").price_minor == 1500


@pytest.mark.django_db
def test_bom_crlf_and_not_utf8():
    data = ("\ufeff" + HEADER + "a,Café,Title,Default Title,,10,1,\r\n").encode("utf-8")
    assert catalog_import(data=data, currency="USD").ok
    assert Product.objects.get(handle="a").title == "Café"
    with pytest.raises(CatalogFileError, match="not UTF-8"):
        catalog_import(data=(HEADER + "b,Caf\xe9,Title,Default Title,,10,1,\r\n").encode("latin-1"), currency="USD")


@pytest.mark.django_db
def test_command_reports_rows_and_imports_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "a,A,Title,Default Title,,abc,1,\r\n", encoding="utf-8")
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_catalog", str(bad), "--no-progress")
    assert "row 2, column 'Variant Price': malformed price" in capsys.readouterr().err
    assert Product.objects.count() == 0


@pytest.mark.django_db
def test_command_imports_and_dry_run(capsys):
    call_command("import_catalog", str(CATALOG), "--dry-run", "--no-progress")
    assert "Dry run" in capsys.readouterr().out
    assert Product.objects.count() == 0
    call_command("import_catalog", str(CATALOG), "--no-progress")
    assert "products 20 created" in capsys.readouterr().out
    assert Sku.objects.count() == 23
