from django.urls import path

from . import views

urlpatterns = [
    path("bare/", views.bare_page),
    path("update/", views.bare_update),
]
