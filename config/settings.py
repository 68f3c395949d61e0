"""Micromoments settings: one module, driven by environment variables.

Every knob is read from the environment (see `.env.example` and the README's
configuration table). The embedded defaults run the whole product on one machine
with no services: SQLite under `var/`, django-q2's ORM broker, a local-memory
cache, files under `var/media`, the console e-mail backend and the `manual`
payment provider. Production sets `DEBUG=0`, `SECRET_KEY`, `DATABASE_URL`
(PostgreSQL), `REDIS_URL`, `AWS_STORAGE_BUCKET_NAME`, `EMAIL_URL` and `STRIPE_*`.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool = False) -> bool:
    value = env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in (env(name, default) or "").split(",") if item.strip()]


DEBUG = env_bool("DEBUG", default=False)
TESTING = env_bool("TESTING", default=False)

SECRET_KEY = env("SECRET_KEY")
if not SECRET_KEY:
    if not (DEBUG or TESTING):
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (see .env.example).")
    SECRET_KEY = "insecure-dev-only-key-never-use-in-production-0123456789abcdef"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# Networks of our own reverse proxies / load balancers (CIDRs). Only hops they appended to
# X-Forwarded-For are believed; empty = the client is REMOTE_ADDR (config/client_ip.py).
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")
SITE_URL = (env("SITE_URL", "http://127.0.0.1:8000") or "").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_q",
    "ninja",  # serves Swagger UI for /api/v1/docs from its bundled static files (no CDN)
    "csp",
    "djstripe",
    "storages",
    "auditlog",
    "sessions_app",
    "commerce",
    "sampling",
    "analytics",
]

MIDDLEWARE = [
    "sessions_app.pagecache.SharedResponseMiddleware",  # outermost: sees every cookie set below
    "django.middleware.security.SecurityMiddleware",
    # a fresh cached live-status poll is answered here, with the headers the stack below gave it (issue #15)
    "sessions_app.middleware.StatusFastPathMiddleware",
    "config.security.ContentSecurityPolicyMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    # before anything parses input: 400 for NUL/surrogates anywhere, 413 for an oversized body (docs/errors.md)
    "config.middleware.RequestGuardMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "commerce.audit.AuditActorMiddleware",  # who did it: the staff user, or the system (webhook, task)
    "commerce.middleware.ShopTimezoneMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "analytics.middleware.VisitorMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "commerce.context_processors.shop",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{VAR_DIR / 'micromoments.sqlite3'}"),
        conn_max_age=int(env("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout let the web server and the qcluster share the file;
    # IMMEDIATE transactions take the write lock up front so that concurrent
    # writers queue instead of failing with "database is locked" mid-transaction.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # A file-backed test database, so `pytest --reuse-db` can skip the migrations next time.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_micromoments.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# dj-stripe's migrations, unchanged, plus their squash (docs/deployment.md, "First run"): its 0002 alone
# is 515 field operations whose in-memory state rendering took 1–2.5 minutes of a fresh `make run`; the
# squash creates the same tables in a few seconds. Existing databases keep the originals (marked applied).
# tests/test_settings.py fails when dj-stripe ships a migration this module lacks.
MIGRATION_MODULES = {"djstripe": "config.djstripe_migrations"}

# --- Cache and task queue ----------------------------------------------------
REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "config.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "mm",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# django-q2 (docs/outbox.md). Side effects are outbox rows, so tasks are thin, idempotent kicks and
# losing one (Redis hands a task to a worker without an acknowledgement; a killed worker takes it
# with it) only delays work until the next kick or the per-minute sweep. Hence: no broker-level
# retries (max_attempts 1, failures acknowledged: the outbox retries with backoff itself);
# timeout < retry, so the ORM broker never hands a task that is still running to a second worker.
Q_CLUSTER = {
    "name": "micromoments",
    "workers": int(env("Q_WORKERS", "2")),
    "timeout": int(env("Q_TIMEOUT", "120")),
    "retry": int(env("Q_RETRY", "180")),
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "label": "Task queue",
}
if Q_CLUSTER["retry"] <= Q_CLUSTER["timeout"]:
    raise ImproperlyConfigured("Q_RETRY must be larger than Q_TIMEOUT (see docs/outbox.md).")
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# Transactional outbox (commerce.services.outbox, docs/outbox.md). A drain stops taking rows after
# OUTBOX_DRAIN_SECONDS and queues its successor; django-q2 kills any task after Q_TIMEOUT (+3 s of
# grace), so a row's lease (OUTBOX_LEASE_SECONDS) outlives every live worker: only a dead one loses it.
OUTBOX_DRAIN_SECONDS = float(env("OUTBOX_DRAIN_SECONDS", "30"))
OUTBOX_LEASE_SECONDS = float(env("OUTBOX_LEASE_SECONDS", str(Q_CLUSTER["timeout"] + 30)))
OUTBOX_MAX_ATTEMPTS = int(env("OUTBOX_MAX_ATTEMPTS", "8"))
OUTBOX_BACKOFF_SECONDS = float(env("OUTBOX_BACKOFF_SECONDS", "30"))
OUTBOX_BACKOFF_MAX_SECONDS = float(env("OUTBOX_BACKOFF_MAX_SECONDS", "3600"))
OUTBOX_WEBHOOK_TIMEOUT_SECONDS = float(env("OUTBOX_WEBHOOK_TIMEOUT_SECONDS", "10"))
_q_timeout = Q_CLUSTER["timeout"]
if not OUTBOX_DRAIN_SECONDS < _q_timeout <= OUTBOX_LEASE_SECONDS - 5:
    raise ImproperlyConfigured("Need OUTBOX_DRAIN_SECONDS < Q_TIMEOUT and OUTBOX_LEASE_SECONDS ≥ Q_TIMEOUT + 5.")
# Error answers (docs/errors.md): Retry-After on the 503 answered while the database is unreachable.
SERVICE_UNAVAILABLE_RETRY_AFTER = int(env("SERVICE_UNAVAILABLE_RETRY_AFTER", "30"))
# API lists: page numbers bounded so an OFFSET never overflows (config.pagination).
NINJA_PAGINATION_CLASS = "config.pagination.PageNumberPagination"
# Partner API keys found valid are remembered this long per process (revocation delay).
API_KEY_CACHE_SECONDS = float(env("API_KEY_CACHE_SECONDS", "5"))
# A drop's terms (price schedule, hold time, currency) are read this often at most per process
# when holds are placed; window, stock and per-customer limit are always checked in the database.
DROP_TERMS_CACHE_SECONDS = float(env("DROP_TERMS_CACHE_SECONDS", "1"))

# --- Abuse limits (docs/abuse-limits.md) ---------------------------------------
# Where rate-limit counters live: "redis" (default with REDIS_URL), "database" (default without:
# shared by every process), or "cache" (the Django cache; per process with local memory).
RATE_LIMIT_STORE = env("RATE_LIMIT_STORE", "")
# Hold placement: attempts per client (IP network; and visitor cookie) per window, over all drops
# and on one drop; per partner API key. 0 turns a limit off.
HOLD_RATE_WINDOW_SECONDS = int(env("HOLD_RATE_WINDOW_SECONDS", "60"))
HOLD_RATE_LIMIT_CLIENT = int(env("HOLD_RATE_LIMIT_CLIENT", "30"))
HOLD_RATE_LIMIT_CLIENT_DROP = int(env("HOLD_RATE_LIMIT_CLIENT_DROP", "10"))
HOLD_RATE_LIMIT_API_KEY = int(env("HOLD_RATE_LIMIT_API_KEY", "600"))
# Units one client (IP network) may hold or buy on one drop across all e-mails: this percentage of
# the drop's quantity and/or this many units (the smaller of those set; 0 = not set), never below
# the drop's per-customer limit. Checked in the database in the hold's own transaction.
HOLD_CLIENT_SHARE_PERCENT = int(env("HOLD_CLIENT_SHARE_PERCENT", "10"))
HOLD_CLIENT_MAX_UNITS = int(env("HOLD_CLIENT_MAX_UNITS", "0"))
# Share-to-unlock (docs/share-to-unlock.md): counted visits one client network may bring to a campaign, and
# whether the network rules apply at all (a network counts once per campaign, never the sharer's own). Off
# when DEBUG so the local demo can be tried with three browsers on one machine; always on in production.
SHARE_VISITS_PER_NETWORK = int(env("SHARE_VISITS_PER_NETWORK", "1"))
SHARE_NETWORK_RULES = env_bool("SHARE_NETWORK_RULES", default=not DEBUG)
# Header a partner may send on POST /api/v1/holds with its end customer's IP address.
HOLD_API_CLIENT_IP_HEADER = env("HOLD_API_CLIENT_IP_HEADER", "X-End-Client-IP")

# Analytics events: "thread" = a background writer per process appends them in batches (the
# request does not wait); "sync" = written on the request's thread (tests, debugging).
ANALYTICS_WRITER = env("ANALYTICS_WRITER", "sync" if TESTING else "thread")
ANALYTICS_WRITER_DELAY_SECONDS = float(env("ANALYTICS_WRITER_DELAY_SECONDS", "0.05"))

if TESTING:
    Q_CLUSTER["sync"] = True

# --- Files --------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "templates" / "static"]
WHITENOISE_USE_FINDERS = DEBUG or TESTING  # production serves the collectstatic output
MEDIA_URL = "/media/"
MEDIA_ROOT = VAR_DIR / "media"

AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME")
if AWS_STORAGE_BUCKET_NAME:
    default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env("AWS_S3_ENDPOINT_URL"),
            "region_name": env("AWS_S3_REGION_NAME"),
            "custom_domain": env("AWS_S3_CUSTOM_DOMAIN"),
            "access_key": env("AWS_ACCESS_KEY_ID"),
            "secret_key": env("AWS_SECRET_ACCESS_KEY"),
            "file_overwrite": False,
        },
    }
else:
    default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": MEDIA_URL},
    }
# Session assets (docs/assets.md): content-addressed bytes in their own storage. Filesystem: tiers
# are folders under ASSET_ROOT; S3: one bucket (ASSET_BUCKET, default the media bucket), tiers are
# storage classes.
ASSET_ROOT = Path(env("ASSET_ROOT", str(MEDIA_ROOT / "assets-store")))
ASSET_BUCKET = env("ASSET_BUCKET", AWS_STORAGE_BUCKET_NAME or "")
if ASSET_BUCKET:
    asset_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": ASSET_BUCKET,
            "endpoint_url": env("AWS_S3_ENDPOINT_URL"),
            "region_name": env("AWS_S3_REGION_NAME"),
            "access_key": env("AWS_ACCESS_KEY_ID"),
            "secret_key": env("AWS_SECRET_ACCESS_KEY"),
            "file_overwrite": True,
            "querystring_auth": True,
        },
    }
else:
    asset_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(ASSET_ROOT)}}
ASSET_TMP_DIR = Path(env("ASSET_TMP_DIR", str(VAR_DIR / "tmp")))

STORAGES = {
    "default": default_storage,
    "assets": asset_storage,
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Product images (docs/catalog-and-images.md): uploads and catalog images are checked by content
# (JPEG, PNG, WebP, GIF), size and pixel count (a decompression-bomb guard) before anything is
# decoded, and pages show WebP thumbnails of these widths (px).
PRODUCT_IMAGE_MAX_BYTES = int(env("PRODUCT_IMAGE_MAX_BYTES", str(10 * 1024 * 1024)))
PRODUCT_IMAGE_MAX_PIXELS = int(env("PRODUCT_IMAGE_MAX_PIXELS", str(40_000_000)))
PRODUCT_IMAGE_THUMB_WIDTHS = [int(w) for w in env_list("PRODUCT_IMAGE_THUMB_WIDTHS", "160,480")]
# The catalog import queues a background fetch of every image URL (off: images stay placeholders
# until an operator runs the admin action). Tests turn it on where they serve an image on loopback.
CATALOG_IMAGE_FETCH = env_bool("CATALOG_IMAGE_FETCH", default=not TESTING)
# Fetch limits: connect and read timeouts and a whole-download deadline (seconds). Only public
# addresses are fetched (no loopback, private, link-local, …: an SSRF guard that checks the address
# it connects to); loopback is allowed only where this is on (tests' local image server).
PRODUCT_IMAGE_FETCH_CONNECT_TIMEOUT = float(env("PRODUCT_IMAGE_FETCH_CONNECT_TIMEOUT", "3"))
PRODUCT_IMAGE_FETCH_READ_TIMEOUT = float(env("PRODUCT_IMAGE_FETCH_READ_TIMEOUT", "10"))
PRODUCT_IMAGE_FETCH_DEADLINE = float(env("PRODUCT_IMAGE_FETCH_DEADLINE", "30"))
PRODUCT_IMAGE_FETCH_ALLOW_LOOPBACK = False


# --- E-mail -------------------------------------------------------------------
def _email_settings(url: str | None) -> dict:
    """Parse EMAIL_URL (smtp://user:pass@host:587?tls=1, smtps://…, console://)."""
    if not url or url.startswith("console:"):
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    if url.startswith("locmem:"):
        return {"EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    if parsed.scheme not in {"smtp", "smtps"}:
        raise ImproperlyConfigured(f"EMAIL_URL scheme {parsed.scheme!r} is not smtp, smtps or console.")
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": parsed.hostname or "localhost",
        "EMAIL_PORT": parsed.port or (465 if parsed.scheme == "smtps" else 25),
        "EMAIL_HOST_USER": unquote(parsed.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parsed.password or ""),
        "EMAIL_USE_SSL": parsed.scheme == "smtps",
        "EMAIL_USE_TLS": query.get("tls", ["0"])[0] in {"1", "true"},
    }


globals().update(_email_settings(env("EMAIL_URL")))
if env("EMAIL_BACKEND"):  # a dotted path overrides EMAIL_URL (e.g. a recording backend in process tests)
    EMAIL_BACKEND = env("EMAIL_BACKEND")
EMAIL_TIMEOUT = int(env("EMAIL_TIMEOUT", "20"))  # seconds per SMTP operation: a send never outlives a lease
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "Micromoments <shop@localhost>")

