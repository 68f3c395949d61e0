from django.urls import path

from . import csrf, views
from .assets import views as asset_views

app_name = "sessions_app"
urlpatterns = [
    path("", views.home, name="home"),
    path("s/<uuid:public_id>/", views.session_page, name="session"),
    path("s/<uuid:public_id>/status.json", views.session_status, name="session_status"),
    path("s/<uuid:public_id>/me.json", views.session_me, name="session_me"),
    path("s/<uuid:public_id>/watching", views.session_watching, name="session_watching"),
    path("csrf.json", csrf.csrf_token_json, name="csrf_token"),
    path("s/<uuid:public_id>/replay/", asset_views.replay_page, name="replay"),
    path("c/<uuid:public_id>/", asset_views.clip_page, name="clip"),
    path("c/<uuid:public_id>/buy/", asset_views.clip_buy, name="clip_buy"),
    path("c/<uuid:public_id>/embed/", asset_views.clip_embed, name="clip_embed"),
]

# Follow a series, its calendar feed, confirm and unsubscribe (sessions_app/cadence, docs/cadence.md).
from .cadence.urls import urlpatterns as cadence_urlpatterns  # noqa: E402

urlpatterns += cadence_urlpatterns
