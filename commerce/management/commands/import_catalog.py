"""manage.py import_catalog FILE [--dry-run] [--currency USD]"""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from commerce.money import MoneyError
from commerce.services.catalog_import import CatalogFileError, catalog_import


class Command(BaseCommand):
    help = (
        "Import products and SKUs from a Shopify product CSV export. All-or-nothing: a file with bad "
        "rows imports nothing and prints a per-row report; rows and columns it does not use are listed "
        '("row N: ignored: …"). Importing the same file twice changes nothing.'
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path to a Shopify product CSV (UTF-8, with or without BOM).")
        parser.add_argument("--dry-run", action="store_true", help="Validate and report, write nothing.")
        parser.add_argument("--currency", default="USD", help="ISO 4217 currency of the prices (default USD).")
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")

    def handle(self, *args, file, dry_run, currency, no_progress, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{path}: no such file.")
        data = path.read_bytes()
        show = not no_progress and options.get("verbosity", 1) > 0

        def progress(rows, total):
            return tqdm(rows, total=total, unit="row", desc="Reading", file=sys.stderr, disable=not show)

        try:
            report = catalog_import(data=data, currency=currency, dry_run=dry_run, progress=progress)
        except (CatalogFileError, MoneyError) as exc:
            raise CommandError(f"{path}: {exc}") from exc
        for note in report.notes:  # rows and columns not used: listed, they do not stop the import
            self.stdout.write(self.style.WARNING(f"{path}: {note}"))
        if report.errors:
            for err in report.errors:
                self.stderr.write(f"{path}: {err}")
            raise CommandError(
                f"{len(report.errors)} problem(s) found in {report.rows} rows; nothing was imported. Fix the rows above."
            )
        prefix = "Dry run, nothing written: would have " if dry_run else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"{prefix}{report.rows} rows: products {report.products_created} created, "
                f"{report.products_updated} updated; SKUs {report.skus_created} created, "
                f"{report.skus_updated} updated; {report.unchanged} unchanged"
                + (f"; {len(report.notes)} row note(s) above." if report.notes else ".")
                + (f" {report.images_queued} image(s) queued for fetching." if report.images_queued else "")
            )
        )