# --- Security (production) ---------------------------------------------------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not TESTING)
    SESSION_COOKIE_SECURE = not TESTING
    CSRF_COOKIE_SECURE = not TESTING
    SECURE_HSTS_SECONDS = int(env("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Content-Security-Policy (django-csp) and Permissions-Policy ---------------
# One strict policy for every page: scripts and styles only from our own static files (no inline
# script, no inline style, no eval), nothing framed except the stream players below, forms post only
# to us (and to Stripe's hosted checkout, reached by a redirect after "Place order"). The back office
# (/admin/) gets the same policy plus inline *styles* only (third-party admin templates such as
# dj-stripe's and django-auditlog's carry <style> blocks); scripts stay strict there too
# (config/security.py). To add a source, extend the directive here and say why (docs/deployment.md).
# Stream players the session page embeds (sessions_app/embed.py produces only these origins).
STREAM_EMBED_ORIGINS = ["https://www.youtube-nocookie.com", "https://player.vimeo.com"]
STRIPE_CHECKOUT_ORIGIN = "https://checkout.stripe.com"
_CSP_SELF, _CSP_NONE = "'self'", "'none'"
CSP_DIRECTIVES = {
    "default-src": [_CSP_SELF],
    "script-src": [_CSP_SELF],
    "style-src": [_CSP_SELF],
    # Product images come from the catalog (any https CDN); data: for the small icons some CSS embeds.
    "img-src": [_CSP_SELF, "data:", "https:"],
    # The session page plays direct stream files (.mp4/.webm) from wherever the host put them.
    "media-src": [_CSP_SELF, "https:"],
    "font-src": [_CSP_SELF],
    "connect-src": [_CSP_SELF],
    "frame-src": list(STREAM_EMBED_ORIGINS),
    "worker-src": [_CSP_SELF],
    "manifest-src": [_CSP_SELF],
    "object-src": [_CSP_NONE],
    "base-uri": [_CSP_NONE],
    "form-action": [_CSP_SELF, STRIPE_CHECKOUT_ORIGIN],
    "frame-ancestors": [_CSP_NONE],
}
if env("CSP_REPORT_URI"):
    CSP_DIRECTIVES["report-uri"] = [env("CSP_REPORT_URI")]
# CSP_REPORT_ONLY=1 sends the policy as Content-Security-Policy-Report-Only (a rollout step).
if env_bool("CSP_REPORT_ONLY"):
    CONTENT_SECURITY_POLICY = None
    CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": CSP_DIRECTIVES}
else:
    CONTENT_SECURITY_POLICY = {"DIRECTIVES": CSP_DIRECTIVES}
# Extra sources allowed only under /admin/ (config/security.py adds them to the policy above).
CSP_ADMIN_EXTRA = {"style-src": ["'unsafe-inline'"]}

# Permissions-Policy (django-permissions-policy): every powerful feature is off for every page and
# every frame. Only the check-in door (commerce.views_pickup) turns the camera on, for itself.
# Autoplay, encrypted media, picture-in-picture and fullscreen go to the stream players only.
_PLAYERS = ["self", *STREAM_EMBED_ORIGINS]
PERMISSIONS_POLICY = {
    **{
        feature: []
        for feature in (
            "accelerometer",
            "ambient-light-sensor",
            "bluetooth",
            "browsing-topics",
            "camera",
            "display-capture",
            "geolocation",
            "gyroscope",
            "hid",
            "idle-detection",
            "interest-cohort",
            "local-fonts",
            "magnetometer",
            "microphone",
            "midi",
            "otp-credentials",
            "payment",
            "publickey-credentials-get",
            "screen-wake-lock",
            "serial",
            "usb",
            "window-management",
            "xr-spatial-tracking",
        )
    },
    "autoplay": _PLAYERS,
    "encrypted-media": _PLAYERS,
    "fullscreen": _PLAYERS,
    "picture-in-picture": _PLAYERS,
}

# --- I18N / time --------------------------------------------------------------
FORMS_URLFIELD_ASSUME_HTTPS = True
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# The shop's own timezone: used for coupon windows and staff-facing times.
SHOP_TIMEZONE = env("SHOP_TIMEZONE", "Europe/Berlin")
SHOP_NAME = env("SHOP_NAME", "Micromoments")
SHOP_CURRENCY = env("SHOP_CURRENCY", "USD")
# Printed on receipts and credit notes (docs/receipts.md): the address as lines separated by "|",
# and a tax or company registration number (empty = not printed).
SHOP_ADDRESS = [line.strip() for line in env("SHOP_ADDRESS", "").split("|") if line.strip()]
SHOP_TAX_ID = env("SHOP_TAX_ID", "")
# Bank-transfer details for unpaid shipped orders of the manual provider (lines separated by "|",
# e.g. "Lumen GmbH|IBAN DE89 3704 0044 0532 0130 00|BIC COBADEFFXXX"); shown on the order page and in
# the confirmation e-mail with the order number as reference. Empty = "the shop e-mails you payment details".
SHOP_BANK_DETAILS = [line.strip() for line in env("SHOP_BANK_DETAILS", "").split("|") if line.strip()]
# A TrueType font for receipt PDFs, covering the scripts of buyers' names and addresses; empty or missing =
# DejaVu Sans where the system has it (Latin, Greek, Cyrillic; no CJK: Chinese, Japanese or Korean need a
# CJK font here, e.g. Noto Sans CJK), else the PDF core font Helvetica (Latin-1 only, others as "?").
RECEIPT_FONT_PATH = env("RECEIPT_FONT_PATH", "")
# Tax (docs/shipping-tax.md): are drop prices tax-inclusive (EU/UK/AU style, the default) or is tax added
# on top (US/CA style)? SHOP_COUNTRY is where pickup orders are taxed (the pop-ups' country).
SHOP_PRICES_INCLUDE_TAX = env_bool("SHOP_PRICES_INCLUDE_TAX", default=True)
SHOP_COUNTRY = env("SHOP_COUNTRY", "DE").upper()
# Pop-up pickup: reminder e-mail this many minutes before a slot opens; a pass
# stays valid this many hours after its slot ends.
PICKUP_REMINDER_MINUTES = int(env("PICKUP_REMINDER_MINUTES", "120"))
PICKUP_PASS_GRACE_HOURS = int(env("PICKUP_PASS_GRACE_HOURS", "12"))

# --- Payments -----------------------------------------------------------------
STRIPE_LIVE_SECRET_KEY = env("STRIPE_LIVE_SECRET_KEY", "")
STRIPE_TEST_SECRET_KEY = env("STRIPE_TEST_SECRET_KEY", "")
STRIPE_LIVE_MODE = env_bool("STRIPE_LIVE_MODE", default=False)
STRIPE_PUBLISHABLE_KEY = env("STRIPE_PUBLISHABLE_KEY", "")
DJSTRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", "")
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_USE_NATIVE_JSONFIELD = True
if env("STRIPE_API_HOST"):
    STRIPE_API_HOST = env("STRIPE_API_HOST")
# Stripe Tax: set to 1 only once the Stripe account has Stripe Tax set up (origin address, registrations);
# then Checkout computes the tax (automatic_tax) instead of the manual table (docs/shipping-tax.md).
STRIPE_AUTOMATIC_TAX = env_bool("STRIPE_AUTOMATIC_TAX", default=False)
# Which provider takes payments: "manual" (pay at pickup) unless Stripe keys are set.
PAYMENT_PROVIDER = env(
    "PAYMENT_PROVIDER",
    "stripe" if (STRIPE_TEST_SECRET_KEY or STRIPE_LIVE_SECRET_KEY) else "manual",
)
# A refund still pending this long (its submission died, or the provider is slow) is looked up
# at the provider and settled or resubmitted with the same idempotency key (every 5 minutes).
REFUND_RECONCILE_AFTER_MINUTES = int(env("REFUND_RECONCILE_AFTER_MINUTES", "10"))

# --- Auth / admin -------------------------------------------------------------
LOGIN_URL = "admin:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Audit log (django-auditlog; docs/staff-roles.md) -------------------------------------------
# One correlation id per request, so a bulk action's entries (one per object) can be listed together.
AUDITLOG_CID_GETTER = "commerce.audit.current_cid"
AUDITLOG_DISABLE_REMOTE_ADDR = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

SILENCED_SYSTEM_CHECKS = [
    # dj-stripe warns when no Stripe keys are configured; the manual provider is the default.
    "djstripe.C001",
    "djstripe.I002",
]

# --- Assets: video (recordings, uploads, derivative jobs, highlights; docs/video.md) ---
# Large admin uploads spool to disk beside the staging files (never read whole into memory).
ASSET_TMP_DIR.mkdir(parents=True, exist_ok=True)
FILE_UPLOAD_TEMP_DIR = str(ASSET_TMP_DIR)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440  # Django's default: bigger files go to FILE_UPLOAD_TEMP_DIR
ASSET_MAX_RECORDING_BYTES = int(env("ASSET_MAX_RECORDING_BYTES", str(8 * 1024**3)))
ASSET_UPLOAD_ABANDON_HOURS = float(env("ASSET_UPLOAD_ABANDON_HOURS", "24"))
ASSET_CLIP_MIN_MS = int(env("ASSET_CLIP_MIN_MS", "500"))
ASSET_CLIP_MAX_MS = int(env("ASSET_CLIP_MAX_MS", str(10 * 60_000)))
ASSET_HIGHLIGHT_BEFORE_MS = int(env("ASSET_HIGHLIGHT_BEFORE_MS", "5000"))
ASSET_HIGHLIGHT_AFTER_MS = int(env("ASSET_HIGHLIGHT_AFTER_MS", "25000"))
ASSET_STRIP_FRAMES = int(env("ASSET_STRIP_FRAMES", "10"))
# Derivative jobs: a lease outlives a live worker (renewed on progress); retries back off
# BACKOFF × 2^(attempt−1) up to the cap; django-q2 kills a job task after ASSET_JOB_TIMEOUT_SECONDS.
ASSET_JOB_LEASE_SECONDS = float(env("ASSET_JOB_LEASE_SECONDS", "600"))
ASSET_JOB_MAX_ATTEMPTS = int(env("ASSET_JOB_MAX_ATTEMPTS", "5"))
ASSET_JOB_BACKOFF_SECONDS = float(env("ASSET_JOB_BACKOFF_SECONDS", "30"))
ASSET_JOB_BACKOFF_MAX_SECONDS = float(env("ASSET_JOB_BACKOFF_MAX_SECONDS", "3600"))
ASSET_JOB_TIMEOUT_SECONDS = int(env("ASSET_JOB_TIMEOUT_SECONDS", "1800"))
# --- Assets: costs and the edge hot set (docs/asset-costs.md) ------------------------------------
# Provider whose price table applies: "s3" (AWS us-east-1 list prices) or "filesystem" (local disk).
ASSET_PROVIDER = env("ASSET_PROVIDER", "s3")
# Overrides of the default price table, same shape as sessions_app.assets.costs.DEFAULT_PRICES, e.g.
# {"s3": {"tiers": {"fast": {"storage_gb_month": "0.021"}}}}. Prices are in the table's currency.
ASSET_PRICES: dict = {}
# Fixed exchange rates for showing asset cost in a session's currency (units of target per unit of
# source). Illustrative round figures to be set by the shop, not market data; with no rate the cost
# is shown in USD and not subtracted from ROI per minute.
ASSET_FX: dict = {"USD": {"EUR": "0.90", "GBP": "0.78", "JPY": "150", "CHF": "0.88", "CAD": "1.38"}}
# The CDN seam: "none" (no CDN; delivery billed at origin egress), "logging", or a dotted class path.
ASSET_CDN_PROVIDER = env("ASSET_CDN_PROVIDER", "none")
# Hot set: top fraction of clip objects, decay half-life of views, views per minor unit of revenue.
ASSET_HOT_FRACTION = float(env("ASSET_HOT_FRACTION", "0.10"))
ASSET_HOT_HALF_LIFE_DAYS = float(env("ASSET_HOT_HALF_LIFE_DAYS", "2"))
ASSET_HOT_REVENUE_WEIGHT = float(env("ASSET_HOT_REVENUE_WEIGHT", "0.01"))
# --- Assets: storage (tiers, restore, delivery; docs/assets.md) ---
# Tier policy per asset kind: an object moves to the mid tier `mid_after_days` after it was stored
# and to the archive `archive_after_days` after (None: never). Objects under `min_bytes` stay where
# they are: S3 bills IA/Glacier objects under 128 KiB as 128 KiB, so a small thumbnail costs more in
# IA than in Standard. Override with a JSON object in ASSET_TIER_POLICY (kinds merged over these).
ASSET_TIER_POLICY = {
    "recording": {"mid_after_days": 7, "archive_after_days": 37, "min_bytes": 131072},
    "clip": {"mid_after_days": 7, "archive_after_days": 37, "min_bytes": 131072},
    "thumbnail": {"mid_after_days": None, "archive_after_days": None, "min_bytes": 131072},
}
if env("ASSET_TIER_POLICY"):
    import json as _json

    ASSET_TIER_POLICY = {**ASSET_TIER_POLICY, **_json.loads(env("ASSET_TIER_POLICY"))}
# S3 storage class per tier (the mid and archive moves are app-driven CopyObject calls).
ASSET_S3_STORAGE_CLASSES = {"fast": "STANDARD", "mid": "STANDARD_IA", "archive": env("ASSET_ARCHIVE_CLASS", "GLACIER")}
# Lifecycle backstop: asset_lifecycle writes rules that archive what the daily task missed this many days late.
ASSET_LIFECYCLE_BACKSTOP_DAYS = int(env("ASSET_LIFECYCLE_BACKSTOP_DAYS", "7"))
# Archive restores: S3 RestoreObject tier (Expedited | Standard | Bulk), days the temporary copy lives,
# and the providers' published completion times (hours) that pages show as the estimate.
ASSET_RESTORE_TIER = env("ASSET_RESTORE_TIER", "Standard")
ASSET_RESTORE_DAYS = int(env("ASSET_RESTORE_DAYS", "7"))
ASSET_RESTORE_ETA_HOURS = {"Expedited": 5 / 60, "Standard": 5, "Bulk": 12}
# Filesystem archive: a restore is a copy into restored/ after this simulated delay (seconds).
ASSET_FS_RESTORE_SECONDS = int(env("ASSET_FS_RESTORE_SECONDS", "0"))
# Delivery: presigned URL lifetime, the cold Cache-Control max-age, and a CDN in front of hot objects.
ASSET_URL_EXPIRY_SECONDS = int(env("ASSET_URL_EXPIRY_SECONDS", "300"))
ASSET_COLD_MAX_AGE = int(env("ASSET_COLD_MAX_AGE", "300"))
ASSET_CDN_BASE_URL = env("ASSET_CDN_BASE_URL", "")
if ASSET_BUCKET:
    # presigned URLs with Signature Version 4 (X-Amz-Expires; SigV2 is deprecated and refused by newer regions)
    STORAGES["assets"]["OPTIONS"].setdefault("signature_version", "s3v4")
# --- Assets: pages and API ---
# The replay page shows the session's whole recording (newest ready one) beside its clips; 0 = clips only.
ASSET_REPLAY_SHOWS_RECORDING = env_bool("ASSET_REPLAY_SHOWS_RECORDING", True)
# --- Cadence: following a series, reminders (docs/cadence.md) ---
# Reminder offsets in seconds before a session's start, comma-separated. A multiple of 86400 means the
# same local wall-clock time N days earlier in the session's zone (DST-safe); smaller ones are elapsed time.
SERIES_REMINDER_OFFSETS = [int(x) for x in env("SERIES_REMINDER_OFFSETS", "86400,600").split(",") if x.strip()]
# The follow form: attempts per 10 minutes per client network and per address (commerce.ratelimit).
SERIES_FOLLOW_RATE_LIMIT_IP = int(env("SERIES_FOLLOW_RATE_LIMIT_IP", "10"))
SERIES_FOLLOW_RATE_LIMIT_EMAIL = int(env("SERIES_FOLLOW_RATE_LIMIT_EMAIL", "3"))
# A pending follower asking again gets the confirmation e-mail again at most this often (seconds).
SERIES_FOLLOW_CONFIRM_RESEND_SECONDS = int(env("SERIES_FOLLOW_CONFIRM_RESEND_SECONDS", "600"))
# The domain in calendar UIDs (<session public id>@<domain>); default: SITE_URL's host. Keep it stable.
SERIES_CALENDAR_UID_DOMAIN = env("SERIES_CALENDAR_UID_DOMAIN", "")
# Shared page copies (sessions_app.pagecache): each process keeps what it read from Redis this long (seconds;
# 0 = every request reads Redis). The tests turn it off: they change cache entries under a running process.
PAGE_CACHE_LOCAL_SECONDS = float(env("PAGE_CACHE_LOCAL_SECONDS", "0" if TESTING else "0.5"))
# --- Watch-gated coupons (docs/watch-coupons.md) ---
# Claims of a personal code on the session page: at most this many per window per visitor cookie
# and per client IP network (shared store: commerce.ratelimit). 0 = off.
WATCH_CLAIM_RATE_WINDOW_SECONDS = int(env("WATCH_CLAIM_RATE_WINDOW_SECONDS", "60"))
WATCH_CLAIM_RATE_LIMIT_VISITOR = int(env("WATCH_CLAIM_RATE_LIMIT_VISITOR", "12"))
WATCH_CLAIM_RATE_LIMIT_IP = int(env("WATCH_CLAIM_RATE_LIMIT_IP", "300"))
# Visitors recorded as watching for the first time (a row each; a made-up cookie is free), per
# client network per window: sessions_app.watch. 0 = off. Those over it are recorded after the window.
WATCH_NEW_VISITORS_PER_NETWORK = int(env("WATCH_NEW_VISITORS_PER_NETWORK", "300"))
WATCH_NEW_VISITORS_WINDOW_SECONDS = int(env("WATCH_NEW_VISITORS_WINDOW_SECONDS", "60"))
# --- Waitlists and stock carry-over (issue #13, docs/waitlist.md) ---
# Minutes a waitlist offer link keeps its freed units reserved (never past the drop's close).
WAITLIST_OFFER_MINUTES = int(env("WAITLIST_OFFER_MINUTES", "10") or 10)
# "Notify me" submissions per client network (IP) per window, and the window in seconds.
WAITLIST_JOIN_RATE_LIMIT = int(env("WAITLIST_JOIN_RATE_LIMIT", "10") or 10)
WAITLIST_JOIN_RATE_WINDOW_SECONDS = int(env("WAITLIST_JOIN_RATE_WINDOW_SECONDS", "600") or 600)
