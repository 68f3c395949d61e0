"""Product pictures with Pillow: check untrusted image bytes, then make WebP thumbnails.

`image_check(data)` is the one gate for uploads and fetched catalog images. It decides the type by
the file's content (Pillow's format detection, never the name or the Content-Type), refuses
anything but JPEG, PNG, WebP and (first frame of) GIF, anything over PRODUCT_IMAGE_MAX_BYTES,
and anything whose header claims more than PRODUCT_IMAGE_MAX_PIXELS pixels: that is checked
before a single pixel is decoded, so a small file that would inflate to gigabytes (a
"decompression bomb") costs nothing. Pillow's own bomb guard (Image.MAX_IMAGE_PIXELS) stays on.

`thumbnails_render(data, widths)` decodes a checked image once, applies its EXIF orientation,
and returns one WebP per width (never upscaled, aspect ratio kept, metadata such as GPS
position dropped) as (bytes, width, height).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

ALLOWED_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}
THUMBNAIL_QUALITY = 82


class ImageRejected(ValueError):
    """The bytes are not an image we accept; the message says why, in words for staff."""


@dataclass(frozen=True)
class ImageInfo:
    format: str  # Pillow's name: JPEG, PNG, WEBP, GIF
    extension: str  # jpg, png, webp, gif
    width: int
    height: int
    size: int  # bytes


def _limits() -> tuple[int, int]:
    return int(settings.PRODUCT_IMAGE_MAX_BYTES), int(settings.PRODUCT_IMAGE_MAX_PIXELS)


def image_check(data: bytes) -> ImageInfo:
    """Check untrusted image bytes without decoding their pixels.

    Returns ImageInfo. Raises ImageRejected when the bytes are empty or larger than
    PRODUCT_IMAGE_MAX_BYTES, are not JPEG/PNG/WebP/GIF by content, are truncated or corrupt
    (Pillow's verify), or declare more than PRODUCT_IMAGE_MAX_PIXELS pixels (width × height).
    """
    max_bytes, max_pixels = _limits()
    if not data:
        raise ImageRejected("The file is empty.")
    if len(data) > max_bytes:
        raise ImageRejected(f"The file is {len(data) / 1e6:.1f} MB; images may be at most {max_bytes / 1e6:.1f} MB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt = img.format or ""
                width, height = img.size
                if fmt not in ALLOWED_FORMATS:
                    raise ImageRejected(f"{fmt or 'This'} images are not accepted: use JPEG, PNG, WebP or GIF.")
                if width * height > max_pixels:
                    raise ImageRejected(
                        f"The image is {width} × {height} pixels; at most {max_pixels / 1e6:.0f} megapixels are accepted."
                    )
                img.verify()
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(
            f"The image declares too many pixels; at most {max_pixels / 1e6:.0f} megapixels are accepted."
        ) from exc
    except UnidentifiedImageError as exc:
        raise ImageRejected("This is not an image (JPEG, PNG, WebP or GIF), whatever its name says.") from exc
    except (OSError, SyntaxError, ValueError) as exc:  # Pillow's verify() reports corruption with these
        raise ImageRejected(f"The image is damaged or truncated ({exc}).") from exc
    return ImageInfo(format=fmt, extension=ALLOWED_FORMATS[fmt], width=width, height=height, size=len(data))


def thumbnails_render(data: bytes, widths: list[int]) -> list[tuple[bytes, int, int]]:
    """WebP thumbnails of checked image bytes, one per width: [(webp bytes, width, height)].

    Each fits inside width × width pixels (never larger than the original), after the EXIF
    orientation is applied. Call image_check first; raises ImageRejected if decoding fails anyway.
    """
    image_check(data)  # cheap, and makes this safe to call on bytes read back from the storage
    out = []
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.seek(0)
            img = ImageOps.exif_transpose(img)
            mode = "RGBA" if img.mode in {"RGBA", "LA", "PA"} or "transparency" in img.info else "RGB"
            base = img.convert(mode)
            for width in sorted(set(widths)):
                thumb = base.copy()
                thumb.thumbnail((width, width), Image.Resampling.LANCZOS)
                buffer = io.BytesIO()
                thumb.save(buffer, "WEBP", quality=THUMBNAIL_QUALITY, method=4)
                out.append((buffer.getvalue(), thumb.width, thumb.height))
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageRejected(f"The image could not be decoded ({exc}).") from exc
    return out
