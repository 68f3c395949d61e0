from django.urls import path

from . import views

app_name = "analytics"
urlpatterns = [
    path("a/e", views.beacon, name="beacon"),
    path("a/click/<id:drop_id>/", views.drop_click, name="click"),
    path("visitor/new", views.visitor_reset, name="visitor_reset"),
]
