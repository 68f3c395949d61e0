"""Catalog import from Shopify's product CSV export.

Format (Shopify "Products" export/import CSV): one row per variant; the first row
of a product carries its Title/Body/Vendor/Type/Tags and the option *names*;
following rows with the same `Handle` carry further variants (option *values*,
`Variant Price`, …) or, when they have no price and no option values, extra
images (`Image Src`, `Image Position`).

The import is all-or-nothing: the whole file is parsed and validated first; any
bad row means nothing is written and a per-row report is returned. Valid files
are applied in one transaction, creating or updating products (by handle) and
SKUs (by SKU code); unchanged rows are not written, so importing the same file
twice changes nothing.

SKU codes: `Variant SKU` when present; otherwise `<handle>` for a product's
single default variant and `<handle>-<option values slugified>` for others.
Prices are parsed into integer minor units of the row's currency (column
`Variant Currency` or `Currency` when the file has one, else the `currency`
argument), see commerce.money.

Image URLs (`Image Src`, `Variant Image`) must be absolute http(s) URLs (commerce.weburls): a
`javascript:`, `data:` or relative URL is a per-row error like any other bad value. Each product's
image URLs become `ProductImage` rows (`Image Alt Text` as their alt text) that a background task
fetches into the storage and thumbnails after the import commits (CATALOG_IMAGE_FETCH; see
commerce.services.product_images): the import itself never touches the network.

Every row is used or reported. Rows and columns the import does not use do not block it: they
are listed in `report.notes` ("row N: ignored: …"): a row with a handle but no price, option
values, SKU or image (a note row); columns a row cannot set (a product's title, body, vendor,
type, tags, published flag and option names come from its first row only; a row without a price
or option values only adds an image); a row of empty cells. A SKU's title is never empty: a
variant without option values is titled like its product (`Sku.title`), and when its product
has other variants the report says so, since shoppers cannot tell them apart.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils.text import slugify

from ..models import Product, Sku
from ..money import MoneyError, check_currency, to_minor
from ..weburls import web_url_problem
from .product_images import product_images_queue_on_commit, product_images_sync_catalog

REQUIRED_COLUMNS = ("Handle", "Title", "Variant Price")
CURRENCY_COLUMNS = ("Variant Currency", "Currency")
OPTION_SLOTS = (1, 2, 3)


@dataclass(frozen=True)
class RowError:
    """One problem: `row` is the CSV record number with the header as row 1."""

    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column!r}: {self.message}"


@dataclass(frozen=True)
class RowNote:
    """A row (or some of its columns) the import did not use; `kind` is "ignored" or "note"."""

    row: int
    kind: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.kind}: {self.message}"


@dataclass
class ImportReport:
    """What an import did (or would do, with dry_run) and why it refused."""

    rows: int = 0
    products_created: int = 0
    products_updated: int = 0
    skus_created: int = 0
    skus_updated: int = 0
    unchanged: int = 0
    dry_run: bool = False
    errors: list[RowError] = field(default_factory=list)
    notes: list[RowNote] = field(default_factory=list)
    images_queued: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


class CatalogFileError(Exception):
    """The file cannot be read at all (not UTF-8, no header, missing columns)."""


@dataclass
class _ParsedSku:
    code: str
    options: list[dict]
    position: int
    price_minor: int
    compare_at_minor: int | None
    currency: str
    inventory: int
    grams: int
    barcode: str
    image_url: str
    requires_shipping: bool
    row: int


@dataclass
class _ParsedProduct:
    handle: str
    title: str
    body_html: str
    vendor: str
    product_type: str
    tags: str
    published: bool
    option_names: list[str]
    first_row: int = 0
    images: list[tuple[int, str, str]] = field(default_factory=list)  # (position, url, alt text)
    skus: list[_ParsedSku] = field(default_factory=list)

    def image_urls(self) -> list[str]:
        seen: list[str] = []
        for _pos, url, _alt in sorted(self.images, key=lambda item: item[0]):
            if url and url not in seen:
                seen.append(url)
        return seen

    def image_alt_texts(self) -> dict[str, str]:
        alts: dict[str, str] = {}
        for _pos, url, alt in self.images:
            if alt and url not in alts:
                alts[url] = alt
        return alts

    def all_image_urls(self) -> list[str]:
        """Product images in position order, then variant images that are not among them."""
        urls = self.image_urls()
        return urls + list(dict.fromkeys(s.image_url for s in self.skus if s.image_url and s.image_url not in urls))


# Columns only a product's first row sets, and the columns an image-only row uses.
PRODUCT_COLUMNS = (
    "Title",
    "Body (HTML)",
    "Vendor",
    "Type",
    "Tags",
    "Published",
    "Option1 Name",
    "Option2 Name",
    "Option3 Name",
)
IMAGE_ROW_COLUMNS = ("Handle", "Image Src", "Image Position", "Image Alt Text")


def _columns_list(columns: list[str]) -> str:
    return ", ".join(repr(c) for c in columns)


def read_catalog_text(data: bytes) -> str:
    """Decode file bytes as UTF-8 (a BOM is dropped). Raises CatalogFileError if not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CatalogFileError(
            f"The file is not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}). "
            "Export it again as 'CSV UTF-8' (Shopify exports are UTF-8)."
        ) from exc


