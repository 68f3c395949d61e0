import os

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from .api import api

admin.site.site_header = "Micromoments back office"
admin.site.site_title = "Micromoments"
admin.site.index_title = "Back office"

urlpatterns = [
    # the session page and its live-status JSON take the spike: resolved first
    path("", include("sessions_app.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("stripe/", include("djstripe.urls", namespace="djstripe")),
    path("", include("analytics.urls")),
    path("", include("commerce.urls")),
    path("", include("sampling.urls")),
]

if os.environ.get("BENCH_VIEWS") == "1":  # reference views for `make bench` only
    urlpatterns.insert(0, path("bench/", include("tests.perf.urls")))

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
