"""Product images: uploads checked by content, thumbnails through the storage, catalog URLs fetched safely.

A local HTTP server (tests/commerce/image_support.py) stands in for a catalog's CDN; loopback is
allowed only in the tests that use it (PRODUCT_IMAGE_FETCH_ALLOW_LOOPBACK).
"""

from __future__ import annotations

import datetime as dt
import io
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from PIL import Image

from commerce.images import ImageRejected, image_check, thumbnails_render
from commerce.models import Product, ProductImage
from commerce.safefetch import FetchError, FetchRefused, address_allowed, fetch_image_bytes
from commerce.services import product_images
from commerce.services.catalog_import import catalog_import
from tests.factories import ProductFactory, SkuFactory, make_drop

from .image_support import SVG, ImageServer, jpeg_bytes, png_bomb, png_bytes

pytestmark = pytest.mark.django_db
Ready, Failed, Pending = ProductImage.State.READY, ProductImage.State.FAILED, ProductImage.State.PENDING


@pytest.fixture
def media(settings, tmp_path):
    """The default storage is a FileSystemStorage in a fresh directory (what `make run` uses, under var/media)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path), "base_url": "/media/"},
        },
    }
    return tmp_path


@pytest.fixture
def image_server(settings):
    settings.PRODUCT_IMAGE_FETCH_ALLOW_LOOPBACK = True
    settings.PRODUCT_IMAGE_FETCH_READ_TIMEOUT = 0.5
    with ImageServer() as server:
        yield server


def stored_files(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


# --- checking untrusted bytes -----------------------------------------------------------------


def test_image_check_accepts_real_images_by_content():
    assert image_check(jpeg_bytes(640, 480)).format == "JPEG"
    assert (image_check(png_bytes()).extension, image_check(png_bytes()).width) == ("png", 300)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "empty"),
        (SVG, "not an image"),
        (b"<html>hello</html>" * 10, "not an image"),
        (jpeg_bytes()[:400], "damaged or truncated"),
        (png_bomb(), "megapixels"),
    ],
)
def test_image_check_refuses_by_content(data, needle):
    with pytest.raises(ImageRejected, match=needle):
        image_check(data)


def test_image_check_size_and_pixel_limits(settings):
    settings.PRODUCT_IMAGE_MAX_BYTES = 1000
    with pytest.raises(ImageRejected, match="at most"):
        image_check(jpeg_bytes())
    settings.PRODUCT_IMAGE_MAX_BYTES = 10_000_000
    settings.PRODUCT_IMAGE_MAX_PIXELS = 1200 * 800 - 1
    with pytest.raises(ImageRejected, match="1200 × 800"):
        image_check(jpeg_bytes(1200, 800))


def test_thumbnails_are_webp_at_each_width_oriented_and_never_upscaled():
    # given a landscape photo whose EXIF says "rotate 90°" (a phone picture held upright)
    data = jpeg_bytes(1200, 800, orientation=6)
    # when thumbnails are rendered
    thumbs = thumbnails_render(data, [160, 480, 2000])
    # then each is a WebP that fits its box, upright (portrait), and the 2000 px one is not enlarged
    sizes = [(w, h) for _body, w, h in thumbs]
    assert sizes == [(107, 160), (320, 480), (800, 1200)]
    for body, w, h in thumbs:
        with Image.open(io.BytesIO(body)) as img:
            assert (img.format, img.size) == ("WEBP", (w, h))
            assert not img.getexif()  # metadata (GPS, camera) is not copied


# --- the SSRF guard ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "allowed"),
    [
        ("93.184.215.14", True),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True),
        ("127.0.0.1", False),
        ("::1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),  # noqa: S104 (the point: never fetched)
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("fd00::1", False),
        ("fe80::1", False),
        ("224.0.0.1", False),
    ],
)
def test_only_public_addresses_are_fetched(ip, allowed):
    assert address_allowed(ip) is allowed


def test_loopback_is_refused_unless_the_setting_allows_it(settings):
    with ImageServer() as server:
        settings.PRODUCT_IMAGE_FETCH_ALLOW_LOOPBACK = False
        with pytest.raises(FetchRefused, match="not a public address"):
            fetch_image_bytes(server.url("/photo.jpg"))
        assert server.hits == {}  # refused before connecting
        settings.PRODUCT_IMAGE_FETCH_ALLOW_LOOPBACK = True
        body, content_type = fetch_image_bytes(server.url("/photo.jpg"))
        assert (body, content_type) == (server.photo, "image/jpeg")


@pytest.mark.parametrize(
    "target",
    ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/a.jpg", "http://[::1]:1/a.jpg", "file:///etc/passwd"],
)
def test_a_redirect_to_a_private_address_is_refused(image_server, target, settings):
    # loopback is allowed for the test server itself, never for 169.254/10/…; ::1 is loopback but
    # the guard is checked on the redirect too (here: allowed host, closed port → unreachable)
    with pytest.raises(FetchError) as exc:
        fetch_image_bytes(image_server.url(f"/redirect?to={target}"))
    assert image_server.hits == {"/redirect": 1}
    if "::1" not in target:
        assert isinstance(exc.value, FetchRefused)


def test_a_dns_name_is_checked_by_the_address_it_resolves_to(settings, monkeypatch):
    # given a public-looking name that resolves to the metadata address (DNS rebinding / internal names)
    real = socket.getaddrinfo

    def fake(host, *args, **kwargs):
        if host == "images.example.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 80))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    with pytest.raises(FetchRefused, match="169.254.169.254"):
        fetch_image_bytes("http://images.example.com/a.jpg")


@pytest.mark.parametrize(
    ("path", "needle"),
    [
        ("/page.html", "not an image: Content-Type text/html"),
        ("/missing.jpg", "HTTP 404"),
        ("/huge.jpg", "too large"),
        ("/slow.jpg", "unreachable"),
    ],
)
def test_fetch_failures_say_why(image_server, settings, path, needle):
    settings.PRODUCT_IMAGE_MAX_BYTES = 1_000_000
    with pytest.raises(FetchError, match=needle):
        fetch_image_bytes(image_server.url(path))


def test_credentials_in_the_url_are_refused():
    with pytest.raises(FetchRefused, match="user name"):
        fetch_image_bytes("https://user:pw@cdn.example.com/a.jpg")


# --- uploads in the admin --------------------------------------------------------------------


def product_form(product, **images) -> dict:
    data = {
        "handle": product.handle,
        "title": product.title,
        "body_html": "",
        "vendor": "",
        "product_type": "",
        "tags": "",
        "published": "on",
        "image_urls": "[]",
        "skus-TOTAL_FORMS": "0",
        "skus-INITIAL_FORMS": "0",
        "skus-MIN_NUM_FORMS": "0",
        "skus-MAX_NUM_FORMS": "1000",
        "images-TOTAL_FORMS": "1",
        "images-INITIAL_FORMS": "0",
        "images-MIN_NUM_FORMS": "0",
        "images-MAX_NUM_FORMS": "1000",
        "images-0-product": str(product.pk),
        "images-0-id": "",
        "images-0-sku": "",
        "images-0-position": "1",
        "images-0-alt_text": "Blue bracelet on a table",
        "_save": "Save",
    }
    data.update({f"images-0-{k}": v for k, v in images.items()})
    return data


def test_staff_upload_makes_thumbnails_that_pages_show(admin_client, media, django_capture_on_commit_callbacks):
    # given a product on sale in a live session, without pictures: pages show the placeholder
    product = ProductFactory(image_urls=[])
    drop = make_drop(sku=SkuFactory(product=product))
    page = drop.session.get_absolute_url()
    assert "img/product-placeholder.svg" in admin_client.get(page).content.decode()
    # when staff upload a photo on the product page
    upload = SimpleUploadedFile("IMG_0001.JPG", jpeg_bytes(), content_type="image/jpeg")
    url = reverse("admin:commerce_product_change", args=[product.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, product_form(product, original=upload))
    assert response.status_code == 302, response.content.decode()[-3000:]
    # then the original and two WebP thumbnails are in the storage, and the image is ready
    image = ProductImage.objects.get(product=product)
    assert (image.state, image.width, image.height, image.error) == (Ready, 1200, 800, "")
    assert [(t["width"], t["height"]) for t in image.thumbnails] == [(160, 107), (480, 320)]
    files = stored_files(media)
    assert image.original.name in files
    assert not any("IMG_0001" in f for f in files)  # the uploader's file name is not kept
    assert all(t["name"] in files for t in image.thumbnails)
    # and the session page shows the thumbnails with a srcset instead of the placeholder
    html = admin_client.get(page).content.decode()
    small, large = (default_storage.url(t["name"]) for t in image.thumbnails)
    assert f'srcset="{small} 160w, {large} 480w"' in html
    assert 'alt="Blue bracelet on a table"' in html
    assert "product-placeholder" not in html
    # and the product list says so
    listing = admin_client.get(reverse("admin:commerce_product_changelist")).content.decode()
    assert "1 ready" in listing


@pytest.mark.parametrize(
    ("name", "data", "needle"),
    [
        ("bracelet.jpg", b"<html>this is a web page</html>", "Upload a valid image"),
        ("logo.svg", SVG, "Upload a valid image"),
        ("bomb.png", png_bomb(8000, 8000), "megapixels"),  # under Pillow's own guard, over ours
    ],
)
def test_a_bad_upload_is_a_form_error_and_stores_nothing(admin_client, media, name, data, needle):
    product = ProductFactory(image_urls=[])
    url = reverse("admin:commerce_product_change", args=[product.pk])
    response = admin_client.post(url, product_form(product, original=SimpleUploadedFile(name, data)))
    assert response.status_code == 200
    assert needle in response.content.decode()
    assert not ProductImage.objects.exists()
    assert stored_files(media) == []


def test_a_failed_thumbnail_keeps_the_upload_and_a_retry_finishes_it(
    admin_client, media, monkeypatch, django_capture_on_commit_callbacks
):
    # given thumbnails cannot be made right now (the storage refuses writes of .webp, say)
    product = ProductFactory(image_urls=[])

    def broken(data, widths):
        raise ImageRejected("The image could not be decoded (simulated).")

    monkeypatch.setattr(product_images, "thumbnails_render", broken)
    url = reverse("admin:commerce_product_change", args=[product.pk])
    upload = SimpleUploadedFile("a.png", png_bytes(), content_type="image/png")
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.post(url, product_form(product, original=upload)).status_code == 302
    # then the upload is kept, the row says failed and why, and pages show the placeholder
    image = ProductImage.objects.get(product=product)
    assert (image.state, image.attempts) == (Failed, 1)
    assert "simulated" in image.error
    assert stored_files(media) == [image.original.name]
    assert "failed after 1 attempt(s)" in admin_client.get(url).content.decode()
    # when the cause is gone and staff run the action
    monkeypatch.undo()
    changelist = reverse("admin:commerce_product_changelist")
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(changelist, {"action": "images_retry", "_selected_action": [product.pk]})
    image.refresh_from_db()
    assert (image.state, image.attempts, image.error) == (Ready, 2, "")
    assert len(stored_files(media)) == 3


def test_replacing_an_upload_removes_the_old_thumbnails(media, django_capture_on_commit_callbacks):
    product = ProductFactory(image_urls=[])
    image = ProductImage(product=product, original=SimpleUploadedFile("a.jpg", jpeg_bytes(400, 300)))
    with django_capture_on_commit_callbacks(execute=True):
        product_images.product_image_save(image=image, original_changed=True)
    first = [t["name"] for t in ProductImage.objects.get().thumbnails]
    image = ProductImage.objects.get()
    image.original = SimpleUploadedFile("b.png", png_bytes(200, 200))
    with django_capture_on_commit_callbacks(execute=True):
        product_images.product_image_save(image=image, original_changed=True)
    image.refresh_from_db()
    assert image.state == Ready
    assert [(t["width"], t["height"]) for t in image.thumbnails] == [(160, 160), (200, 200)]
    files = stored_files(media)
    assert not set(first) & set(files)
    assert {image.original.name, *(t["name"] for t in image.thumbnails)} <= set(files)
    # and deleting the image removes its files
    with django_capture_on_commit_callbacks(execute=True):
        product_images.product_image_delete(image=image)
    assert [f for f in stored_files(media) if "/" + str(image.pk) + "/" in f] == []


def test_deleting_a_product_removes_its_image_files(admin_client, media, django_capture_on_commit_callbacks):
    product = ProductFactory(image_urls=[])
    image = ProductImage(product=product, original=SimpleUploadedFile("a.jpg", jpeg_bytes(300, 200)))
    with django_capture_on_commit_callbacks(execute=True):
        product_images.product_image_save(image=image, original_changed=True)
    assert len(stored_files(media)) == 3
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:commerce_product_delete", args=[product.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert (Product.objects.filter(pk=product.pk).exists(), stored_files(media)) == (False, [])


def test_a_claimed_image_is_not_processed_twice(media, now):
    product = ProductFactory(image_urls=[])
    image = ProductImage.objects.create(product=product, source_url="https://cdn.example.com/a.jpg")
    ProductImage.objects.filter(pk=image.pk).update(claimed_until=now + dt.timedelta(minutes=1))
    assert product_images.product_image_process(image_id=image.pk, now=now) == "skipped"
    image.refresh_from_db()
    assert (image.state, image.attempts) == (Pending, 0)


# --- catalog import: images fetched in the background ---------------------------------------

HEADER = (
    "Handle,Title,Option1 Name,Option1 Value,Variant Price,Image Src,Image Position,Image Alt Text,Variant Image\r\n"
)


def test_import_fetches_images_into_the_storage_after_commit(
    image_server, media, settings, client, django_capture_on_commit_callbacks
):
    settings.CATALOG_IMAGE_FETCH = True
    photo, png, html = image_server.url("/photo.jpg"), image_server.url("/pic.png"), image_server.url("/page.html")
    csv = (
        HEADER
        + f"ring,Ring,Size,S,10.00,{photo},1,Silver ring,\r\n"
        + f"ring,,,M,12.00,,,,{png}\r\n"
        + f"ring,,,,,{html},2,,\r\n"
    )
    # when the catalog is imported (nothing is fetched inside the import's transaction)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        report = catalog_import(data=csv.encode(), currency="USD")
        assert report.ok, report.errors
        assert image_server.hits == {}
    assert report.images_queued == 3
    for callback in callbacks:
        callback()
    # then each URL was fetched once into the storage: two ready, the web page failed with the reason
    images = {img.source_url: img for img in ProductImage.objects.all()}
    assert images[photo].state == Ready
    assert images[photo].alt_text == "Silver ring"
    assert images[png].state == Ready
    assert (images[html].state, images[html].error) == (Failed, "not an image: Content-Type text/html")
    assert image_server.hits == {"/photo.jpg": 1, "/pic.png": 1, "/page.html": 1}
    for image in (images[photo], images[png]):
        assert default_storage.exists(image.original.name)
        assert all(default_storage.exists(t["name"]) for t in image.thumbnails)
    # and the M variant shows its own (variant) picture, the S variant the product's first
    product = Product.objects.get(handle="ring")
    drop_m = make_drop(sku=product.skus.get(code="ring-m"))
    html_m = client.get(drop_m.session.get_absolute_url()).content.decode()
    assert default_storage.url(images[png].thumbnails[0]["name"]) in html_m
    # when the same file is imported again, only the failed image is queued again
    with django_capture_on_commit_callbacks(execute=True):
        again = catalog_import(data=csv.encode(), currency="USD")
    assert again.images_queued == 1
    assert image_server.hits["/photo.jpg"] == 1


def test_an_unreachable_image_keeps_the_placeholder_and_the_admin_shows_why(
    media, settings, client, admin_client, django_capture_on_commit_callbacks
):
    # given a catalog whose CDN cannot be reached (a closed port on loopback; this machine is offline)
    settings.CATALOG_IMAGE_FETCH = True
    settings.PRODUCT_IMAGE_FETCH_ALLOW_LOOPBACK = True
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    csv = HEADER + f"cup,Cup,Title,Default Title,5.00,http://127.0.0.1:{port}/cup.jpg,1,,\r\n"
    with django_capture_on_commit_callbacks(execute=True):
        assert catalog_import(data=csv.encode(), currency="USD").ok
    image = ProductImage.objects.get()
    assert image.state == Failed
    assert image.error.startswith("unreachable")
    assert not image.original
    product = Product.objects.get(handle="cup")
    drop = make_drop(sku=product.skus.get())
    assert "img/product-placeholder.svg" in client.get(drop.session.get_absolute_url()).content.decode()
    change = admin_client.get(reverse("admin:commerce_product_change", args=[product.pk])).content.decode()
    assert "failed after 1 attempt(s): unreachable" in change


def test_with_fetching_off_the_import_queues_nothing(media, settings, django_capture_on_commit_callbacks):
    settings.CATALOG_IMAGE_FETCH = False
    csv = HEADER + "cup,Cup,Title,Default Title,5.00,https://cdn.example.com/cup.jpg,1,,\r\n"
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        report = catalog_import(data=csv.encode(), currency="USD")
    assert (report.images_queued, len(callbacks)) == (0, 0)
    assert ProductImage.objects.get().state == Pending


def test_images_removed_from_the_catalog_are_deleted_uploads_are_kept(media, django_capture_on_commit_callbacks):
    csv = HEADER + "cup,Cup,Title,Default Title,5.00,https://cdn.example.com/a.jpg,1,,\r\n"
    catalog_import(data=csv.encode(), currency="USD")
    product = Product.objects.get()
    upload = ProductImage(product=product, original=SimpleUploadedFile("u.png", png_bytes()), position=5)
    product_images.product_image_save(image=upload, original_changed=True)
    csv2 = HEADER + "cup,Cup,Title,Default Title,5.00,https://cdn.example.com/b.jpg,1,,\r\n"
    with django_capture_on_commit_callbacks(execute=True):
        catalog_import(data=csv2.encode(), currency="USD")
    assert sorted(ProductImage.objects.values_list("source_url", flat=True)) == ["", "https://cdn.example.com/b.jpg"]


# --- concurrency (PostgreSQL) ------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_eight_workers_on_one_image_fetch_it_once(image_server, media):
    # given one catalog image queued eight times (re-imports, a retry click, a re-delivered task)
    product = ProductFactory(image_urls=[])
    image = ProductImage.objects.create(product=product, source_url=image_server.url("/photo.jpg"))
    gate = threading.Event()

    def work(_i):
        try:
            gate.wait()
            return product_images.product_image_process(image_id=image.pk)
        finally:
            connection.close()

    # when eight workers process it at the same moment, each on its own connection
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(work, i) for i in range(8)]
        gate.set()
        outcomes = sorted(f.result() for f in futures)
    # then exactly one fetched it and made thumbnails; the others stood back
    assert outcomes == ["ready"] + ["skipped"] * 7
    assert image_server.hits == {"/photo.jpg": 1}
    image.refresh_from_db()
    assert (image.state, image.attempts, len(image.thumbnails)) == (Ready, 1, 2)
    assert len(stored_files(media)) == 3