def _bool(value: str, default: bool) -> bool:
    value = (value or "").strip().lower()
    if not value:
        return default
    return value in {"true", "1", "yes", "y"}


def _int(value: str, row: int, column: str, errors: list[RowError], *, allow_negative: bool) -> int:
    text = (value or "").strip()
    if not text:
        return 0
    try:
        number = int(float(text)) if "." in text and float(text).is_integer() else int(text)
    except ValueError:
        errors.append(RowError(row, column, f"{text!r} is not a whole number"))
        return 0
    if number < 0 and not allow_negative:
        errors.append(RowError(row, column, f"{text!r} is negative"))
    return number


def _sku_code(handle: str, options: list[dict], explicit: str) -> str:
    if explicit.strip():
        return explicit.strip()
    values = [o["value"] for o in options if o["value"] and o["value"] != "Default Title"]
    return handle if not values else f"{handle}-{slugify('-'.join(values))}"


def parse_catalog(
    text: str,
    *,
    currency: str,
    progress: Callable[[Iterable, int], Iterable] | None = None,
    notes: list[RowNote] | None = None,
) -> tuple[list[_ParsedProduct], list[RowError], int]:
    """Parse Shopify CSV text into products; returns (products, errors, data row count).

    Rows and columns that are not used are appended to `notes` (when given) as RowNote.
    """
    notes = notes if notes is not None else []
    default_currency = check_currency(currency)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    if not header:
        raise CatalogFileError("The file is empty: expected a Shopify product CSV with a header row.")
    header = [h.strip() for h in header]
    reader.fieldnames = header
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise CatalogFileError(
            f"Missing column(s) {', '.join(missing)}: this does not look like a Shopify product CSV export."
        )
    currency_column = next((c for c in CURRENCY_COLUMNS if c in header), None)

    products: dict[str, _ParsedProduct] = {}
    errors: list[RowError] = []
    seen_codes: dict[str, int] = {}
    rows: Iterable[dict] = reader
    if progress is not None:
        total = sum(1 for _ in csv.reader(io.StringIO(text, newline=""))) - 1
        rows = progress(reader, total)
    count = 0
    first_rows: dict[int, dict] = {}
    for index, raw in enumerate(rows, start=2):
        count += 1
        row = {k: (v or "") for k, v in raw.items() if k is not None}
        if None in raw:
            errors.append(RowError(index, "(row)", "more fields than the header has columns"))
            continue
        if not any(v.strip() for v in row.values()):
            notes.append(RowNote(index, "ignored", "every cell is empty"))
            continue
        handle = row.get("Handle", "").strip()
        if not handle:
            errors.append(RowError(index, "Handle", "continuation row without a handle"))
            continue
        product = products.get(handle)
        overridden: list[str] = []
        if product is None:
            title = row.get("Title", "").strip()
            if not title:
                errors.append(RowError(index, "Title", f"first row of product {handle!r} has no title"))
            product = _ParsedProduct(
                handle=handle,
                title=title,
                body_html=row.get("Body (HTML)", ""),
                vendor=row.get("Vendor", "").strip(),
                product_type=row.get("Type", "").strip(),
                tags=row.get("Tags", "").strip(),
                published=_bool(row.get("Published", ""), True),
                option_names=[row.get(f"Option{i} Name", "").strip() for i in OPTION_SLOTS],
                first_row=index,
            )
            products[handle] = product
            first_rows[index] = row
            first_row = True
        else:
            first_row = False
            first_values = first_rows[product.first_row]
            overridden = [
                c
                for c in PRODUCT_COLUMNS
                if row.get(c, "").strip() and row[c].strip() != first_values.get(c, "").strip()
            ]

        image = row.get("Image Src", "").strip()
        if image and (problem := web_url_problem(image)):
            errors.append(RowError(index, "Image Src", problem))
        elif image:
            position = _int(row.get("Image Position", ""), index, "Image Position", errors, allow_negative=False)
            product.images.append((position or len(product.images) + 1, image, row.get("Image Alt Text", "").strip()))

        option_values = [row.get(f"Option{i} Value", "").strip() for i in OPTION_SLOTS]
        price_text = row.get("Variant Price", "").strip()
        explicit_sku = row.get("Variant SKU", "").strip()
        is_variant = first_row or bool(price_text) or any(option_values) or bool(explicit_sku)
        if overridden and (is_variant or image):  # (a row that adds nothing is reported whole below)
            notes.append(
                RowNote(
                    index,
                    "ignored",
                    f"{_columns_list(overridden)} of product {handle!r}: only its first row "
                    f"(row {product.first_row}) sets them",
                )
            )
        if not is_variant:  # an extra-image row, or a row that adds nothing
            unused = [
                c for c, v in row.items() if v.strip() and c not in IMAGE_ROW_COLUMNS and c not in PRODUCT_COLUMNS
            ]
            if not image:
                set_columns = [c for c, v in row.items() if v.strip() and c != "Handle"]
                notes.append(
                    RowNote(
                        index,
                        "ignored",
                        f"no price, option values, SKU or image, so it adds nothing to product {handle!r}"
                        + (f" (its {_columns_list(set_columns)} not used)" if set_columns else ""),
                    )
                )
            elif unused:
                notes.append(
                    RowNote(
                        index,
                        "ignored",
                        f"{_columns_list(unused)}: a row without a price, option values or SKU only adds an image",
                    )
                )
            continue

        row_currency = default_currency
        if currency_column and row.get(currency_column, "").strip():
            try:
                row_currency = check_currency(row[currency_column])
            except MoneyError as exc:
                errors.append(RowError(index, currency_column, str(exc)))
                continue
        if not price_text:
            errors.append(RowError(index, "Variant Price", "missing price"))
            continue
        try:
            price_minor = to_minor(price_text, row_currency)
        except MoneyError as exc:
            errors.append(RowError(index, "Variant Price", f"malformed price: {exc}"))
            continue
        compare_text = row.get("Variant Compare At Price", "").strip()
        compare_minor = None
        if compare_text:
            try:
                compare_minor = to_minor(compare_text, row_currency)
            except MoneyError as exc:
                errors.append(RowError(index, "Variant Compare At Price", f"malformed price: {exc}"))
                continue
        options = [
            {"name": name or f"Option {i}", "value": value}
            for i, name, value in zip(OPTION_SLOTS, product.option_names, option_values, strict=True)
            if value
        ]
        code = _sku_code(handle, options, explicit_sku)
        if code in seen_codes:
            errors.append(
                RowError(index, "Variant SKU", f"duplicate SKU code {code!r} (first used on row {seen_codes[code]})")
            )
            continue
        seen_codes[code] = index
        inventory = _int(
            row.get("Variant Inventory Qty", ""), index, "Variant Inventory Qty", errors, allow_negative=True
        )
        grams = _int(row.get("Variant Grams", ""), index, "Variant Grams", errors, allow_negative=False)
        variant_image = row.get("Variant Image", "").strip()
        if variant_image and (problem := web_url_problem(variant_image)):
            errors.append(RowError(index, "Variant Image", problem))
            variant_image = ""
        product.skus.append(
            _ParsedSku(
                code=code,
                options=options,
                position=len(product.skus) + 1,
                price_minor=price_minor,
                compare_at_minor=compare_minor,
                currency=row_currency,
                inventory=inventory,
                grams=grams,
                barcode=row.get("Variant Barcode", "").strip(),
                image_url=variant_image,
                requires_shipping=_bool(row.get("Variant Requires Shipping", ""), True),
                row=index,
            )
        )
    for product in products.values():
        if len(product.skus) > 1:
            for sku in product.skus:
                if not any(o["value"] != "Default Title" for o in sku.options):
                    notes.append(
                        RowNote(
                            sku.row,
                            "note",
                            f"SKU {sku.code!r} has no option values, so it is titled like its product "
                            f"({product.title!r}) and its sibling variants; add Option1 Value to tell them apart",
                        )
                    )
    notes.sort(key=lambda n: n.row)
    return list(products.values()), errors, count


