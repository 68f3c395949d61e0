"""Admin pieces for product images: the upload form (checked by content) and the fetch-state labels."""

from __future__ import annotations

from django import forms
from django.utils import timezone

from .images import ImageRejected, image_check
from .models import ProductImage


class ProductImageForm(forms.ModelForm):
    """An upload is checked by its content (JPEG/PNG/WebP/GIF), its size and its pixel count (commerce.images)."""

    class Meta:
        model = ProductImage
        fields = ["original", "sku", "position", "alt_text"]

    def clean_original(self):
        upload = self.cleaned_data.get("original")
        if upload and "original" in self.changed_data:
            from django.conf import settings

            if upload.size and upload.size > settings.PRODUCT_IMAGE_MAX_BYTES:
                raise forms.ValidationError(
                    f"The file is {upload.size / 1e6:.1f} MB; images may be at most "
                    f"{settings.PRODUCT_IMAGE_MAX_BYTES / 1e6:.1f} MB.",
                    code="too_large",
                )
            upload.seek(0)
            data = upload.read()
            upload.seek(0)
            try:
                image_check(data)
            except ImageRejected as exc:
                raise forms.ValidationError(str(exc), code="bad_image") from exc
        return upload

    def clean(self):
        cleaned = super().clean()
        sku = cleaned.get("sku")
        product_id = self.instance.product_id
        if sku is not None and product_id and sku.product_id != product_id:
            self.add_error("sku", "Choose a SKU of this product.")
        if not cleaned.get("original") and not self.instance.source_url and not cleaned.get("DELETE"):
            self.add_error("original", "Choose an image file to upload.")
        return cleaned


def product_image_state_label(image: ProductImage) -> str:
    """What staff read about one image: ready, waiting/working, or failed with the reason."""
    if image.state == ProductImage.State.READY:
        return f"ready ({image.width}×{image.height})" if image.width else "ready"
    if image.state == ProductImage.State.FAILED:
        return f"failed after {image.attempts} attempt(s): {image.error}"
    if image.claimed_until and image.claimed_until > timezone.now():
        return "working on it…"
    if image.source_url and not image.original:
        return "waiting to be fetched (the page shows the placeholder)"
    return "waiting for thumbnails"


def product_images_summary(images) -> str:
    """ "2 ready, 1 failed" for a product's images ("none: placeholder" without any)."""
    counts: dict[str, int] = {}
    for image in images:
        counts[image.state] = counts.get(image.state, 0) + 1
    if not counts:
        return "none (placeholder)"
    return ", ".join(f"{counts[s]} {s}" for s in ProductImage.State.values if s in counts)
