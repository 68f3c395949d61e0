"""manage.py stripe_webhook_endpoint --secret whsec_… [--url https://shop.example.com]

Registers the webhook endpoint you created in the Stripe dashboard (or with
`stripe listen`) with dj-stripe, storing its signing secret, and prints the URL
to give Stripe. Safe to run again: it updates the secret.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from commerce.services.stripe_setup import webhook_endpoint_register


class Command(BaseCommand):
    help = "Register a Stripe webhook signing secret with dj-stripe and print the endpoint URL."

    def add_arguments(self, parser):
        parser.add_argument("--secret", required=True, help="The endpoint's signing secret (whsec_…).")
        parser.add_argument("--url", default=settings.SITE_URL, help="Public base URL of this shop.")
        parser.add_argument("--live", action="store_true", help="A live-mode endpoint (default: test mode).")

    def handle(self, *args, secret, url, live, **options):
        if not secret.startswith("whsec_"):
            raise CommandError("The signing secret starts with whsec_ (Stripe dashboard → Webhooks → endpoint).")
        endpoint, full_url = webhook_endpoint_register(secret=secret, base_url=url, livemode=live)
        self.stdout.write(self.style.SUCCESS(f"Webhook endpoint ready: {full_url}"))
        self.stdout.write("Send these events: " + ", ".join(endpoint.enabled_events))
