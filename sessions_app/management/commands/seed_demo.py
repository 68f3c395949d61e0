"""manage.py seed_demo: demo data from the shipped real catalog. Safe to run again.

Imports commerce/data/shopify_jewelery.csv, creates a staff login (password kept
in var/demo_credentials.txt and printed), a weekly series with four upcoming
sessions, makes sure one session is live now with an open drop, and adds an ended session of
the series with a recording (a 42-second loop of the shipped CC-BY clip), its thumbnails and a
highlight clip per drop (docs/replay-and-clips.md, "Demo"). The recording's jobs (probe,
thumbnails, highlight cuts) run in the django-q2 worker that `make run` starts, so seeding stays
fast; `--process-assets` runs them inline instead.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
import zoneinfo
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from commerce.memberships.demo import demo_retention_seed
from commerce.models import Coupon, Drop, ShippingRate, Sku
from commerce.services.catalog_import import catalog_import_file
from commerce.services.coupons import coupon_create
from commerce.services.drops import drop_create
from commerce.services.holds import hold_place
from sessions_app.assets.models import Recording, SessionMoment
from sessions_app.cadence.demo import demo_followers_seed
from sessions_app.models import LiveSession, Series, SessionFormat
from sessions_app.services import series_plan_sessions, session_end, session_go_live, session_moment_record

CATALOG = Path(settings.BASE_DIR) / "commerce" / "data" / "shopify_jewelery.csv"
# Big Buck Bunny (CC BY 3.0, Blender Foundation), served by whitenoise so the demo needs no network.
DEMO_STREAM_PATH = "/static/demo/big_buck_bunny_5s_360p_vp9.webm"
SERIES_SLUG = "weekly-jewellery-drop"
REPLAY_TITLE_SUFFIX = " — last week's replay"
REPLAY_LOOPS = 8  # 8 × 5.31 s of the shipped clip ≈ 42 s
# (SKU code, quantity, seconds into the recording when the drop opened): each gets a highlight clip
REPLAY_DROPS = (("gemstone-blue", 12, 8), ("leather-anchor-gold", 30, 24))


class Command(BaseCommand):
    help = "Load demo data (real Shopify catalog, weekly series, a live session with a drop, a staff login)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--process-assets",
            action="store_true",
            help="Run the demo recording's jobs (probe, thumbnails, highlight clips) now instead of in the worker.",
        )

    def handle(self, *args, **options):
        report = catalog_import_file(CATALOG, currency="USD")
        self.stdout.write(
            f"Catalog: {report.products_created} products and {report.skus_created} SKUs new, {report.unchanged} unchanged."
        )
        username, password = self._staff_login()
        with transaction.atomic():
            self._shipping_rates()
            series = self._series()
            series_plan_sessions(series=series)
            demo_followers_seed(series=series)  # two confirmed followers (docs/cadence.md)
            live = self._live_session(series)
            replay = self._replay_session(series)
            retention = demo_retention_seed(series=series, live=live)  # docs/memberships.md, share-to-unlock.md
        self._replay_recording(replay, inline=options.get("process_assets", False))
        self.stdout.write(self.style.SUCCESS("Demo ready."))
        self.stdout.write(f"  Live session: {settings.SITE_URL}{live.get_absolute_url()}")
        self.stdout.write(f"  Replay:       {settings.SITE_URL}/s/{replay.public_id}/replay/")
        self.stdout.write(f"  Series:       {settings.SITE_URL}/series/{series.slug}/ (follow, calendar)")
        for line in retention:
            self.stdout.write(f"  {line}")
        self.stdout.write(f"  Back office:  {settings.SITE_URL}/admin/  user {username!r} password {password!r}")

    def _shipping_rates(self) -> None:
        """Demo shipping (docs/shipping-tax.md): flat per order, EU and rest of the world, in the catalog's USD."""
        ShippingRate.objects.get_or_create(
            name="Standard EU (DHL, 2–4 days)",
            defaults={
                "countries": ["AT", "BE", "DE", "DK", "ES", "FI", "FR", "IE", "IT", "NL", "PL", "SE"],
                "currency": "USD",
                "amount_minor": 490,
                "free_over_minor": 7500,
            },
        )
        ShippingRate.objects.get_or_create(
            name="International (tracked)", defaults={"countries": ["*"], "currency": "USD", "amount_minor": 1490}
        )

    def _staff_login(self) -> tuple[str, str]:
        creds = Path(settings.VAR_DIR) / "demo_credentials.txt"
        user_model = get_user_model()
        username = "staff"
        if creds.exists() and user_model.objects.filter(username=username).exists():
            return username, creds.read_text().strip()
        password = secrets.token_urlsafe(9)
        user, _ = user_model.objects.get_or_create(username=username, defaults={"email": "staff@example.com"})
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        creds.write_text(password + "\n")
        creds.chmod(0o600)
        return username, password

    def _series(self) -> Series:
        tz = "Europe/Berlin"
        local_now = timezone.localtime(timezone.now(), zoneinfo.ZoneInfo(tz))
        series, _ = Series.objects.get_or_create(
            slug=SERIES_SLUG,
            defaults={
                # named after the weekday it runs on (the demo's series starts today)
                "name": f"{local_now:%A} jewellery drop",
                "format": SessionFormat.objects.get(slug="drop-demo"),
                "host_name": "Mara (demo host)",
                "timezone": tz,
                "weekday": local_now.weekday(),
                "local_time": dt.time(19, 0),
                "starts_on": local_now.date(),
                "stream_url": settings.SITE_URL + DEMO_STREAM_PATH,
                "weeks_ahead": 4,
            },
        )
        return series

    def _live_session(self, series: Series) -> LiveSession:
        now = timezone.now()
        live = (
            LiveSession.objects.filter(series=series, status=LiveSession.Status.LIVE, drops__closes_at__gt=now)
            .distinct()
            .first()
        )
        if live:
            return live
        starts = now.replace(second=0, microsecond=0)
        live = LiveSession.objects.create(
            series=series,
            format=series.format,
            title=f"{series.name} — live now",
            starts_at=starts,
            duration_seconds=series.format.duration_seconds,
            timezone=series.timezone,
            stream_url=series.stream_url,
        )
        session_go_live(session_id=live.pk, now=now)
        for code, quantity in (("leather-anchor-gold", 50), ("gemstone-blue", 20), ("dainty-gold-neclace", 10)):
            sku = Sku.objects.get(code=code)
            if not Drop.objects.filter(session=live, sku=sku).exists():
                drop_create(
                    session=live,
                    sku=sku,
                    quantity=quantity,
                    opens_at=starts,
                    closes_at=now + dt.timedelta(hours=2),
                    per_customer_limit=3,
                )
        self._sold_out_drop(live, starts, now)
        if not Coupon.objects.filter(session=live, watch_seconds_required__isnull=False).exists():
            # Watch 60 s of the live session → a personal 10 % code (docs/watch-coupons.md).
            coupon_create(
                kind=Coupon.Kind.PERCENT,
                percent_off=10,
                session=live,
                valid_from=starts,
                valid_until=now + dt.timedelta(hours=2),
                max_redemptions=100,
                watch_seconds_required=60,
                watch_grace_minutes=30,
                note="Demo: watch a minute, get 10 % off",
            )
        return live

    def _sold_out_drop(self, live: LiveSession, starts, now) -> None:
        """A small drop sold out by two demo carts that lapse in 3 minutes: "Notify me" puts a viewer in
        line, and when the demo carts lapse the line gets offers (docs/waitlist.md). Each run sells it out
        again if units came back."""
        sku = Sku.objects.filter(code__startswith="galaxy-earrings").order_by("pk").first()
        if sku is None:
            return
        drop = Drop.objects.filter(session=live, sku=sku).first() or drop_create(
            session=live,
            sku=sku,
            quantity=2,
            opens_at=starts,
            closes_at=now + dt.timedelta(hours=2),
            per_customer_limit=1,
            hold_seconds=180,
        )
        drop.refresh_from_db()
        for _ in range(drop.total_available):
            hold_place(drop_id=drop.pk, email=f"demo-cart-{uuid.uuid4().hex[:8]}@example.com", quantity=1, now=now)

    def _replay_session(self, series: Series) -> LiveSession:
        """An ended session of the series, a week ago, whose drops opened inside its recording (idempotent)."""
        title = f"{series.name}{REPLAY_TITLE_SUFFIX}"
        existing = LiveSession.objects.filter(series=series, title=title).first()
        if existing:
            return existing
        now = timezone.now()
        # a week ago at hh:07, off the series' planned hh:00 slots (unique per series and start)
        start = (now - dt.timedelta(days=7)).replace(minute=7, second=0, microsecond=0)
        session = LiveSession.objects.create(
            series=series,
            format=series.format,
            title=title,
            starts_at=start,
            duration_seconds=series.format.duration_seconds,
            timezone=series.timezone,
            stream_url=series.stream_url,
        )
        session_go_live(session_id=session.pk, now=start)
        LiveSession.objects.filter(pk=session.pk).update(title=title)  # go-live retitles planner titles
        for code, quantity, at_second in REPLAY_DROPS:
            opened = start + dt.timedelta(seconds=at_second)
            drop = drop_create(
                session=session,
                sku=Sku.objects.get(code=code),
                quantity=quantity,
                opens_at=opened,
                closes_at=start + dt.timedelta(seconds=series.format.duration_seconds),
                per_customer_limit=3,
            )
            session_moment_record(
                session_id=session.pk, kind=SessionMoment.Kind.DROP_OPENED, at=opened, drop_id=drop.pk
            )
        session_end(session_id=session.pk, now=start + dt.timedelta(seconds=series.format.duration_seconds))
        session.refresh_from_db()
        return session

    def _replay_recording(self, session: LiveSession, *, inline: bool) -> None:
        """Attach the demo recording once (VIDEO's recording_create_from_file queues probe, thumbnails
        and highlights); `inline` runs those jobs now."""
        try:
            from sessions_app.assets.services import asset_jobs_run_due, recording_create_from_file
        except ImportError:
            self.stdout.write("  (no recording: sessions_app.assets.services is not installed yet)")
            return
        if not Recording.objects.filter(session=session).exclude(state=Recording.State.FAILED).exists():
            from sessions_app.assets.demo import SHIPPED_CLIP, demo_video_loop

            tmp = Path(settings.ASSET_TMP_DIR) / "demo-replay.mp4"
            demo_video_loop(SHIPPED_CLIP, tmp, times=REPLAY_LOOPS)
            try:
                recording_create_from_file(
                    session_id=session.pk,
                    path=tmp,
                    original_name="friday-drop-replay.mp4",
                    started_at=session.went_live_at,
                )
            finally:
                tmp.unlink(missing_ok=True)
        if inline:
            while asset_jobs_run_due():
                pass
