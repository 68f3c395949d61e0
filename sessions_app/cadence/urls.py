"""Cadence URLs, appended to sessions_app.urls (namespace `sessions_app`)."""

from django.urls import path

from . import views

urlpatterns = [
    path("series/<slug:slug>/", views.series_page, name="series"),
    path("series/<slug:slug>/calendar.ics", views.series_calendar_feed, name="series_calendar"),
    path("series/follow/<str:token>/confirm/", views.follow_confirm, name="series_follow_confirm"),
    path("series/unsubscribe/<str:token>/", views.unsubscribe, name="series_unsubscribe"),
]