def _sync(instance, values: dict) -> bool:
    """Set changed attributes; True if anything differed."""
    changed = False
    for name, value in values.items():
        if getattr(instance, name) != value:
            setattr(instance, name, value)
            changed = True
    return changed


def catalog_import(
    *,
    data: bytes,
    currency: str = "USD",
    dry_run: bool = False,
    progress: Callable[[Iterable, int], Iterable] | None = None,
) -> ImportReport:
    """Import a Shopify product CSV (bytes). Returns an ImportReport.

    All-or-nothing: when `report.errors` is non-empty nothing was written. With
    `dry_run` the changes are computed inside a transaction that is rolled back.
    Raises CatalogFileError when the file cannot be read (not UTF-8, no header)
    and money.MoneyError for an unknown default `currency`. Rows and columns not used are in
    `report.notes` (they do not stop the import). After commit, one background task per image
    that is not ready yet is queued when settings.CATALOG_IMAGE_FETCH is on (`report.images_queued`).
    """
    text = read_catalog_text(data)
    notes: list[RowNote] = []
    parsed, errors, rows = parse_catalog(text, currency=currency, progress=progress, notes=notes)
    report = ImportReport(rows=rows, dry_run=dry_run, errors=errors, notes=notes)
    if errors:
        return report

    # A SKU code must not already belong to another product in the database.
    codes = {s.code: p.handle for p in parsed for s in p.skus}
    for sku in Sku.objects.filter(code__in=codes).select_related("product"):
        if sku.product.handle != codes[sku.code]:
            row = next(s.row for p in parsed for s in p.skus if s.code == sku.code)
            report.errors.append(
                RowError(row, "Variant SKU", f"SKU code {sku.code!r} already belongs to product {sku.product.handle!r}")
            )
    if report.errors:
        return report

    class _Rollback(Exception):
        pass

    try:
        with transaction.atomic():
            _apply(parsed, report)
            if dry_run:
                raise _Rollback
    except _Rollback:
        pass
    return report


