"""Product images: staff uploads and catalog URLs become checked originals and WebP thumbnails.

Decision: thumbnails are made in the background, by one idempotent django-q2 task per image
(`commerce.tasks.product_image_process` → `product_image_process`), for uploads and catalog URLs
alike. The upload itself is validated and stored in the admin's request (so a failed thumbnail
never loses it: the row keeps its original and says `failed` with the reason), and a catalog
import never waits for the network (so `make run`'s demo never hangs on an unreachable CDN).

States (`ProductImage.state`): pending → ready, or pending → failed (`error`). A task claims a
row with a lease (`claimed_until`, a conditional UPDATE), so two tasks for one row never both
work on it, and a worker killed mid-task only delays the row until the lease lapses and the
next queueing (admin action "Fetch images and make thumbnails again", or importing the catalog
again) takes it. Pages show only ready images, else a static placeholder.

Files (default storage, FileSystemStorage or S3): originals uploaded by staff under
`products/<product id>/<random>.<ext>`; fetched originals and thumbnails under
`products/<product id>/<image id>/…` with a random part, so a CDN never serves a stale copy.
Replaced and deleted files are removed after the transaction that dropped them commits.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from ..images import ImageRejected, image_check, thumbnails_render
from ..models import Product, ProductImage
from ..safefetch import FetchError, fetch_image_bytes

logger = logging.getLogger(__name__)

State = ProductImage.State


def _lease() -> dt.timedelta:
    return dt.timedelta(seconds=int(settings.Q_CLUSTER.get("timeout", 120)) + 30)


def _delete_files_on_commit(names: list[str]) -> None:
    names = [n for n in names if n]
    if not names:
        return

    def delete():
        for name in names:
            try:
                default_storage.delete(name)
            except Exception:  # a leftover file is harmless; never fail the caller for it
                logger.warning("could not delete %s from the storage", name, exc_info=True)

    transaction.on_commit(delete, robust=True)


def product_images_queue_on_commit(*, image_ids: list[int]) -> None:
    """After the current transaction commits, queue one processing task per image id (idempotent)."""
    ids = sorted(set(image_ids))
    if not ids:
        return

    def queue():
        from django_q.conf import logger as q_logger
        from django_q.tasks import async_task

        # one summary line instead of django-q's "Enqueued …" per image (a catalog has dozens)
        level = q_logger.level
        q_logger.setLevel(max(level, logging.WARNING))
        try:
            for image_id in ids:
                try:
                    async_task(
                        "commerce.tasks.product_image_process",
                        image_id,
                        task_name=f"product image {image_id}",
                        group="images",
                    )
                except Exception:
                    logger.exception(
                        "could not queue product image %s; run the admin action to queue it again", image_id
                    )
        finally:
            q_logger.setLevel(level)
        logger.info("queued %d product image task(s)", len(ids))

    transaction.on_commit(queue, robust=True)


def product_image_save(*, image: ProductImage, original_changed: bool) -> ProductImage:
    """Save an image row from the admin (its upload already checked by the form); queue thumbnails.

    A new or replaced original resets the row to pending and queues `product_image_process` after
    commit; the previous thumbnails are removed once the new ones exist. Returns the saved row.
    """
    with transaction.atomic():
        if original_changed:
            image.state = State.PENDING
            image.error = ""
            image.claimed_until = None
        image.save()
        if original_changed:
            product_images_queue_on_commit(image_ids=[image.pk])
    return image


def product_image_delete(*, image: ProductImage) -> None:
    """Delete an image row and, after commit, its original and thumbnails from the storage."""
    with transaction.atomic():
        names = [image.original.name or "", *(t["name"] for t in image.thumbnails)]
        image.delete()
        _delete_files_on_commit(names)


def product_image_files_delete_on_commit(*, product_ids: list[int]) -> int:
    """Before products are deleted (their image rows go with them): remove their image files after commit.

    Call inside the transaction that deletes the products; returns the number of files scheduled.
    """
    names = []
    for image in ProductImage.objects.filter(product_id__in=product_ids):
        names += [image.original.name or "", *(t["name"] for t in image.thumbnails)]
    _delete_files_on_commit(names)
    return len([n for n in names if n])


def product_images_sync_catalog(
    *, product: Product, urls: list[str], alt_texts: dict[str, str] | None = None
) -> list[int]:
    """Make the product's catalog-URL images match `urls` (position order); call inside the import's transaction.

    New URLs get a pending row; rows of URLs no longer in the catalog are deleted with their files
    (uploads are never touched); positions and alt texts (`alt_texts`: url → text) follow the
    file. Returns the ids that still need processing (new, pending or failed rows), for
    `product_images_queue_on_commit`. Unchanged rows are not written.
    """
    alt_texts = alt_texts or {}
    existing = {img.source_url: img for img in product.images.exclude(source_url="")}
    wanted = {url: position for position, url in enumerate(urls, start=1)}
    for url, img in existing.items():
        if url not in wanted:
            product_image_delete(image=img)
    todo = []
    for url, position in wanted.items():
        img = existing.get(url)
        alt = alt_texts.get(url, "")[:255]
        if img is None:
            img = ProductImage.objects.create(product=product, source_url=url, position=position, alt_text=alt)
        elif (img.position, img.alt_text) != (position, alt):
            img.position, img.alt_text = position, alt
            img.save(update_fields=["position", "alt_text"])
        if img.state != State.READY:
            todo.append(img.pk)
    return todo


def product_images_retry(*, product_ids: list[int]) -> int:
    """Queue every image of these products that is not ready (failed ones go back to pending). Returns the count."""
    with transaction.atomic():
        images = ProductImage.objects.filter(product_id__in=product_ids).exclude(state=State.READY)
        ids = list(images.values_list("pk", flat=True))
        images.filter(state=State.FAILED).update(state=State.PENDING)
        product_images_queue_on_commit(image_ids=ids)
    return len(ids)


def _claim(image_id: int, now: dt.datetime) -> bool:
    return bool(
        ProductImage.objects.filter(pk=image_id)
        .exclude(state=State.READY)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        .update(claimed_until=now + _lease(), attempts=F("attempts") + 1)
    )


def product_image_process(*, image_id: int, now: dt.datetime | None = None) -> str:
    """Fetch (catalog URL) and check the original, then store its thumbnails. Idempotent; returns the outcome.

    Outcomes: "ready"; "failed" (the row's `error` says why: unreachable, refused address, not an
    image, too large, …; an original already stored is kept); "skipped" (ready already, gone, or
    another worker holds the claim); "stale" (the original was replaced meanwhile: the newer
    task does the work). Network and decoding happen outside any transaction.
    """
    now = now or timezone.now()
    if not _claim(image_id, now):
        return "skipped"
    image = ProductImage.objects.filter(pk=image_id).first()
    if image is None:
        return "skipped"
    storage = default_storage
    seen_original = image.original.name or ""
    original = seen_original
    new_files: list[str] = []
    thumbs: list[dict] = []
    error = ""
    info = None
    try:
        if original:
            with storage.open(original, "rb") as fh:
                data = fh.read()
            info = image_check(data)
        else:
            data, _content_type = fetch_image_bytes(image.source_url)
            info = image_check(data)
            original = storage.save(
                f"products/{image.product_id}/{image.pk}/original-{uuid.uuid4().hex[:12]}.{info.extension}",
                ContentFile(data),
            )
            new_files.append(original)
        for body, width, height in thumbnails_render(data, list(settings.PRODUCT_IMAGE_THUMB_WIDTHS)):
            name = storage.save(
                f"products/{image.product_id}/{image.pk}/w{width}-{uuid.uuid4().hex[:12]}.webp", ContentFile(body)
            )
            new_files.append(name)
            thumbs.append({"name": name, "width": width, "height": height})
    except (FetchError, ImageRejected) as exc:
        error = str(exc)
    except Exception as exc:  # storage or decoder trouble: record it for staff, never lose the row
        logger.exception("product image %s: processing failed", image_id)
        error = f"{type(exc).__name__}: {exc}"
    return _record(image_id, seen_original, original, info, thumbs, new_files, error[:500])


def _record(image_id, seen_original, original, info, thumbs, new_files, error) -> str:
    with transaction.atomic():
        row = ProductImage.objects.select_for_update().filter(pk=image_id).first()
        if row is None or (row.original.name or "") != seen_original:
            # deleted, or a new upload replaced the original while we worked: ours is not wanted
            _delete_files_on_commit(new_files)
            if row is not None:
                ProductImage.objects.filter(pk=image_id).update(claimed_until=None)
            return "skipped" if row is None else "stale"
        old = [t["name"] for t in row.thumbnails]
        row.claimed_until = None
        row.processed_at = timezone.now()
        if original and original != seen_original:
            row.original.name = original  # a fetched original is kept even if its thumbnails failed
        if info is not None:
            row.width, row.height = info.width, info.height
        if error:
            row.state, row.error = State.FAILED, error
            _delete_files_on_commit([t["name"] for t in thumbs])
        else:
            row.state, row.error, row.thumbnails = State.READY, "", thumbs
            _delete_files_on_commit([n for n in old if n not in {t["name"] for t in thumbs}])
        row.save()
        return row.state
