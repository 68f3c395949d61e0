import os

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path

from commerce.staff_access import view_on_site
from sessions_app.assets.delivery import asset_media, asset_store_direct

from . import bounds  # noqa: F401  (registers `<id:…>`: ids up to 2**63 - 1, bigger ones are a 404)
from .api import api

admin.site.site_header = "Micromoments back office"
admin.site.site_title = "Micromoments"
admin.site.index_title = "Back office"
# the landing page: live now, next sessions, revenue, orders to fulfil, samples to review, failures (commerce.admin_dashboard)
admin.site.index_template = "admin/backoffice_index.html"

urlpatterns = [
    # session asset bytes by content hash (Range, ETag, Cache-Control by tier; sessions_app.assets.delivery)
    re_path(r"^media/a/(?P<name>[0-9a-f]{64}(?:\.[a-z0-9]{1,10})?)$", asset_media, name="asset_media"),
    # the store's folders live under MEDIA_ROOT: never served as plain files (DEBUG's static media would)
    re_path(r"^media/assets-store/", asset_store_direct),
    # the session page and its live-status JSON take the spike: resolved first
    path("", include("sessions_app.urls")),
    # the admin's "View on site" shortcut, shadowed by one that follows the access policy (commerce.staff_access)
    path("admin/r/<path:content_type_id>/<path:object_id>/", admin.site.admin_view(view_on_site), name="view_on_site"),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("stripe/", include("djstripe.urls", namespace="djstripe")),
    path("members/", include("commerce.memberships.urls_members")),  # memberships (docs/memberships.md)
    path("", include("analytics.urls")),
    path("", include("commerce.urls")),
    path("", include("commerce.memberships.urls_bundles")),  # bundle join links, trial returns (docs/bundles.md)
    path("", include("sampling.urls")),
]

# One error shape everywhere (config.errors): JSON under /api/, plain pages elsewhere; 413 and 503 included.
handler400 = "config.errors.bad_request"
handler403 = "config.errors.permission_denied"
handler404 = "config.errors.page_not_found"
handler500 = "config.errors.server_error"

if os.environ.get("BENCH_VIEWS") == "1":  # reference views for `make bench` only
    urlpatterns.insert(0, path("bench/", include("tests.perf.urls")))

if settings.DEBUG:
    # MEDIA_ROOT as plain files for development, never the asset store inside it (delivery.py)
    from sessions_app.assets.delivery import media_debug_serve

    urlpatterns.append(re_path(r"^media/(?P<path>.*)$", media_debug_serve))
