from django.urls import path

from . import views

urlpatterns = [
    path("bare/", views.bare_page),
    path("query/", views.bare_query),
    path("update/", views.bare_update),
]
