from __future__ import annotations

import uuid
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from ..weburls import is_web_url, validate_web_url, web_url_problem


class Product(models.Model):
    """A catalog product; its sellable variants are SKUs. Keyed by the Shopify handle."""

    handle = models.SlugField(max_length=255, unique=True)
    title = models.CharField(max_length=255)
    body_html = models.TextField(blank=True)
    vendor = models.CharField(max_length=255, blank=True)
    product_type = models.CharField(max_length=255, blank=True)
    tags = models.CharField(max_length=1000, blank=True)
    published = models.BooleanField(default=True)
    image_urls = models.JSONField(default=list, blank=True, help_text="Image URLs in position order.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title

    @property
    def image_url(self) -> str:
        """The first image that is an absolute http(s) URL ("" if none): what pages may render."""
        return next((url for url in self.image_urls or () if is_web_url(url)), "")

    def clean(self) -> None:
        super().clean()
        if not isinstance(self.image_urls, list):
            raise ValidationError({"image_urls": "A list of image URLs."})
        problems = [f"Image {i}: {p}." for i, url in enumerate(self.image_urls, 1) if (p := web_url_problem(url))]
        if problems:
            raise ValidationError({"image_urls": problems})


class Sku(models.Model):
    """A stock-keeping unit: one variant of a product with its option values and price."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="skus")
    code = models.CharField("SKU code", max_length=120, unique=True)
    options = models.JSONField(default=list, blank=True, help_text='[{"name": "Size", "value": "Small"}, …]')
    position = models.PositiveIntegerField(default=1)
    price_minor = models.PositiveBigIntegerField(help_text="List price in minor units of `currency`.")
    compare_at_minor = models.PositiveBigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3)
    inventory = models.IntegerField(default=0, help_text="Units on hand in the warehouse.")
    grams = models.PositiveIntegerField(default=0)
    barcode = models.CharField(max_length=64, blank=True)
    image_url = models.URLField(max_length=1000, blank=True, validators=[validate_web_url])
    requires_shipping = models.BooleanField(default=True)
    members_only = models.BooleanField(
        default=False, help_text="Exclusive: only active members can hold or buy it (docs/memberships.md)."
    )
    trial_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Sold as a refundable trial: the buyer may return it within this many days (docs/trials.md).",
    )

    class Meta:
        ordering = ["product__title", "position"]
        verbose_name = "SKU"
        constraints = [
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[A-Z]{3}$"),
                name="sku_currency_iso",
                violation_error_message="The currency must be a three-letter ISO code in capitals, e.g. EUR.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product.title} — {self.variant_title}" if self.variant_title else self.product.title

    @property
    def variant_title(self) -> str:
        values = [o["value"] for o in self.options if o.get("value") and o.get("value") != "Default Title"]
        return " / ".join(values)

    @property
    def title(self) -> str:
        """Never empty: the variant's option values, or its product's title for a SKU without any."""
        return self.variant_title or self.product.title


def product_image_upload_to(instance: ProductImage, filename: str) -> str:
    """Storage name of an uploaded original: products/<product id>/<random>.<ext> (never the uploader's name)."""
    ext = Path(filename).suffix.lower().lstrip(".")
    ext = ext if ext in {"jpg", "jpeg", "png", "webp", "gif"} else "img"
    return f"products/{instance.product_id}/{uuid.uuid4().hex}.{ext}"


class ProductImage(models.Model):
    """One picture of a product (or of one SKU): uploaded by staff, or fetched from a catalog URL.

    `original` is the validated file in the default storage (empty while a catalog URL waits to be
    fetched); `thumbnails` lists the resized WebP copies pages show ([{"name", "width", "height"}],
    storage names). `state` is what the background processing did: pending (queued), ready
    (thumbnails exist), failed (`error` says why; an uploaded original is kept). Pages only show
    ready images and fall back to a static placeholder (commerce.templatetags.shop.product_picture).
    """

    class State(models.TextChoices):
        PENDING = "pending", "pending"
        READY = "ready", "ready"
        FAILED = "failed", "failed"

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="images")
    sku = models.ForeignKey(
        Sku,
        on_delete=models.CASCADE,
        related_name="images",
        null=True,
        blank=True,
        help_text="Only for this variant (empty: the product's picture).",
    )
    position = models.PositiveIntegerField(default=1, help_text="Lower first; the first ready image is shown.")
    source_url = models.URLField(
        "catalog URL",
        max_length=1000,
        blank=True,
        validators=[validate_web_url],
        help_text="Where the catalog import fetches the image from (empty for uploads).",
    )
    original = models.ImageField(upload_to=product_image_upload_to, max_length=500, blank=True)
    alt_text = models.CharField(max_length=255, blank=True, help_text="Describes the picture (default: product title).")
    width = models.PositiveIntegerField(null=True, blank=True, editable=False)
    height = models.PositiveIntegerField(null=True, blank=True, editable=False)
    thumbnails = models.JSONField(default=list, blank=True, editable=False)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING, editable=False)
    error = models.CharField(max_length=500, blank=True, editable=False)
    attempts = models.PositiveIntegerField(default=0, editable=False)
    claimed_until = models.DateTimeField(null=True, blank=True, editable=False)
    processed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["product", "position", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=~(Q(original="") & Q(source_url="")),
                name="productimage_original_or_source_url",
                violation_error_message="Upload an image file or give the address of an image.",
            ),
            models.UniqueConstraint(
                fields=["product", "source_url"],
                condition=~Q(source_url=""),
                name="productimage_one_row_per_catalog_url",
                violation_error_message="This product already has an image from that address.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product} image {self.position}"

    def srcset_items(self) -> list[tuple[str, int]]:
        """(url, width) of each thumbnail, smallest first ([] unless ready)."""
        if self.state != self.State.READY:
            return []
        storage = self._meta.get_field("original").storage
        return [(storage.url(t["name"]), int(t["width"])) for t in sorted(self.thumbnails, key=lambda t: t["width"])]
