"""Storefront URLs of community bundles and refundable trials (mounted from config/urls.py)."""

from django.urls import path

from . import views_bundles, views_trials

app_name = "bundles"
urlpatterns = [
    path("join/<str:token>/", views_bundles.bundle_join_page, name="join"),
    path("orders/<str:token>/lines/<id:line_id>/trial-return/", views_trials.trial_return_page, name="trial_return"),
]