def _apply(parsed: list[_ParsedProduct], report: ImportReport) -> None:
    image_ids: list[int] = []
    existing = {p.handle: p for p in Product.objects.filter(handle__in=[p.handle for p in parsed])}
    existing_skus = {s.code: s for s in Sku.objects.filter(product__handle__in=[p.handle for p in parsed])}
    for item in parsed:
        values = {
            "title": item.title,
            "body_html": item.body_html,
            "vendor": item.vendor,
            "product_type": item.product_type,
            "tags": item.tags,
            "published": item.published,
            "image_urls": item.image_urls(),
        }
        product = existing.get(item.handle)
        if product is None:
            product = Product.objects.create(handle=item.handle, **values)
            report.products_created += 1
        elif _sync(product, values):
            product.save()
            report.products_updated += 1
        else:
            report.unchanged += 1
        image_ids += product_images_sync_catalog(
            product=product, urls=item.all_image_urls(), alt_texts=item.image_alt_texts()
        )
        for parsed_sku in item.skus:
            sku_values = {
                "product_id": product.pk,
                "options": parsed_sku.options,
                "position": parsed_sku.position,
                "price_minor": parsed_sku.price_minor,
                "compare_at_minor": parsed_sku.compare_at_minor,
                "currency": parsed_sku.currency,
                "inventory": parsed_sku.inventory,
                "grams": parsed_sku.grams,
                "barcode": parsed_sku.barcode,
                "image_url": parsed_sku.image_url,
                "requires_shipping": parsed_sku.requires_shipping,
            }
            sku = existing_skus.get(parsed_sku.code)
            if sku is None:
                Sku.objects.create(code=parsed_sku.code, **sku_values)
                report.skus_created += 1
            elif _sync(sku, sku_values):
                sku.save()
                report.skus_updated += 1
            else:
                report.unchanged += 1
    if getattr(settings, "CATALOG_IMAGE_FETCH", False):
        product_images_queue_on_commit(image_ids=image_ids)
        report.images_queued = len(image_ids)


def catalog_import_file(path: str | Path, **kwargs) -> ImportReport:
    """catalog_import() on a file path."""
    return catalog_import(data=Path(path).read_bytes(), **kwargs)
