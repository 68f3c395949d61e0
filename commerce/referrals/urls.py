"""Share-to-unlock endpoints (docs/share-to-unlock.md); included by commerce/urls.py."""

from django.urls import path

from . import views

urlpatterns = [
    path("share/<id:campaign_id>/me.json", views.share_me, name="share_me"),
    path("share/visit", views.share_visit, name="share_visit"),
]
