"""/members/…: plans, joining, the member pass links and the self-service page (docs/memberships.md)."""

from django.urls import path

from . import views_members

app_name = "members"
urlpatterns = [
    path("", views_members.plans_page, name="plans"),
    path("join/<slug:slug>/", views_members.join_page, name="join"),
    path("join/<slug:slug>/confirm/<str:token>/", views_members.join_confirm, name="join_confirm"),
    path("welcome/<str:token>/", views_members.welcome, name="welcome"),
    path("pass/<str:token>/", views_members.pass_link, name="pass"),
    path("link/", views_members.link_request, name="link"),
    path("me/", views_members.manage_page, name="me"),
    path("me/cancel/", views_members.manage_cancel, name="cancel"),
    path("me/resume/", views_members.manage_resume, name="resume"),
    path("me/billing/", views_members.manage_billing, name="billing"),
]
