"""Write the asset bucket's S3 lifecycle configuration (sessions_app.assets.s3) and print it.

    manage.py asset_lifecycle            # writes it, prints what the bucket reports back
    manage.py asset_lifecycle --dry-run  # prints the rules only (works without S3)
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from sessions_app.assets import cas
from sessions_app.assets.s3 import lifecycle_apply, lifecycle_rules


class Command(BaseCommand):
    help = "Write the asset bucket's lifecycle configuration (tier backstop rules per kind) and print it."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Print the rules; write nothing.")

    def handle(self, *args, dry_run=False, **options):
        if dry_run:
            self.stdout.write(json.dumps({"Rules": lifecycle_rules()}, indent=2))
            return
        if not cas.storage_is_s3():
            raise CommandError("The asset storage is the filesystem: tiers are folders, there is no lifecycle to write.")
        storage = cas.asset_storage()
        written = lifecycle_apply(client=storage.connection.meta.client, bucket=storage.bucket_name)
        self.stdout.write(json.dumps(written, indent=2, default=str))
        self.stderr.write(self.style.SUCCESS(f"Lifecycle configuration written to bucket {storage.bucket_name}."))
