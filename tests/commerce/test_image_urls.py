"""Image URLs are untrusted input: only absolute http(s) URLs are imported, stored or rendered."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from commerce.models import Product, Sku
from commerce.services.catalog_import import catalog_import
from commerce.weburls import is_web_url
from tests.factories import ProductFactory, SkuFactory, make_drop

pytestmark = pytest.mark.django_db

HEADER = "Handle,Title,Variant Price,Image Src,Variant Image\r\n"
GOOD = "ok,Good product,9.99,https://cdn.example.com/ok.jpg,\r\n"

BAD_URLS = [
    "javascript:alert(document.cookie)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "ftp://files.example.com/a.jpg",
    "//cdn.example.com/protocol-relative.jpg",
    "/relative/path.jpg",
    "https://",
    "https://exa mple.com/a.jpg",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_a_non_http_image_src_is_a_row_error_and_nothing_is_imported(url):
    # given a catalog whose second product has a hostile image URL (quoted: it may contain commas)
    body = HEADER + GOOD + f'bad,Bad product,10.00,"{url}",\r\n'
    # when it is imported
    report = catalog_import(data=body.encode(), currency="USD")
    # then the row is reported against its column and the whole file is refused
    assert [(e.row, e.column) for e in report.errors] == [(3, "Image Src")]
    assert "http" in report.errors[0].message
    assert Product.objects.count() == 0


def test_a_non_http_variant_image_is_a_row_error():
    body = HEADER + 'v,Variant product,10.00,https://cdn.example.com/v.jpg,"javascript:alert(1)"\r\n'
    report = catalog_import(data=body.encode(), currency="USD")
    assert [(e.row, e.column) for e in report.errors] == [(2, "Variant Image")]
    assert Sku.objects.count() == 0


def test_http_and_https_image_urls_are_imported():
    body = HEADER + GOOD + "plain,Plain,5.00,http://img.example.com/p.png,https://img.example.com/v.png\r\n"
    report = catalog_import(data=body.encode(), currency="USD")
    assert report.ok, report.errors
    assert Product.objects.get(handle="plain").image_urls == ["http://img.example.com/p.png"]
    assert Sku.objects.get(product__handle="plain").image_url == "https://img.example.com/v.png"


def test_rows_stored_before_the_check_never_reach_a_page(client):
    # given a product written straight to the database with a hostile first image
    product = ProductFactory(image_urls=["javascript:alert(1)", "data:text/html,x", "https://cdn.example.com/real.jpg"])
    drop = make_drop(sku=SkuFactory(product=product))
    # then only the http(s) image is offered to code that reads it (the image fetch)
    assert product.image_url == "https://cdn.example.com/real.jpg"
    # and pages never hotlink a catalog URL: they show our own thumbnails or the static placeholder
    html = client.get(drop.session.get_absolute_url()).content.decode()
    assert "cdn.example.com" not in html
    assert "img/product-placeholder.svg" in html
    assert "javascript:" not in html
    assert "data:text/html" not in html
    # and with no usable image at all, the page shows none
    Product.objects.filter(pk=product.pk).update(image_urls=["javascript:alert(1)"])
    html = client.get(drop.session.get_absolute_url()).content.decode()
    assert "javascript:" not in html


def test_the_admin_form_refuses_non_http_urls():
    product = ProductFactory.build(handle="p-1", title="P", image_urls=["https://ok.example.com/a.jpg", "javascript:x"])
    with pytest.raises(ValidationError) as exc:
        product.full_clean()
    assert "Image 2" in str(exc.value)
    sku = SkuFactory.build(product=ProductFactory(), code="S-1", image_url="javascript:alert(1)")
    with pytest.raises(ValidationError) as exc:
        sku.full_clean()
    assert "image_url" in exc.value.message_dict


@pytest.mark.parametrize("url", BAD_URLS)
def test_is_web_url_refuses(url):
    assert not is_web_url(url)
